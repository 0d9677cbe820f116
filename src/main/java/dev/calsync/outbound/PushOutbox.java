package dev.calsync.outbound;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.local.LocalEventStore;
import org.apache.camel.Exchange;
import org.apache.camel.Header;
import org.apache.camel.Message;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

/**
 * The push side of the mapping table: claims pending application changes under a lease (one row per record, so
 * writes for a record never run concurrently or out of order), and records what the push did. A row whose worker
 * died is claimed again when its lease runs out: that is the recovery sweep after a crash.
 */
@Component("pushOutbox")
public class PushOutbox {

    private static final Logger LOG = LoggerFactory.getLogger(PushOutbox.class);

    private static final String CLAIM_SQL = """
            UPDATE event_sync_map m
               SET lease_until = now() + make_interval(secs => ?), attempts = m.attempts + 1,
                   claim_token = gen_random_uuid()::text
             WHERE m.internal_id IN (
                   SELECT internal_id FROM event_sync_map
                    WHERE sync_state = 'pending' AND source = 'app' AND next_attempt_at <= now()
                      AND (lease_until IS NULL OR lease_until < now())
                      AND grant_id NOT IN (SELECT grant_id FROM grant_sync_state WHERE state = 'paused')
                    ORDER BY next_attempt_at
                    LIMIT ?
                    FOR UPDATE SKIP LOCKED)
            RETURNING m.internal_id, m.grant_id, m.calendar_id, m.nylas_event_id, m.desired, m.version,
                      m.create_attempts, m.remote_metadata::text AS remote_metadata, m.claim_token
            """;

    /** Header holding this worker's claim on the row. */
    static final String CLAIM = "CalsyncClaim";

    private final JdbcTemplate jdbc;
    private final ObjectMapper json;
    private final LocalEventStore store;
    private final CalsyncProperties.Push config;

    public PushOutbox(JdbcTemplate jdbc, ObjectMapper json, LocalEventStore store, CalsyncProperties properties) {
        this.jdbc = jdbc;
        this.json = json;
        this.store = store;
        this.config = properties.push();
    }

    public List<Map<String, Object>> claim(Exchange exchange) {
        List<Map<String, Object>> rows = jdbc.queryForList(CLAIM_SQL, config.lease().toSeconds(), config.batchSize());
        exchange.setProperty(Exchange.SCHEDULER_POLLED_MESSAGES, !rows.isEmpty());
        return rows;
    }

    /** Headers of the push and, for a live record, the Nylas request body (fields plus the whole metadata map). */
    public void open(Exchange exchange) throws JsonProcessingException {
        Message m = exchange.getMessage();
        Map<?, ?> row = m.getBody(Map.class);
        String id = (String) row.get("internal_id");
        m.setHeader("CalsyncRecordId", id);
        m.setHeader("CalsyncGrantId", row.get("grant_id"));
        m.setHeader("CalsyncCalendarId", row.get("calendar_id"));
        m.setHeader("CalsyncEventId", row.get("nylas_event_id"));
        m.setHeader("CalsyncDesired", row.get("desired"));
        m.setHeader("CalsyncVersion", row.get("version"));
        m.setHeader("CalsyncCreateAttempts", row.get("create_attempts"));
        m.setHeader(CLAIM, row.get("claim_token"));
        Map<String, Object> metadata = new LinkedHashMap<>();
        if (row.get("remote_metadata") != null) {
            metadata.putAll(json.readValue((String) row.get("remote_metadata"), new TypeReference<Map<String, Object>>() {
            }));
        }
        metadata.put("key1", id);
        Map<String, Object> request = new LinkedHashMap<>();
        Map<String, Object> record = store.find(id); // null for a record deleted by the application
        if (record != null) {
            for (String field : List.of("title", "description", "location", "when", "participants")) {
                request.put(field, record.get(field));
            }
        }
        request.put("metadata", metadata);
        m.setBody(request);
    }

    /**
     * Counts a create that may reach Nylas; more than one means an earlier one may have succeeded unseen. Returns 0,
     * counting nothing, when the record was deleted meanwhile: then nothing is to be created.
     */
    public int markCreateAttempt(@Header("CalsyncRecordId") String id, @Header(CLAIM) String claim) {
        List<Integer> n = jdbc.queryForList("""
                UPDATE event_sync_map SET create_attempts = create_attempts + 1
                 WHERE internal_id = ? AND claim_token = ? AND sync_state = 'pending' AND desired = 'live'
                RETURNING create_attempts""", Integer.class, id, claim);
        return n.isEmpty() ? 0 : n.get(0);
    }

    /** Gives the row back without recording anything (it no longer needs this push). */
    public void release(@Header("CalsyncRecordId") String id, @Header(CLAIM) String claim) {
        jdbc.update("UPDATE event_sync_map SET lease_until = NULL WHERE internal_id = ? AND claim_token = ?", id, claim);
    }

    /** Records the event id as soon as it is known, so no later attempt creates another one. */
    public void linkEvent(@Header("CalsyncRecordId") String id, @Header("CalsyncEventId") String eventId,
                          @Header(CLAIM) String claim) {
        jdbc.update("UPDATE event_sync_map SET nylas_event_id = ? WHERE internal_id = ? AND claim_token = ?",
                eventId, id, claim);
    }

    /**
     * The push is done for the version it read: synced (or a tombstone for a delete), unless a newer application
     * change arrived meanwhile, which keeps the row pending for another push.
     */
    public void complete(Exchange exchange) {
        Message m = exchange.getMessage();
        Map<?, ?> event = m.getBody() instanceof Map<?, ?> map ? map : null;
        Object updatedAt = event == null ? null : event.get("updated_at");
        String metadata = null;
        if (event != null && event.get("metadata") != null) {
            try {
                metadata = json.writeValueAsString(event.get("metadata"));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }
        String id = m.getHeader("CalsyncRecordId", String.class);
        String eventId = m.getHeader("CalsyncEventId", String.class);
        int done = jdbc.update("""
                UPDATE event_sync_map
                   SET nylas_event_id = ?,
                       sync_state = CASE WHEN version <> ? THEN 'pending'
                                         WHEN desired = 'deleted' THEN 'deleted' ELSE 'synced' END,
                       deleted_at = CASE WHEN version = ? AND desired = 'deleted' THEN now() ELSE deleted_at END,
                       remote_updated_at = coalesce(CAST(? AS bigint), remote_updated_at),
                       remote_metadata = coalesce(CAST(? AS jsonb), remote_metadata),
                       attempts = 0, last_error = NULL, lease_until = NULL, next_attempt_at = now(), updated_at = now()
                 WHERE internal_id = ? AND sync_state = 'pending' AND claim_token = ?""",
                eventId, m.getHeader("CalsyncVersion", Long.class),
                m.getHeader("CalsyncVersion", Long.class), updatedAt == null ? null : ((Number) updatedAt).longValue(),
                metadata, id, m.getHeader(CLAIM, String.class));
        if (done == 0 && eventId != null && !"deleted".equals(m.getHeader("CalsyncDesired"))) {
            // the record was deleted while this push ran (the calendar's user deleted the event we were still
            // creating, and the delete was applied first): the event this push wrote must not outlive it
            int undo = jdbc.update("""
                    UPDATE event_sync_map SET nylas_event_id = ?, desired = 'deleted', sync_state = 'pending',
                           source = 'app', version = version + 1, attempts = 0, lease_until = NULL,
                           next_attempt_at = now(), updated_at = now()
                     WHERE internal_id = ? AND sync_state = 'deleted' AND claim_token = ?
                       AND (nylas_event_id IS NULL OR nylas_event_id = ?)""", eventId, id,
                    m.getHeader(CLAIM, String.class), eventId);
            if (undo == 1) {
                LOG.info("Event {} was deleted while its push ran; removing event {} it wrote", id, eventId);
            }
        }
        exchange.setProperty("outcome", "pushed");
    }

    /** The event was deleted on the calendar while the application changed it: the delete wins (tombstone). */
    public void gone(Exchange exchange) {
        String id = exchange.getMessage().getHeader("CalsyncRecordId", String.class);
        jdbc.update("""
                UPDATE event_sync_map SET sync_state = 'deleted', desired = 'deleted', deleted_at = now(),
                       source = 'calendar', lease_until = NULL, attempts = 0, last_error = NULL, updated_at = now()
                 WHERE internal_id = ? AND claim_token = ?""", id, exchange.getMessage().getHeader(CLAIM, String.class));
        exchange.setProperty("outcome", "gone");
    }

    /** The push failed for good (a refusal, or retries exhausted): visible, replayable. */
    public void fail(Exchange exchange) {
        Throwable error = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        String id = exchange.getMessage().getHeader("CalsyncRecordId", String.class);
        String message = error == null ? "unknown error" : error.getClass().getSimpleName()
                + (error.getMessage() == null ? "" : ": " + error.getMessage());
        // a newer application change that arrived meanwhile is not failed with this one: it is pushed next
        jdbc.update("""
                UPDATE event_sync_map SET sync_state = CASE WHEN version = ? THEN 'failed' ELSE 'pending' END,
                       last_error = ?, lease_until = NULL, updated_at = now()
                 WHERE internal_id = ? AND sync_state = 'pending' AND claim_token = ?""",
                exchange.getMessage().getHeader("CalsyncVersion", Long.class),
                message.length() > 1000 ? message.substring(0, 1000) : message, id,
                exchange.getMessage().getHeader(CLAIM, String.class));
        LOG.error("Push of event {} failed: {}", id, message);
        exchange.setProperty("outcome", "failed");
    }

    /** Nylas is unavailable (circuit open): the change waits, untouched, and is pushed when Nylas is back. */
    public void defer(Exchange exchange) {
        String id = exchange.getMessage().getHeader("CalsyncRecordId", String.class);
        Duration wait = config.circuitOpenWait();
        jdbc.update("""
                UPDATE event_sync_map SET lease_until = NULL, attempts = greatest(attempts - 1, 0),
                       next_attempt_at = now() + make_interval(secs => ?)
                 WHERE internal_id = ? AND claim_token = ?""", wait.toMillis() / 1000.0, id,
                exchange.getMessage().getHeader(CLAIM, String.class));
        exchange.setProperty("outcome", "deferred");
    }

    /** Makes a failed push pending again; false when there is no failed push for the id. */
    public boolean replay(String id) {
        return jdbc.update("""
                UPDATE event_sync_map SET sync_state = 'pending', attempts = 0, last_error = NULL, lease_until = NULL,
                       next_attempt_at = now() WHERE internal_id = ? AND sync_state = 'failed'""", id) == 1;
    }
}

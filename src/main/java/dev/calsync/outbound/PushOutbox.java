package dev.calsync.outbound;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.local.LocalEventStore;
import dev.calsync.mapping.SyncMappings;
import dev.calsync.nylas.NylasRequests;
import org.apache.camel.Exchange;
import org.apache.camel.Header;
import org.apache.camel.Message;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.CALENDAR_ID;
import static dev.calsync.CalsyncHeaders.CLAIM;
import static dev.calsync.CalsyncHeaders.EVENT_ID;
import static dev.calsync.CalsyncHeaders.GRANT_ID;
import static dev.calsync.CalsyncHeaders.IDEMPOTENCY_KEY;
import static dev.calsync.CalsyncHeaders.RECORD_ID;
import static dev.calsync.CalsyncVariables.CREATE_ATTEMPTS;
import static dev.calsync.CalsyncVariables.DESIRED;
import static dev.calsync.CalsyncVariables.MASTER_EVENT_ID;
import static dev.calsync.CalsyncVariables.MASTER_RECORD_ID;
import static dev.calsync.CalsyncVariables.ORIGINAL_START_TIME;
import static dev.calsync.CalsyncVariables.STATUS;
import static dev.calsync.CalsyncVariables.VERSION;

/**
 * The push routes' side of the mapping table: claims pending application changes under a lease (one row per record,
 * so writes for a record never run concurrently or out of order), and records what the push did, each through a
 * named transition of {@link SyncMappings}, the table's one writer. A row whose worker died is claimed again when its
 * lease runs out: that is the recovery sweep after a crash.
 */
@Component("pushOutbox")
public class PushOutbox {

    private static final Logger LOG = LoggerFactory.getLogger(PushOutbox.class);

    private final SyncMappings mappings;
    private final ObjectMapper json;
    private final LocalEventStore store;
    private final CalsyncProperties.Push config;

    public PushOutbox(SyncMappings mappings, ObjectMapper json, LocalEventStore store, CalsyncProperties properties) {
        this.mappings = mappings;
        this.json = json;
        this.store = store;
        this.config = properties.push();
    }

    public List<Map<String, Object>> claim(Exchange exchange) {
        List<Map<String, Object>> rows = mappings.claim(config.batchSize());
        exchange.setProperty(Exchange.SCHEDULER_POLLED_MESSAGES, !rows.isEmpty());
        return rows;
    }

    /**
     * Headers and variables of the push and, for a live record, the Nylas request body (fields plus the whole
     * metadata map). The headers name the record and its event; the push's own state is in variables.
     */
    public void open(Exchange exchange) throws JsonProcessingException {
        Message m = exchange.getMessage();
        Map<?, ?> row = m.getBody(Map.class);
        String id = (String) row.get("internal_id");
        m.setHeader(RECORD_ID, id);
        m.setHeader(GRANT_ID, row.get("grant_id"));
        m.setHeader(CALENDAR_ID, row.get("calendar_id"));
        m.setHeader(EVENT_ID, row.get("nylas_event_id"));
        exchange.setVariable(DESIRED, row.get("desired"));
        exchange.setVariable(VERSION, row.get("version"));
        exchange.setVariable(CREATE_ATTEMPTS, row.get("create_attempts"));
        m.setHeader(CLAIM, row.get("claim_token"));
        Map<String, Object> metadata = new LinkedHashMap<>();
        if (row.get("remote_metadata") != null) {
            metadata.putAll(json.readValue((String) row.get("remote_metadata"), new TypeReference<Map<String, Object>>() {
            }));
        }
        metadata.put("key1", id);
        Map<String, Object> request = new LinkedHashMap<>();
        Map<String, Object> record = store.find(id); // null for a record deleted by the application
        // an occurrence of a series: pushed to that occurrence of the series' event (recurring-events.camel.yaml); a
        // deleted one is deleted by the event id it was linked to, if it was ever pushed
        exchange.setVariable(MASTER_RECORD_ID, record == null ? null : record.get("master_record_id"));
        exchange.setVariable(ORIGINAL_START_TIME, record == null ? null : record.get("original_start_time"));
        exchange.setVariable(STATUS, record == null ? null : record.get("status"));
        if (record != null) {
            for (String field : List.of("title", "description", "location", "when", "participants")) {
                request.put(field, record.get(field));
            }
            if (record.get("recurrence") != null) {
                request.put("recurrence", record.get("recurrence")); // a series: its master
            }
        }
        request.put("metadata", metadata);
        m.setBody(request);
    }

    /**
     * True (and the row given back until then) while a create sent earlier may still land: nothing is looked up or
     * created before Nylas' own time-out has passed after it ({@code calsync.push.create-settle-time}).
     */
    public boolean deferWhileCreateMayLand(@Header(RECORD_ID) String id, @Header(CLAIM) String claim,
                                           Exchange exchange) {
        boolean deferred = mappings.deferWhileCreateMayLand(id, claim);
        if (deferred) {
            exchange.setProperty("outcome", "deferred");
        }
        return deferred;
    }

    /**
     * Counts a create that may reach Nylas; more than one means an earlier one may have succeeded unseen. Returns 0,
     * counting nothing, when the record was deleted meanwhile: then nothing is to be created.
     */
    public int markCreateAttempt(@Header(RECORD_ID) String id, @Header(CLAIM) String claim,
                                 Exchange exchange) {
        Map<?, ?> request = exchange.getMessage().getBody(Map.class);
        long[] window = request == null ? null : NylasRequests.window(request.get("when"));
        return mappings.countCreate(id, claim, window == null ? null : window[0], window == null ? null : window[1]);
    }

    /** How many creates were sent for the record so far (by this push or an earlier one). */
    public int createsSent(@Header(RECORD_ID) String id) {
        return mappings.createsSent(id);
    }

    /** Gives back every push this instance still holds, on shutdown; returns how many. */
    public int releaseClaims() {
        return mappings.releasePushClaims();
    }

    /** Gives the row back without recording anything (it no longer needs this push). */
    public void release(@Header(RECORD_ID) String id, @Header(CLAIM) String claim) {
        mappings.release(id, claim);
    }

    /**
     * The calendar event of an occurrence record's series (variable {@code CalsyncMasterRecordId}) as the variable
     * {@code CalsyncMasterEventId}, which the series' listing names; the push waits
     * ({@link SeriesNotSyncedException}) while the master has none yet.
     */
    public void masterEvent(Exchange exchange) {
        Message m = exchange.getMessage();
        String master = exchange.getVariable(MASTER_RECORD_ID, String.class);
        String eventId = mappings.eventOf(master);
        if (eventId == null) {
            throw new SeriesNotSyncedException(m.getHeader(RECORD_ID, String.class), master);
        }
        exchange.setVariable(MASTER_EVENT_ID, eventId);
    }

    /** Records the event id as soon as it is known, so no later attempt creates another one. */
    public void linkEvent(@Header(RECORD_ID) String id, @Header(EVENT_ID) String eventId,
                          @Header(CLAIM) String claim) {
        mappings.link(id, eventId, claim);
    }

    /**
     * Adopts the first event a lookup by {@code metadata.key1} found (an earlier create that succeeded unseen) and
     * queues every other one for deletion: each create that landed made one, and the record keeps exactly one.
     */
    public void adoptEarlier(@Header(RECORD_ID) String id, @Header(GRANT_ID) String grantId,
                             @Header(CALENDAR_ID) String calendarId, @Header(CLAIM) String claim,
                             Exchange exchange) {
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> found = exchange.getVariable("earlier", List.class);
        if (found == null || found.isEmpty()) {
            return;
        }
        String adopted = (String) found.get(0).get("id");
        exchange.getMessage().setHeader(EVENT_ID, adopted);
        mappings.link(id, adopted, claim);
        for (Map<String, Object> other : found.subList(1, found.size())) {
            LOG.warn("Event {} has a second calendar event {} (an earlier create landed late): deleting it", id,
                    other.get("id"));
            mappings.deleteDuplicate(grantId, calendarId, (String) other.get("id"));
        }
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
        String id = m.getHeader(RECORD_ID, String.class);
        String eventId = m.getHeader(EVENT_ID, String.class);
        String claim = m.getHeader(CLAIM, String.class);
        int done = mappings.complete(id, eventId, exchange.getVariable(VERSION, Long.class),
                updatedAt == null ? null : ((Number) updatedAt).longValue(), metadata, claim);
        if (done == 0 && eventId != null && !"deleted".equals(exchange.getVariable(DESIRED))
                && mappings.undoCreate(id, eventId, claim) == 1) {
            // the record was deleted while this push ran: the event this push wrote must not outlive it
            LOG.info("Event {} was deleted while its push ran; removing event {} it wrote", id, eventId);
        }
        exchange.setProperty("outcome", "pushed");
    }

    /**
     * The occurrence an occurrence record is pushed to is cancelled on the calendar (a cancelled override, or not in
     * its series any more: an excluded date): the cancellation wins, as a delete does for an event. The body becomes
     * the record as cancelled, to be written through {@code calsync-local-upsert} before the push completes; the
     * application's edit is logged, not lost silently.
     */
    public Map<String, Object> cancelledOnCalendar(Exchange exchange) {
        Message m = exchange.getMessage();
        String id = m.getHeader(RECORD_ID, String.class);
        Map<String, Object> record = store.find(id);
        if (record == null) {
            throw new IllegalStateException("occurrence record " + id + " is gone");
        }
        Map<String, Object> cancelled = new LinkedHashMap<>(record);
        cancelled.put("status", "cancelled");
        m.setHeader(IDEMPOTENCY_KEY, "push:" + id + ":" + exchange.getVariable(VERSION) + ":cancelled");
        LOG.info("Occurrence record {} changes an occurrence its series no longer shows (cancelled on the calendar):"
                + " recorded as cancelled", id);
        exchange.setProperty("outcome", "cancelled-on-calendar");
        return cancelled;
    }

    /** The event was deleted on the calendar while the application changed it: the delete wins (tombstone). */
    public void gone(Exchange exchange) {
        mappings.gone(exchange.getMessage().getHeader(RECORD_ID, String.class),
                exchange.getMessage().getHeader(CLAIM, String.class));
        exchange.setProperty("outcome", "gone");
    }

    /** The push failed for good (a refusal, or retries exhausted): visible, replayable. */
    public void fail(Exchange exchange) {
        Throwable error = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        String id = exchange.getMessage().getHeader(RECORD_ID, String.class);
        String message = error == null ? "unknown error" : error.getClass().getSimpleName()
                + (error.getMessage() == null ? "" : ": " + error.getMessage());
        // a newer application change that arrived meanwhile is not failed with this one: it is pushed next
        mappings.fail(id, exchange.getVariable(VERSION, Long.class), message,
                exchange.getMessage().getHeader(CLAIM, String.class));
        LOG.error("Push of event {} failed: {}", id, message);
        exchange.setProperty("outcome", "failed");
    }

    /** Nylas is unavailable (circuit open): the change waits, untouched, and is pushed when Nylas is back. */
    public void defer(Exchange exchange) {
        Throwable error = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        if (error instanceof dev.calsync.nylas.NylasCircuitOpenException
                || error instanceof io.github.resilience4j.circuitbreaker.CallNotPermittedException) {
            // the call never went out, and a create reaching this point had none in flight before it (that would
            // have been waited for first): no create of this push can land
            mappings.createAnswered(exchange.getMessage().getHeader(RECORD_ID, String.class),
                    exchange.getMessage().getHeader(CLAIM, String.class));
        }
        mappings.defer(exchange.getMessage().getHeader(RECORD_ID, String.class), config.circuitOpenWait(),
                exchange.getMessage().getHeader(CLAIM, String.class));
        exchange.setProperty("outcome", "deferred");
    }

    /** Makes a failed push pending again; false when there is no failed push for the id. */
    public boolean replay(String id) {
        return mappings.requeueFailed(id);
    }

    /** Makes up to {@code limit} failed pushes of a grant and calendar (each optional) pending again, as {@link #replay}. */
    public java.util.List<String> replayFailed(String grantId, String calendarId, int limit) {
        return mappings.requeueFailed(grantId, calendarId, limit);
    }

    /** The failed pushes of a grant and calendar (each optional). */
    public int countFailed(String grantId, String calendarId) {
        return mappings.countFailed(grantId, calendarId);
    }
}

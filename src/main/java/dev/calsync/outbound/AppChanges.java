package dev.calsync.outbound;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import dev.calsync.api.Rejection;
import dev.calsync.inbound.EventCanonicalizer;
import dev.calsync.local.LocalEventStore;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Accepts the application's own changes ({@code PUT}/{@code DELETE /api/v1/events/{id}}): the local record and its
 * mapping row are written in one transaction, mapping first in spirit (the row is pending before any Nylas call),
 * and the push worker takes it from there. An unchanged record (same canonical hash) changes nothing.
 */
@Component("appChanges")
public class AppChanges {

    private final JdbcTemplate jdbc;
    private final TransactionTemplate tx;
    private final LocalEventStore store;
    private final EventCanonicalizer canonicalizer;

    public AppChanges(JdbcTemplate jdbc, TransactionTemplate tx, LocalEventStore store,
                      EventCanonicalizer canonicalizer) {
        this.jdbc = jdbc;
        this.tx = tx;
        this.store = store;
        this.canonicalizer = canonicalizer;
    }

    /** The outcome of a PUT: 201 created, 200 replaced (or unchanged), and the record as stored. */
    public record Put(int status, Map<String, Object> record) {
    }

    public Put put(String id, Map<String, Object> body) {
        if (body == null) {
            throw new Rejection(400, "invalid_event", "body must be a JSON object");
        }
        Map<String, String> problems = EventValidator.problems(body);
        if (body.get("id") != null && !id.equals(body.get("id"))) {
            problems.put("id", "differs from the id in the path");
        }
        if (!problems.isEmpty()) {
            throw new InvalidEvent(problems);
        }
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("id", id);
        for (String field : List.of("grant_id", "calendar_id", "title", "description", "location", "when",
                "participants")) {
            record.put(field, body.get(field));
        }
        String hash = canonicalizer.hash(record);
        int status = Objects.requireNonNull(tx.execute(t -> {
            Map<String, Object> mapping = lockMapping(id);
            boolean exists = store.find(id) != null;
            if (mapping != null) {
                if ("deleted".equals(mapping.get("sync_state")) || "deleted".equals(mapping.get("desired"))) {
                    throw new Rejection(409, "deleted", "event " + id + " was deleted; use a new id");
                }
                if (!mapping.get("grant_id").equals(record.get("grant_id"))
                        || (mapping.get("calendar_id") != null && !mapping.get("calendar_id").equals(record.get("calendar_id")))) {
                    throw new Rejection(409, "calendar_change",
                            "grant_id and calendar_id of an existing event cannot change");
                }
                if (exists && hash.equals(mapping.get("content_hash"))) {
                    return 200; // unchanged: no Nylas call
                }
            }
            store.save(record);
            if (mapping == null) {
                jdbc.update("""
                        INSERT INTO event_sync_map (internal_id, grant_id, calendar_id, content_hash, source, sync_state,
                                                    desired, version)
                        VALUES (?, ?, ?, ?, 'app', 'pending', 'live', 1)""",
                        id, record.get("grant_id"), record.get("calendar_id"), hash);
            } else {
                jdbc.update("""
                        UPDATE event_sync_map SET content_hash = ?, source = 'app', sync_state = 'pending',
                               desired = 'live', version = version + 1, attempts = 0, last_error = NULL,
                               next_attempt_at = now(), updated_at = now()
                         WHERE internal_id = ?""", hash, id);
            }
            return exists ? 200 : 201;
        }));
        return new Put(status, store.find(id));
    }

    /** Deletes the local record and schedules the calendar delete; false when there is no such record. */
    public boolean delete(String id) {
        return Boolean.TRUE.equals(tx.execute(t -> {
            Map<String, Object> mapping = lockMapping(id);
            boolean exists = store.find(id) != null;
            if (!exists && (mapping == null || "deleted".equals(mapping.get("desired"))
                    || "deleted".equals(mapping.get("sync_state")))) {
                return false;
            }
            jdbc.update("DELETE FROM app_event WHERE id = ?", id);
            if (mapping != null) {
                jdbc.update("""
                        UPDATE event_sync_map SET desired = 'deleted', source = 'app', sync_state = 'pending',
                               version = version + 1, attempts = 0, last_error = NULL, next_attempt_at = now(),
                               updated_at = now()
                         WHERE internal_id = ?""", id);
            }
            return true;
        }));
    }

    private Map<String, Object> lockMapping(String id) {
        List<Map<String, Object>> rows = jdbc.queryForList(
                "SELECT * FROM event_sync_map WHERE internal_id = ? FOR UPDATE", id);
        return rows.isEmpty() ? null : rows.get(0);
    }

    /** 400 naming every bad field. */
    public static class InvalidEvent extends Rejection {
        private final Map<String, String> fields;

        public InvalidEvent(Map<String, String> fields) {
            super(400, "invalid_event", "invalid fields: " + String.join(", ", fields.keySet()));
            this.fields = fields;
        }

        public Map<String, String> getFields() {
            return fields;
        }
    }
}

package dev.calsync.outbound;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import dev.calsync.api.Rejection;
import dev.calsync.inbound.EventCanonicalizer;
import dev.calsync.local.LocalEventStore;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.mapping.SyncMappings;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Accepts the application's own changes ({@code PUT}/{@code DELETE /api/v1/events/{id}}): the local record and its
 * mapping row are written in one transaction, mapping first in spirit (the row is pending before any Nylas call),
 * and the push worker takes it from there. An unchanged record (same canonical hash) changes nothing.
 */
@Component("appChanges")
public class AppChanges {

    private static final List<String> SYNCED_FIELDS = LocalEventStore.FIELDS;

    private final SyncMappings mappings;
    private final TransactionTemplate tx;
    private final LocalEventStore store;
    private final EventCanonicalizer canonicalizer;
    private final ObjectMapper json;

    public AppChanges(SyncMappings mappings, TransactionTemplate tx, LocalEventStore store,
                      EventCanonicalizer canonicalizer, ObjectMapper json) {
        this.mappings = mappings;
        this.tx = tx;
        this.store = store;
        this.canonicalizer = canonicalizer;
        this.json = json;
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
        for (String field : SYNCED_FIELDS) {
            record.put(field, body.get(field));
        }
        record.putIfAbsent("status", "confirmed"); // putIfAbsent also replaces a null
        String hash = canonicalizer.hash(record);
        int status = Objects.requireNonNull(tx.execute(t -> {
            if (record.get("master_record_id") != null) {
                // the series first, as a delete of the series locks it before its occurrences (no deadlock), so an
                // occurrence never outlives its series
                mappings.lock((String) record.get("master_record_id"));
            }
            Map<String, Object> mapping = mappings.lock(id);
            Map<String, Object> stored = store.find(id);
            if (stored != null && "cancelled".equals(stored.get("status")) && !"cancelled".equals(record.get("status"))) {
                // the calendar has no way to bring a cancelled occurrence back (its override is cancelled, or its
                // date excluded from the rule): refused rather than stored and never shown
                throw new Rejection(409, "occurrence_cancelled",
                        "a cancelled occurrence cannot be restored; change the series' record instead");
            }
            if (record.get("master_record_id") != null) {
                Map<String, Object> master = store.find((String) record.get("master_record_id"));
                if (master == null || master.get("recurrence") == null
                        || !Objects.equals(master.get("grant_id"), record.get("grant_id"))
                        || !Objects.equals(master.get("calendar_id"), record.get("calendar_id"))) {
                    throw new Rejection(409, "unknown_series",
                            "master_record_id names no series (a record with recurrence) of this grant and calendar");
                }
            }
            boolean exists = stored != null;
            if (mapping != null) {
                if ("deleted".equals(mapping.get("sync_state")) || "deleted".equals(mapping.get("desired"))) {
                    throw new Rejection(409, "deleted", "event " + id + " was deleted; use a new id");
                }
                if (!mapping.get("grant_id").equals(record.get("grant_id"))
                        || (mapping.get("calendar_id") != null && !mapping.get("calendar_id").equals(record.get("calendar_id")))) {
                    throw new Rejection(409, "calendar_change",
                            "grant_id and calendar_id of an existing event cannot change");
                }
                // compared with what is stored, not with the hash: the hash ignores fields (time-zone names,
                // participant names) that the record still keeps and the calendar still shows
                if (exists && sameContent(record, stored)) {
                    return 200; // unchanged: no Nylas call
                }
            }
            store.save(record);
            mappings.enqueueAppChange(id, (String) record.get("grant_id"), (String) record.get("calendar_id"), hash);
            return exists ? 200 : 201;
        }));
        return new Put(status, store.find(id));
    }

    /** Deletes the local record and schedules the calendar delete; false when there is no such record. */
    public boolean delete(String id) {
        return Boolean.TRUE.equals(tx.execute(t -> {
            Map<String, Object> mapping = mappings.lock(id);
            boolean exists = store.find(id) != null;
            if (!exists && (mapping == null || "deleted".equals(mapping.get("desired"))
                    || "deleted".equals(mapping.get("sync_state")))) {
                return false;
            }
            store.delete(id);
            if (mapping != null) {
                mappings.enqueueAppDelete(id);
            }
            // a series' occurrence records go with it (on the calendar, deleting the master deletes the series)
            for (String occurrence : store.occurrencesOf(id)) {
                mappings.lock(occurrence);
                store.delete(occurrence);
                mappings.enqueueAppDelete(occurrence);
            }
            return true;
        }));
    }

    /** Whether the record's synced fields equal the stored ones exactly (as JSON values). */
    private boolean sameContent(Map<String, Object> record, Map<String, Object> stored) {
        for (String field : SYNCED_FIELDS) {
            Object mine = field.equals("participants") && record.get(field) == null ? List.of() : record.get(field);
            if (!json.valueToTree(mine).equals(json.valueToTree(stored.get(field)))) {
                return false;
            }
        }
        return true;
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

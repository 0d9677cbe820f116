package dev.calsync.local;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.camel.Body;
import org.apache.camel.Header;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.core.RowMapper;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.CLAIM;
import static dev.calsync.CalsyncHeaders.RECORD_ID;

/**
 * The built-in local store: the application's events in PostgreSQL. Routes {@code calsync-local-upsert} and
 * {@code calsync-local-delete} write through it; the read API serves from it, joined with the sync mapping.
 */
@Component("localEventStore")
public class LocalEventStore {

    /** A record's synced fields, as the API takes and returns them. */
    public static final List<String> FIELDS = List.of("grant_id", "calendar_id", "title", "description", "location",
            "when", "participants", "recurrence", "status", "master_record_id", "original_start_time");

    private static final String SELECT = """
            SELECT e.id, e.grant_id, e.calendar_id, e.title, e.description, e.location, e.when_json::text AS when_json,
                   e.participants::text AS participants, e.recurrence::text AS recurrence, e.status,
                   e.master_record_id, e.original_start_time, e.created_at, e.updated_at,
                   m.nylas_event_id, m.sync_state, m.attempts, m.last_error
              FROM app_event e LEFT JOIN event_sync_map m ON m.internal_id = e.id
            """;

    private final JdbcTemplate jdbc;
    private final org.springframework.transaction.support.TransactionTemplate tx;
    private final dev.calsync.mapping.SyncMappings mappings;
    private final ObjectMapper json;
    private final RowMapper<Map<String, Object>> rows;

    public LocalEventStore(JdbcTemplate jdbc, org.springframework.transaction.support.TransactionTemplate tx,
                           ObjectMapper json, dev.calsync.mapping.SyncMappings mappings) {
        this.jdbc = jdbc;
        this.mappings = mappings;
        this.tx = tx;
        this.json = json;
        this.rows = (rs, i) -> {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("id", rs.getString("id"));
            r.put("grant_id", rs.getString("grant_id"));
            r.put("calendar_id", rs.getString("calendar_id"));
            r.put("title", rs.getString("title"));
            r.put("description", rs.getString("description"));
            r.put("location", rs.getString("location"));
            r.put("when", read(rs.getString("when_json")));
            r.put("participants", read(rs.getString("participants")));
            r.put("recurrence", read(rs.getString("recurrence")));
            r.put("status", rs.getString("status"));
            r.put("master_record_id", rs.getString("master_record_id"));
            r.put("original_start_time", rs.getObject("original_start_time"));
            r.put("created_at", rs.getTimestamp("created_at").toInstant().getEpochSecond());
            r.put("updated_at", rs.getTimestamp("updated_at").toInstant().getEpochSecond());
            r.put("nylas_event_id", rs.getString("nylas_event_id"));
            r.put("sync_state", rs.getString("sync_state"));
            r.put("sync_attempts", rs.getObject("attempts"));
            r.put("last_error", rs.getString("last_error"));
            return r;
        };
    }

    /**
     * Creates or replaces a record from the calendar side (route {@code calsync-local-upsert}); {@code record} is
     * Nylas-shaped (id, grant_id, calendar_id, title, ...). A record with an application change still on its way to
     * the calendar is left as it is (that change is newer and will be pushed), and a deleted record is never
     * written again (its mapping is a tombstone or a pending delete). Returns whether the record was written.
     */
    public boolean upsert(@Body Map<String, Object> record,
                          @org.apache.camel.Header(CLAIM) String pushClaim) {
        return Boolean.TRUE.equals(tx.execute(t -> {
            // the mapping row is locked until this write commits, so a delete (which tombstones the row first)
            // either sees this record and deletes it, or this write sees the tombstone and writes nothing; a push
            // writes its own record only while it holds the row's claim
            Boolean writable = mappings.lockIfWritableByCalendar((String) record.get("id"), pushClaim);
            if (writable == null || writable) {
                write(record);
                return true;
            }
            return false;
        }));
    }

    /**
     * {@link #upsert} for many records at once (route {@code calsync-local-upsert-batch}, a reconciliation's bulk
     * import): one transaction, the mapping rows locked as {@code upsert} locks one, the writable records in one
     * multi-row statement. Returns the ids of the records refused (a delete or an application change came in meanwhile).
     */
    public List<String> upsertAll(@Body List<Map<String, Object>> records) {
        return tx.execute(t -> {
            List<String> ids = records.stream().map(r -> (String) r.get("id")).toList();
            List<String> refused = mappings.lockNotWritableByCalendar(ids);
            List<Map<String, Object>> writable = records.stream().filter(r -> !refused.contains(r.get("id"))).toList();
            writeAll(writable);
            return refused;
        });
    }

    /** Creates or replaces the records in one multi-row statement. */
    private void writeAll(List<Map<String, Object>> writable) {
        if (!writable.isEmpty()) {
            jdbc.update("""
                        INSERT INTO app_event (id, grant_id, calendar_id, title, description, location, when_json,
                                               participants, recurrence, status, master_record_id, original_start_time)
                        SELECT u.id, u.grant_id, u.calendar_id, u.title, u.description, u.location,
                               CAST(u.when_json AS jsonb), CAST(u.participants AS jsonb), CAST(u.recurrence AS jsonb),
                               coalesce(u.status, 'confirmed'), u.master_record_id, CAST(u.original_start_time AS bigint)
                          FROM unnest(CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]),
                                      CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]),
                                      CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]))
                               AS u(id, grant_id, calendar_id, title, description, location, when_json, participants,
                                    recurrence, status, master_record_id, original_start_time)
                        ON CONFLICT (id) DO UPDATE SET grant_id = excluded.grant_id, calendar_id = excluded.calendar_id,
                            title = excluded.title, description = excluded.description, location = excluded.location,
                            when_json = excluded.when_json, participants = excluded.participants,
                            recurrence = excluded.recurrence, status = excluded.status,
                            master_record_id = excluded.master_record_id,
                            original_start_time = excluded.original_start_time, updated_at = now()
                        """,
                        column(writable, r -> r.get("id")), column(writable, r -> r.get("grant_id")),
                        column(writable, r -> r.get("calendar_id")), column(writable, r -> r.get("title")),
                        column(writable, r -> r.get("description")), column(writable, r -> r.get("location")),
                        column(writable, r -> write(r.get("when"))),
                        column(writable, r -> write(r.get("participants") == null ? List.of() : r.get("participants"))),
                        column(writable, r -> write(r.get("recurrence"))), column(writable, r -> r.get("status")),
                        column(writable, r -> r.get("master_record_id")),
                        column(writable, r -> r.get("original_start_time") instanceof Number n ? n.longValue() : null));
        }
    }

    private static String[] column(List<Map<String, Object>> records,
                                   java.util.function.Function<Map<String, Object>, Object> value) {
        return records.stream().map(value).map(v -> v == null ? null : v.toString()).toArray(String[]::new);
    }

    /** Creates or replaces a record as the application wrote it ({@code PUT /api/v1/events/{id}}). */
    public void save(Map<String, Object> record) {
        write(record);
    }

    private void write(Map<String, Object> record) {
        writeAll(List.of(record));
    }

    /** Removes a record; removing one that is not there is not an error. */
    public void delete(@Header(RECORD_ID) String id) {
        jdbc.update("DELETE FROM app_event WHERE id = ?", id);
    }

    /** The ids of a series record's occurrence records. */
    public List<String> occurrencesOf(String masterRecordId) {
        return jdbc.queryForList("SELECT id FROM app_event WHERE master_record_id = ? ORDER BY id", String.class,
                masterRecordId);
    }

    public Map<String, Object> find(String id) {
        List<Map<String, Object>> found = jdbc.query(SELECT + " WHERE e.id = ?", rows, id);
        return found.isEmpty() ? null : found.get(0);
    }

    /** One page, ordered by id; {@code cursor} is the opaque {@code next_cursor} of the previous page. */
    public Map<String, Object> list(String grantId, String calendarId, int limit, String cursor) {
        StringBuilder sql = new StringBuilder(SELECT).append(" WHERE true");
        List<Object> args = new ArrayList<>();
        if (grantId != null) {
            sql.append(" AND e.grant_id = ?");
            args.add(grantId);
        }
        if (calendarId != null) {
            sql.append(" AND e.calendar_id = ?");
            args.add(calendarId);
        }
        if (cursor != null) {
            sql.append(" AND e.id > ?");
            args.add(decodeCursor(cursor));
        }
        sql.append(" ORDER BY e.id LIMIT ?");
        args.add(limit + 1);
        List<Map<String, Object>> page = new ArrayList<>(jdbc.query(sql.toString(), rows, args.toArray()));
        String next = null;
        if (page.size() > limit) {
            page.remove(limit);
            next = Base64.getUrlEncoder().withoutPadding()
                    .encodeToString(((String) page.get(limit - 1).get("id")).getBytes(StandardCharsets.UTF_8));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("data", page);
        out.put("next_cursor", next);
        return out;
    }

    static String decodeCursor(String cursor) {
        try {
            return new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("cursor is not a next_cursor value");
        }
    }

    private String write(Object value) {
        try {
            return value == null ? null : json.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    private Object read(String text) {
        try {
            return text == null ? null : json.readValue(text, Object.class);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}

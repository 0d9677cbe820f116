package dev.calsync.mapping;

import java.sql.PreparedStatement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.apache.camel.Body;
import org.postgresql.PGStatement;
import org.springframework.jdbc.core.ColumnMapRowMapper;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

/**
 * The mapping lookups of a whole claim in one query: before a claimed batch of notifications is split over the
 * workers, the mapping rows its {@code event.*} notifications name (by {@code metadata.key1}, by grant and event id)
 * are read at once and handed to each notification ({@link #KEY}), so the two enrichers of {@code
 * calsync-inbound-event-upsert} and {@code calsync-inbound-event-delete} run only where nothing was found this way.
 * <p>
 * Why it is as safe as the enrichers: the rows are read after the claim, before any of the batch is processed, and no
 * other notification of the same event is processed meanwhile (one per event key). They are used only while fresh
 * ({@link Found#answers}: at most half a second old), so a notification that waited behind slow ones looks up anew;
 * within that, another writer (an application change, a reconciliation, a notification of another event) could
 * change a row between this read and the write as it could between an enricher and the write. Two notifications of one claim that touch one record (a hint, or a row found) get nothing here: the
 * second must see what the first wrote, so both look up for themselves. A notification whose keys are not the ones
 * read (a truncated one, fetched again; an event fetched after a same-second tie) looks up for itself too.
 */
@Component("claimMappings")
public class ClaimMappings {

    /** The row key of a claimed notification, and the exchange variable, that carry its {@link Found} rows. */
    public static final String KEY = "prefetchedMappings";

    private static final String FIND_SQL = """
            SELECT internal_id, nylas_event_id, grant_id, calendar_id, content_hash, source, sync_state, desired,
                   remote_updated_at, create_attempts
              FROM event_sync_map
             WHERE internal_id = ANY(?) OR (grant_id = ANY(?) AND nylas_event_id = ANY(?))""";

    private final JdbcTemplate jdbc;

    public ClaimMappings(JdbcTemplate jdbc) {
        this.jdbc = jdbc;
    }

    /**
     * The rows found for one notification's keys, each list as the enricher would have given it (at most one row).
     * {@code recordHint} is null when the event carries none.
     */
    public record Found(String recordHint, String grantId, String eventId, List<Map<String, Object>> byRecord,
                        List<Map<String, Object>> byEvent, long readAtNanos) {

        public Found(String recordHint, String grantId, String eventId, List<Map<String, Object>> byRecord,
                     List<Map<String, Object>> byEvent) {
            this(recordHint, grantId, eventId, byRecord, byEvent, System.nanoTime());
        }

        /**
         * Whether these rows are the ones for these keys (a null or blank hint is no hint) and fresh: read at most
         * {@link #MAX_AGE_NANOS} ago, so a notification that waited behind slow ones in its batch looks up anew.
         */
        public boolean answers(String hint, String grant, String event) {
            return Objects.equals(recordHint, hint == null || hint.isBlank() ? null : hint)
                    && Objects.equals(grantId, grant) && Objects.equals(eventId, event)
                    && System.nanoTime() - readAtNanos <= MAX_AGE_NANOS;
        }
    }

    /**
     * How old the claim's rows may be when a notification starts: about what a lookup right before the plan is
     * exposed to anyway (a worker's own queries and writes), far less than a batch waiting behind Nylas calls.
     */
    static final long MAX_AGE_NANOS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(500);

    /**
     * Reads the mapping rows of the claim's event notifications in one query and puts each notification's under
     * {@link #KEY} in its row. The claim's rows carry {@code grant_id}, {@code object_id} (the event id), {@code
     * type} and {@code record_hint} ({@code metadata.key1}).
     */
    public void prefetch(@Body List<Map<String, Object>> claimed) {
        List<Map<String, Object>> events = new ArrayList<>();
        Map<String, Integer> touching = new HashMap<>();
        for (Map<String, Object> row : claimed) {
            if (eligible(row)) {
                events.add(row);
                String hint = hint(row);
                if (hint != null) {
                    touching.merge(hint, 1, Integer::sum);
                }
            }
        }
        if (events.isEmpty()) {
            return;
        }
        try {
            prefetch(events, touching);
        } catch (org.springframework.dao.DataAccessException e) {
            // an optimisation only: without it each notification looks its rows up itself
            org.slf4j.LoggerFactory.getLogger(ClaimMappings.class).debug("Claim lookups failed; one by one", e);
        }
    }

    private void prefetch(List<Map<String, Object>> events, Map<String, Integer> touching) {
        Object[] hints = events.stream().map(ClaimMappings::hint).filter(Objects::nonNull).toArray(String[]::new);
        Object[] grants = events.stream().map(r -> (String) r.get("grant_id")).distinct().toArray(String[]::new);
        Object[] eventIds = events.stream().map(r -> (String) r.get("object_id")).toArray(String[]::new);
        List<Map<String, Object>> found = jdbc.query(connection -> {
            PreparedStatement statement = connection.prepareStatement(FIND_SQL);
            // planned for each claim with its own arrays: a plan PostgreSQL would cache for arrays of any size may
            // be a full scan, made while the table was small and kept while it grows (measured: 7.5 ms a claim)
            statement.unwrap(PGStatement.class).setPrepareThreshold(0);
            statement.setArray(1, connection.createArrayOf("text", hints));
            statement.setArray(2, connection.createArrayOf("text", grants));
            statement.setArray(3, connection.createArrayOf("text", eventIds));
            return statement;
        }, new ColumnMapRowMapper());
        Map<String, Map<String, Object>> byId = new HashMap<>();
        Map<List<Object>, Map<String, Object>> byEventKey = new HashMap<>();
        for (Map<String, Object> mapping : found) {
            byId.put((String) mapping.get("internal_id"), mapping);
            if (mapping.get("nylas_event_id") != null) {
                byEventKey.put(List.of(mapping.get("grant_id"), mapping.get("nylas_event_id")), mapping);
            }
        }
        List<Found> results = new ArrayList<>(events.size());
        for (Map<String, Object> row : events) {
            String hint = hint(row);
            Map<String, Object> byRecord = hint == null ? null : byId.get(hint);
            Map<String, Object> byEvent = byEventKey.get(List.of(row.get("grant_id"), row.get("object_id")));
            if (byEvent != null && !Objects.equals(byEvent.get("internal_id"), hint)) {
                touching.merge((String) byEvent.get("internal_id"), 1, Integer::sum);
            }
            results.add(new Found(hint, (String) row.get("grant_id"), (String) row.get("object_id"), list(byRecord),
                    list(byEvent)));
        }
        for (int i = 0; i < events.size(); i++) {
            Found f = results.get(i);
            boolean shared = f.recordHint() != null && touching.get(f.recordHint()) > 1
                    || !f.byEvent().isEmpty() && touching.getOrDefault((String) f.byEvent().get(0).get("internal_id"),
                    0) > 1;
            if (!shared) {
                events.get(i).put(KEY, f);
            }
        }
    }

    /** An {@code event.created/updated/deleted} notification that is not truncated, naming its grant and event. */
    private static boolean eligible(Map<String, Object> row) {
        String type = (String) row.get("type");
        return type != null && row.get("grant_id") != null && row.get("object_id") != null
                && (type.startsWith("event.created") || type.startsWith("event.updated")
                || type.startsWith("event.deleted")) && !type.endsWith(".truncated");
    }

    private static String hint(Map<String, Object> row) {
        Object hint = row.get("record_hint");
        return hint == null || hint.toString().isBlank() ? null : hint.toString();
    }

    private static List<Map<String, Object>> list(Map<String, Object> row) {
        return row == null ? List.of() : List.of(row);
    }
}

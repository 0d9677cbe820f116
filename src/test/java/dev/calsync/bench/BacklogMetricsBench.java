package dev.calsync.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.metrics.BacklogMetrics;
import dev.calsync.support.PostgresServer;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.SingleConnectionDataSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The backlog metrics benchmark ({@code ./mvnw verify -Pscale -Dit.test=BacklogMetricsBench}; not part of {@code
 * ./mvnw verify} nor of the default {@code -Pscale} run; docs/SCALING.md "Backlog metrics at 100,000 grants"): what
 * {@link BacklogMetrics}' snapshot statement costs on a database at the product's target scale. Every instance runs it
 * at most every {@code calsync.metrics.refresh-interval} (5 s). Prints one table (also {@code
 * target/scale/backlog-metrics.md}) and the statement's {@code EXPLAIN (ANALYZE, BUFFERS)}; asserts no time, only
 * that the snapshot counts what was filled in.
 *
 * <p>Set-up. A PostgreSQL 15 cluster of the benchmark's own ({@link PostgresServer}, {@code shared_buffers} 256 MB
 * as in {@code ScaleBench}, autovacuum off so that the benchmark decides when tables are vacuumed), the real schema
 * (the service's Flyway migrations), filled with {@code generate_series} {@code INSERT}s: {@code scale.metrics.grants}
 * grants (100,000) in {@code grant_sync_state}, 1 % of them paused; 10 mappings per grant in {@code event_sync_map}
 * (1,000,000: synced, 2 % tombstones, 3,000 pending application changes, 300 failed pushes); 1,000,000 processed
 * notifications of the last two days in {@code webhook_inbox}, vacuumed and analyzed as autovacuum would leave them.
 * Then the backlog arrives: 50,000 received notifications (10,000 of them event notifications of paused grants held
 * by the claim, the oldest, a minute at a time; 5,000 waiting for a retry; 35,000 due from the last ten minutes), 300
 * processing and 3,000 dead.
 *
 * <p>Measured twice: right after the backlog arrived (analyzed, not yet vacuumed: its rows are not all-visible, as on
 * a busy inbox between autovacuum runs) and after {@code VACUUM}. Each time the statement runs {@code
 * scale.metrics.repetitions} times on one connection, each execution alternating with PostgreSQL's own baseline, a
 * {@code count(*)} of a primary key range of as many entries as the received backlog (index-only, all-visible) and a
 * {@code SELECT 1} round trip, so both see the same noise; then its {@code EXPLAIN (ANALYZE, BUFFERS)}, whose
 * sub-selects' times are in the table.
 */
@Tag("scale")
class BacklogMetricsBench {

    private static final int GRANTS = Integer.getInteger("scale.metrics.grants", 100_000);
    private static final int MAPPINGS = Integer.getInteger("scale.metrics.mappings", GRANTS * 10);
    private static final int PROCESSED = Integer.getInteger("scale.metrics.processed", GRANTS * 10);
    private static final int RECEIVED = Integer.getInteger("scale.metrics.received", 50_000);
    private static final int HELD = Integer.getInteger("scale.metrics.held", RECEIVED / 5);
    private static final int BACKING_OFF = Integer.getInteger("scale.metrics.backing-off", RECEIVED / 10);
    private static final int PROCESSING = Integer.getInteger("scale.metrics.processing", 300);
    private static final int DEAD = Integer.getInteger("scale.metrics.dead", 3_000);
    private static final int PENDING = Integer.getInteger("scale.metrics.pending", 3_000);
    private static final int FAILED = Integer.getInteger("scale.metrics.failed", 300);
    private static final int PAUSED_EVERY = 100; // 1 % of the grants
    private static final int REPETITIONS = Integer.getInteger("scale.metrics.repetitions", 300);
    /** Statements run after the fill and before measuring, {@code ;}-separated: a candidate index, say. */
    private static final String EXTRA_SQL = System.getProperty("scale.metrics.extra-sql", "");

    private static final Path OUTPUT = Path.of("target", "scale").toAbsolutePath();
    /** The snapshot statement's output columns, in order. */
    private static final List<String> COLUMNS = List.of("received", "processing", "dead", "oldest_due_age",
            "push_pending", "push_failed", "paused_grants");

    private final Map<String, String> table = new LinkedHashMap<>();
    private final StringBuilder plans = new StringBuilder();
    private final ObjectMapper json = new ObjectMapper();

    @Test
    void snapshotStatementAtOneHundredThousandGrants() throws Exception {
        Files.createDirectories(OUTPUT);
        String loadBefore = BenchMachine.loadAverage();
        long started = System.nanoTime();
        try (PostgresServer postgres = PostgresServer.create(OUTPUT.resolve("backlog-metrics-postgres.log"),
                List.of("shared_buffers = 256MB", "autovacuum = off"))) {
            SingleConnectionDataSource ds = new SingleConnectionDataSource(postgres.jdbcUrl(), PostgresServer.USER,
                    "", true);
            try {
                Flyway.configure().dataSource(ds).locations("classpath:calsync/db/migration")
                        .table("calsync_schema_history").load().migrate();
                JdbcTemplate db = new JdbcTemplate(ds);
                long fillStarted = System.nanoTime();
                fillHistory(db);
                db.execute("VACUUM ANALYZE");
                fillBacklog(db);
                for (String sql : EXTRA_SQL.split(";")) {
                    if (!sql.isBlank()) {
                        timed(sql.strip(), () -> db.execute(sql));
                        table.put("extra statement (-Dscale.metrics.extra-sql)", sql.strip());
                    }
                }
                db.execute("ANALYZE");
                log("filled in %.1f s", (System.nanoTime() - fillStarted) / 1e9);
                table.put("database", postgres.version() + "; shared_buffers 256MB, autovacuum off (vacuumed by the"
                        + " benchmark)");
                table.put("rows", rows(db));

                Map<String, Object> snapshot = db.queryForMap(BacklogMetrics.SNAPSHOT_SQL);
                table.put("snapshot (what the gauges show)", snapshot.toString());
                assertFilledAsIntended(snapshot);

                measure(db, "backlog just arrived (analyzed, not vacuumed)");
                db.execute("VACUUM webhook_inbox");
                db.execute("VACUUM event_sync_map");
                db.execute("VACUUM grant_sync_state");
                measure(db, "after VACUUM");
            } finally {
                ds.destroy();
            }
        }
        print(String.format("Backlog metrics at %,d grants, %s: one PostgreSQL 15 cluster of the benchmark's own, %d"
                        + " cores shared with other work (load average before %s, at the end %s); run %.0f s",
                GRANTS, DateTimeFormatter.ISO_LOCAL_DATE_TIME.format(Instant.now().atOffset(ZoneOffset.UTC)
                        .withNano(0)), Runtime.getRuntime().availableProcessors(), loadBefore, BenchMachine.loadAverage(),
                (System.nanoTime() - started) / 1e9));
    }

    // ------------------------------------------------------------------------------------------------- fill

    /** Grants, mappings and two days of processed notifications: what a long-running installation holds. */
    private void fillHistory(JdbcTemplate db) {
        timed("grant_sync_state", () -> db.update("""
                INSERT INTO grant_sync_state (grant_id, state, reason, updated_at, notified_at)
                SELECT 'grant-' || g,
                       CASE WHEN g % ? = 0 THEN 'paused' ELSE 'active' END,
                       CASE WHEN g % ? = 0 THEN 'grant.expired' ELSE 'grant.created' END,
                       now() - (g % 10000) * interval '1 minute', now() - (g % 10000) * interval '1 minute'
                  FROM generate_series(0, ? - 1) g""", PAUSED_EVERY, PAUSED_EVERY, GRANTS));
        // 10 mappings per grant over 1 or 2 calendars; the reconcile_calendar trigger's rows are written once after
        // (the same rows, without a million trigger calls)
        db.execute("ALTER TABLE event_sync_map DISABLE TRIGGER event_sync_map_calendar_joins");
        int pendingEvery = Math.max(1, MAPPINGS / Math.max(1, PENDING));
        int failedEvery = Math.max(1, MAPPINGS / Math.max(1, FAILED));
        timed("event_sync_map", () -> db.update("""
                INSERT INTO event_sync_map (internal_id, nylas_event_id, grant_id, calendar_id, content_hash, source,
                                            sync_state, desired, remote_updated_at, attempts, last_error, deleted_at,
                                            updated_at, version, remote_metadata, next_attempt_at)
                SELECT 'rec-' || i, 'ev-' || i, 'grant-' || g, 'cal-' || g || '-' || ((i / ?) % (1 + g % 2)),
                       md5(i::text) || md5((i + 1)::text),
                       CASE WHEN st IN ('pending', 'failed') THEN 'app' ELSE 'calendar' END,
                       st, CASE WHEN st = 'deleted' THEN 'deleted' ELSE 'live' END,
                       1764000000 + i, CASE WHEN st = 'failed' THEN 8 WHEN st = 'pending' THEN i % 3 ELSE 0 END,
                       CASE WHEN st = 'failed' THEN 'Nylas answered 400: invalid participant' END,
                       CASE WHEN st = 'deleted' THEN now() - interval '1 day' END,
                       now() - (i % 86400) * interval '1 second', i % 5,
                       jsonb_build_object('key1', 'rec-' || i),
                       now() + CASE WHEN st = 'pending' AND i % 4 = 0 THEN interval '5 minutes' ELSE interval '0' END
                  FROM (SELECT i, i % ? AS g,
                               CASE WHEN i % ? = 1 THEN 'pending' WHEN i % ? = 2 THEN 'failed'
                                    WHEN i % 50 = 3 THEN 'deleted' ELSE 'synced' END AS st
                          FROM generate_series(0, ? - 1) i) s""",
                GRANTS, GRANTS, pendingEvery, failedEvery, MAPPINGS));
        db.execute("ALTER TABLE event_sync_map ENABLE TRIGGER event_sync_map_calendar_joins");
        timed("reconcile_calendar", () -> db.update("""
                INSERT INTO reconcile_calendar (grant_id, calendar_id, next_due_at)
                SELECT DISTINCT grant_id, calendar_id, now() + interval '30 minutes' FROM event_sync_map"""));
        timed("webhook_inbox, processed", () -> db.update(inboxInsert("'p-' || lpad(i::text, 8, '0')", """
                'processed', now() - interval '48 hours' + i * (interval '48 hours' / ?), NULL, 1, NULL,
                'applied', NULL""", "i * 7919 % " + GRANTS), PROCESSED, PROCESSED));
    }

    /**
     * The backlog, after the history was vacuumed: received (held for paused grants, the oldest; waiting for a
     * retry; due), processing, dead.
     */
    private void fillBacklog(JdbcTemplate db) {
        int paused = GRANTS / PAUSED_EVERY;
        // event notifications of paused grants, acknowledged over the last six hours, held by the claim a minute at
        // a time (one in sixty due again right now)
        timed("webhook_inbox, received, held for paused grants", () -> db.update(inboxInsert(
                "'h-' || lpad(i::text, 8, '0')", """
                'received', now() - interval '6 hours' + i * (interval '5 hours' / ?),
                now() - interval '1 second' + (i % 60) * interval '1 second', 0, NULL, NULL, NULL""",
                "(i % " + paused + ") * " + PAUSED_EVERY), HELD, HELD));
        // failed once or more, waiting for their retry (acknowledged in the last hour; due again in 15 to 25 minutes)
        timed("webhook_inbox, received, waiting for a retry", () -> db.update(inboxInsert(
                "'b-' || lpad(i::text, 8, '0')", """
                'received', now() - interval '1 hour' + i * (interval '50 minutes' / ?),
                now() + interval '15 minutes' + (i % 600) * interval '1 second', 1 + i % 5, NULL, NULL,
                'Nylas answered 503'""", "1 + i * 7919 % " + (GRANTS - 1) + " + (CASE WHEN (1 + i * 7919 % "
                + (GRANTS - 1) + ") % " + PAUSED_EVERY + " = 0 THEN 1 ELSE 0 END)"), BACKING_OFF, BACKING_OFF));
        int due = RECEIVED - HELD - BACKING_OFF;
        // a burst of the last ten minutes, due
        timed("webhook_inbox, received, due", () -> db.update(inboxInsert("'r-' || lpad(i::text, 8, '0')", """
                'received', now() - interval '10 minutes' + i * (interval '10 minutes' / ?), NULL, 0, NULL, NULL,
                NULL""", "1 + i * 7919 % " + (GRANTS - 1) + " + (CASE WHEN (1 + i * 7919 % " + (GRANTS - 1)
                + ") % " + PAUSED_EVERY + " = 0 THEN 1 ELSE 0 END)"), due, due));
        timed("webhook_inbox, processing", () -> db.update(inboxInsert("'q-' || lpad(i::text, 8, '0')", """
                'processing', now() - interval '1 minute' + i * (interval '50 seconds' / ?), NULL, 1,
                now() + interval '5 minutes', NULL, NULL""", "1 + i * 7 % " + (GRANTS - 1)), PROCESSING, PROCESSING));
        timed("webhook_inbox, dead", () -> db.update(inboxInsert("'d-' || lpad(i::text, 8, '0')", """
                'dead', now() - interval '7 days' + i * (interval '7 days' / ?), NULL, 10, NULL, 'dead',
                'Nylas answered 404: event not found'""", "i * 31 % " + GRANTS), DEAD, DEAD));
    }

    /**
     * An {@code INSERT} of {@code ?} notifications ({@code generate_series(0, ? - 1) i}) shaped like the service's:
     * an event notification's payload as Nylas sends it, its event key.
     *
     * @param id    the notification id, an expression of {@code i}
     * @param state {@code status, received_at, next_attempt_at (NULL: received_at), attempts, lease_until, outcome,
     *              last_error}, expressions of {@code i} (the first {@code ?} is the row count)
     * @param grant the grant's number, an expression of {@code i}
     */
    private static String inboxInsert(String id, String state, String grant) {
        return """
                INSERT INTO webhook_inbox (notification_id, type, grant_id, object_id, event_key, notified_at,
                                           received_at, payload, status, attempts, next_attempt_at, lease_until,
                                           claim_token, outcome, last_error, processed_at)
                SELECT nid, type, gid, oid, gid || ':' || oid, received_at - interval '1 second', received_at,
                       jsonb_build_object('specversion', '1.0', 'type', type, 'source', '/google/events/realtime',
                           'id', nid, 'time', extract(epoch FROM received_at)::bigint,
                           'data', jsonb_build_object('application_id', 'app-calsync', 'object', jsonb_build_object(
                               'id', oid, 'grant_id', gid, 'calendar_id', 'cal-' || gid, 'object', 'event',
                               'status', 'confirmed', 'title', 'Meeting ' || i, 'busy', true,
                               'updated_at', extract(epoch FROM received_at)::bigint,
                               'when', jsonb_build_object('object', 'timespan',
                                   'start_time', 1767225600 + i * 60, 'end_time', 1767229200 + i * 60),
                               'participants', jsonb_build_array(jsonb_build_object('email', 'a' || i || '@example.com',
                                   'status', 'yes')),
                               'metadata', jsonb_build_object('key1', 'rec-' || i)))),
                       status, attempts::int, coalesce(next_attempt_at::timestamptz, received_at),
                       lease_until::timestamptz, CASE WHEN status = 'processing' THEN 'bench-' || nid END,
                       outcome::text, last_error::text,
                       CASE WHEN status = 'processed' THEN received_at + interval '200 milliseconds' END
                  FROM (SELECT i, %s AS nid, 'grant-' || (%s) AS gid, 'ev-n' || i AS oid,
                               CASE WHEN i %% 100 < 80 THEN 'event.updated' WHEN i %% 100 < 95 THEN 'event.created'
                                    ELSE 'event.deleted' END AS type,
                               s.*
                          FROM generate_series(0::bigint, ? - 1) i,
                               LATERAL (SELECT %s) AS s(status, received_at, next_attempt_at, attempts, lease_until,
                                                        outcome, last_error)) f""".formatted(id, grant, state);
    }

    private void assertFilledAsIntended(Map<String, Object> s) {
        assertThat(((Number) s.get("received")).longValue()).as("received").isEqualTo(RECEIVED);
        assertThat(((Number) s.get("processing")).longValue()).as("processing").isEqualTo(PROCESSING);
        assertThat(((Number) s.get("dead")).longValue()).as("dead").isEqualTo(DEAD);
        assertThat(((Number) s.get("paused_grants")).longValue()).as("paused grants")
                .isEqualTo((GRANTS + PAUSED_EVERY - 1) / PAUSED_EVERY);
        // the oldest due is the oldest of the due burst (ten minutes old), not a held one (hours old) nor one
        // waiting for its retry (up to an hour old)
        assertThat(((Number) s.get("oldest_due_age")).doubleValue()).as("oldest due age").isBetween(590.0, 1800.0);
    }

    // ------------------------------------------------------------------------------------------------ measure

    private void measure(JdbcTemplate db, String phase) {
        db.execute((Connection c) -> {
            long[] statement = new long[REPETITIONS];
            long[] count = new long[REPETITIONS];
            long[] ping = new long[REPETITIONS];
            // PostgreSQL's own floor: counting 50,000 index entries (an index-only scan of the primary key's range of
            // as many processed notifications as the received backlog), and one round trip
            String countSql = "SELECT count(*) FROM webhook_inbox WHERE notification_id >= 'p-'"
                    + " AND notification_id < 'p-' || lpad(?::text, 8, '0')";
            try (PreparedStatement snap = c.prepareStatement(BacklogMetrics.SNAPSHOT_SQL);
                 PreparedStatement base = c.prepareStatement(countSql);
                 PreparedStatement one = c.prepareStatement("SELECT 1")) {
                base.setInt(1, RECEIVED);
                for (int i = -20; i < REPETITIONS; i++) { // 20 to warm up
                    long a = run(snap);
                    long b = run(base);
                    long d = run(one);
                    if (i >= 0) {
                        statement[i] = a;
                        count[i] = b;
                        ping[i] = d;
                    }
                }
                try (ResultSet rs = c.createStatement().executeQuery(
                        "EXPLAIN (ANALYZE, BUFFERS) " + BacklogMetrics.SNAPSHOT_SQL)) {
                    plans.append("\n-- EXPLAIN (ANALYZE, BUFFERS) of the snapshot statement, ").append(phase)
                            .append('\n');
                    while (rs.next()) {
                        plans.append(rs.getString(1)).append('\n');
                    }
                }
                try (ResultSet rs = c.createStatement().executeQuery(
                        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + BacklogMetrics.SNAPSHOT_SQL)) {
                    rs.next();
                    table.put(phase + ": the statement's parts (EXPLAIN ANALYZE)", parts(rs.getString(1)));
                }
                try (ResultSet rs = c.createStatement().executeQuery("EXPLAIN (ANALYZE, BUFFERS) "
                        + countSql.replace("?::text", "'" + RECEIVED + "'"))) {
                    plans.append("\n-- EXPLAIN (ANALYZE, BUFFERS) of the baseline count, ").append(phase).append('\n');
                    while (rs.next()) {
                        plans.append(rs.getString(1)).append('\n');
                    }
                }
            }
            table.put(phase + ": snapshot statement", stats(statement));
            table.put(phase + ": baseline, count(*) of " + String.format("%,d", RECEIVED)
                    + " primary key entries", stats(count));
            table.put(phase + ": baseline, SELECT 1", stats(ping));
            return null;
        });
    }

    /**
     * Each output column's sub-select (the top node's init plans, in the select list's order): its time and the
     * buffers it read.
     */
    private String parts(String planJson) {
        try {
            JsonNode root = json.readTree(planJson).get(0);
            JsonNode initPlans = root.get("Plan").path("Plans");
            StringBuilder out = new StringBuilder(String.format("%.2f ms in all", root.get("Execution Time")
                    .asDouble()));
            for (int i = 0; i < initPlans.size() && i < COLUMNS.size(); i++) {
                JsonNode p = initPlans.get(i);
                out.append(String.format("; %s %.2f ms, %,d buffers", COLUMNS.get(i),
                        p.path("Actual Total Time").asDouble(),
                        p.path("Shared Hit Blocks").asLong() + p.path("Shared Read Blocks").asLong()));
            }
            return out.toString();
        } catch (Exception e) {
            return "not read: " + e;
        }
    }

    private static long run(PreparedStatement ps) throws SQLException {
        long t = System.nanoTime();
        try (ResultSet rs = ps.executeQuery()) {
            rs.next();
        }
        return System.nanoTime() - t;
    }

    private static String stats(long[] nanos) {
        long[] s = nanos.clone();
        Arrays.sort(s);
        return String.format("median %.2f ms, p95 %.2f ms, max %.2f ms (%d runs)", s[s.length / 2] / 1e6,
                s[(int) Math.ceil(s.length * 0.95) - 1] / 1e6, s[s.length - 1] / 1e6, s.length);
    }

    private static String rows(JdbcTemplate db) {
        StringBuilder out = new StringBuilder();
        db.query("""
                SELECT relname, n_live_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables
                 WHERE relname IN ('grant_sync_state', 'event_sync_map', 'webhook_inbox') ORDER BY relname""",
                (ResultSet rs) -> {
                    out.append(out.isEmpty() ? "" : "<br>").append(String.format("%s: %,d rows, %d MiB",
                            rs.getString(1), rs.getLong(2), rs.getLong(3) >> 20));
                });
        db.query("""
                SELECT status, count(*), count(*) FILTER (WHERE next_attempt_at <= now()) FROM webhook_inbox
                 GROUP BY status ORDER BY status""", (ResultSet rs) -> {
            out.append(String.format("<br>webhook_inbox %s: %,d (%,d due)", rs.getString(1), rs.getLong(2),
                    rs.getLong(3)));
        });
        db.query("SELECT sync_state, source, count(*) FROM event_sync_map GROUP BY 1, 2 ORDER BY 1, 2",
                (ResultSet rs) -> {
                    out.append(String.format("<br>event_sync_map %s/%s: %,d", rs.getString(1), rs.getString(2),
                            rs.getLong(3)));
                });
        return out.toString();
    }

    // ------------------------------------------------------------------------------------------------ output

    private static void timed(String what, Runnable insert) {
        long t = System.nanoTime();
        insert.run();
        log("%s in %.1f s", what, (System.nanoTime() - t) / 1e9);
    }

    private void print(String title) throws Exception {
        StringBuilder out = new StringBuilder("\n" + title + "\n\n| | |\n|---|---|\n");
        table.forEach((k, v) -> out.append("| ").append(k).append(" | ").append(v).append(" |\n"));
        out.append("\nSettings: -Dscale.metrics.grants=").append(GRANTS).append(" -Dscale.metrics.mappings=")
                .append(MAPPINGS).append(" -Dscale.metrics.processed=").append(PROCESSED)
                .append(" -Dscale.metrics.received=").append(RECEIVED).append(" -Dscale.metrics.held=").append(HELD)
                .append(" -Dscale.metrics.backing-off=").append(BACKING_OFF).append(" -Dscale.metrics.processing=")
                .append(PROCESSING).append(" -Dscale.metrics.dead=").append(DEAD).append(" -Dscale.metrics.pending=")
                .append(PENDING).append(" -Dscale.metrics.failed=").append(FAILED)
                .append(" -Dscale.metrics.repetitions=").append(REPETITIONS)
                .append(EXTRA_SQL.isBlank() ? "" : " -Dscale.metrics.extra-sql=\"" + EXTRA_SQL + "\"").append('\n').append(plans);
        System.out.print(out);
        Files.writeString(OUTPUT.resolve("backlog-metrics.md"), out.toString());
    }

    private static void log(String format, Object... args) {
        System.out.printf("[backlog-metrics] " + format + "%n", args);
    }

}

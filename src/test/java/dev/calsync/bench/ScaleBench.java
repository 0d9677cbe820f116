package dev.calsync.bench;

import java.io.StringReader;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.config.CalsyncProperties.AllDayEnd;
import dev.calsync.inbound.EventCanonicalizer;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.PostgresServer;
import dev.calsync.support.RunningService;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.postgresql.PGConnection;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DriverManagerDataSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The reconciliation scale benchmark ({@code ./mvnw verify -Pscale}; not part of {@code ./mvnw verify};
 * docs/SCALING.md): one full sweep of {@code scale.calendars} calendars by {@code scale.instances} service instances
 * sharing one PostgreSQL and one Redis, with every webhook of the changes to repair dropped. Prints one table (also
 * {@code target/scale/figures.md}); asserts no time, only that the sweep converged: every change applied once, no
 * event twice, nothing created on a calendar, no run failed.
 *
 * <p>Set-up. One Nylas simulator (in this JVM, {@code scale.latency-millis} per API call) holds {@code
 * scale.calendars} calendars of {@code scale.events} events each, {@code scale.calendars-per-grant} calendars per
 * grant (the default 20,000 × 5 over 4,000 grants of 5 calendars, as {@code ReconcileAtScaleTest} spreads them). The
 * service knows every calendar: the first grant's events are synced the ordinary way (created on the calendar,
 * delivered by webhook, applied by the first instance), and every other event is written to {@code app_event} and
 * {@code event_sync_map} directly with {@code COPY}, as the service writes a synced calendar event (the first grant's
 * rows are compared with what the seeding would have written for them, so the two cannot drift apart). Then, with
 * every webhook dropped, the calendars change: {@code scale.edit-share} of the events are edited (title), in {@code
 * scale.delete-share} of the calendars one event is deleted and in {@code scale.create-share} one is created.
 *
 * <p>The sweep. Once the schedule runs on every instance, every calendar's slot in the interval is moved to now (so
 * the run measures how fast the instances work through a sweep rather than the interval the slots are spread over):
 * the instances queue a run per calendar (1,000 per statement) and claim and run them, {@code scale.concurrency} at
 * once each, polling every {@code scale.poll-delay-millis}. The sweep is timed from the first run queued to the last
 * run finished (the database's own timestamps); runs per instance are its {@code calsync-reconcile-run} route's count.
 * CPU is measured per process: this JVM (less the simulator's threads), PostgreSQL's processes, Redis, and the rest of
 * the machine (other work on it). PostgreSQL is a cluster of the benchmark's own with PostgreSQL's default durability
 * ({@code fsync}, {@code synchronous_commit} on; {@link PostgresServer}), Redis the embedded one. Both instances
 * share this JVM, so the heap reported is the JVM's: both instances, the simulator and the benchmark.
 *
 * <p>The instances claim at {@code scale.concurrency} 8 and {@code scale.poll-delay-millis} 100 by default, not the
 * service's defaults (4 and 1000 ms): an instance claims only at its poll, so at the service's defaults it runs at
 * most 4 runs a second however short the runs are, and a sweep of 20,000 would take about 40 minutes. {@code
 * -Dscale.calendars=2000 -Dscale.concurrency=4 -Dscale.poll-delay-millis=1000} measures the defaults in about 5
 * minutes; {@code -Dscale.calendars=2000} is a quick look (about a minute) at the benchmark's own settings.
 *
 * <p>Settings (system properties): {@code scale.calendars} (20000), {@code scale.events} (5), {@code
 * scale.calendars-per-grant} (5), {@code scale.latency-millis} (20), {@code scale.edit-share} (0.1), {@code
 * scale.delete-share} (0.01), {@code scale.create-share} (0.01), {@code scale.instances} (2), {@code
 * scale.concurrency} and {@code scale.poll-delay-millis} (the service's {@code calsync.reconcile.concurrency} and
 * {@code calsync.reconcile.poll-delay-millis} on each instance: 8 and 100), {@code scale.simulator-threads} (API
 * calls the simulator answers at once, 64), {@code scale.timeout-minutes} (30), {@code scale.service.properties}
 * ({@code name=value,...} for every instance).
 */
@Tag("scale")
class ScaleBench {

    private static final int CALENDARS = Integer.getInteger("scale.calendars", 20_000);
    private static final int EVENTS = Integer.getInteger("scale.events", 5);
    private static final int PER_GRANT = Integer.getInteger("scale.calendars-per-grant", 5);
    private static final int LATENCY = Integer.getInteger("scale.latency-millis", 20);
    private static final double EDIT_SHARE = Double.parseDouble(System.getProperty("scale.edit-share", "0.1"));
    private static final double DELETE_SHARE = Double.parseDouble(System.getProperty("scale.delete-share", "0.01"));
    private static final double CREATE_SHARE = Double.parseDouble(System.getProperty("scale.create-share", "0.01"));
    private static final int INSTANCES = Integer.getInteger("scale.instances", 2);
    private static final int CONCURRENCY = Integer.getInteger("scale.concurrency", 8);
    private static final long POLL_DELAY = Long.getLong("scale.poll-delay-millis", 100);
    private static final int SIMULATOR_THREADS = Integer.getInteger("scale.simulator-threads", 64);
    private static final int TIMEOUT_MINUTES = Integer.getInteger("scale.timeout-minutes", 30);
    private static final String SERVICE_PROPERTIES = System.getProperty("scale.service.properties", "");

    private static final Path OUTPUT = Path.of("target", "scale").toAbsolutePath();
    private static final String API_KEY = "scale-nylas-key";
    /** 100,000 calendars reconciled hourly: the figure the table extrapolates to (docs/SCALING.md). */
    private static final int HOURLY_CALENDARS = 100_000;

    private final ObjectMapper json = new ObjectMapper();
    private final EventCanonicalizer canonicalizer = new EventCanonicalizer(AllDayEnd.EXCLUSIVE);
    private final Map<String, String> table = new LinkedHashMap<>();

    private static String grant(int calendar) {
        return "grant-" + calendar / PER_GRANT;
    }

    private static String calendar(int calendar) {
        return "cal-" + calendar;
    }

    /** Evenly spread: whether item {@code i} is one of the {@code share} picked. */
    private static boolean picked(long i, double share) {
        return Math.floor((i + 1) * share) > Math.floor(i * share);
    }

    @Test
    void oneSweepWithTwoInstances() throws Exception {
        Files.createDirectories(OUTPUT);
        Files.deleteIfExists(OUTPUT.resolve("calsync.log"));
        EmbeddedServers.redisPort();
        String loadBefore = BenchMachine.loadAverage();
        long benchStarted = System.nanoTime();
        List<RunningService> instances = new ArrayList<>();
        try (PostgresServer postgres = PostgresServer.create(OUTPUT.resolve("postgres.log"),
                List.of("max_connections = 150", "shared_buffers = 256MB"));
             NylasSimulator nylas = new NylasSimulator(API_KEY, 0, Clock.systemUTC(), SIMULATOR_THREADS)) {
            try {
                sweep(postgres, nylas, instances, loadBefore, benchStarted);
            } finally {
                // before PostgreSQL stops
                for (RunningService s : instances) {
                    try {
                        s.close();
                    } catch (RuntimeException e) {
                        log("closing an instance: %s", e);
                    }
                }
            }
        } finally {
            EmbeddedServers.stopRedis();
        }
    }

    private void sweep(PostgresServer postgres, NylasSimulator nylas, List<RunningService> instances,
                       String loadBefore, long benchStarted) throws Exception {
        JdbcTemplate db = new JdbcTemplate(new DriverManagerDataSource(postgres.jdbcUrl(), PostgresServer.USER, ""));
        instances.add(start(postgres, nylas, 1));

        // ---- the calendars and what the service knows of them
        long seedStarted = System.nanoTime();
        String[][] ids = new String[CALENDARS][EVENTS];
        long epoch = Instant.now().getEpochSecond();
        int controlCalendars = Math.min(PER_GRANT, CALENDARS);
        syncControlGrantByWebhook(nylas, instances.get(0), db, ids, controlCalendars);
        seedTheRest(nylas, postgres, ids, controlCalendars, epoch);
        db.execute("VACUUM ANALYZE app_event");
        db.execute("VACUUM ANALYZE event_sync_map");
        db.execute("VACUUM ANALYZE reconcile_calendar");
        // nothing is due until the sweep
        db.update("UPDATE reconcile_calendar SET next_due_at = now() + interval '1 day'");
        assertSeededLikeTheService(nylas, db, ids, controlCalendars);
        assertThat(db.queryForObject("SELECT count(*) FROM reconcile_calendar", Integer.class)).isEqualTo(CALENDARS);
        log("seeded %,d calendars × %d events in %.1f s", CALENDARS, EVENTS, (System.nanoTime() - seedStarted) / 1e9);

        for (int i = 2; i <= INSTANCES; i++) {
            instances.add(start(postgres, nylas, i));
        }
        long lastStarted = System.nanoTime();

        // ---- changes on the calendars, every webhook dropped
        nylas.deliverWebhooksTo(IntegrationTest.SECRET,
                instances.stream().map(s -> s.webhookUrl().toString()).toArray(String[]::new));
        nylas.faults.rateDrop = 1.0;
        Changes changes = changeCalendars(nylas, ids);
        await().atMost(Duration.ofMinutes(1)).until(nylas::webhooksQuiet);
        log("changed the calendars: %,d edits, %,d deletes, %,d creates; %,d webhooks dropped", changes.edits,
                changes.deletes, changes.creates, nylas.webhookCount("dropped"));
        nylas.faults.latencyMillis = LATENCY;

        // ---- the sweep, once the schedule runs on every instance (its first poll is 10 s after the start)
        Thread.sleep(Math.max(0, 11_000 - (System.nanoTime() - lastStarted) / 1_000_000));
        long heapIdle = heapAfterGc();
        Sampler sampler = new Sampler(db);
        long postmaster = postmasterPid(db);
        Cpu cpuBefore = Cpu.now(postmaster);
        Map<String, Object> statsBefore = db.queryForMap(DB_STATS);
        List<Map<String, Long>> pollsBefore = instances.stream().map(ScaleBench::polls).toList();
        long sweepStarted = System.currentTimeMillis();
        db.update("UPDATE reconcile_calendar SET next_due_at = now()");
        sampler.start();
        await().atMost(Duration.ofMinutes(TIMEOUT_MINUTES)).pollInterval(Duration.ofSeconds(1)).until(() ->
                db.queryForObject("SELECT count(*) FROM reconcile_run WHERE trigger = 'schedule'"
                        + " AND status IN ('succeeded', 'failed')", Integer.class) >= CALENDARS
                        && db.queryForObject("SELECT count(*) FROM reconcile_run"
                        + " WHERE status IN ('queued', 'running')", Integer.class) == 0);
        long sweepEnded = System.currentTimeMillis();
        sampler.stop();
        Cpu cpuUsed = Cpu.now(postmaster).minus(cpuBefore);
        List<Map<String, Long>> pollsAfter = instances.stream().map(ScaleBench::polls).toList();
        Thread.sleep(2_000); // PostgreSQL's backends report their statistics at most every second
        Map<String, Object> statsAfter = db.queryForMap(DB_STATS);
        String loadAfterSweep = BenchMachine.loadAverage();
        long heapAfter = heapAfterGc();

        figures(db, postgres, nylas, instances, changes, sampler, sweepStarted, sweepEnded, heapIdle, heapAfter,
                cpuUsed, statsBefore, statsAfter, pollsBefore, pollsAfter);
        Verdict verdict = verify(db, nylas, ids, changes);
        table.put("converged", verdict.summary());
        table.put("service log (target/scale/calsync.log)", String.format("%d ERROR and %d WARN lines",
                logLines(" ERROR "), logLines(" WARN ")));
        print(String.format("Reconciliation at scale, %s: %d instances in one JVM on one PostgreSQL and one Redis,"
                        + " %,d calendars × %d events (%,d grants of %d calendars), %d ms per Nylas call; %d cores"
                        + " shared with PostgreSQL, Redis, the simulator and other work (load average before %s,"
                        + " at the end of the sweep %s); run %.0f s",
                DateTimeFormatter.ISO_LOCAL_DATE_TIME.format(Instant.now().atOffset(ZoneOffset.UTC).withNano(0)),
                INSTANCES, CALENDARS, EVENTS, (CALENDARS + PER_GRANT - 1) / PER_GRANT, PER_GRANT, LATENCY,
                Runtime.getRuntime().availableProcessors(), loadBefore, loadAfterSweep,
                (System.nanoTime() - benchStarted) / 1e9));

        assertThat(verdict.duplicates).as("events held twice").isZero();
        assertThat(verdict.createdOnCalendars).as("events created on a calendar").isZero();
        assertThat(verdict.missing).as("calendar events without their record").isZero();
        assertThat(verdict.wrongTitle).as("records not showing their event's title").isZero();
        assertThat(verdict.failedRuns).as("failed runs").isZero();
        assertThat(verdict.editsApplied).as("edits applied").isEqualTo(changes.edits);
    }

    // ------------------------------------------------------------------------------------------------- set-up

    private RunningService start(PostgresServer postgres, NylasSimulator nylas, int n) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("calsync.nylas.api-uri", nylas.baseUrl());
        p.put("calsync.nylas.api-key", API_KEY);
        p.put("calsync.api.admin-token", IntegrationTest.ADMIN_TOKEN);
        p.put("calsync.reconcile.interval-millis", 3_600_000);
        p.put("calsync.reconcile.concurrency", CONCURRENCY);
        p.put("calsync.reconcile.poll-delay-millis", POLL_DELAY);
        // the service's own default (RunningService polls the inbox every 50 ms for quick tests)
        p.put("calsync.inbound.poll-delay-millis", 250);
        p.put("camel.main.name", "calsync-scale-" + n);
        // every line in one file (both instances share the JVM's logging); the console shows warnings and errors
        p.put("logging.file.name", OUTPUT.resolve("calsync.log").toString());
        p.put("logging.threshold.console", "WARN");
        for (String setting : SERVICE_PROPERTIES.split(",")) {
            int eq = setting.indexOf('=');
            if (eq > 0) {
                p.put(setting.substring(0, eq).trim(), setting.substring(eq + 1).trim());
            }
        }
        long started = System.nanoTime();
        RunningService service = RunningService.start(postgres.jdbcUrl(), p);
        log("instance %d started in %.1f s", n, (System.nanoTime() - started) / 1e9);
        return service;
    }

    private static Map<String, Object> when(int calendar, int event) {
        long start = Instant.now().getEpochSecond() + 86_400 + (long) ((calendar * 7 + event) % 2_000) * 1_800;
        Map<String, Object> when = new LinkedHashMap<>();
        when.put("start_time", start);
        when.put("end_time", start + 1_800);
        return when;
    }

    /** The first grant: created on the calendar and synced by webhook, as the service syncs every event. */
    private void syncControlGrantByWebhook(NylasSimulator nylas, RunningService first, JdbcTemplate db,
                                           String[][] ids, int calendars) {
        nylas.deliverWebhooksTo(IntegrationTest.SECRET, first.webhookUrl().toString());
        for (int c = 0; c < calendars; c++) {
            for (int e = 0; e < EVENTS; e++) {
                Map<String, Object> fields = new LinkedHashMap<>();
                fields.put("title", "Event " + c + "-" + e);
                fields.put("when", when(c, e));
                ids[c][e] = (String) nylas.userCreates(grant(c), calendar(c), fields).get("id");
            }
        }
        await().atMost(Duration.ofMinutes(2)).until(() -> nylas.webhooksQuiet()
                && db.queryForObject("SELECT count(*) FROM app_event", Integer.class) == calendars * EVENTS
                && db.queryForObject("SELECT count(*) FROM webhook_inbox WHERE status <> 'processed'",
                Integer.class) == 0);
        nylas.deliverWebhooksTo(IntegrationTest.SECRET); // none until the changes
    }

    /** The rows the service writes for a calendar event it synced (no metadata of ours, no application change). */
    private record SeedRow(String recordId, String eventId, String grantId, String calendarId, String title,
                           String whenJson, String contentHash, long remoteUpdatedAt) {
    }

    private SeedRow seedRow(String recordId, Map<String, Object> event) throws Exception {
        return new SeedRow(recordId, (String) event.get("id"), (String) event.get("grant_id"),
                (String) event.get("calendar_id"), (String) event.get("title"), json.writeValueAsString(event.get("when")),
                canonicalizer.hash(event), ((Number) event.get("updated_at")).longValue());
    }

    /** Every other calendar: events put on the simulator without a webhook, their rows written with COPY. */
    private void seedTheRest(NylasSimulator nylas, PostgresServer postgres, String[][] ids, int from, long epoch)
            throws Exception {
        long updatedAt = epoch - 86_400;
        StringBuilder calendarsCsv = new StringBuilder();
        StringBuilder eventsCsv = new StringBuilder();
        StringBuilder mappingsCsv = new StringBuilder();
        for (int c = from; c < CALENDARS; c++) {
            calendarsCsv.append(csv(grant(c), calendar(c))).append('\n');
            for (int e = 0; e < EVENTS; e++) {
                Map<String, Object> event = new LinkedHashMap<>();
                event.put("id", "evt-" + c + "-" + e);
                event.put("object", "event");
                event.put("grant_id", grant(c));
                event.put("calendar_id", calendar(c));
                event.put("status", "confirmed");
                event.put("title", "Event " + c + "-" + e);
                event.put("when", when(c, e));
                event.put("created_at", updatedAt);
                event.put("updated_at", updatedAt);
                nylas.putEvent(event);
                ids[c][e] = (String) event.get("id");
                SeedRow row = seedRow(UUID.nameUUIDFromBytes(ids[c][e].getBytes()).toString(), event);
                eventsCsv.append(csv(row.recordId, row.grantId, row.calendarId, row.title, null, null, row.whenJson,
                        "[]")).append('\n');
                mappingsCsv.append(csv(row.recordId, row.eventId, row.grantId, row.calendarId, row.contentHash,
                        "calendar", "synced", String.valueOf(row.remoteUpdatedAt), "live", "0")).append('\n');
            }
        }
        try (Connection c = java.sql.DriverManager.getConnection(postgres.jdbcUrl(), PostgresServer.USER, "")) {
            var copy = c.unwrap(PGConnection.class).getCopyAPI();
            // the calendars first, with a slot a day away: the mapping rows' trigger then finds them there
            copy.copyIn("COPY reconcile_calendar (grant_id, calendar_id) FROM STDIN WITH (FORMAT csv)",
                    new StringReader(calendarsCsv.toString()));
            try (Statement st = c.createStatement()) {
                st.execute("UPDATE reconcile_calendar SET next_due_at = now() + interval '1 day'");
            }
            copy.copyIn("COPY app_event (id, grant_id, calendar_id, title, description, location, when_json,"
                    + " participants) FROM STDIN WITH (FORMAT csv)", new StringReader(eventsCsv.toString()));
            copy.copyIn("COPY event_sync_map (internal_id, nylas_event_id, grant_id, calendar_id, content_hash,"
                    + " source, sync_state, remote_updated_at, desired, version) FROM STDIN WITH (FORMAT csv)",
                    new StringReader(mappingsCsv.toString()));
        }
    }

    /** One CSV line; null is an unquoted empty field (NULL to COPY). */
    private static String csv(String... values) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < values.length; i++) {
            if (i > 0) {
                line.append(',');
            }
            if (values[i] != null) {
                line.append('"').append(values[i].replace("\"", "\"\"")).append('"');
            }
        }
        return line.toString();
    }

    /**
     * The first grant's rows, written by the service, against what the seeding writes for the same events: every
     * column the seeding sets (the others keep their defaults in both).
     */
    private void assertSeededLikeTheService(NylasSimulator nylas, JdbcTemplate db, String[][] ids, int calendars)
            throws Exception {
        String columns = """
                SELECT m.nylas_event_id, m.grant_id, m.calendar_id, m.content_hash, m.source, m.sync_state,
                       m.remote_updated_at, m.desired, m.version, m.attempts, m.create_attempts,
                       m.remote_metadata::text AS remote_metadata, m.last_error, m.deleted_at, m.lease_until,
                       m.claim_token, m.create_attempted_at, m.created_window_start, m.created_window_end,
                       e.grant_id AS e_grant_id, e.calendar_id AS e_calendar_id, e.title, e.description, e.location,
                       e.when_json::text AS when_json, e.participants::text AS participants
                  FROM event_sync_map m JOIN app_event e ON e.id = m.internal_id
                 WHERE m.grant_id = ? AND m.nylas_event_id = ?""";
        for (int c = 0; c < calendars; c++) {
            for (int e = 0; e < EVENTS; e++) {
                Map<String, Object> event = nylas.event(grant(c), ids[c][e]);
                Map<String, Object> written = normalized(db.queryForMap(columns, grant(c), ids[c][e]));
                SeedRow row = seedRow("unused", event);
                // what seedTheRest writes for this event, read back through the same columns
                Map<String, Object> seeded = new LinkedHashMap<>(written);
                seeded.putAll(Map.of("nylas_event_id", row.eventId, "grant_id", row.grantId, "calendar_id",
                        row.calendarId, "content_hash", row.contentHash, "source", "calendar", "sync_state", "synced",
                        "remote_updated_at", row.remoteUpdatedAt, "desired", "live", "version", 0L));
                seeded.putAll(Map.of("attempts", 0L, "create_attempts", 0L, "e_grant_id", row.grantId,
                        "e_calendar_id", row.calendarId, "title", row.title,
                        "when_json", json.readTree(row.whenJson), "participants", json.readTree("[]")));
                for (String unset : List.of("remote_metadata", "last_error", "deleted_at", "lease_until",
                        "claim_token", "create_attempted_at", "created_window_start", "created_window_end",
                        "description", "location")) {
                    seeded.put(unset, null);
                }
                assertThat(written).as("the service's rows for %s/%s against the seeded ones", grant(c), ids[c][e])
                        .isEqualTo(seeded);
            }
        }
    }

    private Map<String, Object> normalized(Map<String, Object> row) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> column : row.entrySet()) {
            Object v = column.getValue();
            if (v instanceof Number n) {
                v = n.longValue();
            } else if (v instanceof String s && (column.getKey().equals("when_json")
                    || column.getKey().equals("participants"))) {
                v = json.readTree(s);
            }
            out.put(column.getKey(), v);
        }
        return out;
    }

    private record Changes(int edits, int deletes, int creates) {
    }

    /** Edits, deletes and creates on the calendars, spread evenly; every webhook about them is dropped. */
    private Changes changeCalendars(NylasSimulator nylas, String[][] ids) {
        int edits = 0;
        int deletes = 0;
        int creates = 0;
        for (int c = 0; c < CALENDARS; c++) {
            // a deleted event is the calendar's last one, never edited (and never the only one: that would trip the
            // guard against mass deletes, by design)
            boolean delete = EVENTS > 1 && picked(c, DELETE_SHARE);
            for (int e = 0; e < EVENTS; e++) {
                if (picked((long) c * EVENTS + e, EDIT_SHARE) && !(delete && e == EVENTS - 1)) {
                    nylas.userUpdates(grant(c), ids[c][e], Map.of("title", "Edited Event " + c + "-" + e));
                    edits++;
                }
            }
            if (delete) {
                assertThat(nylas.userDeletes(grant(c), ids[c][EVENTS - 1])).isTrue();
                deletes++;
            }
            if (picked(c + 7, CREATE_SHARE)) {
                Map<String, Object> fields = new LinkedHashMap<>();
                fields.put("title", "New Event " + c);
                fields.put("when", when(c, EVENTS));
                nylas.userCreates(grant(c), calendar(c), fields);
                creates++;
            }
        }
        return new Changes(edits, deletes, creates);
    }

    // ----------------------------------------------------------------------------------------------- figures

    private void figures(JdbcTemplate db, PostgresServer postgres, NylasSimulator nylas,
                         List<RunningService> instances, Changes changes, Sampler sampler, long sweepStarted,
                         long sweepEnded, long heapIdle, long heapAfter, Cpu cpuUsed, Map<String, Object> statsBefore,
                         Map<String, Object> statsAfter, List<Map<String, Long>> pollsBefore,
                         List<Map<String, Long>> pollsAfter) {
        Map<String, Object> sweep = db.queryForMap("""
                SELECT count(*) AS runs, extract(epoch FROM min(queued_at)) * 1000 AS first_queued_ms,
                       extract(epoch FROM max(finished_at) - min(queued_at)) AS sweep_s,
                       extract(epoch FROM max(queued_at) - min(queued_at)) AS queueing_s,
                       count(*) FILTER (WHERE status = 'failed') AS failed,
                       avg(extract(epoch FROM finished_at - started_at)) * 1000 AS run_avg_ms,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) * 1000 AS run_p50_ms,
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) * 1000 AS run_p99_ms,
                       max(extract(epoch FROM finished_at - started_at)) * 1000 AS run_max_ms,
                       max(extract(epoch FROM started_at - queued_at)) AS wait_max_s,
                       sum(pages) AS pages, sum(events_seen) AS seen, sum(updated) AS updated,
                       sum(unchanged) AS unchanged, sum(created) AS created, sum(deleted) AS deleted,
                       sum(relinked) AS relinked, sum(conflicts) AS conflicts, sum(skipped) AS skipped
                  FROM reconcile_run WHERE trigger = 'schedule'""");
        double sweepSeconds = ((Number) sweep.get("sweep_s")).doubleValue();
        long runs = ((Number) sweep.get("runs")).longValue();
        double runsPerSecond = runs / sweepSeconds;
        table.put("sweep (first run queued to last run finished)", String.format(
                "%.1f s for %,d runs (the first queued %.1f s after the slots were moved to now, all within %.1f s of"
                        + " it; longest wait in the queue %.1f s)", sweepSeconds, runs,
                (num(sweep, "first_queued_ms").doubleValue() - sweepStarted) / 1000, num(sweep, "queueing_s"),
                num(sweep, "wait_max_s")));
        table.put("runs/s", String.format("%.1f overall", runsPerSecond));
        for (int i = 0; i < instances.size(); i++) {
            long n = routeCount(instances.get(i), "calsync-reconcile-run");
            table.put("runs/s, instance " + (i + 1), String.format("%.1f (%,d runs, %.0f %%; concurrency %d, poll %d ms)",
                    n / sweepSeconds, n, 100.0 * n / runs, CONCURRENCY, POLL_DELAY));
        }
        List<Integer> timeline = db.queryForList("""
                WITH b AS (SELECT floor(extract(epoch FROM finished_at - (SELECT min(queued_at) FROM reconcile_run
                                                                            WHERE trigger = 'schedule')) / 10)::int AS s
                             FROM reconcile_run WHERE trigger = 'schedule')
                SELECT count(b.s)::int FROM generate_series(0, (SELECT max(s) FROM b)) g LEFT JOIN b ON b.s = g
                 GROUP BY g ORDER BY g""", Integer.class);
        table.put("runs finished in each 10 s of the sweep", timeline.stream().map(n -> String.format("%,d", n))
                .collect(java.util.stream.Collectors.joining(", ")));
        table.put("run time (claimed to finished)", String.format("mean %.0f ms, p50 %.0f ms, p99 %.0f ms, max %.0f ms",
                num(sweep, "run_avg_ms"), num(sweep, "run_p50_ms"), num(sweep, "run_p99_ms"), num(sweep, "run_max_ms")));
        table.put("what the runs did", String.format("%,d pages, %,d events seen: %,d updated, %,d unchanged, %,d created,"
                        + " %,d deleted, %,d relinked, %,d conflicts, %,d skipped; %,d failed runs",
                num(sweep, "pages").longValue(), num(sweep, "seen").longValue(), num(sweep, "updated").longValue(),
                num(sweep, "unchanged").longValue(), num(sweep, "created").longValue(),
                num(sweep, "deleted").longValue(), num(sweep, "relinked").longValue(),
                num(sweep, "conflicts").longValue(), num(sweep, "skipped").longValue(),
                num(sweep, "failed").longValue()));
        table.put("changes to repair (webhooks dropped)", String.format("%,d edits, %,d deletes, %,d creates; %,d"
                + " webhooks dropped", changes.edits, changes.deletes, changes.creates, nylas.webhookCount("dropped")));

        // Nylas calls in the sweep, from the simulator's log
        Map<String, Integer> perGrantSecond = new HashMap<>();
        Map<Long, Integer> perSecond = new HashMap<>();
        Map<String, Integer> byKind = new java.util.TreeMap<>();
        long calls = 0;
        for (NylasSimulator.TimedRequest r : nylas.timedRequests()) {
            if (r.atMillis() < sweepStarted || r.atMillis() > sweepEnded) {
                continue;
            }
            calls++;
            long second = r.atMillis() / 1000;
            perSecond.merge(second, 1, Integer::sum);
            perGrantSecond.merge(r.grantId() + "@" + second, 1, Integer::sum);
            String line = r.line();
            byKind.merge(line.startsWith("GET ") ? (line.contains("/events?") ? "list" : "get")
                    : line.substring(0, line.indexOf(' ')), 1, Integer::sum);
        }
        int maxPerGrant = perGrantSecond.values().stream().mapToInt(Integer::intValue).max().orElse(0);
        int peak = perSecond.values().stream().mapToInt(Integer::intValue).max().orElse(0);
        table.put("Nylas calls", String.format("%,d (%s), %.2f per run; %.1f/s overall, peak %d in one second",
                calls, byKind, (double) calls / runs, calls / sweepSeconds, peak));
        table.put("Nylas calls/s per grant (max)", String.format("%d in any one second for any one grant (limit"
                + " calsync.push.max-requests-per-second-per-grant = 100; Nylas allows 200)", maxPerGrant));

        // the database
        StringBuilder rows = new StringBuilder();
        for (String t : List.of("reconcile_run", "event_sync_map", "app_event", "webhook_inbox", "reconcile_calendar",
                "sync_conflict")) {
            Map<String, Object> r = db.queryForMap("SELECT count(*) AS n, pg_total_relation_size('" + t
                    + "') AS bytes FROM " + t);
            long n = ((Number) r.get("n")).longValue();
            long bytes = ((Number) r.get("bytes")).longValue();
            rows.append(rows.isEmpty() ? "" : "<br>").append(String.format("%s: %,d rows, %s%s", t, n, mib(bytes),
                    n >= 1_000 ? String.format(" (%,d bytes/row with indexes)", bytes / n) : ""));
        }
        table.put("database rows (pg_total_relation_size)", rows.toString());
        table.put("database", db.queryForObject("SELECT 'PostgreSQL ' || current_setting('server_version')"
                + " || ', synchronous_commit=' || current_setting('synchronous_commit') || ', fsync='"
                + " || current_setting('fsync') || ', shared_buffers=' || current_setting('shared_buffers')"
                + " || ', database ' || pg_size_pretty(pg_database_size(current_database()))", String.class));
        Map<String, Double> writes = new LinkedHashMap<>();
        statsAfter.forEach((k, v) -> writes.put(k, ((Number) v).doubleValue() - ((Number) statsBefore.get(k)).doubleValue()));
        table.put("database work per run (pg_stat_*, the sweep)", String.format("%.1f commits; reconcile_run %.2f"
                        + " inserts, %.1f updates (%.0f %% HOT), %.2f deletes; event_sync_map %.2f updates, app_event %.2f"
                        + " updates", writes.get("commits") / runs, writes.get("run_ins") / runs,
                writes.get("run_upd") / runs, 100 * writes.get("run_hot") / Math.max(1, writes.get("run_upd")),
                writes.get("run_del") / runs, writes.get("map_upd") / runs, writes.get("event_upd") / runs));
        table.put("claim statement (EXPLAIN ANALYZE during the sweep)", sampler.claims());
        StringBuilder polls = new StringBuilder();
        double window = sweepEnded - sweepStarted;
        for (int i = 0; i < instances.size(); i++) {
            polls.append(i == 0 ? "" : "<br>").append("instance ").append(i + 1).append(':');
            for (String route : POLLERS) {
                polls.append(String.format(" %s %.0f/s", route, (pollsAfter.get(i).get(route)
                        - pollsBefore.get(i).get(route)) * 1000 / window));
            }
        }
        table.put("polls per second (each poller's route count during the sweep)", polls + String.format(
                "<br>(one poll every calsync.inbound.poll-delay-millis and calsync.push.poll-delay-millis, 250 ms, and"
                        + " calsync.reconcile.poll-delay-millis, %d ms, when a poll found nothing)", POLL_DELAY));

        // memory and CPU
        table.put(String.format("heap (one JVM: every instance, the simulator and its %,d events, the benchmark)",
                (long) CALENDARS * EVENTS), String.format(
                "after GC: %s before the sweep, %s after it; in use during the sweep at most %s (max heap %s)",
                mib(heapIdle), mib(heapAfter), mib(sampler.maxHeap.get()),
                mib(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getMax())));
        int cores = Runtime.getRuntime().availableProcessors();
        double jvm = cpuUsed.jvmNanos / 1e6;
        double simulator = cpuUsed.simulatorNanos / 1e6;
        double others = Math.max(0, cpuUsed.machineBusyMillis - jvm - cpuUsed.postgresMillis - cpuUsed.redisMillis);
        table.put("CPU during the sweep (ms per run)", String.format("calsync %.1f (the JVM %.1f less the simulator's"
                        + " %.1f), PostgreSQL %.1f, Redis %.1f; the machine (%d cores) %.0f %% busy, %.1f ms per run of"
                        + " it other work", (jvm - simulator) / runs, jvm / runs, simulator / runs,
                cpuUsed.postgresMillis / runs, cpuUsed.redisMillis / runs, cores,
                100 * cpuUsed.machineBusyMillis / (cpuUsed.machineTotalMillis == 0 ? 1 : cpuUsed.machineTotalMillis),
                others / runs));
        table.put("CPU during the sweep (cores)", String.format("calsync %.2f, PostgreSQL %.2f, Redis %.2f, the"
                        + " simulator %.2f, other work %.2f (over the %.1f s from the slots moved to the last run seen"
                        + " finished)", (jvm - simulator) / window, cpuUsed.postgresMillis / window,
                cpuUsed.redisMillis / window, simulator / window, others / window, window / 1000));

        // on paper
        double needed = HOURLY_CALENDARS / 3600.0;
        double perInstance = runsPerSecond / INSTANCES;
        table.put("100,000 calendars hourly", String.format("need %.1f runs/s; measured %.1f runs/s with %d"
                        + " instances (%.1f each): a sweep of 100,000 takes %.0f min, %s", needed, runsPerSecond,
                INSTANCES, perInstance, HOURLY_CALENDARS / runsPerSecond / 60,
                runsPerSecond >= needed ? "inside the hour" : String.format("%d instances at this rate keep it inside"
                        + " the hour", (int) Math.ceil(needed / perInstance))));
        double million = 1_500_000 / 3600.0;
        table.put("1,000,000 grants hourly (1.5 million calendars, on paper)", String.format("need %.0f runs/s: %d"
                + " instances at %.1f runs/s each (docs/SCALING.md)", million, (int) Math.ceil(million / perInstance),
                perInstance));
    }

    private static Number num(Map<String, Object> row, String column) {
        Object v = row.get(column);
        return v == null ? 0 : (Number) v;
    }

    private static String mib(long bytes) {
        return String.format("%,.0f MiB", bytes / 1048576.0);
    }

    private static final List<String> POLLERS = List.of("calsync-notification-poll", "calsync-outbound-poll",
            "calsync-reconcile-scheduled", "calsync-reconcile-poll");

    private static Map<String, Long> polls(RunningService service) {
        Map<String, Long> counts = new LinkedHashMap<>();
        POLLERS.forEach(route -> counts.put(route, routeCount(service, route)));
        return counts;
    }

    /** Exchanges this instance's route finished (its Camel route timer of {@code routeId}). */
    private static long routeCount(RunningService service, String routeId) {
        MeterRegistry registry = service.bean(MeterRegistry.class);
        return registry.getMeters().stream().filter(m -> m instanceof Timer)
                .filter(m -> routeId.equals(m.getId().getTag("routeId")))
                .filter(m -> m.getId().getName().startsWith("camel.route.policy"))
                .mapToLong(m -> ((Timer) m).count()).max().orElse(-1);
    }

    // ------------------------------------------------------------------------------------------- convergence

    private record Verdict(long duplicates, long createdOnCalendars, long missing, long wrongTitle, long failedRuns,
                           long editsApplied, long live, long records) {
        String summary() {
            return String.format("%,d live calendar events, %,d records; %,d edits applied; duplicates %d (%d"
                            + " records twice, %d events created on a calendar); %d events without their record, %d"
                            + " records with another title; %d failed runs", live, records, editsApplied,
                    duplicates + createdOnCalendars, duplicates, createdOnCalendars, missing, wrongTitle, failedRuns);
        }
    }

    /** Every live calendar event has exactly one record with its title; nothing else is left. */
    private Verdict verify(JdbcTemplate db, NylasSimulator nylas, String[][] ids, Changes changes) {
        Map<String, String> records = new HashMap<>();
        long[] twice = {0};
        db.query("""
                SELECT m.grant_id, m.nylas_event_id, e.title FROM app_event e
                  JOIN event_sync_map m ON m.internal_id = e.id AND m.sync_state = 'synced'""", (ResultSet rs) -> {
            if (records.put(rs.getString(1) + "/" + rs.getString(2), rs.getString(3)) != null) {
                twice[0]++;
            }
        });
        long appEvents = db.queryForObject("SELECT count(*) FROM app_event", Long.class);
        long live = 0;
        long missing = 0;
        long wrong = 0;
        long edited = 0;
        for (int g = 0; g * PER_GRANT < CALENDARS; g++) {
            String grantId = "grant-" + g;
            for (Map<String, Object> event : nylas.liveEvents(grantId, null)) {
                live++;
                String title = records.get(grantId + "/" + event.get("id"));
                if (title == null) {
                    missing++;
                } else if (!title.equals(event.get("title"))) {
                    wrong++;
                } else if (title.startsWith("Edited ")) {
                    edited++;
                }
            }
        }
        long failed = db.queryForObject("SELECT count(*) FROM reconcile_run WHERE status = 'failed'", Long.class);
        // records beyond one per live event (unlinked ones included) are duplicates too
        long duplicates = twice[0] + Math.max(0, appEvents - (live - missing));
        return new Verdict(duplicates, nylas.calls("POST 200"), missing, wrong, failed, edited, live, appEvents);
    }

    // ------------------------------------------------------------------------------------------------ output

    private void print(String title) throws Exception {
        StringBuilder out = new StringBuilder("\n" + title + "\n\n| | |\n|---|---|\n");
        table.forEach((k, v) -> out.append("| ").append(k).append(" | ").append(v).append(" |\n"));
        out.append("\nSettings: -Dscale.calendars=").append(CALENDARS).append(" -Dscale.events=").append(EVENTS)
                .append(" -Dscale.calendars-per-grant=").append(PER_GRANT).append(" -Dscale.latency-millis=")
                .append(LATENCY).append(" -Dscale.edit-share=").append(EDIT_SHARE).append(" -Dscale.delete-share=")
                .append(DELETE_SHARE).append(" -Dscale.create-share=").append(CREATE_SHARE)
                .append(" -Dscale.instances=").append(INSTANCES).append(" -Dscale.concurrency=").append(CONCURRENCY)
                .append(" -Dscale.poll-delay-millis=").append(POLL_DELAY)
                .append(SERVICE_PROPERTIES.isBlank() ? "" : " -Dscale.service.properties=" + SERVICE_PROPERTIES)
                .append("\n");
        System.out.print(out);
        Files.writeString(OUTPUT.resolve("figures.md"), out.toString());
    }

    private static void log(String format, Object... args) {
        System.out.printf("[scale] " + format + "%n", args);
    }


    private static long heapAfterGc() {
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static long postmasterPid(JdbcTemplate db) {
        long backend = db.queryForObject("SELECT pg_backend_pid()", Long.class);
        long[] stat = procStat(backend);
        return stat == null ? -1 : stat[0];
    }

    /** {ppid, utime + stime, cutime + cstime} (clock ticks) of a process, or null when it is gone. */
    private static long[] procStat(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", String.valueOf(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return new long[] {Long.parseLong(f[1]), Long.parseLong(f[11]) + Long.parseLong(f[12]),
                    Long.parseLong(f[13]) + Long.parseLong(f[14])};
        } catch (Exception e) {
            return null;
        }
    }

    /**
     * CPU time so far (ms, or ns for the JVM's): this JVM and the simulator's threads in it; PostgreSQL's processes
     * (the postmaster, its live children, and the children it reaped); the embedded Redis; the whole machine.
     */
    private record Cpu(long jvmNanos, long simulatorNanos, double postgresMillis, double redisMillis,
                       double machineBusyMillis, double machineTotalMillis) {

        private static final double TICK_MILLIS = 10; // USER_HZ is 100 on Linux

        static Cpu now(long postmaster) {
            long jvm = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                    .getProcessCpuTime();
            var threads = ManagementFactory.getThreadMXBean();
            long simulator = 0;
            for (var info : threads.getThreadInfo(threads.getAllThreadIds())) {
                if (info != null && (info.getThreadName().startsWith("nylas-simulator-")
                        || info.getThreadName().startsWith("HTTP-Dispatcher"))) {
                    simulator += Math.max(0, threads.getThreadCpuTime(info.getThreadId()));
                }
            }
            double redis = 0;
            long[] pm = procStat(postmaster);
            double postgres = pm == null ? 0 : (pm[1] + pm[2]) * TICK_MILLIS;
            try (var procs = Files.list(Path.of("/proc"))) {
                for (Path proc : procs.toList()) {
                    String name = proc.getFileName().toString();
                    if (!name.chars().allMatch(Character::isDigit)) {
                        continue;
                    }
                    long pid = Long.parseLong(name);
                    long[] stat = procStat(pid);
                    if (stat == null) {
                        continue;
                    }
                    if (stat[0] == postmaster) {
                        postgres += stat[1] * TICK_MILLIS;
                    } else if (isEmbeddedRedis(proc)) {
                        redis += stat[1] * TICK_MILLIS;
                    }
                }
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            double busy = 0;
            double total = 0;
            try {
                String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
                for (int i = 1; i < f.length && i <= 8; i++) { // user .. steal (guest time is already in user)
                    total += Long.parseLong(f[i]) * TICK_MILLIS;
                }
                busy = total - (Long.parseLong(f[4]) + Long.parseLong(f[5])) * TICK_MILLIS;
            } catch (Exception e) {
                // not Linux: no machine figure
            }
            return new Cpu(jvm, simulator, postgres, redis, busy, total);
        }

        private static boolean isEmbeddedRedis(Path proc) {
            try {
                String cmdline = Files.readString(proc.resolve("cmdline")).replace('\0', ' ');
                return cmdline.contains("redis-server") && cmdline.contains(String.valueOf(EmbeddedServers.redisPort()));
            } catch (Exception e) {
                return false;
            }
        }

        /**
         * The time used since {@code before}. A PostgreSQL child alive then and gone now counts from then too: it
         * was in the live children's time then and is in the reaped time, with all its life, now.
         */
        Cpu minus(Cpu before) {
            double postgres = postgresMillis - before.postgresMillis;
            return new Cpu(jvmNanos - before.jvmNanos, simulatorNanos - before.simulatorNanos, postgres,
                    redisMillis - before.redisMillis, machineBusyMillis - before.machineBusyMillis,
                    machineTotalMillis - before.machineTotalMillis);
        }
    }

    private static long logLines(String marker) {
        try (var lines = Files.lines(OUTPUT.resolve("calsync.log"))) {
            return lines.filter(l -> l.contains(marker)).count();
        } catch (Exception e) {
            return -1;
        }
    }

    /**
     * During the sweep: the heap in use (every 500 ms), and from 5 s on every 20 s the cost of the claim statement
     * with the queue as it is then ({@code EXPLAIN ANALYZE} of the instances' own statement, rolled back; the plan of
     * the slowest in {@code target/scale/claim-plan-slowest.json}).
     */
    private final class Sampler {
        private final JdbcTemplate db;
        private final AtomicLong maxHeap = new AtomicLong();
        private final List<String> claims = new CopyOnWriteArrayList<>();
        private final Thread thread = new Thread(this::run, "scale-sampler");
        private volatile boolean running = true;
        private double slowestClaim;

        Sampler(JdbcTemplate db) {
            this.db = db;
            thread.setDaemon(true);
        }

        void start() {
            thread.start();
        }

        void stop() throws InterruptedException {
            running = false;
            thread.interrupt();
            thread.join(10_000);
        }

        String claims() {
            return claims.isEmpty() ? "not sampled (the sweep was shorter than 5 s)" : String.join("; ", claims);
        }

        private void run() {
            long nextClaim = System.currentTimeMillis() + 5_000;
            while (running) {
                maxHeap.accumulateAndGet(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed(), Math::max);
                if (System.currentTimeMillis() >= nextClaim) {
                    nextClaim += 20_000;
                    try {
                        claims.add(explainClaim());
                    } catch (RuntimeException e) {
                        claims.add("failed: " + e.getMessage());
                    }
                }
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        /** ReconcileRuns.claim's statement, as an instance with every worker free runs it. */
        private String explainClaim() {
            return db.execute((Connection c) -> {
                c.setAutoCommit(false);
                try (Statement st = c.createStatement()) {
                    long queued;
                    try (ResultSet rs = st.executeQuery("SELECT count(*) FROM reconcile_run WHERE status = 'queued'")) {
                        rs.next();
                        queued = rs.getLong(1);
                    }
                    long dead;
                    long vacuums;
                    try (ResultSet rs = st.executeQuery("SELECT n_dead_tup, autovacuum_count + vacuum_count"
                            + " FROM pg_stat_user_tables WHERE relname = 'reconcile_run'")) {
                        rs.next();
                        dead = rs.getLong(1);
                        vacuums = rs.getLong(2);
                    }
                    String plan;
                    // the service's own claim statement, its first round (no grant left out)
                    try (var ps = c.prepareStatement("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
                            + dev.calsync.reconcile.ReconcileRuns.CLAIM_SQL)) {
                        ps.setArray(1, c.createArrayOf("text", new String[0]));
                        ps.setInt(2, CONCURRENCY * 8);
                        ps.setInt(3, CONCURRENCY);
                        ps.setLong(4, 900);
                        ps.setString(5, "scale-explain");
                        try (ResultSet rs = ps.executeQuery()) {
                            rs.next();
                            plan = rs.getString(1);
                        }
                    }
                    c.rollback();
                    JsonNode root = json.readTree(plan).get(0);
                    JsonNode top = root.get("Plan");
                    double ms = root.get("Execution Time").asDouble();
                    if (ms > slowestClaim) {
                        slowestClaim = ms;
                        Files.writeString(OUTPUT.resolve("claim-plan-slowest.json"), plan);
                    }
                    return String.format("%.1f ms, %,d buffers (%,d queued, %,d dead rows, %d vacuums so far%s)",
                            ms, top.path("Shared Hit Blocks").asLong() + top.path("Shared Read Blocks").asLong(), queued,
                            dead, vacuums, seqScan(top) ? ", sequential scan" : "");
                } catch (Exception e) {
                    c.rollback();
                    throw new IllegalStateException(e);
                } finally {
                    c.setAutoCommit(true);
                }
            });
        }
    }

    /** Whether the plan reads {@code reconcile_run} whole (a sequential scan) anywhere. */
    private static boolean seqScan(JsonNode node) {
        if (node == null) {
            return false;
        }
        if ("Seq Scan".equals(node.path("Node Type").asText()) && "reconcile_run".equals(node.path("Relation Name").asText())) {
            return true;
        }
        for (JsonNode child : node.path("Plans")) {
            if (seqScan(child)) {
                return true;
            }
        }
        return false;
    }

    private static final String DB_STATS = """
            SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS commits,
                   r.n_tup_ins AS run_ins, r.n_tup_upd AS run_upd, r.n_tup_hot_upd AS run_hot, r.n_tup_del AS run_del,
                   m.n_tup_upd AS map_upd, e.n_tup_upd AS event_upd
              FROM pg_stat_user_tables r, pg_stat_user_tables m, pg_stat_user_tables e
             WHERE r.relname = 'reconcile_run' AND m.relname = 'event_sync_map' AND e.relname = 'app_event'""";

}

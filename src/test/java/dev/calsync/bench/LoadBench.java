package dev.calsync.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.PostgresServer;
import dev.calsync.support.ServiceProcess;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DriverManagerDataSource;

import static dev.calsync.support.Notifications.envelope;

/**
 * The load benchmark ({@code ./mvnw verify -Pload}; not part of {@code ./mvnw verify}; docs/PERFORMANCE.md): the
 * packaged service as a process of its own ({@code -Xmx256m}) on a real PostgreSQL 15 cluster of its own (default
 * settings: {@code fsync} and {@code synchronous_commit} on) and Redis, next to the recipe's plain Node handler on the
 * same PostgreSQL (its own database) and Redis (its own key prefix), both driven by the same load shapes in turn
 * from this JVM ({@link LoadDriver}), and PostgreSQL's own single-row insert rate ({@code pgbench}) at the same
 * connection counts. Prints one table (also {@code target/load/figures.md}); asserts no timing.
 *
 * <p>Settings (system properties): {@code load.warm-up} (seconds of closed loop at 32 connections before the
 * figures, 10), {@code load.closed} (seconds per closed-loop run, 15), {@code load.open} (seconds per fixed-rate
 * run, 15), {@code load.open.senders} (connections the fixed-rate runs may open at most, 256), {@code load.burst}
 * (notifications, 20000), {@code load.burst.connections} (64), {@code load.backlog} (the paused grant's backlog,
 * 20000; the figure is 100000), {@code load.pgbench} (seconds per pgbench run, 5), {@code load.settle}
 * (seconds to wait for the service to finish processing after a run, 180), {@code load.duplicate-share} (0.1),
 * {@code load.service.jvm} (the service's JVM options, {@code -Xmx256m}), {@code load.jfr} (true: the service
 * records a JFR profile to {@code target/load/calsync.jfr}), {@code load.recipe-dir}, {@code load.jar}, {@code
 * load.seed}, {@code load.runs} (the runs to make, {@code closed,open,burst,pgbench,backlog,abuse}), {@code
 * load.service.properties} ({@code name=value,...}: settings of the service under test), {@code load.service.cds}
 * (true: the service as the Dockerfile runs it, the jar extracted and started with the class data sharing archive of
 * a training run; {@link #extractedWithArchive}), {@code load.pg-statements} (true: the cluster loads
 * pg_stat_statements and the backlog run writes what each statement cost while the backlog drained to {@code
 * target/load/pg-statements.txt}; lock waits over 5 ms go to {@code target/load/postgres.log}).
 *
 * <p>The {@code abuse} run ({@link AbuseDriver}; the recipe's handler first, then the service's webhook listener,
 * then the webhook the service keeps on its application port, rows "abuse on SERVER_PORT"): {@code
 * load.abuse.slow-senders} (250) connections each announce a body of 2,000,000 bytes on the webhook and send 512
 * bytes of it every 500 ms, {@code load.abuse.idle} (2000) connections are made and send nothing, for {@code
 * load.abuse.seconds} (30); from 8 s on, a correctly signed notification every 200 ms on a connection of its own
 * (no answer within 15 s: timed out), and the attack holds until the last of them has its outcome. {@code
 * load.abuse.reconnect} (true): a connection the server cuts off is made again at its next 500 ms tick. Rows: the
 * probes' answers and latencies; how the server defended itself (slow senders cut off, idle connections closed: how
 * and when); the first 200 after the attack and the server's open files before, during and after it; memory during
 * the attack (the service's heap by {@code jstat}, as when its actuator shared the attacked port) and its request
 * threads at the end of the attack (a thread dump, {@code target/load/abuse-calsync-threads.txt}).
 */
@Tag("load")
class LoadBench {

    private static final int WARM_UP = Integer.getInteger("load.warm-up", 10);
    private static final int CLOSED = Integer.getInteger("load.closed", 15);
    private static final int OPEN = Integer.getInteger("load.open", 15);
    private static final int OPEN_SENDERS = Integer.getInteger("load.open.senders", 256);
    private static final int BURST = Integer.getInteger("load.burst", 20_000);
    private static final int BURST_CONNECTIONS = Integer.getInteger("load.burst.connections", 64);
    private static final int BACKLOG = Integer.getInteger("load.backlog", 20_000);
    private static final int PGBENCH = Integer.getInteger("load.pgbench", 5);
    private static final int SETTLE = Integer.getInteger("load.settle", 180);
    private static final double DUPLICATES = Double.parseDouble(System.getProperty("load.duplicate-share", "0.1"));
    private static final String SERVICE_JVM = System.getProperty("load.service.jvm", "-Xmx256m");
    private static final boolean JFR = Boolean.getBoolean("load.jfr");
    private static final boolean CDS = Boolean.getBoolean("load.service.cds");
    private static final boolean PG_STATEMENTS = Boolean.getBoolean("load.pg-statements");
    private static final long SEED = Long.getLong("load.seed", 42);
    private static final int ABUSE_SENDERS = Integer.getInteger("load.abuse.slow-senders", 250);
    private static final int ABUSE_IDLE = Integer.getInteger("load.abuse.idle", 2_000);
    private static final int ABUSE_SECONDS = Integer.getInteger("load.abuse.seconds", 30);
    private static final boolean ABUSE_RECONNECT = Boolean.parseBoolean(System.getProperty("load.abuse.reconnect",
            "true"));
    /** The runs to make (a quicker look while working on one figure); all of them by default. */
    private static final java.util.Set<String> RUNS = java.util.Set.of(
            System.getProperty("load.runs", "closed,open,burst,pgbench,backlog,abuse").split("\\s*,\\s*"));

    private static final Path OUTPUT = Path.of("target", "load").toAbsolutePath();
    private static final String SECRET = "load-webhook-secret";
    private static final String ADMIN_TOKEN = "load-admin-token";
    private static final String BACKLOG_GRANT = "grant-backlog";
    private static final List<String> GRANTS = List.of("grant-1", "grant-2", "grant-3", "grant-4");

    private final Table table = new Table();
    private final HttpClient probe = LoadDriver.client();
    private boolean pgbenchReady;

    @Test
    void printsTheFigures() throws Exception {
        Files.createDirectories(OUTPUT);
        int redisPort = EmbeddedServers.redisPort();
        long runStarted = System.nanoTime();
        String loadBefore = BenchMachine.loadAverage();
        Path jar = ServiceProcess.packagedJar("load.jar");
        List<String> jvm = jvmOptions();
        if (CDS) {
            Path archive = OUTPUT.resolve(aotCache() ? "calsync.aot" : "calsync.jsa");
            jar = extractedWithArchive(jar, archive);
            jvm.add((aotCache() ? "-XX:AOTCache=" : "-XX:SharedArchiveFile=") + archive);
        }
        List<String> postgresSettings = new java.util.ArrayList<>(List.of("max_connections = 150",
                "shared_buffers = 256MB"));
        if (PG_STATEMENTS) {
            postgresSettings.addAll(List.of("shared_preload_libraries = 'pg_stat_statements'",
                    "pg_stat_statements.track = all", "log_lock_waits = on", "deadlock_timeout = '5ms'"));
        }
        try (PostgresServer postgres = PostgresServer.create(OUTPUT.resolve("postgres.log"), postgresSettings);
             NylasSimulator nylas = new NylasSimulator("load-nylas-key");
             ServiceProcess calsync = new ServiceProcess(jar, OUTPUT,
                     EmbeddedServers.freePort(), jvm, serviceProperties(postgres, nylas, redisPort),
                     Map.of("NYLAS_WEBHOOK_SECRET", SECRET, "APP_API_TOKEN", "load-api-token",
                             "ADMIN_API_TOKEN", ADMIN_TOKEN, "NYLAS_API_KEY", "load-nylas-key"));
             RecipeHandler recipe = RecipeHandler.prepare(recipeDir(), OUTPUT, postgres, redisPort,
                     EmbeddedServers.freePort(), SECRET);
             Sampler sampler = new Sampler()) {
            JdbcTemplate inbox = new JdbcTemplate(new DriverManagerDataSource(postgres.jdbcUrl(), PostgresServer.USER, ""));
            String settings = inbox.queryForObject("SELECT 'synchronous_commit=' || current_setting('synchronous_commit')"
                    + " || ', fsync=' || current_setting('fsync') || ', shared_buffers=' || current_setting('shared_buffers')",
                    String.class);
            NotificationMix nodeMix = new NotificationMix("n", SECRET, GRANTS, DUPLICATES, SEED);
            NotificationMix calsyncMix = new NotificationMix("c", SECRET, GRANTS, DUPLICATES, SEED);
            LoadDriver node = new LoadDriver(webhookUri(recipe), nodeMix);
            LoadDriver service = new LoadDriver(webhookUri(calsync), calsyncMix);

            // start-up: process start to the first 200 on a signed notification
            recipe.start();
            table.put("start-up (process start to first 200)", "node",
                    seconds(untilFirst200(node, nodeMix, recipe.startedNanos(), recipe::alive)));
            calsync.start();
            table.put("start-up (process start to first 200)", "calsync",
                    seconds(untilFirst200(service, calsyncMix, calsync.startedNanos(), calsync::alive)));
            sampler.watch("node", recipe.pid(), null);
            sampler.watch("calsync", calsync.pid(), calsync.managementUrl("/actuator/metrics/jvm.memory.used?tag=area:heap"));
            sampler.start();

            log("warm-up: %d s at 32 connections each", WARM_UP);
            node.closed(32, Duration.ofSeconds(WARM_UP));
            service.closed(32, Duration.ofSeconds(WARM_UP));
            settle(inbox);

            for (int connections : RUNS.contains("closed") ? new int[] {8, 32} : new int[0]) {
                String row = "closed loop, " + connections + " connections";
                log(row);
                table.latencies(row, "node", node.closed(connections, Duration.ofSeconds(CLOSED)), false);
                measureService(row, inbox, () -> service.closed(connections, Duration.ofSeconds(CLOSED)), false);
            }
            for (int rate : RUNS.contains("open") ? new int[] {1_000, 2_000} : new int[0]) {
                String row = String.format("fixed %,d/s (latency from due time)", rate);
                log(row);
                table.latencies(row, "node", node.open(rate, Duration.ofSeconds(OPEN), OPEN_SENDERS), true);
                measureService(row, inbox, () -> service.open(rate, Duration.ofSeconds(OPEN), OPEN_SENDERS), true);
            }
            if (RUNS.contains("burst")) {
                String burst = String.format("burst of %,d, %d connections", BURST, BURST_CONNECTIONS);
                log(burst);
                table.latencies(burst, "node", node.count(BURST_CONNECTIONS, BURST), true);
                measureService(burst, inbox, () -> service.count(BURST_CONNECTIONS, BURST), true);
            }

            for (int connections : RUNS.contains("pgbench") ? new int[] {8, 32} : new int[0]) {
                log("pgbench -c %d", connections);
                pgbench(postgres, connections);
            }

            if (RUNS.contains("backlog")) {
                log("backlog of %,d for a paused grant", BACKLOG);
                backlog(calsync, calsyncMix, inbox);
            }

            if (RUNS.contains("abuse")) {
                log("abuse: %,d slow senders and %,d idle connections for %d s", ABUSE_SENDERS, ABUSE_IDLE,
                        ABUSE_SECONDS);
                abuse(recipe, calsync, sampler, inbox);
            }

            sampler.close();
            sampler.report(table);
            if (JFR) {
                dumpFlightRecording(calsync.pid()); // the process is killed at the end: no dump on exit
            }
            table.print(String.format("Load benchmark, %s; %d cores shared by the load generator, both services,"
                            + " PostgreSQL and Redis (load average before the run %s, after it %s); %s; %s;"
                            + " service JVM %s; run %.0f s", Instant.now(), Runtime.getRuntime().availableProcessors(),
                    loadBefore, BenchMachine.loadAverage(), postgres.version(), settings,
                    String.join(" ", jvm) + (CDS ? ", extracted jar " + OUTPUT.relativize(jar) : ""),
                    (System.nanoTime() - runStarted) / 1e9), OUTPUT.resolve("figures.md"));
        } finally {
            EmbeddedServers.stopRedis();
        }
    }

    // ------------------------------------------------------------------------------------------- the service

    /** Where the service's webhook listens: every driver of this benchmark is handed this URI. */
    private static URI webhookUri(ServiceProcess calsync) {
        return calsync.webhookUrl();
    }

    private static URI webhookUri(RecipeHandler recipe) {
        return recipe.url("/webhooks/nylas");
    }

    private interface Run {
        LoadDriver.Result run() throws Exception;
    }

    /**
     * One run against the service, then the wait until everything it acknowledged is processed: end-to-end events/s
     * are the notifications processed from the run's start until the inbox was empty again, over that time.
     */
    private void measureService(String row, JdbcTemplate inbox, Run run, boolean overBudget) throws Exception {
        long processedBefore = processed(inbox);
        long start = System.nanoTime();
        LoadDriver.Result result = run.run();
        long loadEnd = System.nanoTime();
        long processedAtLoadEnd = processed(inbox);
        double drain = settle(inbox);
        long processed = processed(inbox) - processedBefore;
        table.latencies(row, "calsync", result, overBudget);
        table.put(row, "calsync e2e", String.format("%,.0f events/s (%,.0f/s during the load; all processed %s s"
                        + " after it)", processed / ((loadEnd - start) / 1e9 + drain),
                (processedAtLoadEnd - processedBefore) / ((loadEnd - start) / 1e9),
                Double.isNaN(drain) ? "NOT within " + SETTLE : String.format("%.1f", drain)));
    }

    /** Waits until the service has processed all it acknowledged; the seconds it took (NaN: not within the limit). */
    private static double settle(JdbcTemplate inbox) throws InterruptedException {
        long start = System.nanoTime();
        while (waiting(inbox) > 0) {
            if (System.nanoTime() - start > TimeUnit.SECONDS.toNanos(SETTLE)) {
                return Double.NaN;
            }
            Thread.sleep(100);
        }
        return (System.nanoTime() - start) / 1e9;
    }

    private static long processed(JdbcTemplate inbox) {
        return inbox.queryForObject("SELECT count(*) FROM webhook_inbox WHERE status = 'processed'", Long.class);
    }

    private static long waiting(JdbcTemplate inbox) {
        return inbox.queryForObject("SELECT count(*) FROM webhook_inbox WHERE status IN ('received', 'processing')",
                Long.class);
    }

    /**
     * A backlog: the grant is paused by a {@code grant.expired} notification, its event notifications are
     * acknowledged and wait, then an admin resumes it. The processing rate over the first 10% of the backlog against
     * the rate from 85% to 95% (the claim should not cost more while the backlog is large).
     */
    private void backlog(ServiceProcess calsync, NotificationMix calsyncMix, JdbcTemplate inbox) throws Exception {
        HttpClient http = LoadDriver.client();
        String row = String.format("backlog of %,d (paused grant, resumed)", BACKLOG);
        LoadDriver service = new LoadDriver(webhookUri(calsync), calsyncMix);
        String expiry = "c-grant-expired";
        String status = service.post(http, calsyncMix.signed(expiry, "grant.expired", envelope(expiry, "grant.expired",
                Map.of("grant_id", BACKLOG_GRANT), Instant.now().getEpochSecond())));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!"paused".equals(grantState(inbox)) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        if (!"paused".equals(grantState(inbox))) {
            table.put(row, "calsync", "grant not paused (grant.expired answered " + status + ")");
            return;
        }
        NotificationMix backlogMix = new NotificationMix("b", SECRET, List.of(BACKLOG_GRANT), 0, SEED);
        LoadDriver ingest = new LoadDriver(webhookUri(calsync), backlogMix);
        LoadDriver.Result acked = ingest.count(32, BACKLOG);
        table.put(row, "calsync", String.format("acknowledged at %,.0f/s (32 connections, p99 %s)",
                acked.okPerSecond(), ms(acked.millis(99))));
        long total = waiting(inbox);
        if (PG_STATEMENTS) {
            inbox.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
            inbox.execute("SELECT pg_stat_statements_reset()");
        }
        HttpResponse<String> resumed = http.send(HttpRequest.newBuilder(
                        calsync.url("/admin/grants/" + BACKLOG_GRANT + "/resume"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        long start = System.nanoTime();
        if (resumed.statusCode() != 200) {
            table.put(row, "calsync drain", "resume answered " + resumed.statusCode());
            return;
        }
        // the instants at which the remaining backlog first fell to 90%, 15%, 5% and 0 of its size
        double[] marks = {0.9, 0.15, 0.05, 0};
        double[] at = new double[marks.length];
        java.util.Arrays.fill(at, Double.NaN);
        long limit = start + TimeUnit.SECONDS.toNanos(Math.max(SETTLE, BACKLOG / 50));
        long left = total;
        while (left > 0 && System.nanoTime() < limit) {
            Thread.sleep(200);
            left = waiting(inbox);
            double t = (System.nanoTime() - start) / 1e9;
            for (int i = 0; i < marks.length; i++) {
                if (Double.isNaN(at[i]) && left <= total * marks[i]) {
                    at[i] = t;
                }
            }
        }
        double first = 0.1 * total / at[0];
        double late = 0.1 * total / (at[2] - at[1]);
        table.put(row, "calsync drain", String.format("%,.0f/s over the first 10%%, %,.0f/s from 85%% to 95%% (x%.2f);"
                        + " all %,d processed in %s s", first, late, late / first, total,
                Double.isNaN(at[3]) ? "NOT " + (limit - start) / 1_000_000_000L : String.format("%.0f", at[3])));
        if (PG_STATEMENTS) {
            writeStatementStatistics(inbox, OUTPUT.resolve("pg-statements.txt"), total);
        }
        StringBuilder timeline = new StringBuilder("second after the first | notifications processed\n");
        inbox.query("""
                SELECT s.second, count(*) AS n FROM (
                    SELECT floor(extract(epoch FROM processed_at - min(processed_at) OVER ()))::int AS second
                      FROM webhook_inbox WHERE grant_id = ? AND processed_at IS NOT NULL) s
                 GROUP BY s.second ORDER BY s.second""", rs -> {
            timeline.append(rs.getInt("second")).append(" | ").append(rs.getLong("n")).append('\n');
        }, BACKLOG_GRANT);
        // the drain second by second (processed_at of the backlog grant's rows)
        Files.writeString(OUTPUT.resolve("backlog-drain.txt"), timeline);
    }

    /**
     * What PostgreSQL spent on each statement while the backlog drained ({@code load.pg-statements=true}: the
     * cluster loads pg_stat_statements): calls, calls per notification and execution time, most time first.
     */
    private static void writeStatementStatistics(JdbcTemplate inbox, Path file, long notifications)
            throws java.io.IOException {
        StringBuilder out = new StringBuilder(String.format("backlog of %,d notifications drained%n"
                + "calls | per notification | total ms | mean ms | rows | statement%n", notifications));
        inbox.query("""
                SELECT calls, total_exec_time, mean_exec_time, rows, regexp_replace(query, '\\s+', ' ', 'g') AS query
                  FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                 ORDER BY total_exec_time DESC LIMIT 40""", rs -> {
            out.append(String.format("%,d | %.2f | %,.0f | %.3f | %,d | %s%n", rs.getLong("calls"),
                    rs.getLong("calls") / (double) notifications, rs.getDouble("total_exec_time"),
                    rs.getDouble("mean_exec_time"), rs.getLong("rows"), rs.getString("query")));
        });
        Files.writeString(file, out);
        log("statement statistics of the drain: %s", file);
    }

    private static String grantState(JdbcTemplate inbox) {
        List<String> states = inbox.queryForList("SELECT state FROM grant_sync_state WHERE grant_id = ?", String.class,
                BACKLOG_GRANT);
        return states.isEmpty() ? null : states.get(0);
    }

    // ------------------------------------------------------------------------------------------- abuse

    /**
     * Slow senders and idle connections against the webhook, the recipe's handler first, then the service
     * ({@link AbuseDriver}); afterwards the service finishes processing what it acknowledged.
     */
    private void abuse(RecipeHandler recipe, ServiceProcess calsync, Sampler sampler, JdbcTemplate inbox)
            throws Exception {
        AbuseDriver.Settings settings = new AbuseDriver.Settings(ABUSE_SENDERS, ABUSE_IDLE,
                Duration.ofSeconds(ABUSE_SECONDS), ABUSE_RECONNECT);
        abuse("node", "abuse", "na", webhookUri(recipe), recipe.pid(), false, settings, sampler);
        AbuseDriver.Result r = abuse("calsync", "abuse", "ca", webhookUri(calsync), calsync.pid(), true, settings,
                sampler);
        stored("abuse", "ca", r, inbox);
        // the same attack on the webhook kept on the application's HTTP port (Tomcat)
        AbuseDriver.Result onServerPort = abuse("calsync", "abuse on SERVER_PORT", "sa",
                calsync.url("/webhooks/nylas"), calsync.pid(), true, settings, sampler);
        stored("abuse on SERVER_PORT", "sa", onServerPort, inbox);
    }

    /** How many of the probes reached the inbox once the service caught up. */
    private void stored(String rowPrefix, String idPrefix, AbuseDriver.Result r, JdbcTemplate inbox)
            throws InterruptedException {
        double drain = settle(inbox);
        // the probes are <idPrefix>-ntf-0 ... in the order sent; those after them are the recovery's
        Long stored = inbox.queryForObject("SELECT count(*) FROM webhook_inbox WHERE notification_id LIKE ?"
                + " AND substring(notification_id from 8)::int < ?", Long.class, idPrefix + "-ntf-%", r.probes());
        table.put(rowPrefix + ": probes in the inbox once the service caught up", "calsync", String.format("%,d of %,d"
                        + " (%,d answered 200 in time; the inbox empty again %s s after the run)", stored, r.probes(),
                r.ok(), Double.isNaN(drain) ? "NOT within " + SETTLE : String.format("%.1f", drain)));
    }

    private AbuseDriver.Result abuse(String column, String rowPrefix, String idPrefix, URI webhook, long pid,
                                     boolean jvm, AbuseDriver.Settings settings, Sampler sampler) throws Exception {
        String row = String.format(rowPrefix + ": %,d slow senders (Content-Length %,d, %d bytes every 500 ms) and %,d idle"
                        + " connections for %d s; a signed probe every 200 ms from %d s", settings.slowSenders(),
                AbuseDriver.ANNOUNCED, AbuseDriver.CHUNK, settings.idleConnections(), ABUSE_SECONDS,
                AbuseDriver.PROBE_DELAY_SECONDS);
        log("abuse: %s", column);
        NotificationMix probes = new NotificationMix(idPrefix, SECRET, GRANTS, 0, SEED);
        int filesBefore = openFiles(pid);
        int[] filesAtPeak = {-1};
        String[] threads = {""};
        Sampler.Peaks peaks = sampler.peaks();
        AbuseDriver.Result r;
        long heapKb;
        String files = "abuse-" + idPrefix + "-" + column;
        try (HeapWatch heap = jvm ? HeapWatch.start(pid, OUTPUT.resolve(files + "-jstat.log")) : null) {
            r = new AbuseDriver(webhook, probes).run(settings, () -> {
                filesAtPeak[0] = openFiles(pid);
                if (jvm) {
                    threads[0] = "; " + requestThreads(pid, OUTPUT.resolve(files + "-threads.txt"));
                }
            });
            heapKb = heap == null ? -1 : heap.maxKb();
        } finally {
            peaks.stop();
        }
        Thread.sleep(1_000); // the server notices the closed connections
        table.put(row, column, r.probeCell());
        table.put(rowPrefix + ": how the server defended itself", column, r.defenceCell());
        table.put(rowPrefix + ": afterwards", column, String.format("%s; the server's open files: %,d before, %,d at the"
                        + " end of the attack, %,d after it; the driver's sockets left open: %d (its open files %,d"
                        + " before, %,d after)", r.after(), filesBefore, filesAtPeak[0], openFiles(pid), r.leftOpen(),
                r.driverFdsBefore(), r.driverFdsAfter()));
        table.put(rowPrefix + ": memory and threads during the attack", column, jvm
                ? String.format("heap used max %,d MB (jstat every second), RSS max %,d MB; the actuator answered %d"
                        + " of %d heap samples%s", heapKb / 1024, peaks.rssKb(column) / 1024,
                peaks.heapAnswered(column), peaks.heapAsked(column), threads[0])
                : String.format("RSS max %,d MB", peaks.rssKb(column) / 1024));
        return r;
    }

    /** A process's open file descriptors (its sockets among them); -1 where unknown. */
    private static int openFiles(long pid) {
        try (var fds = Files.list(Path.of("/proc", String.valueOf(pid), "fd"))) {
            return (int) fds.count();
        } catch (Exception e) {
            return -1;
        }
    }

    /** A thread dump of the service ({@code jcmd Thread.print}) to {@code file}, and what its request threads do. */
    private static String requestThreads(long pid, Path file) {
        try {
            Path jcmd = ServiceProcess.java().resolveSibling("jcmd");
            Process p = new ProcessBuilder(jcmd.toString(), String.valueOf(pid), "Thread.print")
                    .redirectErrorStream(true).redirectOutput(file.toFile()).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "no thread dump within 60 s";
            }
            int request = 0;
            int reading = 0;
            int guarded = 0;
            int waiting = 0;
            for (String block : Files.readString(file).split("\\n\\s*\\n")) {
                if (!block.matches("(?s)^\"http-nio-[^\"]*-exec-\\d+\".*")) {
                    continue;
                }
                request++;
                if (block.contains("ServletBodies.read")) {
                    reading++;
                }
                if (block.contains("WebhookRequestGuard.doFilterInternal")) {
                    guarded++;
                }
                if (block.contains("TaskQueue.take") || block.contains("TaskQueue.poll")) {
                    waiting++;
                }
            }
            return String.format("request threads (http-nio-*-exec-*) at the end of the attack: %d, %d of them in"
                            + " WebhookRequestGuard, %d reading a body (ServletBodies.read), %d waiting for work (%s)", request, guarded, reading,
                    waiting, OUTPUT.relativize(file));
        } catch (Exception e) {
            return "no thread dump (" + e + ")";
        }
    }

    /**
     * The heap in use of a JVM by {@code jstat -gc <pid> 1000} (its shared performance counters: no request to the
     * process, so it answers while the process's HTTP listener does not): S0U + S1U + EU + OU, the maximum.
     */
    private static final class HeapWatch implements AutoCloseable {
        private final Process process;
        private final Thread reader;
        private final AtomicLong maxKb = new AtomicLong(-1);

        private HeapWatch(Process process, Path log) {
            this.process = process;
            this.reader = new Thread(() -> read(log), "load-jstat");
            reader.setDaemon(true);
            reader.start();
        }

        static HeapWatch start(long pid, Path log) throws java.io.IOException {
            Path jstat = ServiceProcess.java().resolveSibling("jstat");
            return new HeapWatch(new ProcessBuilder(jstat.toString(), "-gc", String.valueOf(pid), "1000")
                    .redirectErrorStream(true).start(), log);
        }

        private void read(Path log) {
            List<Integer> used = new ArrayList<>();
            StringBuilder copy = new StringBuilder();
            try (var lines = new java.io.BufferedReader(new java.io.InputStreamReader(process.getInputStream()))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    copy.append(line).append('\n');
                    String[] f = line.trim().split("\\s+");
                    if (f.length > 0 && "S0C".equals(f[0])) {
                        used.clear();
                        for (int i = 0; i < f.length; i++) {
                            if (List.of("S0U", "S1U", "EU", "OU").contains(f[i])) {
                                used.add(i);
                            }
                        }
                    } else if (!used.isEmpty() && f.length > used.get(used.size() - 1)) {
                        try {
                            double kb = 0;
                            for (int i : used) {
                                kb += Double.parseDouble(f[i]);
                            }
                            maxKb.accumulateAndGet((long) kb, Math::max);
                        } catch (NumberFormatException e) {
                            // not a sample line
                        }
                    }
                }
            } catch (java.io.IOException e) {
                // jstat ended
            } finally {
                try {
                    Files.writeString(log, copy);
                } catch (java.io.IOException e) {
                    // the log is a convenience
                }
            }
        }

        long maxKb() {
            return maxKb.get();
        }

        @Override
        public void close() throws InterruptedException {
            process.destroy();
            process.waitFor(10, TimeUnit.SECONDS);
            reader.join(5_000);
        }
    }

    // ------------------------------------------------------------------------------------------- pgbench

    /** pgbench's single-row {@code INSERT ... ON CONFLICT DO NOTHING} of a notification into a jsonb table. */
    private void pgbench(PostgresServer postgres, int connections) throws Exception {
        String database = "pgbench";
        Path script = OUTPUT.resolve("pgbench-insert.sql");
        if (!pgbenchReady) {
            pgbenchReady = true;
            postgres.createDatabase(database);
            new JdbcTemplate(new DriverManagerDataSource(postgres.jdbcUrl(database), PostgresServer.USER, ""))
                    .execute("CREATE TABLE inbox (id text PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now(),"
                            + " payload jsonb NOT NULL)");
            String body = new NotificationMix("p", SECRET, GRANTS, 0, SEED).next().body();
            Files.writeString(script, "INSERT INTO inbox (id, payload) VALUES (gen_random_uuid()::text, '"
                    + body.replace("'", "''") + "'::jsonb) ON CONFLICT DO NOTHING;\n");
            Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rw-r--r--"));
        }
        Path out = OUTPUT.resolve("pgbench-c" + connections + ".log");
        Process p = new ProcessBuilder(postgres.program("pgbench").toString(), "-n", "-h", "127.0.0.1",
                "-p", String.valueOf(postgres.port()), "-U", PostgresServer.USER, "-c", String.valueOf(connections),
                "-j", "2", "-T", String.valueOf(PGBENCH), "-f", script.toString(), database)
                .redirectErrorStream(true).redirectOutput(out.toFile()).start();
        p.waitFor(PGBENCH + 60L, TimeUnit.SECONDS);
        String output = Files.readString(out);
        Matcher tps = Pattern.compile("tps = ([0-9.]+)").matcher(output);
        Matcher latency = Pattern.compile("latency average = ([0-9.]+) ms").matcher(output);
        String row = "closed loop, " + connections + " connections";
        table.put(row, "pgbench", tps.find() && latency.find()
                ? String.format("%,.0f inserts/s (average %.2f ms)", Double.parseDouble(tps.group(1)),
                Double.parseDouble(latency.group(1)))
                : "pgbench failed, see " + out);
    }

    // ------------------------------------------------------------------------------------------- helpers

    private static long untilFirst200(LoadDriver driver, NotificationMix mix, long startedNanos,
                                      java.util.function.BooleanSupplier alive) throws InterruptedException {
        HttpClient http = LoadDriver.client();
        long deadline = startedNanos + TimeUnit.SECONDS.toNanos(180);
        while (System.nanoTime() < deadline && alive.getAsBoolean()) {
            if ("200".equals(driver.post(http, mix.next()))) {
                return System.nanoTime() - startedNanos;
            }
            Thread.sleep(10);
        }
        throw new IllegalStateException("no 200 within 180 s (or the process exited); see " + OUTPUT);
    }

    private static List<String> jvmOptions() {
        List<String> options = new ArrayList<>(List.of(SERVICE_JVM.trim().split("\\s+")));
        if (JFR) {
            options.add("-XX:StartFlightRecording=filename=" + OUTPUT.resolve("calsync.jfr") + ",settings=profile");
        }
        return options;
    }

    /**
     * The Dockerfile's steps (also in the README; docs/PERFORMANCE.md, "Start-up"): the jar extracted ({@code java
     * -Djarmode=tools -jar ... extract}: the libraries as plain jars in {@code lib/}), then a training run that writes
     * the class data sharing archive ({@code -XX:ArchiveClassesAtExit}; {@code -Dspring.context.exit=onRefresh}: the
     * application context is created and the process exits before anything starts, without a database: calsync.database.migrate off).
     * Returns the extracted jar.
     */
    private static Path extractedWithArchive(Path packaged, Path archive) throws Exception {
        Path java = ServiceProcess.java();
        Path extracted = OUTPUT.resolve("extracted");
        if (Files.exists(extracted)) {
            try (var files = Files.walk(extracted)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
        Files.deleteIfExists(archive);
        run(OUTPUT.resolve("extract.log"), java.toString(), "-Djarmode=tools", "-jar", packaged.toString(), "extract",
                "--destination", extracted.toString());
        Path jar = extracted.resolve(packaged.getFileName());
        List<String> training = new ArrayList<>(List.of(java.toString()));
        training.addAll(List.of(SERVICE_JVM.trim().split("\\s+")));
        // Java 25 on: the AOT cache (JEP 483/514: classes loaded and linked, method profiles), else CDS
        training.add(aotCache() ? "-XX:AOTCacheOutput=" + archive : "-XX:ArchiveClassesAtExit=" + archive);
        training.addAll(List.of("-Dspring.context.exit=onRefresh", "-jar", jar.toString(),
                "--calsync.database.migrate=false"));
        long start = System.nanoTime();
        run(OUTPUT.resolve("cds-training.log"), training.toArray(String[]::new));
        if (!Files.exists(archive)) {
            throw new IllegalStateException("the training run wrote no archive; see "
                    + OUTPUT.resolve("cds-training.log"));
        }
        log("extracted to %s, %s %s (training run %.1f s)", extracted, aotCache() ? "AOT cache" : "CDS archive", archive,
                (System.nanoTime() - start) / 1e9);
        return jar;
    }

    /** Whether the service's Java has the AOT cache ({@code -XX:AOTCache}, Java 25 on) the Dockerfile uses. */
    private static boolean aotCache() throws java.io.IOException {
        return ServiceProcess.javaFeature() >= 25;
    }

    private static void run(Path output, String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
                .directory(OUTPUT.toFile()).start();
        if (!p.waitFor(600, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " failed; see " + output);
        }
    }

    private static Map<String, String> serviceProperties(PostgresServer postgres, NylasSimulator nylas, int redisPort) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("spring.datasource.url", postgres.jdbcUrl());
        p.put("spring.datasource.username", PostgresServer.USER);
        p.put("spring.data.redis.url", "redis://127.0.0.1:" + redisPort);
        p.put("calsync.dedupe.redis-key-prefix", "calsync-load:notification");
        p.put("calsync.nylas.api-uri", nylas.baseUrl());
        // -Dload.service.properties=a=1,b=2: settings of the service under test (to compare two in turn)
        for (String setting : System.getProperty("load.service.properties", "").split(",")) {
            int eq = setting.indexOf('=');
            if (eq > 0) {
                p.put(setting.substring(0, eq).trim(), setting.substring(eq + 1).trim());
            }
        }
        p.put("calsync.routes-dir", Path.of("routes").toAbsolutePath().toString());
        // the hourly reconciliation would compare the records with the simulator's calendars, which are empty
        p.put("camel.main.auto-startup-exclude-pattern", "calsync-reconcile-scheduled");
        return p;
    }

    private static Path recipeDir() {
        return Path.of(System.getProperty("load.recipe-dir", Path.of("..", "shared", "bench", "recipe-handler")
                .toString())).toAbsolutePath().normalize();
    }

    private static void dumpFlightRecording(long pid) throws Exception {
        Path jcmd = ServiceProcess.java().resolveSibling("jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), String.valueOf(pid), "JFR.dump",
                "filename=" + OUTPUT.resolve("calsync.jfr")).redirectErrorStream(true)
                .redirectOutput(OUTPUT.resolve("jfr-dump.log").toFile()).start();
        p.waitFor(60, TimeUnit.SECONDS);
        log("JFR profile of the service: %s", OUTPUT.resolve("calsync.jfr"));
    }

    /** The machine's 1-, 5- and 15-minute load averages: other work on the same cores shows here. */

    private static String seconds(long nanos) {
        return String.format("%.1f s", nanos / 1e9);
    }

    static String ms(double millis) {
        if (Double.isInfinite(millis)) {
            return "> 10 s";
        }
        return millis >= 1000 ? String.format("%.1f s", millis / 1000) : String.format("%.1f ms", millis);
    }

    private static void log(String format, Object... args) {
        System.out.printf("[load %s] %s%n", Instant.now(), String.format(format, args));
    }

    // ------------------------------------------------------------------------------------------- the table

    /** Rows in the order first put; per row, a cell per column. */
    static final class Table {
        private static final List<String> COLUMNS = List.of("node", "calsync", "calsync e2e", "calsync drain",
                "pgbench");
        private final Map<String, Map<String, String>> rows = new LinkedHashMap<>();

        synchronized void put(String row, String column, String cell) {
            rows.computeIfAbsent(row, r -> new LinkedHashMap<>()).put(column, cell);
        }

        void latencies(String row, String column, LoadDriver.Result r, boolean overBudget) {
            StringBuilder cell = new StringBuilder(String.format("%,.0f acks/s; p50 %s, p99 %s, p99.9 %s",
                    r.okPerSecond(), ms(r.millis(50)), ms(r.millis(99)), ms(r.millis(99.9))));
            if (overBudget) {
                cell.append(String.format(", max %s; %,d of %,d over 10 s", ms(r.millis(100)), r.overBudget(),
                        r.sent()));
            }
            Map<String, Integer> others = new LinkedHashMap<>(r.answers());
            others.remove("200");
            if (!others.isEmpty()) {
                cell.append("; not 200: ").append(others);
            }
            put(row, column, cell.toString());
        }

        void print(String title, Path file) throws Exception {
            StringBuilder out = new StringBuilder("\n" + title + "\n\n");
            out.append("| | recipe handler (Node) | calsync | pgbench single-row insert |\n|---|---|---|---|\n");
            rows.forEach((row, cells) -> {
                String calsync = java.util.stream.Stream.of("calsync", "calsync e2e", "calsync drain")
                        .filter(cells::containsKey).map(c -> (c.equals("calsync") ? "" : c.substring(8) + ": ")
                                + cells.get(c)).reduce((a, b) -> a + "<br>" + b).orElse("");
                out.append("| ").append(row).append(" | ").append(cells.getOrDefault("node", ""))
                        .append(" | ").append(calsync).append(" | ").append(cells.getOrDefault("pgbench", ""))
                        .append(" |\n");
            });
            System.out.print(out);
            Files.writeString(file, out.toString());
        }
    }

    // ------------------------------------------------------------------------------------------- heap and RSS

    /** Every second: the resident set size of each process, and the service's heap in use (actuator). */
    private final class Sampler implements AutoCloseable {
        private final Map<String, Long> pids = new LinkedHashMap<>();
        private final Map<String, URI> heaps = new LinkedHashMap<>();
        private final Map<String, AtomicLong> maxRss = new LinkedHashMap<>();
        private final Map<String, AtomicLong> maxHeap = new LinkedHashMap<>();
        private final List<Peaks> windows = new java.util.concurrent.CopyOnWriteArrayList<>();
        private final Thread thread = new Thread(this::run, "load-sampler");
        private volatile boolean running = true;

        /** The maxima from now until {@link Peaks#stop}, besides those of the whole run. */
        Peaks peaks() {
            Peaks p = new Peaks();
            windows.add(p);
            return p;
        }

        final class Peaks {
            private final Map<String, AtomicLong> rss = new java.util.concurrent.ConcurrentHashMap<>();
            private final Map<String, AtomicLong> asked = new java.util.concurrent.ConcurrentHashMap<>();
            private final Map<String, AtomicLong> answered = new java.util.concurrent.ConcurrentHashMap<>();

            void stop() {
                windows.remove(this);
            }

            private static void max(Map<String, AtomicLong> values, String name, long value) {
                values.computeIfAbsent(name, n -> new AtomicLong()).accumulateAndGet(value, Math::max);
            }

            private static void add(Map<String, AtomicLong> values, String name) {
                values.computeIfAbsent(name, n -> new AtomicLong()).incrementAndGet();
            }

            private static long get(Map<String, AtomicLong> values, String name) {
                AtomicLong v = values.get(name);
                return v == null ? 0 : v.get();
            }

            long rssKb(String name) {
                return get(rss, name);
            }

            long heapAsked(String name) {
                return get(asked, name);
            }

            long heapAnswered(String name) {
                return get(answered, name);
            }
        }

        void watch(String name, long pid, URI heap) {
            pids.put(name, pid);
            maxRss.put(name, new AtomicLong());
            if (heap != null) {
                heaps.put(name, heap);
                maxHeap.put(name, new AtomicLong());
            }
        }

        void start() {
            thread.setDaemon(true);
            thread.start();
        }

        private void run() {
            Pattern value = Pattern.compile("\"value\":([0-9.Ee+]+)");
            while (running) {
                pids.forEach((name, pid) -> {
                    long rss = rssKb(pid);
                    maxRss.get(name).accumulateAndGet(rss, Math::max);
                    windows.forEach(w -> Peaks.max(w.rss, name, rss));
                });
                heaps.forEach((name, uri) -> {
                    List<Peaks> asking = List.copyOf(windows);
                    asking.forEach(w -> Peaks.add(w.asked, name));
                    try {
                        String body = probe.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).build(),
                                HttpResponse.BodyHandlers.ofString()).body();
                        Matcher m = value.matcher(body);
                        if (m.find()) {
                            long used = (long) Double.parseDouble(m.group(1));
                            maxHeap.get(name).accumulateAndGet(used, Math::max);
                            asking.forEach(w -> Peaks.add(w.answered, name));
                        }
                    } catch (Exception e) {
                        // a sample missed under load; the next one counts
                    }
                });
                try {
                    Thread.sleep(1_000);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        private static long rssKb(long pid) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status"))) {
                    if (line.startsWith("VmRSS:")) {
                        return Long.parseLong(line.replaceAll("[^0-9]", ""));
                    }
                }
            } catch (Exception e) {
                // the process is gone
            }
            return 0;
        }

        void report(Table table) {
            String row = "memory (max over the run, sampled every second)";
            table.put(row, "node", String.format("RSS %,d MB", maxRss.get("node").get() / 1024));
            table.put(row, "calsync", String.format("heap used %,d MB, RSS %,d MB",
                    maxHeap.get("calsync").get() / (1024 * 1024), maxRss.get("calsync").get() / 1024));
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            thread.interrupt();
            thread.join(5_000);
        }
    }
}

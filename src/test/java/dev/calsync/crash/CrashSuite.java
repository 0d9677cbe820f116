package dev.calsync.crash;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

import dev.calsync.crash.WebhookLoad.Story;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.PostgresServer;
import dev.calsync.support.ServiceProcess;
import org.assertj.core.api.SoftAssertions;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DriverManagerDataSource;

import static org.awaitility.Awaitility.await;

/**
 * The crash suite ({@code ./mvnw verify -Pcrash}; not part of {@code ./mvnw verify}): the packaged service runs as a
 * process of its own against a real PostgreSQL and Redis while client threads deliver signed notifications, and at
 * random moments the service is killed with SIGKILL and started again, PostgreSQL is stopped in immediate mode and
 * started again a few seconds later, or Redis is restarted empty. Clients deliver again what got no 200, as Nylas
 * does. At the end, once the service has drained, every acknowledged notification must be stored and processed,
 * and its effect must be there exactly once: one mapping per event, one record with the last title or a tombstone.
 *
 * <p>Settings (system properties): {@code crash.rounds} (faults, default 9: three of each kind), {@code
 * crash.clients} (delivering threads, 4), {@code crash.in-flight} (notifications unacknowledged at a time, 32),
 * {@code crash.max-pause-millis} (the random pause before each fault, 1 s up to this, 8000), {@code
 * crash.max-postgres-down-millis} (4000), {@code crash.duplicate-share} (acknowledged notifications delivered
 * again, 0.1), {@code crash.seed}, {@code crash.lease} (the service's processing lease, 20s), {@code
 * crash.postgres.bin} (see {@link PostgresServer}) and {@code crash.jar} (the packaged service; Maven passes it).
 * Figures go to standard output and to {@code target/crash/figures.txt}, the service's and PostgreSQL's logs to
 * {@code target/crash/}.
 */
@Tag("crash")
class CrashSuite {

    private static final int ROUNDS = Integer.getInteger("crash.rounds", 9);
    private static final int CLIENTS = Integer.getInteger("crash.clients", 4);
    private static final int IN_FLIGHT = Integer.getInteger("crash.in-flight", 32);
    private static final int MAX_PAUSE_MILLIS = Integer.getInteger("crash.max-pause-millis", 8_000);
    private static final int MAX_POSTGRES_DOWN_MILLIS = Integer.getInteger("crash.max-postgres-down-millis", 4_000);
    private static final double DUPLICATE_SHARE = Double.parseDouble(System.getProperty("crash.duplicate-share", "0.1"));
    private static final long SEED = Long.getLong("crash.seed", System.nanoTime());
    private static final String LEASE = System.getProperty("crash.lease", "20s");

    private static final Duration BACK_IN_SERVICE = Duration.ofMinutes(3);
    private static final Duration DRAIN = Duration.ofMinutes(5);
    private static final Path OUTPUT = Path.of("target", "crash");

    private static final String WEBHOOK_SECRET = "crash-webhook-secret";
    private static final String API_TOKEN = "crash-api-token";
    private static final String NYLAS_API_KEY = "crash-nylas-key";

    enum Fault { KILL_SERVICE, STOP_POSTGRES, RESTART_REDIS }

    private final Random random = new Random(SEED);
    private final Map<Fault, Integer> faults = new TreeMap<>();
    /** Per fault, the longest time without any acknowledgement from its beginning until the service was back. */
    private final Map<Fault, List<Double>> silences = new TreeMap<>();

    @Test
    void everyAcknowledgedNotificationIsAppliedExactlyOnce() throws Exception {
        EmbeddedServers.redisPort(); // starts Redis
        try (PostgresServer postgres = PostgresServer.create();
             NylasSimulator nylas = new NylasSimulator(NYLAS_API_KEY);
             ServiceProcess service = new ServiceProcess(jar(), OUTPUT, EmbeddedServers.freePort(),
                     serviceProperties(postgres, nylas), secrets());
             WebhookLoad load = new WebhookLoad(service, WEBHOOK_SECRET, CLIENTS, IN_FLIGHT, SEED, DUPLICATE_SHARE)) {
            JdbcTemplate db = new JdbcTemplate(new DriverManagerDataSource(postgres.jdbcUrl(), PostgresServer.USER, ""));
            long started = System.nanoTime();
            service.start();
            load.start();

            awaitBackInService(load, service);
            for (Fault fault : schedule()) {
                pause(1_000 + random.nextInt(Math.max(1, MAX_PAUSE_MILLIS - 1_000)));
                long injected = System.nanoTime();
                inject(fault, service, postgres);
                awaitBackInService(load, service);
                silences.computeIfAbsent(fault, f -> new ArrayList<>())
                        .add(load.longestSilenceSeconds(injected, System.nanoTime()));
            }

            load.stopNewEvents();
            long loadStopped = System.nanoTime();
            boolean acknowledged = awaitQuietly(() -> load.unacknowledged().isEmpty());
            long allAcknowledged = System.nanoTime();
            boolean drained = awaitQuietly(() -> unfinished(db) == 0);
            long allProcessed = System.nanoTime();
            load.close();

            Check check = check(db, load);
            report(postgres, load, check, Map.of(
                    "run", seconds(started, allProcessed),
                    "acknowledged", seconds(loadStopped, allAcknowledged),
                    "processed", seconds(loadStopped, allProcessed)), acknowledged && drained);
            check.assertAll(load);
        } finally {
            EmbeddedServers.stopRedis();
        }
    }

    // ------------------------------------------------------------------------------------------------ faults

    /** Every kind of fault in turn, in a random order within each turn. */
    private List<Fault> schedule() {
        List<Fault> schedule = new ArrayList<>();
        while (schedule.size() < ROUNDS) {
            List<Fault> turn = new ArrayList<>(List.of(Fault.values()));
            Collections.shuffle(turn, random);
            schedule.addAll(turn);
        }
        return schedule.subList(0, ROUNDS);
    }

    private void inject(Fault fault, ServiceProcess service, PostgresServer postgres) {
        switch (fault) {
            case KILL_SERVICE -> {
                service.kill();
                service.start();
            }
            case STOP_POSTGRES -> {
                postgres.stopImmediately();
                pause(1_000 + random.nextInt(Math.max(1, MAX_POSTGRES_DOWN_MILLIS - 1_000)));
                postgres.start();
            }
            case RESTART_REDIS -> {
                EmbeddedServers.stopRedis();
                pause(random.nextInt(2_000));
                EmbeddedServers.startRedis(); // nothing is saved: it comes back empty
            }
        }
        faults.merge(fault, 1, Integer::sum);
    }

    /** The load has had a new acknowledgement since: the service is up again and taking notifications. */
    private static void awaitBackInService(WebhookLoad load, ServiceProcess service) {
        long before = load.acknowledgements();
        await().atMost(BACK_IN_SERVICE)
                .failFast("the service process exited by itself", () -> !service.alive())
                .until(() -> load.acknowledgements() > before);
    }

    /** Part of the load schedule: how long the load runs before the next fault. */
    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static boolean awaitQuietly(Callable<Boolean> condition) {
        try {
            await().atMost(DRAIN).pollInterval(Duration.ofMillis(250)).until(condition);
            return true;
        } catch (ConditionTimeoutException e) {
            return false; // the checks name what is missing
        }
    }

    private static int unfinished(JdbcTemplate db) {
        Integer n = db.queryForObject(
                "SELECT count(*) FROM webhook_inbox WHERE status IN ('received', 'processing')", Integer.class);
        return n == null ? 0 : n;
    }

    // ------------------------------------------------------------------------------------------- the service

    private static Path jar() throws IOException {
        return ServiceProcess.packagedJar("crash.jar");
    }

    private static Map<String, String> serviceProperties(PostgresServer postgres, NylasSimulator nylas) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("spring.datasource.url", postgres.jdbcUrl());
        p.put("spring.datasource.username", PostgresServer.USER);
        p.put("spring.data.redis.url", "redis://127.0.0.1:" + EmbeddedServers.redisPort());
        p.put("calsync.nylas.api-uri", nylas.baseUrl());
        p.put("calsync.routes-dir", Path.of("routes").toAbsolutePath().toString());
        // a notification whose worker was killed is taken again when its lease runs out (2 minutes by default)
        p.put("calsync.inbound.lease", LEASE);
        // the hourly reconciliation would compare the records with the simulator's calendars, which are empty
        p.put("camel.main.auto-startup-exclude-pattern", "calsync-reconcile-scheduled");
        return p;
    }

    /** In the environment, as in production, so they appear on no command line and in no log. */
    private static Map<String, String> secrets() {
        return Map.of("NYLAS_WEBHOOK_SECRET", WEBHOOK_SECRET, "APP_API_TOKEN", API_TOKEN,
                "NYLAS_API_KEY", NYLAS_API_KEY);
    }

    // ------------------------------------------------------------------------------------------- the checks

    /** What the database holds compared with what the clients were told. */
    record Check(Set<String> lost, Map<String, String> notProcessed, Set<String> neverSent, Set<String> missing,
                 Set<String> duplicated, Map<String, String> wrongState, Set<String> extraMappings,
                 Set<String> orphanRecords, Map<String, Integer> createdTwice, Map<String, Integer> statuses,
                 Map<String, Integer> outcomes, int processedAgain, int events, int live) {

        void assertAll(WebhookLoad load) {
            SoftAssertions soft = new SoftAssertions();
            soft.assertThat(load.sent()).as("notifications sent").isNotEmpty();
            soft.assertThat(load.unacknowledged()).as("never acknowledged although delivered again").isEmpty();
            soft.assertThat(load.unexpectedAnswers()).as("answers other than 200/400/401/503/no answer").isEmpty();
            soft.assertThat(lost).as("acknowledged but not in webhook_inbox").isEmpty();
            soft.assertThat(notProcessed).as("acknowledged but not processed (dead or unfinished)").isEmpty();
            soft.assertThat(neverSent).as("in webhook_inbox but never sent").isEmpty();
            soft.assertThat(missing).as("events without a mapping").isEmpty();
            soft.assertThat(duplicated).as("events with more than one mapping").isEmpty();
            soft.assertThat(wrongState).as("events whose record or tombstone is not what was sent").isEmpty();
            soft.assertThat(extraMappings).as("mappings of events never sent").isEmpty();
            soft.assertThat(orphanRecords).as("records without a mapping").isEmpty();
            soft.assertThat(createdTwice).as("events created by more than one notification").isEmpty();
            soft.assertAll();
        }
    }

    private static Check check(JdbcTemplate db, WebhookLoad load) {
        Map<String, String> inbox = new HashMap<>();
        db.query("SELECT notification_id, status FROM webhook_inbox",
                (ResultSet r) -> { inbox.put(r.getString(1), r.getString(2)); });
        Set<String> acknowledged = Set.copyOf(load.acknowledged());
        Set<String> lost = new HashSet<>(acknowledged);
        lost.removeAll(inbox.keySet());
        Map<String, String> notProcessed = new TreeMap<>();
        acknowledged.stream().filter(id -> inbox.containsKey(id) && !"processed".equals(inbox.get(id)))
                .forEach(id -> notProcessed.put(id, inbox.get(id)));
        Set<String> neverSent = new HashSet<>(inbox.keySet());
        neverSent.removeAll(load.sent());

        Map<String, List<Map<String, Object>>> mappings = db.queryForList(
                        "SELECT grant_id, nylas_event_id, internal_id, sync_state FROM event_sync_map").stream()
                .collect(Collectors.groupingBy(m -> m.get("grant_id") + "/" + m.get("nylas_event_id")));
        Map<String, String> records = new HashMap<>();
        db.query("SELECT id, title FROM app_event", (ResultSet r) -> { records.put(r.getString(1), r.getString(2)); });

        Set<String> missing = new HashSet<>();
        Set<String> duplicated = new HashSet<>();
        Map<String, String> wrongState = new TreeMap<>();
        Set<String> events = new HashSet<>();
        int live = 0;
        for (Story story : load.stories()) {
            String key = story.grantId() + "/" + story.eventId();
            events.add(key);
            List<Map<String, Object>> rows = mappings.getOrDefault(key, List.of());
            if (rows.isEmpty()) {
                missing.add(key);
                continue;
            }
            if (rows.size() > 1) {
                duplicated.add(key);
                continue;
            }
            Map<String, Object> mapping = rows.get(0);
            String record = (String) mapping.get("internal_id");
            String state = story.deleted()
                    ? ("deleted".equals(mapping.get("sync_state")) && !records.containsKey(record) ? null
                    : "expected a tombstone and no record")
                    : ("synced".equals(mapping.get("sync_state")) && story.title().equals(records.get(record)) ? null
                    : "expected record '" + story.title() + "'");
            if (state != null) {
                wrongState.put(key, state + ", found " + mapping.get("sync_state") + " '" + records.get(record) + "'");
            }
            live += story.deleted() ? 0 : 1;
        }
        Set<String> extraMappings = new HashSet<>(mappings.keySet());
        extraMappings.removeAll(events);
        Set<String> mapped = mappings.values().stream().flatMap(List::stream)
                .map(m -> (String) m.get("internal_id")).collect(Collectors.toSet());
        Set<String> orphanRecords = new HashSet<>(records.keySet());
        orphanRecords.removeAll(mapped);

        // a notification that creates an event's record is one per event; a second would have made another record
        Map<String, Integer> createdTwice = new TreeMap<>();
        db.query("""
                SELECT grant_id || '/' || object_id, count(*) FROM webhook_inbox
                 WHERE outcome IN ('created', 'relinked') GROUP BY 1 HAVING count(*) > 1""",
                (ResultSet r) -> { createdTwice.put(r.getString(1), r.getInt(2)); });
        Map<String, Integer> statuses = countBy(db, "status");
        Map<String, Integer> outcomes = countBy(db, "coalesce(outcome, '-')");
        Integer again = db.queryForObject("SELECT count(*) FROM webhook_inbox WHERE attempts > 1", Integer.class);
        return new Check(lost, notProcessed, neverSent, missing, duplicated, wrongState, extraMappings, orphanRecords,
                createdTwice, statuses, outcomes, again == null ? 0 : again, events.size(), live);
    }

    private static Map<String, Integer> countBy(JdbcTemplate db, String column) {
        Map<String, Integer> counts = new TreeMap<>();
        db.query("SELECT " + column + ", count(*) FROM webhook_inbox GROUP BY 1",
                (ResultSet r) -> { counts.put(r.getString(1), r.getInt(2)); });
        return counts;
    }

    // ------------------------------------------------------------------------------------------- the figures

    private void report(PostgresServer postgres, WebhookLoad load, Check check, Map<String, Double> seconds,
                        boolean drained) throws IOException {
        StringBuilder out = new StringBuilder();
        out.append(String.format("%nCrash suite: %d rounds, %d clients, seed %d, %d cores; %s%n", ROUNDS, CLIENTS, SEED,
                Runtime.getRuntime().availableProcessors(), postgres.version()));
        out.append(String.format("  faults          %d service kills (SIGKILL), %d PostgreSQL immediate stops,"
                        + " %d Redis restarts (empty)%n", faults.getOrDefault(Fault.KILL_SERVICE, 0),
                faults.getOrDefault(Fault.STOP_POSTGRES, 0), faults.getOrDefault(Fault.RESTART_REDIS, 0)));
        silences.forEach((fault, times) -> out.append(String.format(
                "  silence after   %-13s longest time without an acknowledgement: avg %.1f s, max %.1f s%n",
                fault, times.stream().mapToDouble(Double::doubleValue).average().orElse(0),
                times.stream().mapToDouble(Double::doubleValue).max().orElse(0))));
        out.append(String.format("  notifications   %d sent (%d events), %d acknowledged, %d needed a retry%n",
                load.sent().size(), check.events(), load.acknowledged().size(), load.notificationsRetried()));
        out.append(String.format("  deliveries      %d (%d retries after no answer or a refusal, %d of already"
                + " acknowledged ones)%n", load.deliveries(), load.retries(), load.duplicates()));
        out.append(String.format("  answers         %s%n", load.answers()));
        out.append(String.format("  start-up 404/405 %d%n", load.startUpNotFound()));
        out.append(String.format("  unexpected      %d %s%n", load.unexpectedAnswers().size(),
                load.unexpectedAnswers().stream().limit(5).toList()));
        out.append(String.format("  drain           %s; all acknowledged %.1f s and all processed %.1f s after the"
                        + " load stopped; run %.0f s%n", drained ? "complete" : "INCOMPLETE",
                seconds.get("acknowledged"), seconds.get("processed"), seconds.get("run")));
        out.append(String.format("  inbox           statuses %s, outcomes %s, %d claimed more than once%n",
                check.statuses(), check.outcomes(), check.processedAgain()));
        out.append(String.format("  events          %d (%d live, %d deleted): %d missing, %d duplicated, %d wrong,"
                        + " %d extra mappings, %d orphan records, %d created twice%n", check.events(), check.live(),
                check.events() - check.live(), check.missing().size(), check.duplicated().size(),
                check.wrongState().size(), check.extraMappings().size(), check.orphanRecords().size(),
                check.createdTwice().size()));
        out.append(String.format("  lost            %d acknowledged but not stored, %d not processed %s%n",
                check.lost().size(), check.notProcessed().size(),
                check.notProcessed().entrySet().stream().limit(5).toList()));
        System.out.print(out);
        Files.createDirectories(OUTPUT);
        Files.writeString(OUTPUT.resolve("figures.txt"), out.toString());
    }

    private static double seconds(long fromNanos, long toNanos) {
        return (toNanos - fromNanos) / 1e9;
    }
}

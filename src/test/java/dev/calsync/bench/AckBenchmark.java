package dev.calsync.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import dev.calsync.support.Signing;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Benchmark, not a test (excluded from {@code ./mvnw verify}; run with {@code ./mvnw verify -Pbenchmark}): the
 * acknowledgement rate of {@code POST /webhooks/nylas} against PostgreSQL's own single-row insert rate on the same
 * server, at the same concurrency. Prints figures; asserts only that every delivery was acknowledged and stored.
 */
@Tag("benchmark")
class AckBenchmark {

    private static final int NOTIFICATIONS = Integer.getInteger("bench.notifications", 5000);
    private static final int CONCURRENCY = Integer.getInteger("bench.concurrency", 16);
    private static final int WARM_UP = Integer.getInteger("bench.warm-up", 5000);

    @Test
    void acknowledgementRateAgainstPlainInserts() throws Exception {
        String db = EmbeddedServers.newDatabase("bench_ack");
        List<String> bodies = new ArrayList<>();
        for (int i = 0; i < NOTIFICATIONS + WARM_UP; i++) {
            bodies.add(envelope("bench-" + i, "event.updated", event("grant-b", "evt-" + (i % 500), "Event " + i, i)));
        }
        try (RunningService service = RunningService.start(db, Map.of(
                "camel.main.auto-startup-exclude-pattern", "calsync-notification-poll",
                "calsync.dedupe.redis-key-prefix", "calsync-bench:notification",
                "logging.level.root", "WARN"))) {
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            URI uri = service.webhookUrl();
            // warm-up: the JIT, connection pools and Camel's caches
            run(bodies.subList(NOTIFICATIONS, bodies.size()), body -> post(http, uri, body));

            Result acks = run(bodies.subList(0, NOTIFICATIONS), body -> post(http, uri, body));
            Result inserts = plainInserts(EmbeddedServers.postgres().getJdbcUrl("postgres", "bench_ack"), bodies);

            System.out.printf("%nAck benchmark: %d notifications, %d concurrent senders, one machine (%d cores)%n",
                    NOTIFICATIONS, CONCURRENCY, Runtime.getRuntime().availableProcessors());
            System.out.printf("  POST /webhooks/nylas    %8.0f acks/s     p50 %6.2f ms  p99 %6.2f ms%n",
                    acks.perSecond(), acks.percentile(50), acks.percentile(99));
            System.out.printf("  INSERT (autocommit)     %8.0f rows/s     p50 %6.2f ms  p99 %6.2f ms%n",
                    inserts.perSecond(), inserts.percentile(50), inserts.percentile(99));
            System.out.printf("  ack rate / insert rate  %8.2f%n%n", acks.perSecond() / inserts.perSecond());

            assertThat(acks.failures()).isZero();
            assertThat(service.jdbc().queryForObject("SELECT count(*) FROM webhook_inbox", Integer.class))
                    .isEqualTo(bodies.size());
        }
    }

    private static boolean post(HttpClient http, URI uri, String body) throws Exception {
        HttpResponse<Void> response = http.send(HttpRequest.newBuilder(uri)
                .header("Content-Type", "application/json")
                .header("X-Nylas-Signature", Signing.sign(body.getBytes(StandardCharsets.UTF_8), IntegrationTest.SECRET))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.discarding());
        return response.statusCode() == 200;
    }

    /** The same rows inserted straight into a copy of the inbox table, one autocommitted statement each. */
    private static Result plainInserts(String jdbcUrl, List<String> bodies) throws Exception {
        try (Connection c = DriverManager.getConnection(jdbcUrl, "postgres", "postgres")) {
            c.createStatement().execute("CREATE TABLE bench_inbox (LIKE webhook_inbox INCLUDING ALL)");
        }
        ThreadLocal<PreparedStatement> statements = ThreadLocal.withInitial(() -> {
            try {
                return DriverManager.getConnection(jdbcUrl, "postgres", "postgres").prepareStatement(
                        "INSERT INTO bench_inbox (notification_id, type, grant_id, object_id, event_key, payload)"
                                + " VALUES (?, 'event.updated', 'grant-b', 'evt', 'event/grant-b/evt', CAST(? AS jsonb))"
                                + " ON CONFLICT (notification_id) DO NOTHING");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        AtomicInteger n = new AtomicInteger();
        return run(bodies.subList(0, NOTIFICATIONS), body -> {
            PreparedStatement insert = statements.get();
            insert.setString(1, "plain-" + n.incrementAndGet());
            insert.setString(2, body);
            return insert.executeUpdate() == 1;
        });
    }

    interface Call {
        boolean send(String body) throws Exception;
    }

    record Result(long nanos, long[] latencies, int failures) {
        double perSecond() {
            return latencies.length / (nanos / 1e9);
        }

        double percentile(int p) {
            long[] sorted = latencies.clone();
            Arrays.sort(sorted);
            return sorted[Math.min(sorted.length - 1, sorted.length * p / 100)] / 1e6;
        }
    }

    private static Result run(List<String> bodies, Call call) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(CONCURRENCY);
        long[] latencies = new long[bodies.size()];
        AtomicInteger next = new AtomicInteger();
        AtomicInteger failures = new AtomicInteger();
        long start = System.nanoTime();
        List<Future<?>> workers = new ArrayList<>();
        for (int t = 0; t < CONCURRENCY; t++) {
            workers.add(pool.submit(() -> {
                for (int i = next.getAndIncrement(); i < bodies.size(); i = next.getAndIncrement()) {
                    long t0 = System.nanoTime();
                    try {
                        if (!call.send(bodies.get(i))) {
                            failures.incrementAndGet();
                        }
                    } catch (Exception e) {
                        failures.incrementAndGet();
                    }
                    latencies[i] = System.nanoTime() - t0;
                }
                return null;
            }));
        }
        for (Future<?> w : workers) {
            w.get();
        }
        long elapsed = System.nanoTime() - start;
        pool.shutdown();
        return new Result(elapsed, latencies, failures.get());
    }
}

package dev.calsync.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Benchmark, not a test ({@code ./mvnw verify -Pbenchmark}): reconciling a calendar of 10,000 events against the
 * simulator with 20 ms of latency per API call. Prints the time of the first run (every event imported) and of a
 * steady-state run (nothing to repair: bounded by the 50 page round trips), and the heap in use after each.
 */
@Tag("benchmark")
class ReconcileBenchmark {

    private static final int EVENTS = Integer.getInteger("bench.events", 10_000);
    private static final String GRANT = "grant-bench";

    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();

    @Test
    void reconcileTenThousandEvents() throws Exception {
        long soon = Instant.now().getEpochSecond() + 24 * 3600;
        try (NylasSimulator nylas = new NylasSimulator("bench-key");
             RunningService service = RunningService.start(EmbeddedServers.newDatabase("bench_reconcile"), Map.of(
                     "calsync.nylas.api-uri", nylas.baseUrl(), "calsync.nylas.api-key", "bench-key",
                     "calsync.dedupe.redis-key-prefix", "calsync-bench2:notification",
                     "logging.level.root", "WARN"))) {
            for (int i = 0; i < EVENTS; i++) {
                nylas.putEvent(Map.of("id", "bench-" + i, "object", "event", "grant_id", GRANT, "calendar_id",
                        "primary", "title", "Event " + i, "updated_at", 1, "status", "confirmed",
                        "when", Map.of("start_time", soon + i * 60L, "end_time", soon + i * 60L + 1800)));
            }
            nylas.faults.latencyMillis = 20;

            Duration first = run(service);
            long heapAfterFirst = usedHeap();
            Duration steady = run(service);
            long heapAfterSteady = usedHeap();

            System.out.printf("%nReconcile benchmark: %d events, 20 ms per API call, %d pages of 200%n", EVENTS,
                    (EVENTS + 199) / 200);
            System.out.printf("  first run (all imported)   %7.2f s   heap in use %4d MiB%n", first.toMillis() / 1e3,
                    heapAfterFirst >> 20);
            System.out.printf("  steady state (no repairs)  %7.2f s   heap in use %4d MiB%n%n",
                    steady.toMillis() / 1e3, heapAfterSteady >> 20);

            assertThat(service.jdbc().queryForObject("SELECT count(*) FROM app_event", Integer.class))
                    .isEqualTo(EVENTS);
        }
    }

    private Duration run(RunningService service) throws Exception {
        long started = System.nanoTime();
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + service.port() + "/admin/reconcile"))
                .header("Authorization", "Bearer " + IntegrationTest.API_TOKEN)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"grant_id\":\"" + GRANT + "\",\"calendar_id\":\"primary\"}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        String runId = json.readTree(response.body()).path("run_id").asText();
        await().atMost(Duration.ofMinutes(10)).pollInterval(Duration.ofMillis(50)).until(() -> java.util.Set.of("succeeded", "failed").contains(
                service.jdbc().queryForObject("SELECT status FROM reconcile_run WHERE run_id = ?", String.class, runId)));
        Duration took = Duration.ofNanos(System.nanoTime() - started);
        Map<String, Object> times = service.jdbc().queryForMap("""
                SELECT extract(epoch FROM started_at - queued_at) AS waited, extract(epoch FROM finished_at - started_at)
                       AS ran, started_at, finished_at FROM reconcile_run WHERE run_id = ?""", runId);
        System.out.printf("  run %s: queued to claimed %.3f s, claimed to finished %.3f s (%s to %s)%n", runId,
                ((Number) times.get("waited")).doubleValue(), ((Number) times.get("ran")).doubleValue(),
                times.get("started_at"), times.get("finished_at"));
        assertThat(service.jdbc().queryForObject("SELECT status FROM reconcile_run WHERE run_id = ?", String.class,
                runId)).isEqualTo("succeeded");
        return took;
    }

    private static long usedHeap() {
        System.gc();
        Runtime rt = Runtime.getRuntime();
        return rt.totalMemory() - rt.freeMemory();
    }
}

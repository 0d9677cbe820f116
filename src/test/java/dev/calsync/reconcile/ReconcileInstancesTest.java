package dev.calsync.reconcile;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Two instances sharing one database, both asked to reconcile the same calendar at once: one run. */
class ReconcileInstancesTest {

    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();

    @Test
    void twoInstancesAskedToReconcileTheSameCalendarMakeOneRun() throws Exception {
        String db = EmbeddedServers.newDatabase("reconcile_instances");
        try (NylasSimulator nylas = new NylasSimulator("instances-key")) {
            long soon = Instant.now().getEpochSecond() + 3600;
            for (int i = 0; i < 250; i++) {
                nylas.putEvent(Map.of("id", "e-" + i, "object", "event", "grant_id", "g", "calendar_id", "primary",
                        "title", "Event " + i, "updated_at", 1, "status", "confirmed",
                        "when", Map.of("start_time", soon, "end_time", soon + 60)));
            }
            nylas.faults.latencyMillis = 200; // two slow pages keep the run busy
            Map<String, Object> settings = Map.of("calsync.nylas.api-uri", nylas.baseUrl(),
                    "calsync.nylas.api-key", "instances-key",
                    "calsync.dedupe.redis-key-prefix", "calsync-instances:notification");
            try (RunningService a = RunningService.start(db, settings);
                 RunningService b = RunningService.start(db, settings)) {
                List<CompletableFuture<String>> requests = List.of(start(a), start(b));

                String first = json.readTree(requests.get(0).get()).path("run_id").asText();
                String second = json.readTree(requests.get(1).get()).path("run_id").asText();

                assertThat(first).isNotBlank().isEqualTo(second);
                await().atMost(Duration.ofSeconds(60)).until(() -> "succeeded".equals(a.jdbc().queryForObject(
                        "SELECT status FROM reconcile_run WHERE run_id = ?", String.class, first)));
                assertThat(a.jdbc().queryForObject("SELECT count(*) FROM reconcile_run", Integer.class)).isEqualTo(1);
                assertThat(a.jdbc().queryForObject("SELECT count(*) FROM app_event", Integer.class)).isEqualTo(250);
            }
        }
    }

    @Test
    void aWorkerThatFinishesARunClaimsTheNextWithoutWaitingForThePoll() throws Exception {
        String db = EmbeddedServers.newDatabase("reconcile_worker_claims");
        try (NylasSimulator nylas = new NylasSimulator("claims-key")) {
            // one worker, and a poll far apart: runs after the first are claimed by the worker that finished
            Map<String, Object> settings = Map.of("calsync.nylas.api-uri", nylas.baseUrl(),
                    "calsync.nylas.api-key", "claims-key", "calsync.reconcile.concurrency", "1",
                    "calsync.reconcile.poll-delay-millis", "600000",
                    "calsync.dedupe.redis-key-prefix", "calsync-claims:notification");
            try (RunningService service = RunningService.start(db, settings)) {
                ReconcileRuns runs = service.bean(ReconcileRuns.class);
                List<String> ids = new java.util.ArrayList<>();
                for (String grant : List.of("g-1", "g-2", "g-3", "g-4")) {
                    ids.add((String) runs.queue(grant, "primary", false, "api", "newest-wins", "delete").get("run_id"));
                }
                // one claim, as a poll makes it (the next poll is ten minutes away)
                service.bean(org.apache.camel.CamelContext.class).createProducerTemplate()
                        .sendBody("direct:calsync-reconcile-claim", null);

                await().atMost(Duration.ofSeconds(60)).until(() -> service.jdbc().queryForObject(
                        "SELECT count(*) FROM reconcile_run WHERE status = 'succeeded' AND run_id = ANY(?)",
                        Integer.class, (Object) ids.toArray(String[]::new)) == 4);
            }
        }
    }

    private CompletableFuture<String> start(RunningService service) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.port()
                                + "/admin/reconcile"))
                        .header("Authorization", "Bearer " + IntegrationTest.API_TOKEN)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"grant_id\":\"g\",\"calendar_id\":\"primary\"}"))
                        .build(), HttpResponse.BodyHandlers.ofString()).body();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }
}

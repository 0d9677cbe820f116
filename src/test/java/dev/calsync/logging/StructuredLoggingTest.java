package dev.calsync.logging;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.logging.LoggingInitializationContext;
import org.springframework.boot.logging.LoggingSystem;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.core.env.StandardEnvironment;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * With {@code logging.structured.format.console=ecs} every log line is one JSON object, and a line written while a
 * notification or a reconciliation run is processed carries calsync's ids as fields of their own
 * ({@code calsync.notification_id}, {@code calsync.grant_id}, {@code calsync.event_id}, {@code calsync.record_id},
 * {@code calsync.run_id}); no secret appears in any line.
 */
@ExtendWith(OutputCaptureExtension.class)
class StructuredLoggingTest {

    private static final String NYLAS_KEY = "structured-logging-nylas-key";
    private static final String ADMIN_TOKEN = "structured-logging-admin-token";
    private static final String GRANT = "grant-logs";
    private static final ObjectMapper JSON = new ObjectMapper();

    private static NylasSimulator nylas;
    private static RunningService service;
    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void startTheServiceWithJsonLogging() {
        nylas = new NylasSimulator(NYLAS_KEY);
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("logging.structured.format.console", "ecs");
        // the log lines of the processing this test looks for (DEBUG: each notification and run has one)
        p.put("logging.level.calsync-inbound-event-upsert", "DEBUG");
        p.put("logging.level.calsync-reconcile-run", "DEBUG");
        p.put("calsync.nylas.api-uri", nylas.baseUrl());
        p.put("calsync.nylas.api-key", NYLAS_KEY);
        p.put("calsync.api.admin-token", ADMIN_TOKEN);
        p.put("calsync.dedupe.redis-key-prefix", "calsync-logs:notification");
        p.put("calsync.reconcile.interval-millis", String.valueOf(30L * 24 * 3600 * 1000));
        p.put("calsync.reconcile.poll-delay-millis", "100");
        service = RunningService.start(EmbeddedServers.newDatabase("structured_logging"), p);
    }

    @AfterAll
    static void stop() {
        if (service != null) {
            service.close();
        }
        nylas.close();
        // the service set this JVM's logging to JSON: later tests log as plain text again
        LoggingSystem logging = LoggingSystem.get(StructuredLoggingTest.class.getClassLoader());
        logging.cleanUp();
        logging.beforeInitialize();
        logging.initialize(new LoggingInitializationContext(new StandardEnvironment()), null, null);
    }

    @Test
    void aNotificationsLogLinesCarryItsIdsAsFieldsAndNoSecret(CapturedOutput output) throws Exception {
        Map<String, Object> standup = event(GRANT, "evt-logs-1", "Standup", 100);
        String created = newId();
        assertThat(service.deliver(envelope(created, "event.created", standup)).statusCode()).isEqualTo(200);
        awaitProcessed(created);
        String recordId = service.jdbc().queryForObject(
                "SELECT internal_id FROM event_sync_map WHERE grant_id = ? AND nylas_event_id = ?", String.class,
                GRANT, "evt-logs-1");

        // the same event again: nothing to write, which the upsert route logs
        String repeated = newId();
        assertThat(service.deliver(envelope(repeated, "event.updated", standup)).statusCode()).isEqualTo(200);
        awaitProcessed(repeated);

        JsonNode line = await().atMost(Duration.ofSeconds(10)).until(
                () -> jsonLines(output).stream().filter(l -> message(l).contains("nothing to write")
                        && repeated.equals(field(l, "calsync.notification_id"))).findFirst().orElse(null),
                l -> l != null);
        assertThat(field(line, "calsync.grant_id")).isEqualTo(GRANT);
        assertThat(field(line, "calsync.event_id")).isEqualTo("evt-logs-1");
        assertThat(field(line, "calsync.record_id")).isEqualTo(recordId);
        assertNoSecretIn(output);
    }

    @Test
    void aReconciliationRunsLogLinesCarryItsRunId(CapturedOutput output) throws Exception {
        nylas.userCreates(GRANT, "primary", Map.of("title", "Dentist",
                "when", Map.of("start_time", 1_790_100_000L, "end_time", 1_790_103_600L)));
        HttpResponse<String> started = http.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + service.port() + "/admin/reconcile"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(
                        Map.of("grant_id", GRANT, "calendar_id", "primary")))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(started.statusCode()).as(started.body()).isEqualTo(202);
        String runId = JSON.readTree(started.body()).path("run_id").asText();

        JsonNode line = await().atMost(Duration.ofSeconds(30)).until(
                () -> jsonLines(output).stream().filter(l -> message(l).startsWith("Reconcile run " + runId))
                        .findFirst().orElse(null),
                l -> l != null);
        assertThat(field(line, "calsync.run_id")).isEqualTo(runId);
        assertThat(field(line, "calsync.grant_id")).isEqualTo(GRANT);
        assertNoSecretIn(output);
    }

    private void awaitProcessed(String notificationId) {
        await().atMost(Duration.ofSeconds(20)).until(() -> "processed".equals(service.jdbc().query(
                "SELECT status FROM webhook_inbox WHERE notification_id = ?",
                rs -> rs.next() ? rs.getString(1) : null, notificationId)));
    }

    private static void assertNoSecretIn(CapturedOutput output) {
        for (String secret : Set.of(IntegrationTest.SECRET, IntegrationTest.API_TOKEN, ADMIN_TOKEN, NYLAS_KEY)) {
            assertThat(output.getAll()).as("a secret in the log").doesNotContain(secret);
        }
    }

    /** Every line of the captured output; each must be one JSON object. */
    private static List<JsonNode> jsonLines(CapturedOutput output) throws Exception {
        List<JsonNode> lines = new ArrayList<>();
        for (String line : output.getOut().split("\\R")) {
            if (line.startsWith("{")) {
                lines.add(JSON.readTree(line));
            }
        }
        return lines;
    }

    private static String message(JsonNode line) {
        return line.path("message").asText();
    }

    /** A field by its dotted name: as a key of its own, or nested as ECS nests it. */
    private static String field(JsonNode line, String name) {
        if (line.has(name)) {
            return line.get(name).asText();
        }
        JsonNode node = line;
        for (String part : name.split("\\.")) {
            node = node.path(part);
        }
        return node.isMissingNode() ? null : node.asText();
    }
}

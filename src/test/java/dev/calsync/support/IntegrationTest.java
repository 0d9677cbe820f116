package dev.calsync.support;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.calsync.CalsyncApplication;
import dev.calsync.simulator.NylasSimulator;
import org.apache.camel.CamelContext;
import org.apache.camel.test.spring.junit5.CamelSpringBootTest;
import org.junit.jupiter.api.BeforeEach;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.autoconfigure.actuate.observability.AutoConfigureObservability;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalManagementPort;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.data.redis.core.StringRedisTemplate;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import static org.awaitility.Awaitility.await;

/**
 * The whole service on a random port against real embedded PostgreSQL and Redis, with the Nylas API played by the
 * in-process simulator. Every test starts from empty tables and no dedupe keys.
 */
@CamelSpringBootTest
@AutoConfigureObservability
@SpringBootTest(classes = CalsyncApplication.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
public abstract class IntegrationTest {

    public static final String SECRET = "test-webhook-secret";
    public static final String ROTATED_SECRET = "test-webhook-secret-next";
    public static final String API_TOKEN = "test-api-token";
    public static final String ADMIN_TOKEN = "test-admin-token";
    public static final String NYLAS_API_KEY = "test-nylas-key";

    /** One simulator per JVM, shared by every test of the shared service. */
    protected static final NylasSimulator NYLAS = SharedSimulator.INSTANCE;
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();
    protected static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @LocalServerPort
    protected int port;
    /** The actuator's own port (management.server.port). */
    @LocalManagementPort
    protected int managementPort;
    @Autowired
    protected JdbcTemplate jdbc;
    @Autowired
    protected StringRedisTemplate redis;
    @Autowired
    protected CamelContext camel;
    @Autowired
    protected dev.calsync.webhook.WebhookListener webhookListener;
    @Autowired
    protected dev.calsync.nylas.GrantCircuits grantCircuits;

    @DynamicPropertySource
    static void servers(DynamicPropertyRegistry registry) {
        EmbeddedServers.springProperties().forEach((k, v) -> registry.add(k, () -> v));
        registry.add("calsync.webhook.secrets", () -> SECRET + "," + ROTATED_SECRET);
        registry.add("calsync.webhook.listener.port", () -> "0");
        registry.add("management.server.port", () -> "0");
        // servers of the tests listen on loopback only
        registry.add("server.address", () -> "127.0.0.1");
        registry.add("management.server.address", () -> "127.0.0.1");
        registry.add("calsync.webhook.listener.bind-address", () -> "127.0.0.1");
        registry.add("calsync.api.token", () -> API_TOKEN);
        registry.add("calsync.api.admin-token", () -> ADMIN_TOKEN);
        registry.add("calsync.nylas.api-key", () -> NYLAS_API_KEY);
        registry.add("calsync.nylas.api-uri", NYLAS::baseUrl);
        registry.add("calsync.inbound.poll-delay-millis", () -> "50");
        registry.add("calsync.inbound.initial-backoff", () -> "100ms");
        registry.add("calsync.inbound.max-backoff", () -> "200ms");
        registry.add("calsync.inbound.max-attempts", () -> "3");
        registry.add("calsync.dedupe.redis-retry-after", () -> "1s");
        // no calendar's slot comes during the suite: tests that need one move it (ReconcileTest)
        registry.add("calsync.reconcile.interval-millis", () -> String.valueOf(30L * 24 * 3600 * 1000));
        registry.add("calsync.reconcile.poll-delay-millis", () -> "100");
        registry.add("calsync.push.poll-delay-millis", () -> "50");
        registry.add("calsync.push.max-redeliveries", () -> "3");
        registry.add("calsync.push.redelivery-delay-millis", () -> "50");
        registry.add("calsync.push.max-redelivery-delay-millis", () -> "2000");
        registry.add("calsync.push.circuit-open-wait", () -> "1s");
        registry.add("calsync.nylas.response-timeout-millis", () -> "1000");
        // Nylas' own time-out is about 90 s; the simulator's slow calls take at most a few seconds
        registry.add("calsync.push.create-settle-time", () -> "3s");
        // the backlog gauges' snapshot: fresh within a tenth of a second, so assertions on them wait briefly
        registry.add("calsync.metrics.refresh-interval", () -> "100ms");
    }

    private static final class SharedSimulator {
        static final NylasSimulator INSTANCE = new NylasSimulator(NYLAS_API_KEY);
    }

    @BeforeEach
    void startEmpty() {
        // deliveries still under way from the previous test would land in this one
        await().atMost(Duration.ofSeconds(30)).until(NYLAS::webhooksQuiet);
        NYLAS.deliverWebhooksTo(SECRET); // none until this test's state is clean
        // the service's pollers keep reading these tables: a TRUNCATE that meets one of them in a deadlock tries again
        await().atMost(Duration.ofSeconds(30)).ignoreException(org.springframework.dao.PessimisticLockingFailureException.class)
                .until(() -> {
                    jdbc.execute("TRUNCATE webhook_inbox, event_sync_map, grant_sync_state, app_event, reconcile_run,"
                            + " sync_conflict, reconcile_calendar");
                    return true;
                });
        Set<String> keys = redis.keys("calsync:*");
        if (keys != null && !keys.isEmpty()) {
            redis.delete(keys);
        }
        NYLAS.reset();
        // a grant whose calls failed in the previous test starts this one with a closed circuit
        grantCircuits.reset();
        // every change on the simulated calendar comes back to this service as a signed webhook
        NYLAS.deliverWebhooksTo(SECRET, webhookUrl("").toString());
        NYLAS.webhookRetryDelay(java.time.Duration.ofMillis(50), 3);
    }

    protected URI url(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    /** An actuator path ({@code /actuator/...}) on the management port. */
    protected URI managementUrl(String path) {
        return URI.create("http://127.0.0.1:" + managementPort + path);
    }

    /** GETs an actuator path on the management port, with this bearer token or none. */
    protected HttpResponse<String> managementGet(String path, String token) {
        HttpRequest.Builder request = HttpRequest.newBuilder(managementUrl(path)).GET();
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        return send(request.build());
    }

    /** The webhook, on its own listener: {@code query} is empty or starts with {@code ?}. */
    protected URI webhookUrl(String query) {
        return URI.create("http://127.0.0.1:" + webhookListener.port() + "/webhooks/nylas" + query);
    }

    /** POSTs a notification signed with the current secret. */
    protected HttpResponse<String> deliver(String body) {
        return deliver(body, Signing.sign(body.getBytes(StandardCharsets.UTF_8), SECRET));
    }

    protected HttpResponse<String> deliver(String body, String signature) {
        HttpRequest.Builder request = HttpRequest.newBuilder(webhookUrl(""))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (signature != null) {
            request.header("X-Nylas-Signature", signature);
        }
        return send(request.build());
    }

    protected HttpResponse<String> send(HttpRequest request) {
        try {
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** PUTs a body as JSON with the application token. */
    protected HttpResponse<String> apiPut(String path, Object body) {
        try {
            return send(HttpRequest.newBuilder(url(path))
                    .header("Authorization", "Bearer " + API_TOKEN).header("Content-Type", "application/json")
                    .PUT(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    protected HttpResponse<String> apiGet(String path, String token) {
        HttpRequest.Builder request = HttpRequest.newBuilder(url(path)).GET();
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        return send(request.build());
    }

    protected int count(String sql, Object... args) {
        Integer n = jdbc.queryForObject(sql, Integer.class, args);
        return n == null ? 0 : n;
    }

    protected Map<String, Object> notificationRow(String id) {
        List<Map<String, Object>> rows = jdbc.queryForList("SELECT * FROM webhook_inbox WHERE notification_id = ?",
                id);
        return rows.isEmpty() ? null : rows.get(0);
    }

    /** Waits until every stored notification has left the received/processing states. */
    protected void awaitQuiet() {
        await().atMost(Duration.ofSeconds(20)).until(() ->
                count("SELECT count(*) FROM webhook_inbox WHERE status IN ('received', 'processing')") == 0);
    }

    /** Delivers a signed notification of this type about this object and waits until it is processed. */
    protected String deliverAndWait(String type, Map<String, Object> object) {
        String id = Notifications.newId();
        org.assertj.core.api.Assertions.assertThat(deliver(Notifications.envelope(id, type, object)).statusCode())
                .isEqualTo(200);
        awaitStatus(id, "processed");
        return id;
    }

    /** What processing recorded for a notification. */
    protected String outcome(String notificationId) {
        return (String) notificationRow(notificationId).get("outcome");
    }

    protected void awaitStatus(String notificationId, String status) {
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            Map<String, Object> row = notificationRow(notificationId);
            return row != null && status.equals(row.get("status"));
        });
    }

    protected Map<String, Object> localRecordByEvent(String grantId, String eventId) {
        List<Map<String, Object>> rows = jdbc.queryForList("""
                SELECT e.* FROM app_event e JOIN event_sync_map m ON m.internal_id = e.id
                 WHERE m.grant_id = ? AND m.nylas_event_id = ?""", grantId, eventId);
        return rows.isEmpty() ? null : rows.get(0);
    }
}

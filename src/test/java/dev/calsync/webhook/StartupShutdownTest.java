package dev.calsync.webhook;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import dev.calsync.support.Signing;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * While the service starts and while it stops, the webhook and the API answer only with statuses a caller retries
 * (503, or no connection at all): never 404 or 405, which Nylas does not retry, so a notification sent then would be
 * lost until the next reconciliation.
 */
class StartupShutdownTest {

    private static final Set<Integer> RETRIED_OR_DONE = Set.of(200, 503);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(500)).build();

    @Test
    void webhookAndApiAnswerOnlyRetryableStatusesWhileTheServiceStartsAndStops() throws Exception {
        String db = EmbeddedServers.newDatabase("startup_shutdown");
        int port = EmbeddedServers.freePort();
        int listenerPort = EmbeddedServers.freePort();
        Map<Integer, Integer> webhookStatuses = new ConcurrentHashMap<>();
        Map<Integer, Integer> listenerStatuses = new ConcurrentHashMap<>();
        Map<Integer, Integer> apiStatuses = new ConcurrentHashMap<>();
        ConcurrentLinkedQueue<String> acknowledged = new ConcurrentLinkedQueue<>();
        AtomicBoolean running = new AtomicBoolean(true);
        Thread webhookLoad = new Thread(() -> {
            while (running.get()) {
                String id = newId();
                int status = post(port, envelope(id, "event.created", event("grant-1", "evt-" + id, "Early", 100)));
                if (status > 0) {
                    webhookStatuses.merge(status, 1, Integer::sum);
                }
                if (status == 200) {
                    acknowledged.add(id);
                }
            }
        });
        Thread listenerLoad = new Thread(() -> {
            while (running.get()) {
                String id = newId();
                int status = post(listenerPort, envelope(id, "event.created", event("grant-1", "evt-" + id, "Early", 100)));
                if (status > 0) {
                    listenerStatuses.merge(status, 1, Integer::sum);
                }
                if (status == 200) {
                    acknowledged.add(id);
                }
            }
        });
        Thread apiLoad = new Thread(() -> {
            while (running.get()) {
                int status = get(port, "/api/v1/events");
                if (status > 0) {
                    apiStatuses.merge(status, 1, Integer::sum);
                }
            }
        });
        webhookLoad.start();
        listenerLoad.start();
        apiLoad.start();
        try {
            try (RunningService service = RunningService.start(db, Map.of("server.port", port,
                    "calsync.webhook.listener.port", listenerPort))) {
                await().atMost(Duration.ofSeconds(20)).until(() -> webhookStatuses.containsKey(200)
                        && listenerStatuses.containsKey(200) && apiStatuses.containsKey(200));
                int before = acknowledged.size();
                await().atMost(Duration.ofSeconds(20)).until(() -> acknowledged.size() > before + 20);
                // every acknowledged notification was stored before its 200
                List<String> ids = List.copyOf(acknowledged);
                Integer stored = service.jdbc().queryForObject(
                        "SELECT count(*) FROM webhook_inbox WHERE notification_id = ANY (?)", Integer.class,
                        (Object) ids.toArray(String[]::new));
                assertThat(stored).isEqualTo(ids.size());
            }
        } finally {
            running.set(false);
            webhookLoad.join();
            listenerLoad.join();
            apiLoad.join();
        }
        // every notification acknowledged while the service stopped was stored too
        List<String> ids = List.copyOf(acknowledged);
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(db, "postgres", "postgres");
             java.sql.PreparedStatement st = c.prepareStatement(
                     "SELECT count(*) FROM webhook_inbox WHERE notification_id = ANY (?)")) {
            st.setArray(1, c.createArrayOf("text", ids.toArray()));
            try (java.sql.ResultSet rs = st.executeQuery()) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(ids.size());
            }
        }

        assertThat(webhookStatuses.keySet()).as("webhook statuses during start-up and shutdown: %s", webhookStatuses)
                .isSubsetOf(RETRIED_OR_DONE);
        assertThat(listenerStatuses.keySet())
                .as("webhook listener statuses during start-up and shutdown: %s", listenerStatuses)
                .isSubsetOf(RETRIED_OR_DONE);
        assertThat(apiStatuses.keySet()).as("API statuses during start-up and shutdown: %s", apiStatuses)
                .isSubsetOf(RETRIED_OR_DONE);
    }

    /** The status, or 0 when no connection could be made (Nylas retries that too). */
    private int post(int port, String body) {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/webhooks/nylas"))
                .timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/json")
                .header("X-Nylas-Signature", Signing.sign(body.getBytes(StandardCharsets.UTF_8), IntegrationTest.SECRET))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        return send(request);
    }

    private int get(int port, String path) {
        return send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(10))
                .header("Authorization", "Bearer " + IntegrationTest.API_TOKEN).GET().build());
    }

    private int send(HttpRequest request) {
        try {
            return http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (java.io.IOException e) {
            pause();
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        }
    }

    /** A refused connection returns at once; wait a moment before the next try, as a real sender would. */
    private static void pause() {
        try {
            Thread.sleep(5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

package dev.calsync.webhook;

import java.io.IOException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RawHttp;
import dev.calsync.support.RunningService;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The application's HTTP port ({@code server.port}) under slow and large bodies: the webhook kept there and the APIs
 * read a body whole within {@code calsync.http.body-read-timeout} (408, connection closed), within the port's bounds
 * on bodies being read (503 past {@code max-body-reads-per-address}), the API's body at most
 * {@code calsync.api.max-body-size} (413), and bodies still arriving take none of the room of notifications being
 * stored.
 */
class ServerPortLimitsTest {

    private static RunningService service;
    private static int port;
    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void start() {
        service = RunningService.start(EmbeddedServers.newDatabase("server_port_limits"), Map.of(
                "calsync.http.body-read-timeout", "1500ms",
                "calsync.http.max-body-reads-per-address", "4",
                "calsync.webhook.max-in-flight", "2",
                "calsync.api.max-body-size", "10KB"));
        port = service.port();
    }

    @AfterAll
    static void stop() {
        service.close();
    }

    @Test
    void anApiBodyOverItsLimitIsRefused413() throws Exception {
        String body = "{\"grant_id\":\"grant-1\",\"title\":\"" + "x".repeat(20_000) + "\"}";

        HttpResponse<String> response = http.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + port + "/api/v1/events/big-1"))
                .header("Authorization", "Bearer " + IntegrationTest.API_TOKEN)
                .header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());

        assertThat(response.statusCode()).isEqualTo(413);
        assertThat(response.body()).contains("payload_too_large");
    }

    @Test
    void aTrickledApiBodyIsAnswered408AndItsConnectionClosed() throws IOException {
        try (Socket slow = slowly("PUT", "/api/v1/events/slow-1", 5_000, "127.0.0.1")) {
            trickle(slow, 2_500);

            assertThat(readAll(slow, 10_000)).startsWith("HTTP/1.1 408").contains("request_timeout");
        }
    }

    @Test
    void aTrickledWebhookBodyIsAnswered408AndItsConnectionClosed() throws IOException {
        try (Socket slow = slowly("POST", "/webhooks/nylas", 5_000, "127.0.0.1")) {
            trickle(slow, 2_500);

            assertThat(readAll(slow, 10_000)).startsWith("HTTP/1.1 408").contains("request_timeout");
        }
    }

    @Test
    void aStalledBodyIsCutOffByTheReadTimeout() throws IOException {
        // nothing more after the first bytes: the blocked read ends at server.tomcat.connection-timeout (5 s)
        try (Socket stalled = slowly("POST", "/webhooks/nylas", 5_000, "127.0.0.1")) {
            assertThat(readAll(stalled, 15_000)).startsWith("HTTP/1.1 408");
        }
    }

    /** Sends a byte every 200 ms for {@code millis}, as a slow sender does (stops quietly once the server closes). */
    private static void trickle(Socket socket, long millis) {
        long until = System.nanoTime() + millis * 1_000_000;
        try {
            while (System.nanoTime() < until) {
                socket.getOutputStream().write(' ');
                socket.getOutputStream().flush();
                Thread.sleep(200);
            }
        } catch (IOException e) {
            // closed by the server
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void slowSendersTakeNoneOfTheRoomOfNotificationsBeingStored() throws Exception {
        // three bodies arriving slowly, more than calsync.webhook.max-in-flight (2)
        List<Socket> slow = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                slow.add(slowly("POST", "/webhooks/nylas", 5_000, "127.0.0.1"));
            }

            assertThat(postSigned("127.0.0.1")).startsWith("HTTP/1.1 200");
        } finally {
            for (Socket s : slow) {
                s.close();
            }
        }
    }

    @Test
    void aSenderPastItsAddressLimitIsTurnedAwayWhileOtherAddressesAreServed() throws Exception {
        List<Socket> slow = new ArrayList<>();
        try {
            for (int i = 0; i < 4; i++) {
                slow.add(slowly("POST", "/webhooks/nylas", 5_000, "127.0.0.1"));
            }
            awaitReading(slow);

            try (Socket fifth = slowly("POST", "/webhooks/nylas", 5_000, "127.0.0.1")) {
                // answered at once; Tomcat closes the connection when its read of the body never sent times out
                // (server.tomcat.connection-timeout, 5 s)
                assertThat(readAll(fifth, 15_000)).startsWith("HTTP/1.1 503").contains("Retry-After");
            }
            assertThat(postSigned("127.0.0.2")).startsWith("HTTP/1.1 200");
        } finally {
            for (Socket s : slow) {
                s.close();
            }
        }
    }

    /** The slow requests have reached the guard: their bodies are being read. */
    private static void awaitReading(List<Socket> slow) {
        dev.calsync.http.BodyReads reads = service.bean(dev.calsync.http.BodyReads.class);
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                .until(() -> reads.reading() >= slow.size());
    }

    /** A request that announces {@code length} bytes and sends ten of them. */
    private static Socket slowly(String method, String path, int length, String from) throws IOException {
        return RawHttp.slowly(URI.create("http://127.0.0.1:" + port), method, path, length, from);
    }

    private static String postSigned(String from) throws IOException {
        String id = newId();
        return RawHttp.postSigned(URI.create("http://127.0.0.1:" + port),
                envelope(id, "event.created", event("grant-1", "evt-" + id, "Standup", 100)), from);
    }

    private static String readAll(Socket socket, int timeoutMillis) throws IOException {
        return RawHttp.readAll(socket, timeoutMillis);
    }
}

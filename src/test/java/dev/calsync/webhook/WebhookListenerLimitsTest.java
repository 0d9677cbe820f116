package dev.calsync.webhook;

import java.io.IOException;
import java.net.Socket;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import dev.calsync.support.EmbeddedServers;
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
 * The webhook listener's own limits: a body must arrive whole within {@code calsync.http.body-read-timeout}, bodies
 * still arriving take none of the room of notifications being stored ({@code calsync.webhook.max-in-flight}), idle
 * connections are closed after {@code idle-timeout}, and at {@code max-connections} the longest-idle connection makes
 * room for a new one. Small limits here, so each shows within a second or two.
 */
class WebhookListenerLimitsTest {

    private static RunningService service;
    private static URI webhook;

    @BeforeAll
    static void start() {
        service = RunningService.start(EmbeddedServers.newDatabase("listener_limits"), Map.of(
                "calsync.http.body-read-timeout", "2s",
                "calsync.webhook.max-in-flight", "2",
                "calsync.webhook.listener.idle-timeout", "3s",
                "calsync.webhook.listener.max-connections", "12",
                "calsync.http.max-large-body-reads", "2",
                "calsync.http.max-body-reads-per-address", "6"));
        webhook = service.webhookUrl();
    }

    @AfterAll
    static void stop() {
        service.close();
    }

    @Test
    void aBodyTrickledSlowerThanTheDeadlineIsAnswered408AndItsConnectionClosed() throws Exception {
        try (Socket slow = slowSender(100_000)) {
            // the sender goes on trickling (so the idle time-out never comes): only the listener's close ends it
            Thread trickle = new Thread(() -> {
                try {
                    for (int i = 0; i < 50; i++) {
                        slow.getOutputStream().write(' ');
                        slow.getOutputStream().flush();
                        Thread.sleep(200);
                    }
                } catch (IOException | InterruptedException e) {
                    // closed by the listener
                }
            });
            trickle.start();

            String answer = readAll(slow, 6_000);

            assertThat(answer).startsWith("HTTP/1.1 408").contains("request_timeout");
            trickle.join();
        }
    }

    @Test
    void slowSendersTakeNoneOfTheRoomOfNotificationsBeingStored() throws IOException {
        // five bodies arriving slowly, more than calsync.webhook.max-in-flight (2)
        List<Socket> slow = new ArrayList<>();
        try {
            for (int i = 0; i < 5; i++) {
                slow.add(slowSender(10_000));
            }

            String id = newId();
            int status = service.deliver(envelope(id, "event.created", event("grant-1", "evt-" + id, "Standup", 100)))
                    .statusCode();

            assertThat(status).isEqualTo(200);
            assertThat(service.jdbc().queryForObject("SELECT count(*) FROM webhook_inbox WHERE notification_id = ?",
                    Integer.class, id)).isEqualTo(1);
        } finally {
            for (Socket s : slow) {
                s.close();
            }
        }
    }

    @Test
    void aSenderPastItsAddressLimitIsTurnedAwayWhileOtherAddressesAreServed() throws IOException {
        List<Socket> slow = new ArrayList<>();
        try {
            for (int i = 0; i < 6; i++) {
                slow.add(slowSender(10_000));
            }

            try (Socket seventh = slowSender(10_000)) {
                assertThat(readAll(seventh, 5_000)).startsWith("HTTP/1.1 503").contains("Retry-After");
            }
            String id = newId();
            String answer = postOnANewConnection(envelope(id, "event.created",
                    event("grant-1", "evt-" + id, "Standup", 100)), "127.0.0.2");
            assertThat(answer).startsWith("HTTP/1.1 200");
        } finally {
            for (Socket s : slow) {
                s.close();
            }
        }
    }

    @Test
    void largeBodiesPastTheirBoundAreTurnedAwayWhileSmallOnesAreServed() throws IOException {
        List<Socket> large = new ArrayList<>();
        try {
            large.add(slowSender(1_000_000));
            large.add(slowSender(1_000_000));

            try (Socket third = slowSender(1_000_000)) {
                assertThat(readAll(third, 5_000)).startsWith("HTTP/1.1 503");
            }
            String id = newId();
            int status = service.deliver(envelope(id, "event.created", event("grant-1", "evt-" + id, "Standup", 100)))
                    .statusCode();
            assertThat(status).isEqualTo(200);
        } finally {
            for (Socket s : large) {
                s.close();
            }
        }
    }

    @Test
    void anIdleConnectionIsClosedAfterTheIdleTimeout() throws IOException {
        try (Socket idle = connect()) {
            long opened = System.nanoTime();

            assertThat(readAll(idle, 10_000)).isEmpty(); // closed by the listener, nothing sent
            assertThat((System.nanoTime() - opened) / 1_000_000).isGreaterThanOrEqualTo(2_500);
        }
    }

    @Test
    void idleConnectionsUpToTheLimitCannotShutOutADelivery() throws IOException {
        List<Socket> idle = new ArrayList<>();
        try {
            for (int i = 0; i < 12; i++) {
                idle.add(connect());
            }
            awaitOpenConnections(12);

            String id = newId();
            String answer = postOnANewConnection(envelope(id, "event.created", event("grant-1", "evt-" + id, "Standup", 100)));

            assertThat(answer).startsWith("HTTP/1.1 200");
            // the longest-idle connection made room: the first one opened is closed
            assertThat(readAll(idle.get(0), 1_000)).isEmpty();
        } finally {
            for (Socket s : idle) {
                s.close();
            }
        }
    }

    private static void awaitOpenConnections(int count) {
        WebhookListener listener = service.bean(WebhookListener.class);
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                .until(() -> listener.openConnections() >= count);
    }

    private static String postOnANewConnection(String body) throws IOException {
        return postOnANewConnection(body, "127.0.0.1");
    }

    /** A signed POST on a connection of its own, from the given loopback address. */
    private static String postOnANewConnection(String body, String from) throws IOException {
        return RawHttp.postSigned(webhook, body, from);
    }

    /** A POST that announces {@code length} bytes and sends ten of them. */
    private static Socket slowSender(int length) throws IOException {
        return RawHttp.slowly(webhook, "POST", "/webhooks/nylas", length, "127.0.0.1");
    }

    private static Socket connect() throws IOException {
        return new Socket(webhook.getHost(), webhook.getPort());
    }

    private static String readAll(Socket socket, int timeoutMillis) throws IOException {
        return RawHttp.readAll(socket, timeoutMillis);
    }
}

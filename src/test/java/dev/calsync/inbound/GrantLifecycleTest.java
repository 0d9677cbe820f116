package dev.calsync.inbound;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import dev.calsync.support.IntegrationTest;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Grant notifications change a grant's state in the order Nylas sent them (their signed {@code time}), whatever
 * order they arrive in; a paused grant is visible and an admin can resume it.
 */
class GrantLifecycleTest extends IntegrationTest {

    private static final String GRANT = "grant-late";

    private String deliverAndWait(String type, Map<String, Object> object, long time) {
        String id = newId();
        assertThat(deliver(envelope(id, type, object, time)).statusCode()).isEqualTo(200);
        awaitStatus(id, "processed");
        return id;
    }

    private String state() {
        return jdbc.queryForObject("SELECT state FROM grant_sync_state WHERE grant_id = ?", String.class, GRANT);
    }

    @Test
    void expirySentBeforeTheReauthenticationButDeliveredAfterItChangesNothing() {
        long t = Instant.now().getEpochSecond();
        deliverAndWait("grant.updated", Map.of("grant_id", GRANT, "reauthentication_flag", true), t);

        String late = deliverAndWait("grant.expired", Map.of("grant_id", GRANT), t - 600);

        assertThat(notificationRow(late)).containsEntry("outcome", "stale");
        assertThat(state()).isEqualTo("active");
        String created = newId();
        deliver(envelope(created, "event.created", event(GRANT, "evt-1", "Still syncing", 100)));
        awaitStatus(created, "processed");
        assertThat(localRecordByEvent(GRANT, "evt-1")).containsEntry("title", "Still syncing");
    }

    @Test
    void reauthenticationSentBeforeTheExpiryButDeliveredAfterItChangesNothing() {
        long t = Instant.now().getEpochSecond();
        deliverAndWait("grant.expired", Map.of("grant_id", GRANT), t);

        String late = deliverAndWait("grant.updated", Map.of("grant_id", GRANT, "reauthentication_flag", true),
                t - 600);

        assertThat(notificationRow(late)).containsEntry("outcome", "stale");
        assertThat(state()).isEqualTo("paused");
    }

    @Test
    void expiryAndReauthenticationWithinOneSecondLeaveTheGrantActiveInEitherOrder() {
        long t = Instant.now().getEpochSecond();
        deliverAndWait("grant.updated", Map.of("grant_id", GRANT, "reauthentication_flag", true), t);
        deliverAndWait("grant.expired", Map.of("grant_id", GRANT), t);
        assertThat(state()).isEqualTo("active");

        deliverAndWait("grant.expired", Map.of("grant_id", GRANT), t + 1);
        deliverAndWait("grant.updated", Map.of("grant_id", GRANT, "reauthentication_flag", true), t + 1);
        assertThat(state()).isEqualTo("active");
    }

    @Test
    void pausedGrantIsListedCountedAndResumedByAnAdmin() {
        deliverAndWait("grant.expired", Map.of("grant_id", GRANT), Instant.now().getEpochSecond());
        String held = newId();
        deliver(envelope(held, "event.created", event(GRANT, "evt-1", "Held", 100)));

        HttpResponse<String> listed = apiGet("/admin/grants?state=paused", ADMIN_TOKEN);
        assertThat(listed.statusCode()).isEqualTo(200);
        assertThat(listed.body()).contains("\"grant_id\":\"" + GRANT + "\"").contains("\"reason\":\"grant.expired\"");
        // the gauge shows a snapshot at most calsync.metrics.refresh-interval old
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(managementGet("/actuator/prometheus", null)
                .body()).containsPattern("(?m)^calsync_paused_grants 1\\.0$"));

        HttpResponse<String> resumed = send(HttpRequest.newBuilder(url("/admin/grants/" + GRANT + "/resume"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).POST(HttpRequest.BodyPublishers.noBody()).build());

        assertThat(resumed.statusCode()).isEqualTo(200);
        assertThat(resumed.body()).contains("\"state\":\"active\"");
        assertThat(state()).isEqualTo("active");
        awaitStatus(held, "processed");
        assertThat(localRecordByEvent(GRANT, "evt-1")).containsEntry("title", "Held");
        // the gauge shows a snapshot at most calsync.metrics.refresh-interval old
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(managementGet("/actuator/prometheus", null)
                .body()).containsPattern("(?m)^calsync_paused_grants 0\\.0$"));
    }

    @Test
    void resumingAGrantThatIsNotPausedIsNotFound() {
        HttpResponse<String> response = send(HttpRequest.newBuilder(url("/admin/grants/unknown/resume"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).POST(HttpRequest.BodyPublishers.noBody()).build());

        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(response.body()).contains("\"error\":\"not_found\"");
    }
}

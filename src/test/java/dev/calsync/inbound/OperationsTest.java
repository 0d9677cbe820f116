package dev.calsync.inbound;

import java.util.Map;

import dev.calsync.inbox.NotificationInbox;
import dev.calsync.support.IntegrationTest;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;

/** What an operator sees and what housekeeping does. */
class OperationsTest extends IntegrationTest {

    @Autowired
    NotificationInbox inbox;

    @Test
    void metricsCountStoredAndDuplicateDeliveriesAndProcessingOutcomes() {
        String id = newId();
        String body = envelope(id, "event.created", event("grant-m", "evt-m", "Metrics", 100));
        deliver(body);
        awaitStatus(id, "processed");
        deliver(body);

        String metrics = managementGet("/actuator/prometheus", null).body();

        assertThat(metrics).containsPattern("calsync_webhook_notifications_total\\{[^}]*result=\"stored\"[^}]*} [1-9]");
        assertThat(metrics).containsPattern(
                "calsync_webhook_notifications_total\\{[^}]*result=\"duplicate\"[^}]*} [1-9]");
        assertThat(metrics).containsPattern(
                "calsync_notifications_processed_total\\{[^}]*outcome=\"created\"[^}]*} [1-9]");
    }

    @Test
    void purgeDropsOnlyProcessedNotificationsOlderThanTheRetention() {
        String old = newId();
        String recent = newId();
        String deadAndOld = newId();
        for (String id : new String[] {old, recent, deadAndOld}) {
            jdbc.update("INSERT INTO webhook_inbox (notification_id, type, payload, status) VALUES (?, 'x', '{}', ?)",
                    id, id.equals(deadAndOld) ? "dead" : "processed");
        }
        jdbc.update("UPDATE webhook_inbox SET received_at = now() - interval '3 days' WHERE notification_id IN (?, ?)",
                old, deadAndOld);

        int purged = inbox.purge();

        assertThat(purged).isEqualTo(1);
        assertThat(jdbc.queryForList("SELECT notification_id FROM webhook_inbox", String.class))
                .containsExactlyInAnyOrder(recent, deadAndOld);
    }

    @Test
    void deadLetterListRefusesAnUnknownStatus() {
        var response = apiGet("/admin/notifications?status=bogus", ADMIN_TOKEN);

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("invalid_status");
    }
}

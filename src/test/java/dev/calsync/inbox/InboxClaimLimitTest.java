package dev.calsync.inbox;

import java.util.List;
import java.util.Map;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RescanPlans;
import org.apache.camel.support.DefaultExchange;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.transaction.PlatformTransactionManager;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A claim of the inbox takes at most {@code calsync.inbound.batch-size} notifications, whatever plan the database
 * chooses for it: also one that reads the choice of rows again for every row it updates ({@link RescanPlans}).
 */
class InboxClaimLimitTest extends IntegrationTest {

    @Autowired
    NotificationInbox inbox;
    @Autowired
    CalsyncProperties properties;
    @Autowired
    PlatformTransactionManager transactions;

    /** The service's own poller would claim the rows these specifications claim by hand. */
    @BeforeEach
    void stopThePoller() throws Exception {
        camel.getRouteController().stopRoute("calsync-notification-poll");
    }

    @AfterEach
    void startThePoller() throws Exception {
        camel.getRouteController().startRoute("calsync-notification-poll");
    }

    private List<Map<String, Object>> claim() {
        return RescanPlans.withNestedLoopsOnly(transactions, jdbc, () -> inbox.claim(new DefaultExchange(camel)));
    }

    @Test
    void expiredLeasesAreReclaimedNoMoreThanABatchAtATime() {
        int batch = properties.inbound().batchSize();
        // Given more notifications whose processing lease ran out than one batch
        jdbc.update("""
                INSERT INTO webhook_inbox (notification_id, type, grant_id, event_key, payload, status, attempts,
                                           lease_until, claim_token)
                SELECT 'expired-' || n, 'event.updated', 'grant-limit', 'grant-limit/evt-' || n, '{}', 'processing', 1,
                       now() - make_interval(secs => 1000 - n), 'gone-instance:' || n
                  FROM generate_series(1, ?) n""", batch * 3);

        // When one claim runs
        List<Map<String, Object>> claimed = claim();

        // Then it took one batch, the oldest leases, and no other row changed
        assertThat(claimed).hasSize(batch);
        assertThat(count("SELECT count(*) FROM webhook_inbox WHERE claim_token LIKE 'gone-instance:%'"))
                .isEqualTo(batch * 2);
        assertThat(claimed).extracting(row -> row.get("notification_id"))
                .containsExactlyInAnyOrderElementsOf(java.util.stream.IntStream.rangeClosed(1, batch)
                        .mapToObj(n -> "expired-" + n).toList());
    }

    @Test
    void dueNotificationsAreClaimedNoMoreThanABatchAtATime() {
        int batch = properties.inbound().batchSize();
        // Given many more due notifications than one claim reads, each of its own event
        jdbc.update("""
                INSERT INTO webhook_inbox (notification_id, type, grant_id, event_key, payload, next_attempt_at)
                SELECT 'due-' || n, 'event.updated', 'grant-limit', 'grant-limit/evt-' || n, '{}',
                       now() - make_interval(secs => 1000 - n)
                  FROM generate_series(1, ?) n""", batch * 10);

        // When one claim runs
        List<Map<String, Object>> claimed = claim();

        // Then it took one batch, and only those rows are processing
        assertThat(claimed).hasSize(batch);
        assertThat(count("SELECT count(*) FROM webhook_inbox WHERE status = 'processing'")).isEqualTo(batch);
    }
}

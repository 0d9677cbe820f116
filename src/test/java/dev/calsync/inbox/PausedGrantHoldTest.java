package dev.calsync.inbox;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import dev.calsync.grants.GrantStates;
import dev.calsync.support.IntegrationTest;
import org.apache.camel.support.DefaultExchange;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The event notifications of a paused grant wait for its resume without holding up anyone else's: the claim that
 * meets one of them holds every due one of that grant at once, and keeps them held until the grant resumes.
 */
class PausedGrantHoldTest extends IntegrationTest {

    private static final int PAUSED_BACKLOG = 2_000;

    @Autowired
    NotificationInbox inbox;
    @Autowired
    GrantStates grants;

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
        return inbox.claim(new DefaultExchange(camel));
    }

    private void givenAPausedGrantWithABacklogAndAnotherGrantsNewNotification() {
        jdbc.update("INSERT INTO grant_sync_state (grant_id, state, reason, notified_at) VALUES"
                + " ('grant-on-hold', 'paused', 'grant.expired', now())");
        // the paused grant's notifications arrived first: each is older than the other grant's
        jdbc.update("""
                INSERT INTO webhook_inbox (notification_id, type, grant_id, event_key, payload, next_attempt_at)
                SELECT 'held-' || n, 'event.updated', 'grant-on-hold', 'grant-on-hold/evt-' || n, '{}',
                       now() - make_interval(secs => 10000 - n)
                  FROM generate_series(1, ?) n""", PAUSED_BACKLOG);
        jdbc.update("""
                INSERT INTO webhook_inbox (notification_id, type, grant_id, event_key, payload, next_attempt_at)
                VALUES ('active-1', 'event.created', 'grant-active', 'grant-active/evt-1', '{}', now())""");
    }

    @Test
    void aPausedGrantsBacklogDoesNotHoldUpAnotherGrantsNotification() {
        givenAPausedGrantWithABacklogAndAnotherGrantsNewNotification();

        // When the inbox is claimed twice
        List<Object> claimed = new ArrayList<>();
        claim().forEach(row -> claimed.add(row.get("notification_id")));
        claim().forEach(row -> claimed.add(row.get("notification_id")));

        // Then the other grant's notification is taken, and none of the paused grant's
        assertThat(claimed).containsExactly("active-1");
        // and every one of the paused grant's notifications is held, none still due
        assertThat(count("SELECT count(*) FROM webhook_inbox WHERE grant_id = 'grant-on-hold'"
                + " AND status = 'received' AND next_attempt_at <= now()")).isZero();
    }

    @Test
    void heldNotificationsStayHeldLongerThanAFewPollsAndAreDueAtOnceWhenTheGrantResumes() {
        givenAPausedGrantWithABacklogAndAnotherGrantsNewNotification();
        claim();

        // the hold is long (the resume, not the clock, ends it): a paused grant's backlog is not rewritten every minute
        assertThat(count("SELECT count(*) FROM webhook_inbox WHERE grant_id = 'grant-on-hold'"
                + " AND next_attempt_at < now() + interval '5 minutes'")).isZero();

        assertThat(grants.resumeByAdmin("grant-on-hold")).isTrue();

        assertThat(count("SELECT count(*) FROM webhook_inbox WHERE grant_id = 'grant-on-hold'"
                + " AND status = 'received' AND next_attempt_at <= now()")).isEqualTo(PAUSED_BACKLOG);
    }
}

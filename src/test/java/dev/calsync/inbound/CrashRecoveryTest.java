package dev.calsync.inbound;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import dev.calsync.inbox.NotificationInbox;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.RunningService;
import org.apache.camel.CamelContext;
import org.apache.camel.Exchange;
import org.apache.camel.support.DefaultExchange;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** An acknowledged notification is never lost, whatever happens to the process that acknowledged it. */
class CrashRecoveryTest {

    private static final Map<String, Object> POLLER_OFF = Map.of(
            "camel.main.auto-startup-exclude-pattern", "calsync-notification-poll",
            "calsync.dedupe.redis-key-prefix", "calsync-crash:notification");

    @Test
    void notificationAcknowledgedBeforeTheServiceStoppedIsProcessedAfterRestart() {
        String db = EmbeddedServers.newDatabase("crash_restart");
        String id = newId();
        try (RunningService first = RunningService.start(db, POLLER_OFF)) {
            assertThat(first.deliver(envelope(id, "event.created", event("grant-1", "evt-1", "Survives", 100)))
                    .statusCode()).isEqualTo(200);
            assertThat(status(first, id)).isEqualTo("received");
        }

        try (RunningService second = RunningService.start(db,
                Map.of("calsync.dedupe.redis-key-prefix", "calsync-crash:notification"))) {
            await().atMost(Duration.ofSeconds(20)).until(() -> "processed".equals(status(second, id)));
            assertThat(second.jdbc().queryForObject("SELECT title FROM app_event", String.class)).isEqualTo("Survives");
        }
    }

    @Test
    void notificationWhoseWorkerDiedIsClaimedAgainWhenItsLeaseRunsOut() {
        String db = EmbeddedServers.newDatabase("crash_lease");
        try (RunningService service = RunningService.start(db, POLLER_OFF)) {
            String id = newId();
            service.deliver(envelope(id, "event.created", event("grant-1", "evt-1", "Orphan", 100)));
            // what a worker killed mid-processing leaves: claimed, lease still running
            service.jdbc().update("UPDATE webhook_inbox SET status = 'processing', attempts = 1,"
                    + " lease_until = now() + interval '1 hour' WHERE notification_id = ?", id);
            NotificationInbox inbox = service.bean(NotificationInbox.class);
            assertThat(claim(service, inbox)).isEmpty();

            service.jdbc().update("UPDATE webhook_inbox SET lease_until = now() - interval '1 second'");

            List<Map<String, Object>> claimed = claim(service, inbox);
            assertThat(claimed).extracting(r -> r.get("notification_id")).containsExactly(id);
            assertThat(claimed.get(0).get("attempts")).isEqualTo(2);
        }
    }

    @Test
    void onlyOneNotificationOfAnEventIsClaimedAtATime() {
        String db = EmbeddedServers.newDatabase("crash_claim");
        try (RunningService service = RunningService.start(db, POLLER_OFF)) {
            String a1 = newId();
            String a2 = newId();
            String b1 = newId();
            service.deliver(envelope(a1, "event.created", event("grant-1", "evt-a", "A", 100)));
            service.deliver(envelope(a2, "event.updated", event("grant-1", "evt-a", "A2", 200)));
            service.deliver(envelope(b1, "event.created", event("grant-1", "evt-b", "B", 100)));
            NotificationInbox inbox = service.bean(NotificationInbox.class);

            List<Map<String, Object>> first = claim(service, inbox);
            List<Map<String, Object>> whileBusy = claim(service, inbox);

            assertThat(first).extracting(r -> r.get("notification_id")).containsExactlyInAnyOrder(a1, b1);
            assertThat(whileBusy).isEmpty();
            service.jdbc().update("UPDATE webhook_inbox SET status = 'processed' WHERE notification_id = ?", a1);
            assertThat(claim(service, inbox)).extracting(r -> r.get("notification_id")).containsExactly(a2);
        }
    }

    @Test
    void workerThatLostItsClaimCannotRecordAnOutcome() {
        String db = EmbeddedServers.newDatabase("crash_fence");
        try (RunningService service = RunningService.start(db, POLLER_OFF)) {
            String id = newId();
            service.deliver(envelope(id, "event.created", event("grant-1", "evt-1", "Fenced", 100)));
            NotificationInbox inbox = service.bean(NotificationInbox.class);
            String slowWorker = (String) claim(service, inbox).get(0).get("claim_token");
            service.jdbc().update("UPDATE webhook_inbox SET lease_until = now() - interval '1 second'");
            String nextWorker = (String) claim(service, inbox).get(0).get("claim_token");

            inbox.complete(id, slowWorker, "created");
            assertThat(inbox.start(id, slowWorker)).isFalse();

            assertThat(status(service, id)).isEqualTo("processing");
            assertThat(inbox.start(id, nextWorker)).isTrue();
            inbox.complete(id, nextWorker, "created");
            assertThat(status(service, id)).isEqualTo("processed");
        }
    }

    @Test
    void leaseStartsWhenProcessingStartsNotWhenTheBatchWasClaimed() {
        String db = EmbeddedServers.newDatabase("crash_lease_start");
        try (RunningService service = RunningService.start(db, POLLER_OFF)) {
            String id = newId();
            service.deliver(envelope(id, "event.created", event("grant-1", "evt-1", "Queued", 100)));
            NotificationInbox inbox = service.bean(NotificationInbox.class);
            String token = (String) claim(service, inbox).get(0).get("claim_token");
            // it waited in the workers' queue until its lease had almost run out
            service.jdbc().update("UPDATE webhook_inbox SET lease_until = now() + interval '1 second'");

            assertThat(inbox.start(id, token)).isTrue();

            assertThat(service.jdbc().queryForObject("SELECT lease_until > now() + interval '60 seconds'"
                    + " FROM webhook_inbox", Boolean.class)).isTrue();
        }
    }

    @Test
    void notificationThatKeepsKillingItsWorkerEndsAsADeadLetter() {
        String db = EmbeddedServers.newDatabase("crash_poison");
        try (RunningService service = RunningService.start(db, Map.of(
                "camel.main.auto-startup-exclude-pattern", "calsync-notification-poll",
                "calsync.dedupe.redis-key-prefix", "calsync-crash:notification",
                "calsync.inbound.max-attempts", "3"))) {
            String id = newId();
            service.deliver(envelope(id, "event.created", event("grant-1", "evt-1", "Poison", 100)));
            NotificationInbox inbox = service.bean(NotificationInbox.class);
            // three workers took it and died (or hung) without recording anything
            service.jdbc().update("UPDATE webhook_inbox SET status = 'processing', attempts = 3,"
                    + " lease_until = now() - interval '1 second' WHERE notification_id = ?", id);

            assertThat(claim(service, inbox)).isEmpty();

            assertThat(status(service, id)).isEqualTo("dead");
            assertThat(service.jdbc().queryForObject("SELECT last_error FROM webhook_inbox", String.class))
                    .contains("lease expired");
        }
    }

    @Test
    void concurrentClaimsNeverHoldTwoNotificationsOfOneEvent() throws Exception {
        String db = EmbeddedServers.newDatabase("crash_concurrent_claims");
        try (RunningService service = RunningService.start(db, POLLER_OFF)) {
            int events = 6;
            int perEvent = 10;
            for (int i = 0; i < events * perEvent; i++) {
                service.deliver(envelope(newId(), "event.updated",
                        event("grant-1", "evt-" + (i % events), "v" + i, 100 + i)));
            }
            NotificationInbox inbox = service.bean(NotificationInbox.class);
            java.util.Set<String> busy = java.util.concurrent.ConcurrentHashMap.newKeySet();
            java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();
            java.util.concurrent.atomic.AtomicInteger overlaps = new java.util.concurrent.atomic.AtomicInteger();
            Runnable worker = () -> {
                while (done.get() < events * perEvent) {
                    for (Map<String, Object> row : claim(service, inbox)) {
                        String key = String.valueOf(row.get("notification_id"));
                        String eventKey = service.jdbc().queryForObject(
                                "SELECT event_key FROM webhook_inbox WHERE notification_id = ?", String.class, key);
                        if (!busy.add(eventKey)) {
                            overlaps.incrementAndGet(); // another worker holds a notification of this event
                        }
                        pretendToWork();
                        busy.remove(eventKey);
                        inbox.complete(key, (String) row.get("claim_token"), "done");
                        done.incrementAndGet();
                    }
                }
            };
            List<java.util.concurrent.CompletableFuture<Void>> workers = new java.util.ArrayList<>();
            for (int w = 0; w < 4; w++) {
                workers.add(java.util.concurrent.CompletableFuture.runAsync(worker));
            }
            java.util.concurrent.CompletableFuture.allOf(workers.toArray(java.util.concurrent.CompletableFuture[]::new))
                    .get(60, java.util.concurrent.TimeUnit.SECONDS);

            assertThat(overlaps.get()).isZero();
            assertThat(service.jdbc().queryForObject("SELECT count(*) FROM webhook_inbox WHERE status = 'processed'",
                    Integer.class)).isEqualTo(events * perEvent);
        }
    }

    @Test
    void notificationsOfAPausedGrantAreHeldNotReadOnEveryClaimAndDueWhenItResumes() {
        String db = EmbeddedServers.newDatabase("crash_held");
        try (RunningService service = RunningService.start(db, POLLER_OFF)) {
            service.jdbc().update("INSERT INTO grant_sync_state (grant_id, state, reason) VALUES ('grant-p', 'paused', 'grant.expired')");
            for (int i = 0; i < 5; i++) {
                service.deliver(envelope(newId(), "event.created", event("grant-p", "evt-" + i, "Held", 100)));
            }
            String other = newId();
            service.deliver(envelope(other, "event.created", event("grant-1", "evt-x", "Free", 100)));
            NotificationInbox inbox = service.bean(NotificationInbox.class);

            assertThat(claim(service, inbox)).extracting(r -> r.get("notification_id")).containsExactly(other);
            assertThat(service.jdbc().queryForObject("SELECT count(*) FROM webhook_inbox WHERE grant_id = 'grant-p'"
                    + " AND next_attempt_at > now()", Integer.class)).isEqualTo(5);
            assertThat(claim(service, inbox)).isEmpty();

            service.bean(dev.calsync.grants.GrantStates.class).resumeByAdmin("grant-p");

            assertThat(claim(service, inbox)).hasSize(5);
        }
    }

    /** The time a worker holds its notification: the window in which a second claim of its event would show. */
    private static void pretendToWork() {
        try {
            Thread.sleep(3);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static List<Map<String, Object>> claim(RunningService service, NotificationInbox inbox) {
        Exchange exchange = new DefaultExchange(service.bean(CamelContext.class));
        return inbox.claim(exchange);
    }

    private static String status(RunningService service, String id) {
        return service.jdbc().queryForObject("SELECT status FROM webhook_inbox WHERE notification_id = ?",
                String.class, id);
    }
}

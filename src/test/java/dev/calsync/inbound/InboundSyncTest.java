package dev.calsync.inbound;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

import dev.calsync.support.IntegrationTest;
import dev.calsync.support.Notifications;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.springframework.beans.factory.annotation.Autowired;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;

/** Calendar -> application: what each event notification, in any order and any number of copies, leaves behind. */
class InboundSyncTest extends IntegrationTest {

    private static final String GRANT = "grant-1";

    @Autowired
    EventCanonicalizer canonicalizer;

    private int localRecords() {
        return count("SELECT count(*) FROM app_event");
    }

    @Test
    void eventCreatedOnTheCalendarBecomesOneLocalRecord() {
        String id = deliverAndWait("event.created", event(GRANT, "evt-1", "Standup", 100));

        assertThat(outcome(id)).isEqualTo("created");
        Map<String, Object> record = localRecordByEvent(GRANT, "evt-1");
        assertThat(record).containsEntry("title", "Standup").containsEntry("grant_id", GRANT)
                .containsEntry("calendar_id", "primary");
        assertThat(jdbc.queryForMap("SELECT source, sync_state, remote_updated_at FROM event_sync_map"))
                .containsEntry("source", "calendar").containsEntry("sync_state", "synced")
                .containsEntry("remote_updated_at", 100L);
    }

    @Test
    void eventUpdatedOnTheCalendarUpdatesTheSameRecord() {
        deliverAndWait("event.created", event(GRANT, "evt-1", "Standup", 100));

        String id = deliverAndWait("event.updated", event(GRANT, "evt-1", "Standup (moved)", 200));

        assertThat(outcome(id)).isEqualTo("updated");
        assertThat(localRecords()).isEqualTo(1);
        assertThat(localRecordByEvent(GRANT, "evt-1")).containsEntry("title", "Standup (moved)");
    }

    @Test
    void transformedTypeIsRoutedLikeThePlainOne() {
        String id = deliverAndWait("event.updated.transformed", event(GRANT, "evt-1", "Standup", 100));

        assertThat(outcome(id)).isEqualTo("created");
        assertThat(localRecords()).isEqualTo(1);
    }

    @Test
    void sameNotificationDeliveredThreeTimesAtOnceGivesOneStoredNotificationAndOneRecord() throws Exception {
        String id = newId();
        String body = envelope(id, "event.created", event(GRANT, "evt-1", "Standup", 100));
        CountDownLatch start = new CountDownLatch(1);
        List<CompletableFuture<Integer>> deliveries = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            deliveries.add(CompletableFuture.supplyAsync(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return deliver(body).statusCode();
            }));
        }
        start.countDown();

        for (CompletableFuture<Integer> delivery : deliveries) {
            assertThat(delivery.get()).isEqualTo(200);
        }
        awaitQuiet();
        assertThat(count("SELECT count(*) FROM webhook_inbox")).isEqualTo(1);
        assertThat(count("SELECT count(*) FROM event_sync_map")).isEqualTo(1);
        assertThat(localRecords()).isEqualTo(1);
    }

    @Test
    void retryOfAStoredNotificationIsAcknowledgedWithoutAnotherRow() {
        String id = newId();
        String body = envelope(id, "event.created", event(GRANT, "evt-1", "Standup", 100));
        deliver(body);
        awaitStatus(id, "processed");

        assertThat(deliver(body).statusCode()).isEqualTo(200);
        assertThat(count("SELECT count(*) FROM webhook_inbox")).isEqualTo(1);
        assertThat(localRecords()).isEqualTo(1);
    }

    @Test
    void sameChangeInASecondNotificationWritesNothing() {
        deliverAndWait("event.created", event(GRANT, "evt-1", "Standup", 100));
        Object updatedAt = localRecordByEvent(GRANT, "evt-1").get("updated_at");

        String id = deliverAndWait("event.updated", event(GRANT, "evt-1", "Standup", 101));

        assertThat(outcome(id)).isEqualTo("unchanged");
        assertThat(localRecordByEvent(GRANT, "evt-1").get("updated_at")).isEqualTo(updatedAt);
    }

    @Test
    void echoOfAnEventWeWroteChangesNothingEvenWhenTheProviderRewroteIt() {
        Map<String, Object> ours = event(GRANT, "evt-ours", "Planning", 100);
        ours.put("participants", List.of(Map.of("email", "ada@example.com"), Map.of("email", "bob@example.com")));
        ours.put("metadata", Map.of("key1", "rec-42"));
        jdbc.update("INSERT INTO app_event (id, grant_id, calendar_id, title) VALUES ('rec-42', ?, 'primary', 'Planning')",
                GRANT);
        jdbc.update("""
                INSERT INTO event_sync_map (internal_id, nylas_event_id, grant_id, calendar_id, content_hash, source,
                                            sync_state) VALUES ('rec-42', 'evt-ours', ?, 'primary', ?, 'app', 'synced')""",
                GRANT, canonicalizer.hash(ours));
        Map<String, Object> echo = new LinkedHashMap<>(ours);
        echo.put("participants", List.of(Map.of("email", "Bob@EXAMPLE.com", "status", "yes"),
                Map.of("email", "ada@example.com", "status", "noreply")));
        echo.put("when", Map.of("start_time", 1_790_000_000L, "end_time", 1_790_003_600L,
                "start_timezone", "Europe/Paris", "end_timezone", "Europe/Paris"));
        echo.put("updated_at", 150L);

        String id = deliverAndWait("event.updated", echo);

        assertThat(outcome(id)).isEqualTo("unchanged");
        assertThat(localRecords()).isEqualTo(1);
        assertThat(count("SELECT count(*) FROM event_sync_map")).isEqualTo(1);
        assertThat(jdbc.queryForObject("SELECT title FROM app_event WHERE id = 'rec-42'", String.class))
                .isEqualTo("Planning");
    }

    @Test
    void eventCarryingOurRecordIdIsRelinkedToThatRecordInsteadOfDuplicated() {
        jdbc.update("INSERT INTO app_event (id, grant_id, calendar_id, title) VALUES ('rec-7', ?, 'primary', 'Old')",
                GRANT);
        Map<String, Object> event = event(GRANT, "evt-7", "Review", 100);
        event.put("metadata", Map.of("key1", "rec-7"));

        String id = deliverAndWait("event.created", event);

        assertThat(outcome(id)).isEqualTo("relinked");
        assertThat(localRecords()).isEqualTo(1);
        assertThat(localRecordByEvent(GRANT, "evt-7")).containsEntry("id", "rec-7").containsEntry("title", "Review");
    }

    @Test
    void copyOfOurEventCarryingOurRecordIdBecomesANewRecordAndLeavesTheOriginalAlone() {
        Map<String, Object> original = event(GRANT, "evt-5", "Original", 100);
        original.put("metadata", Map.of("key1", "rec-5"));
        deliverAndWait("event.created", original);
        Map<String, Object> copy = event(GRANT, "evt-6", "Copy", 100);
        copy.put("metadata", Map.of("key1", "rec-5"));

        String id = deliverAndWait("event.created", copy);

        assertThat(outcome(id)).isEqualTo("created");
        assertThat(localRecords()).isEqualTo(2);
        assertThat(localRecordByEvent(GRANT, "evt-5")).containsEntry("id", "rec-5").containsEntry("title", "Original");
        assertThat(localRecordByEvent(GRANT, "evt-6").get("id")).isNotEqualTo("rec-5");
    }

    @Test
    void updateOlderThanWhatWasAppliedIsIgnored() {
        deliverAndWait("event.updated", event(GRANT, "evt-1", "Newest", 200));

        String id = deliverAndWait("event.updated", event(GRANT, "evt-1", "Older", 150));

        assertThat(outcome(id)).isEqualTo("stale");
        assertThat(localRecordByEvent(GRANT, "evt-1")).containsEntry("title", "Newest");
    }

    @Test
    void updatedBeforeCreatedCreatesOnceAndTheLateCreatedChangesNothing() {
        deliverAndWait("event.updated", event(GRANT, "evt-1", "Updated", 200));

        String id = deliverAndWait("event.created", event(GRANT, "evt-1", "Created", 100));

        assertThat(outcome(id)).isEqualTo("stale");
        assertThat(localRecords()).isEqualTo(1);
        assertThat(localRecordByEvent(GRANT, "evt-1")).containsEntry("title", "Updated");
    }

    static List<List<String>> orders() {
        return List.of(
                List.of("event.created", "event.updated", "event.deleted"),
                List.of("event.created", "event.deleted", "event.updated"),
                List.of("event.updated", "event.created", "event.deleted"),
                List.of("event.updated", "event.deleted", "event.created"),
                List.of("event.deleted", "event.created", "event.updated"),
                List.of("event.deleted", "event.updated", "event.created"),
                List.of("event.created", "event.updated"),
                List.of("event.updated", "event.created"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("orders")
    void everyDeliveryOrderEndsInTheSameState(List<String> order) {
        for (String type : order) {
            Map<String, Object> object = switch (type) {
                case "event.created" -> event(GRANT, "evt-1", "Created", 100);
                case "event.updated" -> event(GRANT, "evt-1", "Updated", 200);
                default -> Notifications.deletedEvent(GRANT, "evt-1");
            };
            deliverAndWait(type, object);
        }

        List<Map<String, Object>> mappings = jdbc.queryForList("SELECT * FROM event_sync_map");
        assertThat(mappings).hasSize(1);
        if (order.contains("event.deleted")) {
            assertThat(localRecords()).isZero();
            assertThat(mappings.get(0)).containsEntry("sync_state", "deleted");
        } else {
            assertThat(localRecords()).isEqualTo(1);
            assertThat(localRecordByEvent(GRANT, "evt-1")).containsEntry("title", "Updated");
        }
    }

    @Test
    void deleteRemovesTheLocalRecordAndARepeatIsHarmless() {
        deliverAndWait("event.created", event(GRANT, "evt-1", "Standup", 100));

        String first = deliverAndWait("event.deleted", Notifications.deletedEvent(GRANT, "evt-1"));
        String second = deliverAndWait("event.deleted", Notifications.deletedEvent(GRANT, "evt-1"));

        assertThat(outcome(first)).isEqualTo("deleted");
        assertThat(outcome(second)).isEqualTo("already-deleted");
        assertThat(localRecords()).isZero();
    }

    @Test
    void truncatedNotificationIsCompletedFromTheNylasApi() {
        Map<String, Object> full = event(GRANT, "evt/with spaces+plus", "Full title from the API", 300);
        NYLAS.putEvent(full);
        Map<String, Object> stub = Notifications.deletedEvent(GRANT, "evt/with spaces+plus");

        String id = deliverAndWait("event.updated.truncated", stub);

        assertThat(outcome(id)).isEqualTo("created");
        assertThat(localRecordByEvent(GRANT, "evt/with spaces+plus")).containsEntry("title", "Full title from the API");
        assertThat(NYLAS.calls("GET 200")).isEqualTo(1);
    }

    @Test
    void truncatedNotificationOfAnEventThatIsGoneLeavesATombstone() {
        String id = deliverAndWait("event.created.truncated", Notifications.deletedEvent(GRANT, "evt-gone"));

        assertThat(outcome(id)).isEqualTo("tombstoned");
        assertThat(localRecords()).isZero();
        assertThat(jdbc.queryForObject("SELECT sync_state FROM event_sync_map WHERE nylas_event_id = 'evt-gone'",
                String.class)).isEqualTo("deleted");
    }

    @Test
    void failingNotificationIsRetriedThenKeptAsADeadLetterAndCanBeReplayed() {
        NYLAS.putEvent(event(GRANT, "evt-1", "Eventually", 300));
        NYLAS.failNext(500, 500, 500);
        String id = newId();
        deliver(envelope(id, "event.updated.truncated", Notifications.deletedEvent(GRANT, "evt-1")));

        awaitStatus(id, "dead");
        Map<String, Object> dead = notificationRow(id);
        assertThat(dead.get("attempts")).isEqualTo(3);
        assertThat((String) dead.get("last_error")).contains("Nylas API answered 500");
        assertThat(apiGet("/admin/notifications?status=dead", ADMIN_TOKEN).body()).contains(id);

        var replay = send(java.net.http.HttpRequest.newBuilder(url("/admin/notifications/" + id + "/replay"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN)
                .POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build());

        assertThat(replay.statusCode()).isEqualTo(202);
        awaitStatus(id, "processed");
        assertThat(localRecordByEvent(GRANT, "evt-1")).containsEntry("title", "Eventually");
    }

    @Test
    void expiredGrantPausesItsEventsUntilItIsReauthenticated() {
        String expired = deliverAndWait("grant.expired", Map.of("grant_id", GRANT));
        String held = newId();
        deliver(envelope(held, "event.created", event(GRANT, "evt-1", "Held", 100)));
        String other = deliverAndWait("event.created", event("grant-2", "evt-2", "Other grant", 100));

        assertThat(outcome(expired)).isEqualTo("paused");
        assertThat(outcome(other)).isEqualTo("created");
        assertThat(notificationRow(held)).containsEntry("status", "received");

        String resumed = deliverAndWait("grant.updated", Map.of("grant_id", GRANT, "reauthentication_flag", true));

        assertThat(outcome(resumed)).isEqualTo("resumed");
        awaitStatus(held, "processed");
        assertThat(localRecordByEvent(GRANT, "evt-1")).containsEntry("title", "Held");
    }

    @Test
    void notificationTypesWeDoNotHandleAreRecordedAndIgnored() {
        String id = deliverAndWait("message.created", Map.of("id", "msg-1", "grant_id", GRANT));

        assertThat(outcome(id)).isEqualTo("ignored");
        assertThat(localRecords()).isZero();
    }
}

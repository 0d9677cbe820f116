package dev.calsync.inbound;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.CalsyncHeaders;
import dev.calsync.CalsyncVariables;
import dev.calsync.support.IntegrationTest;
import org.apache.camel.Exchange;
import org.apache.camel.ProducerTemplate;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

import static dev.calsync.support.Notifications.deletedEvent;
import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The promises at the edges of timing and input: same-second edits, records deleted while a write was planned,
 * application changes compared with what is stored, and the Nylas calls' parameters.
 */
class SyncEdgesTest extends IntegrationTest {

    private static final String GRANT = "grant-edge";
    private final ObjectMapper json = new ObjectMapper();

    @Autowired
    ProducerTemplate producer;

    private HttpResponse<String> put(String id, Map<String, Object> body) {
        return apiPut("/api/v1/events/" + id, body);
    }

    private HttpResponse<String> delete(String id) {
        return send(HttpRequest.newBuilder(url("/api/v1/events/" + id))
                .header("Authorization", "Bearer " + API_TOKEN).DELETE().build());
    }

    private static Map<String, Object> body(String title, String zone) {
        Map<String, Object> b = new LinkedHashMap<>();
        b.put("grant_id", GRANT);
        b.put("calendar_id", "primary");
        b.put("title", title);
        b.put("when", Map.of("start_time", 1_790_000_000L, "end_time", 1_790_003_600L,
                "start_timezone", zone, "end_timezone", zone));
        b.put("participants", List.of(Map.of("email", "ada@example.com", "name", "Ada")));
        return b;
    }

    private Map<String, Object> mapping(String id) {
        return jdbc.queryForMap("SELECT * FROM event_sync_map WHERE internal_id = ?", id);
    }

    private void awaitSynced(String id) {
        await().atMost(Duration.ofSeconds(30)).until(() -> "synced".equals(mapping(id).get("sync_state")));
    }

    // ------------------------------------------------------------------------------------ same-second edits

    @Test
    void editsWithinOneSecondDeliveredNewestFirstEndOnTheNewestVersion() {
        deliverAndWait("event.created", event(GRANT, "evt-1", "v0", 100));
        NYLAS.putEvent(event(GRANT, "evt-1", "v3", 200)); // what the calendar holds now

        deliverAndWait("event.updated", event(GRANT, "evt-1", "v3", 200));
        String second = deliverAndWait("event.updated", event(GRANT, "evt-1", "v2", 200));
        String first = deliverAndWait("event.updated", event(GRANT, "evt-1", "v1", 200));

        assertThat(localRecordByEvent(GRANT, "evt-1")).containsEntry("title", "v3");
        assertThat(outcome(second)).isEqualTo("unchanged");
        assertThat(outcome(first)).isEqualTo("unchanged");
        assertThat(NYLAS.requests()).filteredOn(r -> r.startsWith("GET /v3/grants/" + GRANT + "/events/evt-1"))
                .hasSize(2);
    }

    @Test
    void editsWithinOneSecondDeliveredOldestFirstEndOnTheNewestVersion() {
        deliverAndWait("event.created", event(GRANT, "evt-1", "v0", 100));
        NYLAS.putEvent(event(GRANT, "evt-1", "v3", 200));

        deliverAndWait("event.updated", event(GRANT, "evt-1", "v1", 200));
        deliverAndWait("event.updated", event(GRANT, "evt-1", "v2", 200));
        String last = deliverAndWait("event.updated", event(GRANT, "evt-1", "v3", 200));

        assertThat(localRecordByEvent(GRANT, "evt-1")).containsEntry("title", "v3");
        assertThat(outcome(last)).isIn("updated", "unchanged");
        // the tie of v2 with v1 was settled by asking Nylas, not by the order of arrival
        assertThat(NYLAS.requests()).anyMatch(r -> r.startsWith("GET /v3/grants/" + GRANT + "/events/evt-1"));
    }

    @Test
    void sameSecondEditOfAnEventDeletedMeanwhileDeletesTheRecord() {
        deliverAndWait("event.created", event(GRANT, "evt-1", "v0", 100));
        NYLAS.putEvent(event(GRANT, "evt-1", "v1", 100));
        NYLAS.deliverWebhooksTo(SECRET); // the delete's webhook is late
        NYLAS.userDeletes(GRANT, "evt-1");

        String tie = deliverAndWait("event.updated", event(GRANT, "evt-1", "v1", 100));

        assertThat(outcome(tie)).isEqualTo("deleted");
        assertThat(count("SELECT count(*) FROM app_event")).isZero();
    }

    // --------------------------------------------------------------------------- deleted records stay deleted

    @Test
    void localWriteAfterTheRecordWasDeletedBringsNothingBack() {
        deliverAndWait("event.created", event(GRANT, "evt-1", "Planned", 100));
        String recordId = (String) localRecordByEvent(GRANT, "evt-1").get("id");
        Map<String, Object> planned = new LinkedHashMap<>(event(GRANT, "evt-1", "Written late", 200));
        planned.put("id", recordId);
        assertThat(delete(recordId).statusCode()).isEqualTo(202);

        // the write planned before the delete arrives after it, and again after the calendar delete was pushed
        producer.sendBodyAndHeader("direct:calsync-local-upsert", planned, CalsyncHeaders.RECORD_ID, recordId);
        assertThat(count("SELECT count(*) FROM app_event")).isZero();
        awaitTombstone(recordId);
        producer.sendBodyAndHeader("direct:calsync-local-upsert", planned, CalsyncHeaders.RECORD_ID, recordId);

        assertThat(count("SELECT count(*) FROM app_event")).isZero();
    }

    private void awaitTombstone(String recordId) {
        await().atMost(Duration.ofSeconds(30)).until(() -> "deleted".equals(mapping(recordId).get("sync_state")));
    }

    @Test
    void eventOfARecordTheAppDeletedThatLandedAfterTheDeleteIsDeletedAgain() {
        put("rec-late", body("Landed late", "Europe/Berlin"));
        awaitSynced("rec-late");
        Map<String, Object> late = new LinkedHashMap<>(NYLAS.event(GRANT, (String) mapping("rec-late").get("nylas_event_id")));
        delete("rec-late");
        awaitTombstone("rec-late");
        // the tombstone comes first; the delete's push is done once its DELETE was sent and its lease let go
        await().atMost(Duration.ofSeconds(30)).until(() -> NYLAS.requests().stream()
                .anyMatch(r -> r.startsWith("DELETE ")) && mapping("rec-late").get("lease_until") == null);
        // what a create that landed after the delete's lookup leaves: a tombstone that never learned its event
        jdbc.update("UPDATE event_sync_map SET nylas_event_id = NULL WHERE internal_id = 'rec-late'");
        late.put("id", "evt-landed-late");
        NYLAS.putEvent(late);

        String id = deliverAndWait("event.created", late);

        assertThat(outcome(id)).isEqualTo("deleted-again");
        await().atMost(Duration.ofSeconds(30)).until(() -> NYLAS.liveEvents(GRANT, "primary").isEmpty());
        assertThat(count("SELECT count(*) FROM app_event")).isZero();
    }

    @Test
    void markingSyncedNeverOverwritesATombstone() {
        deliverAndWait("event.created", event(GRANT, "evt-1", "Here", 100));
        deliverAndWait("event.deleted", deletedEvent(GRANT, "evt-1"));
        String recordId = (String) jdbc.queryForObject("SELECT internal_id FROM event_sync_map", String.class);

        Exchange marked = producer.send("direct:calsync-mapping-mark-synced", exchange -> {
            exchange.getMessage().setBody("record");
            exchange.getMessage().setHeaders(new java.util.HashMap<>(Map.of(CalsyncHeaders.RECORD_ID, recordId,
                    CalsyncHeaders.EVENT_ID, "evt-1", CalsyncHeaders.CALENDAR_ID, "primary")));
            exchange.setVariable(CalsyncVariables.CONTENT_HASH, "h");
            exchange.setVariable(CalsyncVariables.REMOTE_UPDATED_AT, 300L);
        });

        assertThat(marked.getException()).isNull();
        assertThat(marked.getVariable("marked", Integer.class)).isZero();

        assertThat(mapping(recordId)).containsEntry("sync_state", "deleted");
    }

    @Test
    void deleteRacingAnUpdateOfTheSameEventNeverLeavesADeletedRecordBehind() throws Exception {
        int events = 40;
        for (int i = 0; i < events; i++) {
            producer.sendBody("direct:calsync-inbound-event-upsert", event(GRANT, "race-" + i, "v1", 100));
        }
        List<CompletableFuture<Void>> racing = new ArrayList<>();
        for (int i = 0; i < events; i++) {
            Map<String, Object> update = event(GRANT, "race-" + i, "v2", 200);
            Map<String, Object> deleted = deletedEvent(GRANT, "race-" + i);
            // reconciliation's delete and a webhook's update of one event may run at the same time
            racing.add(CompletableFuture.runAsync(
                    () -> producer.sendBody("direct:calsync-inbound-event-upsert", update)));
            racing.add(CompletableFuture.runAsync(
                    () -> producer.sendBody("direct:calsync-inbound-event-delete", deleted)));
        }
        CompletableFuture.allOf(racing.toArray(CompletableFuture[]::new)).get();

        assertThat(count("""
                SELECT count(*) FROM app_event e JOIN event_sync_map m ON m.internal_id = e.id
                 WHERE m.sync_state = 'deleted'""")).isZero();
    }

    // ------------------------------------------------------------------------ application changes, compared

    @Test
    void putThatChangesOnlyTheTimeZoneOrAParticipantNameIsStoredAndPushed() throws Exception {
        assertThat(put("rec-tz", body("Zoned", "Europe/Berlin")).statusCode()).isEqualTo(201);
        awaitSynced("rec-tz");

        Map<String, Object> renamed = body("Zoned", "America/New_York");
        renamed.put("participants", List.of(Map.of("email", "ada@example.com", "name", "Ada Lovelace")));
        HttpResponse<String> response = put("rec-tz", renamed);

        assertThat(response.statusCode()).isEqualTo(200);
        String stored = apiGet("/api/v1/events/rec-tz", API_TOKEN).body();
        assertThat(json.readTree(stored).path("when").path("start_timezone").asText()).isEqualTo("America/New_York");
        assertThat(json.readTree(stored).path("participants").get(0).path("name").asText()).isEqualTo("Ada Lovelace");
        await().atMost(Duration.ofSeconds(30)).until(() -> NYLAS.calls("PUT 200") == 1);
        awaitSynced("rec-tz");
        Map<?, ?> when = (Map<?, ?>) NYLAS.event(GRANT, (String) mapping("rec-tz").get("nylas_event_id")).get("when");
        assertThat(when.get("start_timezone")).isEqualTo("America/New_York");
    }

    @Test
    void putOfExactlyWhatIsStoredChangesNothing() {
        assertThat(put("rec-same", body("Same", "Europe/Berlin")).statusCode()).isEqualTo(201);
        awaitSynced("rec-same");
        long version = ((Number) mapping("rec-same").get("version")).longValue();

        assertThat(put("rec-same", body("Same", "Europe/Berlin")).statusCode()).isEqualTo(200);

        assertThat(((Number) mapping("rec-same").get("version")).longValue()).isEqualTo(version);
    }

    @Test
    void putWithTextPostgresqlCannotStoreNamesTheField() {
        HttpResponse<String> response = put("rec-nul", body("Bad\u0000title", "Europe/Berlin"));

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("\"title\"").contains("NUL");
        assertThat(count("SELECT count(*) FROM app_event")).isZero();
    }

    // ------------------------------------------------------------------------------------------ Nylas calls

    @Test
    void deleteMadeInTheAppDoesNotNotifyParticipants() {
        put("rec-del", body("Cancelled", "Europe/Berlin"));
        awaitSynced("rec-del");

        delete("rec-del");
        awaitTombstone("rec-del");

        assertThat(NYLAS.requests()).filteredOn(r -> r.startsWith("DELETE ")).singleElement().asString()
                .contains("notify_participants=false");
    }

    @Test
    void lookupByRecordIdSendsAWindowThatContainsTheRecord() {
        NYLAS.loseNextResponses(1);

        put("rec-look", body("Looked up", "Europe/Berlin"));
        awaitSynced("rec-look");

        String lookup = NYLAS.requests().stream().filter(r -> r.contains("metadata_pair=")).findFirst().orElseThrow();
        long start = Long.parseLong(lookup.replaceAll(".*[?&]start=(\\d+).*", "$1"));
        long end = Long.parseLong(lookup.replaceAll(".*[?&]end=(\\d+).*", "$1"));
        assertThat(start).isLessThanOrEqualTo(1_790_000_000L);
        assertThat(end).isGreaterThanOrEqualTo(1_790_003_600L);
    }

    // ---------------------------------------------------------------------------------- outcomes tell truth

    @Test
    void calendarEditOfARecordWhoseAppChangeFailedIsNotRecordedAsUpdated() {
        put("rec-fail", body("Mine", "Europe/Berlin"));
        awaitSynced("rec-fail");
        String eventId = (String) mapping("rec-fail").get("nylas_event_id");
        NYLAS.failNext(400);
        put("rec-fail", body("Mine, edited", "Europe/Berlin"));
        await().atMost(Duration.ofSeconds(30)).until(() -> "failed".equals(mapping("rec-fail").get("sync_state")));

        Map<String, Object> edited = new LinkedHashMap<>(event(GRANT, eventId, "Theirs", 4_000_000_000L));
        edited.put("metadata", Map.of("key1", "rec-fail"));
        String id = deliverAndWait("event.updated", edited);

        assertThat(outcome(id)).isEqualTo("app-change-failed");
        assertThat(jdbc.queryForObject("SELECT title FROM app_event WHERE id = 'rec-fail'", String.class))
                .isEqualTo("Mine, edited");
    }

    @Test
    void editOfAnEventDeletedOnTheCalendarIsRecordedAsGoneAndSendsNoDelete() {
        put("rec-gone", body("Soon gone", "Europe/Berlin"));
        awaitSynced("rec-gone");
        NYLAS.deliverWebhooksTo(SECRET); // the user's delete is not notified in time
        NYLAS.userDeletes(GRANT, (String) mapping("rec-gone").get("nylas_event_id"));

        put("rec-gone", body("Edited", "Europe/Berlin"));
        awaitTombstone("rec-gone");

        assertThat(mapping("rec-gone")).containsEntry("desired", "deleted");
        assertThat(count("SELECT count(*) FROM app_event WHERE id = 'rec-gone'")).isZero();
        // the outcome is counted just after the tombstone is written
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(managementGet("/actuator/prometheus", null)
                .body()).containsPattern("calsync_push_total\\{[^}]*outcome=\"gone\"[^}]*\\} [1-9]"));
        assertThat(NYLAS.requests()).noneMatch(r -> r.startsWith("DELETE "));
        await().atMost(Duration.ofSeconds(10)).until(() -> count("SELECT count(*) FROM event_sync_map"
                + " WHERE sync_state = 'pending'") == 0);
        assertThat(NYLAS.requests()).noneMatch(r -> r.startsWith("DELETE "));
    }
}

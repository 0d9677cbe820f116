package dev.calsync.outbound;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.support.IntegrationTest;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Application -> calendar: each rule of the push, against the simulator, with echoes flowing back. */
class OutboundPushTest extends IntegrationTest {

    private static final String GRANT = "grant-out";
    private final ObjectMapper json = new ObjectMapper();

    static Map<String, Object> body(String title) {
        Map<String, Object> b = new LinkedHashMap<>();
        b.put("grant_id", GRANT);
        b.put("calendar_id", "primary");
        b.put("title", title);
        b.put("description", "Agenda");
        b.put("location", "Room 7");
        b.put("when", Map.of("start_time", 1_790_000_000L, "end_time", 1_790_003_600L,
                "start_timezone", "Europe/Berlin", "end_timezone", "Europe/Berlin"));
        b.put("participants", List.of(Map.of("email", "ada@example.com", "name", "Ada")));
        return b;
    }

    HttpResponse<String> put(String id, Object body) {
        return apiPut("/api/v1/events/" + id, body);
    }

    HttpResponse<String> delete(String id) {
        return send(HttpRequest.newBuilder(url("/api/v1/events/" + id))
                .header("Authorization", "Bearer " + API_TOKEN).DELETE().build());
    }

    Map<String, Object> mapping(String id) {
        return jdbc.queryForMap("SELECT * FROM event_sync_map WHERE internal_id = ?", id);
    }

    void awaitState(String id, String state) {
        await().atMost(Duration.ofSeconds(30)).until(() -> state.equals(mapping(id).get("sync_state")));
    }

    Map<String, Object> calendarEvent(String id) {
        return NYLAS.event(GRANT, (String) mapping(id).get("nylas_event_id"));
    }

    @Test
    void appEventIsCreatedOnceOnTheCalendarWithOurRecordIdAndItsEchoChangesNothing() throws Exception {
        HttpResponse<String> response = put("rec-1", body("Planning"));

        assertThat(response.statusCode()).isEqualTo(201);
        assertThat(json.readTree(response.body()).path("sync_state").asText()).isEqualTo("pending");
        awaitState("rec-1", "synced");
        Map<String, Object> event = calendarEvent("rec-1");
        assertThat(event).containsEntry("title", "Planning").containsEntry("metadata", Map.of("key1", "rec-1"));
        await().atMost(Duration.ofSeconds(20)).until(() ->
                count("SELECT count(*) FROM webhook_inbox WHERE status = 'processed'") == 1);
        assertThat(jdbc.queryForObject("SELECT outcome FROM webhook_inbox", String.class))
                .isIn("unchanged", "app-change-pending");
        assertThat(NYLAS.countWithKey1(GRANT, "rec-1", true)).isEqualTo(1);
        assertThat(NYLAS.calls("POST 200")).isEqualTo(1);
        assertThat(NYLAS.calls("PUT 200")).isZero();
        assertThat(count("SELECT count(*) FROM app_event")).isEqualTo(1);
        JsonNode record = json.readTree(apiGet("/api/v1/events/rec-1", API_TOKEN).body());
        assertThat(record.path("nylas_event_id").asText()).isEqualTo(event.get("id"));
        assertThat(record.path("sync_state").asText()).isEqualTo("synced");
    }

    @Test
    void unchangedPutMakesNoNylasCall() {
        put("rec-2", body("Same"));
        awaitState("rec-2", "synced");

        HttpResponse<String> again = put("rec-2", body("Same"));

        assertThat(again.statusCode()).isEqualTo(200);
        assertThat(mapping("rec-2")).containsEntry("sync_state", "synced").containsEntry("version", 1L);
        assertThat(NYLAS.calls("POST 200") + NYLAS.calls("PUT 200")).isEqualTo(1);
    }

    @Test
    void editIsPushedWithWhenAndTheWholeMetadataMap() {
        put("rec-3", body("Before"));
        awaitState("rec-3", "synced");
        String eventId = (String) mapping("rec-3").get("nylas_event_id");
        Map<String, Object> withOtherKeys = new LinkedHashMap<>(NYLAS.event(GRANT, eventId));
        withOtherKeys.put("metadata", Map.of("key1", "rec-3", "key5", "scheduler-booking"));
        NYLAS.putEvent(withOtherKeys);
        jdbc.update("UPDATE event_sync_map SET remote_metadata = '{\"key1\":\"rec-3\",\"key5\":\"scheduler-booking\"}'"
                + " WHERE internal_id = 'rec-3'");

        assertThat(put("rec-3", body("After")).statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(30)).until(() -> "After".equals(NYLAS.event(GRANT, eventId).get("title")));

        Map<String, Object> event = NYLAS.event(GRANT, eventId);
        assertThat(event.get("metadata")).isEqualTo(Map.of("key1", "rec-3", "key5", "scheduler-booking"));
        assertThat(event.get("when")).isNotNull();
        assertThat(NYLAS.countWithKey1(GRANT, "rec-3", true)).isEqualTo(1);
    }

    @Test
    void deleteRemovesTheEventFromTheCalendarAndLeavesATombstone() {
        put("rec-4", body("Doomed"));
        awaitState("rec-4", "synced");
        String eventId = (String) mapping("rec-4").get("nylas_event_id");

        assertThat(delete("rec-4").statusCode()).isEqualTo(202);

        awaitState("rec-4", "deleted");
        assertThat(NYLAS.event(GRANT, eventId)).containsEntry("status", "cancelled");
        assertThat(apiGet("/api/v1/events/rec-4", API_TOKEN).statusCode()).isEqualTo(404);
        assertThat(delete("rec-4").statusCode()).isEqualTo(404);
        assertThat(put("rec-4", body("Back")).statusCode()).as("a deleted id is not reused").isEqualTo(409);
    }

    @Test
    void rateLimitIsRetriedAfterTheDelayNylasAskedFor() {
        NYLAS.faults.retryAfterSeconds = 2;
        NYLAS.failNext(429);
        long started = System.nanoTime();

        put("rec-5", body("Throttled"));
        awaitState("rec-5", "synced");

        assertThat(Duration.ofNanos(System.nanoTime() - started)).isGreaterThanOrEqualTo(Duration.ofSeconds(2));
        assertThat(NYLAS.calls("POST 429")).isEqualTo(1);
        assertThat(NYLAS.countWithKey1(GRANT, "rec-5", true)).isEqualTo(1);
    }

    @Test
    void serverErrorIsRetriedUntilItSucceeds() {
        NYLAS.failNext(500);

        put("rec-6", body("Eventually"));
        awaitState("rec-6", "synced");

        assertThat(NYLAS.calls("POST 500")).isEqualTo(1);
        assertThat(NYLAS.countWithKey1(GRANT, "rec-6", true)).isEqualTo(1);
    }

    @Test
    void createThatTimedOutButSucceededIsAdoptedNotRepeated() {
        NYLAS.delayNext(1500); // longer than calsync.nylas.response-timeout-millis in tests

        put("rec-7", body("Slow"));
        awaitState("rec-7", "synced");

        assertThat(NYLAS.countWithKey1(GRANT, "rec-7", true)).isEqualTo(1);
        assertThat(calendarEvent("rec-7")).containsEntry("title", "Slow");
    }

    @Test
    void createSlowerThanTheClientTimeOutLeavesOneEventAndIsNotRepeatedWhileItMayStillLand() {
        NYLAS.delayNext(2500); // lands after the client gave up (1 s) and after a quick retry would have looked

        put("rec-slow", body("Slower"));
        awaitState("rec-slow", "synced");

        assertThat(NYLAS.countWithKey1(GRANT, "rec-slow", true)).isEqualTo(1);
        assertThat(NYLAS.requests()).filteredOn(r -> r.startsWith("POST ")).hasSize(1);
        assertThat(mapping("rec-slow").get("nylas_event_id")).isEqualTo(
                NYLAS.liveEvents(GRANT, "primary").get(0).get("id"));
    }

    @Test
    void secondCalendarEventCarryingOneRecordsIdIsDeletedNotImported() {
        put("rec-dup", body("Twice"));
        awaitState("rec-dup", "synced");
        // two creates were sent for it; one answer was lost and the other landed after the lookup
        jdbc.update("UPDATE event_sync_map SET create_attempts = 2 WHERE internal_id = 'rec-dup'");
        Map<String, Object> duplicate = new LinkedHashMap<>(calendarEvent("rec-dup"));
        duplicate.put("id", "evt-duplicate");
        NYLAS.putEvent(duplicate);
        String id = dev.calsync.support.Notifications.newId();

        deliver(dev.calsync.support.Notifications.envelope(id, "event.created", duplicate));
        awaitStatus(id, "processed");

        assertThat(notificationRow(id)).containsEntry("outcome", "duplicate-deleted");
        assertThat(count("SELECT count(*) FROM app_event")).isEqualTo(1);
        await().atMost(Duration.ofSeconds(30)).until(() -> NYLAS.liveEvents(GRANT, "primary").size() == 1);
        assertThat(NYLAS.liveEvents(GRANT, "primary").get(0).get("id")).isEqualTo(mapping("rec-dup").get("nylas_event_id"));
    }

    @Test
    void lostResponseOfASuccessfulCreateLeavesOneEvent() {
        NYLAS.loseNextResponses(1);

        put("rec-8", body("Lost"));
        awaitState("rec-8", "synced");

        assertThat(NYLAS.calls("POST lost")).isEqualTo(1);
        assertThat(NYLAS.calls("POST 200")).isZero();
        assertThat(NYLAS.countWithKey1(GRANT, "rec-8", true)).isEqualTo(1);
        assertThat(mapping("rec-8").get("nylas_event_id")).isEqualTo(
                NYLAS.liveEvents(GRANT, "primary").get(0).get("id"));
    }

    @Test
    void refusalFailsAtOnceVisiblyAndCanBeReplayed() throws Exception {
        NYLAS.failNext(400);

        put("rec-9", body("Refused"));
        awaitState("rec-9", "failed");

        JsonNode record = json.readTree(apiGet("/api/v1/events/rec-9", API_TOKEN).body());
        assertThat(record.path("sync_state").asText()).isEqualTo("failed");
        assertThat(record.path("last_error").asText()).contains("Nylas API answered 400");
        assertThat(NYLAS.calls("POST 400")).isEqualTo(1);

        HttpResponse<String> replay = send(HttpRequest.newBuilder(url("/admin/events/rec-9/replay"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).POST(HttpRequest.BodyPublishers.noBody()).build());

        assertThat(replay.statusCode()).isEqualTo(202);
        awaitState("rec-9", "synced");
        assertThat(NYLAS.countWithKey1(GRANT, "rec-9", true)).isEqualTo(1);
    }

    @Test
    void quickEditsReachTheCalendarInOrder() {
        NYLAS.faults.latencyMillis = 100;
        put("rec-10", body("v1"));
        put("rec-10", body("v2"));
        put("rec-10", body("v3"));

        awaitState("rec-10", "synced");

        assertThat(calendarEvent("rec-10")).containsEntry("title", "v3");
        assertThat(NYLAS.countWithKey1(GRANT, "rec-10", true)).isEqualTo(1);
    }

    @Test
    void recordDeletedWhileItsCreateIsPendingLeavesNothingOnTheCalendar() {
        NYLAS.faults.latencyMillis = 300;
        put("rec-11", body("Short-lived"));
        await().atMost(Duration.ofSeconds(10)).until(() -> mapping("rec-11").get("lease_until") != null);

        assertThat(delete("rec-11").statusCode()).isEqualTo(202);

        await().atMost(Duration.ofSeconds(30)).until(() -> "deleted".equals(mapping("rec-11").get("sync_state")));
        assertThat(NYLAS.countWithKey1(GRANT, "rec-11", false)).isZero();
    }

    @Test
    void editOfAnEventTheUserDeletedMeanwhileDeletesTheRecordInsteadOfResurrectingIt() {
        put("rec-14", body("Mine"));
        awaitState("rec-14", "synced");
        String eventId = (String) mapping("rec-14").get("nylas_event_id");
        NYLAS.pauseWebhooks(); // the user's delete has not been delivered yet
        NYLAS.userDeletes(GRANT, eventId);

        put("rec-14", body("Edited after the delete"));
        awaitState("rec-14", "deleted");
        NYLAS.releaseWebhooks(false);

        await().atMost(Duration.ofSeconds(20)).until(() ->
                count("SELECT count(*) FROM webhook_inbox WHERE status = 'processed'") == 2);
        assertThat(apiGet("/api/v1/events/rec-14", API_TOKEN).statusCode()).isEqualTo(404);
        assertThat(NYLAS.countWithKey1(GRANT, "rec-14", false)).isZero();
        assertThat(NYLAS.calls("POST 200")).isEqualTo(1);
    }

    @Test
    void invalidBodyNamesEveryBadField() throws Exception {
        Map<String, Object> bad = new LinkedHashMap<>();
        bad.put("calendar_id", "primary");
        bad.put("title", 42);
        bad.put("when", Map.of("start_time", 20, "end_time", 10));
        bad.put("participants", List.of(Map.of("email", "not-an-address")));
        bad.put("colour", "red");

        HttpResponse<String> response = put("rec-12", bad);

        assertThat(response.statusCode()).isEqualTo(400);
        JsonNode fields = json.readTree(response.body()).path("fields");
        assertThat(fields.fieldNames()).toIterable().containsExactlyInAnyOrder(
                "grant_id", "title", "when", "participants[0].email", "colour");
        assertThat(count("SELECT count(*) FROM event_sync_map")).isZero();
    }

    @Test
    void movingAnEventToAnotherCalendarOrSendingNonJsonIsRefused() {
        put("rec-13", body("Here"));
        Map<String, Object> moved = body("Here");
        moved.put("calendar_id", "elsewhere");

        assertThat(put("rec-13", moved).statusCode()).isEqualTo(409);
        assertThat(send(HttpRequest.newBuilder(url("/api/v1/events/rec-13"))
                .header("Authorization", "Bearer " + API_TOKEN).header("Content-Type", "text/plain")
                .PUT(HttpRequest.BodyPublishers.ofString("title=x")).build()).statusCode()).isEqualTo(415);
    }
}

package dev.calsync.api;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.Notifications;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The admin API an operator (and the operator page) works with: dead letters replayed in bulk by a filter, grants by
 * state a page at a time, the summary, and the list of reconciliation runs.
 */
class AdminOperationsApiTest extends IntegrationTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void bulkReplayReplaysOnlyTheDeadLettersTheFilterMatchesAsTheOneByOneReplayDoes() throws Exception {
        // Given dead letters of two grants and two types
        String matchA = deadLetter("grant-a", "evt-1", "event.created");
        String matchB = deadLetter("grant-a", "evt-2", "event.created");
        String otherType = deadLetter("grant-a", "evt-3", "event.updated");
        String otherGrant = deadLetter("grant-b", "evt-4", "event.created");

        // When the operator replays those of grant-a of type event.created
        HttpResponse<String> response = post("/admin/notifications/replay",
                "{\"type\":\"event.created\",\"grant_id\":\"grant-a\"}");

        // Then exactly those are replayed: due again with their attempts reset, then processed
        assertThat(response.statusCode()).isEqualTo(200);
        JsonNode body = JSON.readTree(response.body());
        assertThat(body.path("replayed").asInt()).isEqualTo(2);
        assertThat(texts(body.path("notification_ids"))).containsExactlyInAnyOrder(matchA, matchB);
        assertThat(body.path("remaining").asInt()).isZero();
        awaitStatus(matchA, "processed");
        awaitStatus(matchB, "processed");
        assertThat(notificationRow(matchA).get("attempts")).isEqualTo(1);
        assertThat(notificationRow(otherType).get("status")).isEqualTo("dead");
        assertThat(notificationRow(otherGrant).get("status")).isEqualTo("dead");
    }

    @Test
    void bulkReplayFiltersByTheTimeANotificationWasReceivedFromInclusiveToExclusive() throws Exception {
        String early = deadLetter("grant-a", "evt-1", "event.created");
        String inside = deadLetter("grant-a", "evt-2", "event.created");
        String atTheEnd = deadLetter("grant-a", "evt-3", "event.created");
        receivedAt(early, "2026-01-01T09:59:59Z");
        receivedAt(inside, "2026-01-01T10:00:00Z");
        receivedAt(atTheEnd, "2026-01-01T11:00:00Z");

        HttpResponse<String> response = post("/admin/notifications/replay",
                "{\"from\":\"2026-01-01T10:00:00Z\",\"to\":\"2026-01-01T12:00:00+01:00\"}");

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(texts(JSON.readTree(response.body()).path("notification_ids"))).containsExactly(inside);
        awaitStatus(inside, "processed");
        assertThat(notificationRow(early).get("status")).isEqualTo("dead");
        assertThat(notificationRow(atTheEnd).get("status")).isEqualTo("dead");
    }

    @Test
    void bulkReplayStopsAtItsLimitOldestFirstAndSaysHowManyStillMatch() throws Exception {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String id = deadLetter("grant-a", "evt-" + i, "event.created");
            receivedAt(id, "2026-01-01T10:00:0" + i + "Z");
            ids.add(id);
        }

        HttpResponse<String> response = post("/admin/notifications/replay", "{\"grant_id\":\"grant-a\",\"limit\":2}");

        JsonNode body = JSON.readTree(response.body());
        assertThat(texts(body.path("notification_ids"))).containsExactlyInAnyOrder(ids.get(0), ids.get(1));
        assertThat(body.path("remaining").asInt()).isEqualTo(1);
        assertThat(notificationRow(ids.get(2)).get("status")).isEqualTo("dead");
    }

    @Test
    void bulkReplayWithoutAFilterReplaysNothingUnlessItSaysAll() throws Exception {
        String dead = deadLetter("grant-a", "evt-1", "event.created");

        HttpResponse<String> empty = post("/admin/notifications/replay", "{}");
        HttpResponse<String> noBody = post("/admin/notifications/replay", "");

        for (HttpResponse<String> refused : List.of(empty, noBody)) {
            assertThat(refused.statusCode()).isEqualTo(400);
            assertThat(JSON.readTree(refused.body()).path("error").asText()).isEqualTo("filter_required");
        }
        assertThat(notificationRow(dead).get("status")).isEqualTo("dead");

        HttpResponse<String> all = post("/admin/notifications/replay", "{\"all\":true}");

        assertThat(all.statusCode()).isEqualTo(200);
        assertThat(texts(JSON.readTree(all.body()).path("notification_ids"))).containsExactly(dead);
    }

    @Test
    void bulkReplayRefusesBadInputWithAMessageNamingTheField() throws Exception {
        String dead = deadLetter("grant-a", "evt-1", "event.created");
        Map<String, String> cases = Map.of(
                "{\"grantId\":\"grant-a\"}", "grantId: unknown field",
                "{\"from\":\"yesterday\"}", "from: must be an ISO-8601 time",
                "{\"from\":\"2026-01-01T10:00:00\"}", "from: must be an ISO-8601 time",
                "{\"from\":\"2026-01-02T00:00:00Z\",\"to\":\"2026-01-01T00:00:00Z\"}", "to: must be after from",
                "{\"type\":\"event.created\",\"limit\":0}", "limit: must be an integer from 1 to 1000",
                "{\"type\":\"event.created\",\"limit\":\"5\"}", "limit: must be an integer from 1 to 1000",
                "{\"type\":\"\"}", "type: must be a non-empty string",
                "{\"all\":\"yes\"}", "all: must be true or false");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            HttpResponse<String> response = post("/admin/notifications/replay", c.getKey());
            assertThat(response.statusCode()).as(c.getKey()).isEqualTo(400);
            JsonNode error = JSON.readTree(response.body());
            assertThat(error.path("error").asText()).as(c.getKey()).isEqualTo("invalid_request");
            assertThat(error.path("message").asText()).as(c.getKey()).contains(c.getValue());
        }
        HttpResponse<String> malformed = post("/admin/notifications/replay", "[1,");
        assertThat(malformed.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(malformed.body()).path("error").asText()).isEqualTo("malformed_json");
        assertThat(notificationRow(dead).get("status")).isEqualTo("dead");
    }

    @Test
    void bulkReplayNeedsTheAdminToken() {
        deadLetter("grant-a", "evt-1", "event.created");

        HttpResponse<String> response = send(HttpRequest.newBuilder(url("/admin/notifications/replay"))
                .header("Authorization", "Bearer " + API_TOKEN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"all\":true}")).build());

        assertThat(response.statusCode()).isEqualTo(401);
        assertThat(count("SELECT count(*) FROM webhook_inbox WHERE status = 'dead'")).isEqualTo(1);
    }

    @Test
    void bulkPushReplayPushesAgainTheFailedChangesOfAGrantAsTheOneByOneReplayDoes() throws Exception {
        // Given three application changes the calendar refused, two of grant-a
        failedPush("rec-1", "grant-a");
        failedPush("rec-2", "grant-a");
        failedPush("rec-3", "grant-b");

        HttpResponse<String> refused = post("/admin/events/replay", "{}");
        HttpResponse<String> misspelt = post("/admin/events/replay", "{\"grantId\":\"grant-a\"}");
        HttpResponse<String> response = post("/admin/events/replay", "{\"grant_id\":\"grant-a\"}");

        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(refused.body()).path("error").asText()).isEqualTo("filter_required");
        assertThat(misspelt.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(misspelt.body()).path("message").asText()).contains("grantId: unknown field");
        assertThat(response.statusCode()).isEqualTo(200);
        JsonNode body = JSON.readTree(response.body());
        assertThat(texts(body.path("event_ids"))).containsExactlyInAnyOrder("rec-1", "rec-2");
        assertThat(body.path("remaining").asInt()).isZero();
        awaitSyncState("rec-1", "synced");
        awaitSyncState("rec-2", "synced");
        assertThat(NYLAS.countWithKey1("grant-a", "rec-1", true)).isEqualTo(1);
        assertThat(syncState("rec-3")).isEqualTo("failed");
    }

    @Test
    void grantsAreListedByStateOrAllAPageAtATime() throws Exception {
        for (int i = 0; i < 5; i++) {
            jdbc.update("INSERT INTO grant_sync_state (grant_id, state, reason, updated_at) VALUES (?, ?, ?, ?)",
                    "grant-" + i, i % 2 == 0 ? "paused" : "active", i % 2 == 0 ? "grant.expired" : "grant.updated",
                    Timestamp.from(Instant.parse("2026-01-01T10:00:00Z").plusSeconds(i)));
        }

        List<String> all = new ArrayList<>();
        String cursor = null;
        int pages = 0;
        do {
            JsonNode page = JSON.readTree(get("/admin/grants?state=all&limit=2"
                    + (cursor == null ? "" : "&cursor=" + cursor)).body());
            page.path("data").forEach(g -> all.add(g.path("grant_id").asText()));
            cursor = page.path("next_cursor").isNull() ? null : page.path("next_cursor").asText();
            pages++;
        } while (cursor != null && pages < 10);

        assertThat(all).containsExactly("grant-4", "grant-3", "grant-2", "grant-1", "grant-0");
        assertThat(pages).isEqualTo(3);
        assertThat(grantIds(get("/admin/grants?status=paused"))).containsExactly("grant-4", "grant-2", "grant-0");
        assertThat(grantIds(get("/admin/grants?state=active"))).containsExactly("grant-3", "grant-1");
        assertThat(grantIds(get("/admin/grants"))).containsExactly("grant-4", "grant-2", "grant-0");
        assertThat(get("/admin/grants?status=gone").statusCode()).isEqualTo(400);
        HttpResponse<String> badCursor = get("/admin/grants?cursor=bm9wZQ");
        assertThat(badCursor.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(badCursor.body()).path("error").asText()).isEqualTo("invalid_cursor");
    }

    @Test
    void summaryCountsTheBacklogDeadLettersGrantsAndRuns() throws Exception {
        deadLetter("grant-a", "evt-1", "event.created");
        jdbc.update("INSERT INTO grant_sync_state (grant_id, state, reason) VALUES ('grant-p', 'paused', 'grant.expired')");
        // a notification of a paused grant waits: it is the backlog
        jdbc.update("""
                INSERT INTO webhook_inbox (notification_id, type, grant_id, payload, next_attempt_at, received_at)
                VALUES ('ntf-held', 'event.created', 'grant-p', '{}', now() + interval '1 hour',
                        '2026-01-01T10:00:00Z')""");

        JsonNode summary = JSON.readTree(get("/admin/summary").body());

        assertThat(summary.path("notifications").path("dead").asInt()).isEqualTo(1);
        assertThat(summary.path("notifications").path("received").asInt()).isEqualTo(1);
        JsonNode oldest = summary.path("notifications").path("oldest_received_at");
        assertThat(oldest.isNumber() ? Instant.ofEpochMilli(oldest.asLong())
                : java.time.OffsetDateTime.parse(oldest.asText()).toInstant())
                .isEqualTo(Instant.parse("2026-01-01T10:00:00Z"));
        assertThat(summary.path("grants").path("paused").asInt()).isEqualTo(1);
        assertThat(summary.path("grants").path("active").asInt()).isZero();
        assertThat(summary.path("reconcile").path("queued").asInt()).isZero();
        assertThat(apiGet("/admin/summary", API_TOKEN).statusCode()).isEqualTo(401);
    }

    @Test
    void reconciliationRunsAreListedNewestFirstWithTheSizeOfTheirPlan() throws Exception {
        insertRun("run-old", "grant-a", "succeeded", "[]", "2026-01-01T10:00:00Z");
        insertRun("run-new", "grant-a", "succeeded",
                "[{\"action\":\"create\",\"record_id\":null,\"nylas_event_id\":\"evt-1\"}]", "2026-01-01T11:00:00Z");
        insertRun("run-other", "grant-b", "failed", "[]", "2026-01-01T12:00:00Z");

        JsonNode runs = JSON.readTree(get("/admin/reconcile?grant_id=grant-a").body()).path("data");

        assertThat(runs).extracting(r -> r.path("run_id").asText()).containsExactly("run-new", "run-old");
        assertThat(runs.get(0).path("planned").asInt()).isEqualTo(1);
        assertThat(JSON.readTree(get("/admin/reconcile?status=failed").body()).path("data"))
                .extracting(r -> r.path("run_id").asText()).containsExactly("run-other");
        assertThat(get("/admin/reconcile?status=done").statusCode()).isEqualTo(400);
    }

    @Test
    void theOperatorPageIsServedWithoutATokenAndAllowsNoInlineScript() {
        HttpResponse<String> page = apiGet("/ops/", null);
        HttpResponse<String> script = apiGet("/ops/ops.js", null);
        HttpResponse<String> bare = send(HttpRequest.newBuilder(url("/ops")).GET().build());

        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type")).hasValueSatisfying(t -> assertThat(t).startsWith("text/html"));
        assertThat(page.headers().firstValue("Content-Security-Policy")).hasValueSatisfying(
                csp -> assertThat(csp).contains("script-src 'self'").doesNotContain("unsafe-inline"));
        assertThat(page.body()).contains("<script src=\"ops.js\"");
        assertThat(script.statusCode()).isEqualTo(200);
        assertThat(script.body()).doesNotContain("innerHTML");
        assertThat(bare.statusCode()).isEqualTo(301);
        assertThat(bare.headers().firstValue("Location")).hasValue("ops/");
        assertThat(apiGet("/ops/../application.yaml", null).statusCode()).isEqualTo(404);
        assertThat(apiGet("/ops/calsync-defaults.yaml", null).statusCode()).isEqualTo(404);
    }

    /** A notification delivered, processed, then kept as a dead letter (as after its last failed attempt). */
    private String deadLetter(String grantId, String eventId, String type) {
        String id = deliverAndWait(type, Notifications.event(grantId, eventId, "Title " + eventId, 100));
        jdbc.update("""
                UPDATE webhook_inbox SET status = 'dead', attempts = 3, outcome = NULL, processed_at = NULL,
                       last_error = 'NylasApiException: Nylas API answered 500' WHERE notification_id = ?""", id);
        return id;
    }

    /** An application change the calendar refused (a 400): a failed push. */
    private void failedPush(String recordId, String grantId) {
        NYLAS.failNext(400);
        HttpResponse<String> put = apiPut("/api/v1/events/" + recordId, Map.of("grant_id", grantId,
                "calendar_id", "primary", "title", "Refused " + recordId,
                "when", Map.of("start_time", 1_790_000_000L, "end_time", 1_790_003_600L)));
        assertThat(put.statusCode()).isEqualTo(201);
        awaitSyncState(recordId, "failed");
    }

    private String syncState(String recordId) {
        return jdbc.queryForObject("SELECT sync_state FROM event_sync_map WHERE internal_id = ?", String.class,
                recordId);
    }

    private void awaitSyncState(String recordId, String state) {
        await().atMost(Duration.ofSeconds(20)).until(() -> state.equals(syncState(recordId)));
    }

    private void receivedAt(String id, String instant) {
        jdbc.update("UPDATE webhook_inbox SET received_at = ? WHERE notification_id = ?",
                Timestamp.from(Instant.parse(instant)), id);
    }

    private void insertRun(String runId, String grantId, String status, String planned, String queuedAt) {
        jdbc.update("""
                INSERT INTO reconcile_run (run_id, grant_id, calendar_id, dry_run, status, trigger, conflict_policy,
                                           missing_policy, lease_until, planned, queued_at, finished_at)
                VALUES (?, ?, 'primary', true, ?, 'api', 'newest-wins', 'delete', now(), ?::jsonb, ?, now())""",
                runId, grantId, status, planned, Timestamp.from(Instant.parse(queuedAt)));
    }

    private HttpResponse<String> post(String path, String body) {
        return send(HttpRequest.newBuilder(url(path))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    private HttpResponse<String> get(String path) {
        return apiGet(path, ADMIN_TOKEN);
    }

    private static List<String> grantIds(HttpResponse<String> response) throws Exception {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return texts(JSON.readTree(response.body()).path("data").findValues("grant_id"));
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static List<String> texts(List<JsonNode> nodes) {
        return nodes.stream().map(JsonNode::asText).toList();
    }
}

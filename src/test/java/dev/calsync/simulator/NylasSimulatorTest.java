package dev.calsync.simulator;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.calsync.support.Signing;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The simulator is test infrastructure: each documented behaviour of the Nylas API it plays is shown here. */
class NylasSimulatorTest {

    private static final String KEY = "sim-key";
    private static final String SECRET = "sim-secret";
    private static final String GRANT = "grant-s";
    private static final long SOON = Instant.now().getEpochSecond() + 3600;

    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final NylasSimulator sim = new NylasSimulator(KEY);
    private final List<Receiver> receivers = new ArrayList<>();

    @AfterEach
    void stop() {
        sim.close();
        receivers.forEach(r -> r.server.stop(0));
    }

    /** A webhook endpoint that records what it gets and answers the scripted statuses, then 200. */
    final class Receiver {
        final HttpServer server;
        final ConcurrentLinkedQueue<Map<String, Object>> received = new ConcurrentLinkedQueue<>();
        final ConcurrentLinkedQueue<String> bodies = new ConcurrentLinkedQueue<>();
        final ConcurrentLinkedQueue<Integer> statuses = new ConcurrentLinkedQueue<>();
        final AtomicInteger badSignatures = new AtomicInteger();

        Receiver() throws IOException {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            server.createContext("/hook", exchange -> {
                byte[] body = exchange.getRequestBody().readAllBytes();
                if (!Signing.sign(body, SECRET).equals(exchange.getRequestHeaders().getFirst("X-Nylas-Signature"))) {
                    badSignatures.incrementAndGet();
                }
                received.add(json.readValue(body, new TypeReference<>() {
                }));
                bodies.add(new String(body, StandardCharsets.UTF_8));
                Integer status = statuses.poll();
                exchange.sendResponseHeaders(status == null ? 200 : status, -1);
                exchange.close();
            });
            server.start();
            receivers.add(this);
        }

        String url() {
            return "http://127.0.0.1:" + server.getAddress().getPort() + "/hook";
        }

        List<String> types() {
            return received.stream().map(n -> (String) n.get("type")).toList();
        }
    }

    private HttpResponse<String> call(String method, String path, Object body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(sim.baseUrl() + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body)));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> call(String method, String path, Object body) throws Exception {
        return call(method, path, body, KEY);
    }

    private JsonNode data(HttpResponse<String> response) throws IOException {
        return json.readTree(response.body()).path("data");
    }

    private static Map<String, Object> fields(String title, long start) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("title", title);
        f.put("when", Map.of("start_time", start, "end_time", start + 1800));
        return f;
    }

    private String create(String title, long start, Map<String, Object> metadata) throws Exception {
        Map<String, Object> f = fields(title, start);
        if (metadata != null) {
            f.put("metadata", metadata);
        }
        return data(call("POST", "/v3/grants/" + GRANT + "/events?calendar_id=primary", f)).path("id").asText();
    }

    @Test
    void missingOrWrongKeyIsUnauthorizedWithTheErrorEnvelope() throws Exception {
        HttpResponse<String> response = call("GET", "/v3/grants/g/events?calendar_id=c", null, "wrong");

        assertThat(response.statusCode()).isEqualTo(401);
        JsonNode body = json.readTree(response.body());
        assertThat(body.path("request_id").asText()).isNotEmpty();
        assertThat(body.path("error").path("type").asText()).isEqualTo("unauthorized");
    }

    @Test
    void requestsAreValidatedLikeTheRealApi() throws Exception {
        String events = "/v3/grants/" + GRANT + "/events";
        Map<String, Object> tooManyPairs = new LinkedHashMap<>();
        for (int i = 0; i < 51; i++) {
            tooManyPairs.put("k" + i, "v");
        }

        assertThat(call("GET", events, null).statusCode()).as("calendar_id required").isEqualTo(400);
        assertThat(call("POST", events + "?calendar_id=c", Map.of("title", "no when")).statusCode()).isEqualTo(400);
        assertThat(call("POST", events + "?calendar_id=c", Map.of("when", Map.of("start_time", 1, "end_time", 2),
                "metadata", tooManyPairs)).statusCode()).isEqualTo(400);
        assertThat(call("POST", events + "?calendar_id=c", Map.of("when", Map.of("start_time", 1, "end_time", 2),
                "metadata", Map.of("key1", "x".repeat(501)))).statusCode()).isEqualTo(400);
        assertThat(call("GET", events + "?calendar_id=c&limit=201", null).statusCode()).isEqualTo(400);
        assertThat(call("GET", events + "?calendar_id=c&metadata_pair=key6:x", null).statusCode()).isEqualTo(400);
    }

    @Test
    void updateMergesTopLevelFieldsReplacesNestedOnesAndAdvancesUpdatedAt() throws Exception {
        String id = create("Planning", SOON, Map.of("key1", "rec-1", "key2", "other"));
        JsonNode before = data(call("GET", "/v3/grants/" + GRANT + "/events/" + id + "?calendar_id=primary", null));

        JsonNode after = data(call("PUT", "/v3/grants/" + GRANT + "/events/" + id + "?calendar_id=primary",
                Map.of("description", "Agenda", "metadata", Map.of("key1", "rec-1"))));

        assertThat(after.path("title").asText()).as("untouched top-level field kept").isEqualTo("Planning");
        assertThat(after.path("description").asText()).isEqualTo("Agenda");
        assertThat(after.path("metadata").has("key2")).as("nested object replaced whole").isFalse();
        assertThat(after.path("updated_at").asLong()).isGreaterThan(before.path("updated_at").asLong());
    }

    @Test
    void deletedEventIsGoneUnlessCancelledEventsAreAskedFor() throws Exception {
        String id = create("Gone", SOON, null);

        assertThat(call("DELETE", "/v3/grants/" + GRANT + "/events/" + id + "?calendar_id=primary", null)
                .statusCode()).isEqualTo(200);
        assertThat(call("GET", "/v3/grants/" + GRANT + "/events/" + id + "?calendar_id=primary", null).statusCode())
                .isEqualTo(404);
        assertThat(data(call("GET", "/v3/grants/" + GRANT + "/events?calendar_id=primary", null))).isEmpty();
        assertThat(data(call("GET", "/v3/grants/" + GRANT + "/events?calendar_id=primary&show_cancelled=true", null))
                .get(0).path("status").asText()).isEqualTo("cancelled");
        assertThat(sim.event(GRANT, id)).containsEntry("status", "cancelled");
    }

    @Test
    void listPagesWithNextCursorAndFiltersOnMetadataAndWindow() throws Exception {
        for (int i = 0; i < 450; i++) {
            sim.putEvent(Map.of("id", "p-" + i, "grant_id", GRANT, "calendar_id", "primary", "updated_at", 1,
                    "when", Map.of("start_time", SOON, "end_time", SOON + 60)));
        }
        create("Tagged", SOON, Map.of("key1", "rec-7"));
        create("In two months", SOON + 60L * 24 * 3600, null);
        Set<String> seen = new HashSet<>();
        String token = null;
        int pages = 0;
        do {
            JsonNode page = json.readTree(call("GET", "/v3/grants/" + GRANT + "/events?calendar_id=primary&limit=200"
                    + (token == null ? "" : "&page_token=" + token), null).body());
            page.path("data").forEach(e -> seen.add(e.path("id").asText()));
            token = page.path("next_cursor").isNull() ? null : page.path("next_cursor").asText();
            pages++;
        } while (token != null);

        assertThat(pages).isEqualTo(3);
        assertThat(seen).hasSize(451).doesNotContain("In two months");
        assertThat(data(call("GET", "/v3/grants/" + GRANT + "/events?calendar_id=primary&metadata_pair=key1:rec-7",
                null))).hasSize(1);
        assertThat(data(call("GET", "/v3/grants/" + GRANT + "/events?calendar_id=primary&limit=200&start="
                + (SOON + 59L * 24 * 3600) + "&end=" + (SOON + 61L * 24 * 3600), null))).hasSize(1);
        assertThat(sim.countWithKey1(GRANT, "rec-7", false)).isEqualTo(1);
    }

    @Test
    void everyChangeIsASignedNotificationAndMetadataOnlyChangesAreNot() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());

        String id = create("Hook", SOON, Map.of("key1", "r"));
        call("PUT", "/v3/grants/" + GRANT + "/events/" + id + "?calendar_id=primary", Map.of("title", "Hook 2"));
        call("PUT", "/v3/grants/" + GRANT + "/events/" + id + "?calendar_id=primary",
                Map.of("metadata", Map.of("key1", "r", "key2", "x")));
        call("DELETE", "/v3/grants/" + GRANT + "/events/" + id + "?calendar_id=primary", null);

        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.received.size() == 3 && sim.webhooksQuiet());
        // delivery is unordered, as with Nylas
        assertThat(receiver.types()).containsExactlyInAnyOrder("event.created", "event.updated", "event.deleted");
        assertThat(receiver.badSignatures).hasValue(0);
        Map<String, Object> deleted = receiver.received.stream().filter(n -> "event.deleted".equals(n.get("type")))
                .findFirst().orElseThrow();
        @SuppressWarnings("unchecked")
        Map<String, Object> object = (Map<String, Object>) ((Map<String, Object>) deleted.get("data")).get("object");
        assertThat(object).containsOnlyKeys("id", "object", "grant_id", "calendar_id", "metadata");
    }

    @Test
    void failedDeliveriesAreRetriedUpToThreeAttemptsAcrossInstances() throws Exception {
        Receiver first = new Receiver();
        Receiver second = new Receiver();
        sim.webhookRetryDelay(Duration.ofMillis(10), 3);
        sim.deliverWebhooksTo(SECRET, first.url(), second.url());
        first.statuses.add(503);
        second.statuses.add(500);

        sim.userCreates(GRANT, "primary", fields("Third time lucky", SOON));
        await().atMost(Duration.ofSeconds(10)).until(sim::webhooksQuiet);

        assertThat(first.received).hasSize(2);
        assertThat(second.received).hasSize(1);
        assertThat(sim.webhookCount("ok")).isEqualTo(1);
        assertThat(new ArrayList<>(first.received).get(1)).containsEntry("webhook_delivery_attempt", 3);

        first.statuses.addAll(List.of(500, 500));
        second.statuses.addAll(List.of(500, 500));
        sim.userCreates(GRANT, "primary", fields("Given up", SOON));
        await().atMost(Duration.ofSeconds(10)).until(sim::webhooksQuiet);

        assertThat(first.received.size() + second.received.size()).isEqualTo(6);
        assertThat(sim.webhookCount("ok")).isEqualTo(1);
        assertThat(sim.webhookCount("failed")).isEqualTo(5);
    }

    @Test
    void duplicatesKeepTheirNotificationIdAndDropsNeverArrive() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        sim.faults.rateDuplicate = 1;
        sim.faults.concurrentDuplicates = true;

        sim.userCreates(GRANT, "primary", fields("Twice", SOON));
        await().atMost(Duration.ofSeconds(10)).until(sim::webhooksQuiet);
        sim.faults.rateDuplicate = 0;
        sim.faults.rateDrop = 1;
        sim.userCreates(GRANT, "primary", fields("Never", SOON));
        await().atMost(Duration.ofSeconds(10)).until(sim::webhooksQuiet);

        assertThat(receiver.received.size()).isBetween(2, 3);
        assertThat(receiver.received.stream().map(n -> n.get("id")).distinct()).hasSize(1);
        assertThat(sim.webhookCount("dropped")).isEqualTo(1);
    }

    @Test
    void pausedNotificationsAreReleasedLaterInAnotherOrder() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        sim.pauseWebhooks();
        Map<String, Object> e = sim.userCreates(GRANT, "primary", fields("Held", SOON));
        sim.userUpdates(GRANT, (String) e.get("id"), Map.of("title", "Held 2"));
        sim.userDeletes(GRANT, (String) e.get("id"));
        assertThat(receiver.received).isEmpty();

        sim.releaseWebhooksInReverse();

        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.received.size() == 3);
        assertThat(receiver.types()).containsExactly("event.deleted", "event.updated", "event.created");
    }

    @Test
    void heldNotificationsCanBeReleasedNewestFirstEachDuplicated() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        sim.pauseWebhooks();
        Map<String, Object> e = sim.userCreates(GRANT, "primary", fields("Held", SOON));
        sim.userUpdates(GRANT, (String) e.get("id"), Map.of("title", "Held 2"));
        sim.faults.rateDuplicate = 1; // one copy after the other (concurrentDuplicates: at once)

        sim.releaseWebhooks(NylasSimulator.ReleaseOrder.NEWEST_FIRST, true);

        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.received.size() >= 4 && sim.webhooksQuiet());
        List<Object> ids = receiver.received.stream().map(n -> n.get("id")).toList();
        assertThat(ids).as("each notification delivered 2-3 times").hasSizeBetween(4, 6);
        assertThat(ids.stream().distinct()).hasSize(2);
        List<String> types = receiver.types();
        assertThat(types.subList(0, types.indexOf("event.created"))).as("the update's copies before the create's")
                .hasSizeGreaterThanOrEqualTo(2).containsOnly("event.updated");
        assertThat(types.subList(types.indexOf("event.created"), types.size())).containsOnly("event.created");
        assertThat(sim.webhookCount("duplicated")).isEqualTo(2);
    }

    @Test
    void rateLimitAnswersRetryAfterAndServerErrorsUseTheEnvelope() throws Exception {
        sim.faults.retryAfterSeconds = 7;
        sim.failNext(429, 503);

        HttpResponse<String> limited = call("GET", "/v3/grants/g/events?calendar_id=c", null);
        HttpResponse<String> unavailable = call("GET", "/v3/grants/g/events?calendar_id=c", null);
        HttpResponse<String> fine = call("GET", "/v3/grants/g/events?calendar_id=c", null);

        assertThat(limited.statusCode()).isEqualTo(429);
        assertThat(limited.headers().firstValue("Retry-After")).hasValue("7");
        assertThat(json.readTree(unavailable.body()).path("error").path("type").asText()).isEqualTo("api_error");
        assertThat(fine.statusCode()).isEqualTo(200);
        assertThat(sim.calls("GET 429")).isEqualTo(1);
    }

    @Test
    void lostResponseAppliesTheWriteButNeverAnswers() {
        sim.faults.rateLostResponse = 1;

        assertThatThrownBy(() -> create("Lost", SOON, Map.of("key1", "rec-lost"))).isInstanceOf(IOException.class);
        assertThat(sim.countWithKey1(GRANT, "rec-lost", false)).isEqualTo(1);
        assertThat(sim.calls("POST lost")).isEqualTo(1);
    }

    @Test
    void editsWithinOneSecondCarryOneUpdatedAtAndEachSendsAWebhook() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        String id = (String) sim.userCreates(GRANT, "primary", fields("Draft", SOON)).get("id");

        List<Map<String, Object>> versions = sim.userEditsWithinOneSecond(GRANT, id,
                List.of(Map.of("title", "Draft 1"), Map.of("title", "Draft 2"), Map.of("title", "Draft 3")));

        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.received.size() == 4 && sim.webhooksQuiet());
        assertThat(versions).extracting(v -> v.get("updated_at")).containsOnly(versions.get(0).get("updated_at"));
        assertThat(sim.event(GRANT, id)).containsEntry("title", "Draft 3")
                .containsEntry("updated_at", versions.get(0).get("updated_at"));
        assertThat(receiver.received.stream().filter(n -> "event.updated".equals(n.get("type")))
                .map(n -> object(n).get("updated_at")).distinct()).hasSize(1);
        assertThat(receiver.received.stream().filter(n -> "event.updated".equals(n.get("type")))
                .map(n -> object(n).get("title"))).containsExactlyInAnyOrder("Draft 1", "Draft 2", "Draft 3");
    }

    @Test
    void grantNotificationsAreSignedWithTheTimeGivenAndNeverDropped() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        sim.faults.rateDrop = 1;
        long now = Instant.now().getEpochSecond();

        sim.grantReauthenticated(GRANT, now);
        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.received.size() == 1);
        sim.grantExpired(GRANT, now - 600); // the older notification arrives last

        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.received.size() == 2 && sim.webhooksQuiet());
        List<Map<String, Object>> received = new ArrayList<>(receiver.received);
        assertThat(receiver.types()).containsExactly("grant.updated", "grant.expired");
        assertThat(received).extracting(n -> n.get("source")).containsOnly("/nylas/system");
        assertThat(received).extracting(n -> ((Number) n.get("time")).longValue()).containsExactly(now, now - 600);
        assertThat(object(received.get(0))).containsEntry("grant_id", GRANT).containsEntry("reauthentication_flag", true);
        assertThat(object(received.get(1))).containsEntry("grant_id", GRANT);
        assertThat(receiver.badSignatures).hasValue(0);
    }

    @Test
    void slowCreateLandsAfterTheClientGaveUpAndItsWebhookFollows() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        sim.slowNextCreateOf("rec-slow", Duration.ofMillis(1500));
        Map<String, Object> f = fields("Slow", SOON);
        f.put("metadata", Map.of("key1", "rec-slow"));
        HttpRequest create = HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/v3/grants/" + GRANT
                        + "/events?calendar_id=primary")).timeout(Duration.ofMillis(300))
                .header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(f))).build();

        assertThatThrownBy(() -> http.send(create, HttpResponse.BodyHandlers.ofString()))
                .isInstanceOf(java.net.http.HttpTimeoutException.class);
        assertThat(sim.countWithKey1(GRANT, "rec-slow", true)).as("not landed when the client gave up").isZero();
        assertThat(sim.callsQuiet()).as("the slow create is still in progress").isFalse();

        await().atMost(Duration.ofSeconds(10)).until(sim::callsQuiet);
        assertThat(sim.countWithKey1(GRANT, "rec-slow", false)).isEqualTo(1);
        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.types().contains("event.created"));
        assertThat(create("Not slow again", SOON, Map.of("key1", "rec-slow"))).as("only the next create is slow")
                .isNotEmpty();
    }

    @Test
    void oddTextTravelsAsJsonEscapesAndValidTextAsItIs() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        String title = "Nul\u0000 lone\ud800 low\udc00 rocket\ud83d\ude80 \u05e9\u05dc\u05d5\u05dd";

        sim.userCreates(GRANT, "primary", fields(title, SOON));

        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.received.size() == 1);
        String body = receiver.bodies.peek();
        assertThat(body).contains("Nul\\u0000 lone\\ud800 low\\udc00 rocket\ud83d\ude80 \u05e9\u05dc\u05d5\u05dd");
        assertThat(object(receiver.received.peek())).containsEntry("title", title);
        assertThat(receiver.badSignatures).hasValue(0);
        JsonNode listed = data(call("GET", "/v3/grants/" + GRANT + "/events?calendar_id=primary", null));
        assertThat(listed.get(0).path("title").asText()).as("the API answers the same text").isEqualTo(title);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Map<String, Object> notification) {
        return (Map<String, Object>) ((Map<String, Object>) notification.get("data")).get("object");
    }

    @Test
    void theSameSeedGivesTheSameFaults() {
        List<Boolean> first = new ArrayList<>();
        List<Boolean> second = new ArrayList<>();
        sim.faults.reseed(42);
        for (int i = 0; i < 50; i++) {
            first.add(sim.faults.roll(0.3));
        }
        sim.faults.reseed(42);
        for (int i = 0; i < 50; i++) {
            second.add(sim.faults.roll(0.3));
        }

        assertThat(first).isEqualTo(second).contains(true, false);
    }

    @Test
    void providerQuirksRewriteWhatWasWrittenWithoutChangingItsMeaning() throws Exception {
        sim.quirks.all();
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("title", "Quirky");
        f.put("when", Map.of("start_time", SOON, "end_time", SOON + 60, "start_timezone", "America/New_York",
                "end_timezone", "America/New_York"));
        f.put("participants", List.of(Map.of("email", "ada@example.com"), Map.of("email", "bob@example.com")));
        JsonNode timed = data(call("POST", "/v3/grants/" + GRANT + "/events?calendar_id=primary", f));
        JsonNode allDay = data(call("POST", "/v3/grants/" + GRANT + "/events?calendar_id=primary",
                Map.of("title", "Day", "when", Map.of("date", "2026-12-24"))));

        assertThat(timed.path("participants").get(0).path("email").asText()).isEqualTo("bob@EXAMPLE.COM");
        assertThat(timed.path("participants").get(1).path("status").asText()).isEqualTo("noreply");
        assertThat(timed.path("when").path("start_timezone").asText()).isEqualTo("US/Eastern");
        assertThat(timed.path("when").path("start_time").asLong()).isEqualTo(SOON);
        assertThat(allDay.path("when").path("start_date").asText()).isEqualTo("2026-12-24");
        assertThat(allDay.path("when").path("end_date").asText()).isEqualTo("2026-12-25");
    }

    @Test
    void controlSurfaceActsAsTheUserAndShowsState() throws Exception {
        HttpResponse<String> created = call("POST", "/_sim/user/events?grant_id=" + GRANT + "&calendar_id=primary",
                fields("By the user", SOON), null);
        String id = json.readTree(created.body()).path("id").asText();
        call("DELETE", "/_sim/user/events/" + GRANT + "/" + id, null, null);

        JsonNode events = json.readTree(call("GET", "/_sim/events?grant_id=" + GRANT, null, null).body());

        assertThat(created.statusCode()).isEqualTo(200);
        assertThat(events.path("data").get(0).path("status").asText()).isEqualTo("cancelled");
        assertThat(json.readTree(call("GET", "/_sim/counters", null, null).body()).isObject()).isTrue();
        assertThat(new String(created.body().getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8))
                .doesNotContain("metadata");
    }

    // ------------------------------------------------------------------------------------------ recurring series

    /** Monday 7 January 2030, 09:00 UTC: a fixed weekday for weekly rules, ahead of any run. */
    private static final long MONDAY = Instant.parse("2030-01-07T09:00:00Z").getEpochSecond();
    private static final long DAY = 24 * 3600;
    private static final long WEEK = 7 * DAY;
    private static final String EVENTS = "/v3/grants/" + GRANT + "/events";

    private static Map<String, Object> series(String title, long start, String... recurrence) {
        Map<String, Object> f = fields(title, start);
        f.put("recurrence", List.of(recurrence));
        return f;
    }

    private JsonNode post(Map<String, Object> fields) throws Exception {
        HttpResponse<String> response = call("POST", EVENTS + "?calendar_id=primary", fields);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return data(response);
    }

    /** {@code GET …/events} of the primary calendar with these query parameters. */
    private JsonNode list(String query) throws Exception {
        HttpResponse<String> response = call("GET", EVENTS + "?calendar_id=primary&limit=200&" + query, null);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return data(response);
    }

    private static String window(long from, long to) {
        return "start=" + from + "&end=" + to;
    }

    /** A call on one event (or occurrence) of the primary calendar. */
    private HttpResponse<String> onEvent(String method, String id, Object body) throws Exception {
        return call(method, EVENTS + "/" + id + "?calendar_id=primary", body);
    }

    private static List<String> ids(JsonNode events) {
        List<String> out = new ArrayList<>();
        events.forEach(e -> out.add(e.path("id").asText()));
        return out;
    }

    private static String weekly(String masterId, int week) {
        return NylasSimulator.occurrenceId(masterId, MONDAY + week * WEEK);
    }

    private static String utc(long time) {
        return Series.UTC_FORM.format(Instant.ofEpochSecond(time));
    }

    /** The notifications received about one series (its master's and its occurrences'), once all were delivered. */
    private List<Map<String, Object>> aboutSeries(Receiver receiver, String masterId, int expected) {
        await().atMost(Duration.ofSeconds(10)).until(() -> sim.webhooksQuiet() && receiver.received.stream()
                .filter(n -> isAbout(n, masterId)).count() >= expected);
        return receiver.received.stream().filter(n -> isAbout(n, masterId)).toList();
    }

    private static boolean isAbout(Map<String, Object> notification, String masterId) {
        Map<String, Object> o = object(notification);
        return masterId.equals(o.get("id")) || masterId.equals(o.get("master_event_id"));
    }

    @Test
    void aRecurrenceMustBeOneReadableRruleWithExdatesOnATimespan() throws Exception {
        List<List<String>> refused = List.of(
                List.of("EXRULE:FREQ=DAILY"),
                List.of("RRULE:FREQ=WEEKLY;COUNT=2", "RDATE:20300108T090000Z"),
                List.of("RRULE:FREQ=SOMETIMES"),
                List.of("RRULE:FREQ=WEEKLY;COUNT=2;UNTIL=20300301T000000Z"),
                List.of("RRULE:FREQ=DAILY;COUNT=2", "RRULE:FREQ=WEEKLY;COUNT=2"),
                List.of("EXDATE:20300107T090000Z"),
                List.of("DTSTART:20300107T090000Z", "RRULE:FREQ=DAILY"));
        for (List<String> recurrence : refused) {
            Map<String, Object> f = fields("Refused", MONDAY);
            f.put("recurrence", recurrence);
            HttpResponse<String> response = call("POST", EVENTS + "?calendar_id=primary", f);
            assertThat(response.statusCode()).as(recurrence.toString()).isEqualTo(400);
            assertThat(json.readTree(response.body()).path("error").path("type").asText())
                    .isEqualTo("invalid_request_error");
        }
        assertThat(call("POST", EVENTS + "?calendar_id=primary", Map.of("when", Map.of("date", "2030-01-07"),
                "recurrence", List.of("RRULE:FREQ=DAILY;COUNT=2"))).statusCode()).as("all-day series").isEqualTo(400);

        String id = post(series("Weekly", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=3")).path("id").asText();

        assertThat(onEvent("PUT", id, Map.of("recurrence", List.of("EXRULE:FREQ=DAILY"))).statusCode()).isEqualTo(400);
        assertThat(onEvent("PUT", weekly(id, 1), Map.of("recurrence", List.of("RRULE:FREQ=DAILY")))
                .statusCode()).as("an occurrence cannot become a series").isEqualTo(400);
        assertThat(sim.event(GRANT, id).get("recurrence")).isEqualTo(List.of("RRULE:FREQ=WEEKLY;COUNT=3"));
        assertThat(sim.calls("POST 400") + sim.calls("PUT 400")).isEqualTo(refused.size() + 3);
    }

    @Test
    void aSeriesIsListedAsItsOccurrencesEachWithItsOwnIdAndItsMastersFields() throws Exception {
        Map<String, Object> f = series("Standup", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4");
        f.put("metadata", Map.of("key1", "rec-series"));
        String id = post(f).path("id").asText();

        JsonNode listed = list(window(MONDAY - DAY, MONDAY + 10 * WEEK)); // expand_recurring absent: true

        assertThat(ids(listed)).as("the master itself is not listed")
                .containsExactly(weekly(id, 0), weekly(id, 1), weekly(id, 2), weekly(id, 3));
        assertThat(weekly(id, 1)).isEqualTo(id + "_20300114T090000Z");
        for (int week = 0; week < 4; week++) {
            JsonNode o = listed.get(week);
            assertThat(o.path("master_event_id").asText()).isEqualTo(id);
            assertThat(o.path("original_start_time").asLong()).isEqualTo(MONDAY + week * WEEK);
            assertThat(o.path("when").path("start_time").asLong()).isEqualTo(MONDAY + week * WEEK);
            assertThat(o.path("when").path("end_time").asLong()).isEqualTo(MONDAY + week * WEEK + 1800);
            assertThat(o.path("title").asText()).isEqualTo("Standup");
            assertThat(o.path("metadata").path("key1").asText()).as("the master's metadata").isEqualTo("rec-series");
            assertThat(o.path("status").asText()).isEqualTo("confirmed");
            assertThat(o.has("recurrence")).isFalse();
        }
        assertThat(list("expand_recurring=true&" + window(MONDAY - DAY, MONDAY + 10 * WEEK))).isEqualTo(listed);
        assertThat(ids(list(window(MONDAY + WEEK, MONDAY + 2 * WEEK)))).as("only the window's")
                .containsExactly(weekly(id, 1));
    }

    @Test
    void aSeriesKeepsItsLocalTimeAcrossDaylightSavingInItsMastersTimeZone() throws Exception {
        long lastWinterMonday = Instant.parse("2030-03-25T08:00:00Z").getEpochSecond(); // 09:00 in Berlin
        Map<String, Object> f = fields("Berlin", lastWinterMonday);
        f.put("when", Map.of("start_time", lastWinterMonday, "end_time", lastWinterMonday + 1800,
                "start_timezone", "Europe/Berlin", "end_timezone", "Europe/Berlin"));
        f.put("recurrence", List.of("RRULE:FREQ=WEEKLY;COUNT=2"));
        post(f);

        JsonNode listed = list(window(lastWinterMonday, lastWinterMonday + 2 * WEEK));

        assertThat(listed.get(1).path("when").path("start_time").asLong()).as("09:00 in Berlin is 07:00 UTC in April")
                .isEqualTo(Instant.parse("2030-04-01T07:00:00Z").getEpochSecond());
        assertThat(listed.get(1).path("when").path("end_time").asLong())
                .isEqualTo(Instant.parse("2030-04-01T07:30:00Z").getEpochSecond());
    }

    @Test
    void anExdateRemovesItsOccurrence() throws Exception {
        String id = post(series("Weekly", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE:" + utc(MONDAY + WEEK),
                "EXDATE;TZID=Europe/Berlin:20300121T100000")).path("id").asText(); // week 2, 09:00 UTC

        assertThat(ids(list(window(MONDAY, MONDAY + 5 * WEEK)))).containsExactly(weekly(id, 0), weekly(id, 3));
        assertThat(onEvent("GET", weekly(id, 1), null).statusCode()).isEqualTo(404);
        assertThat(onEvent("GET", weekly(id, 2), null).statusCode()).isEqualTo(404);
        assertThat(sim.occurrences(GRANT, id, MONDAY, MONDAY + 5 * WEEK)).hasSize(2);
    }

    @Test
    void aDateUntilIncludesThatWholeDay() throws Exception {
        String id = post(series("Until a date", MONDAY, "RRULE:FREQ=WEEKLY;UNTIL=20300121")).path("id").asText();

        assertThat(ids(list(window(MONDAY, MONDAY + 5 * WEEK))))
                .containsExactly(weekly(id, 0), weekly(id, 1), weekly(id, 2));
    }

    @Test
    void withoutExpansionAListingGivesMastersWhoseSeriesOverlapsAndOverridesInTheWindow() throws Exception {
        String ten = post(series("Ten weeks", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=10")).path("id").asText();
        String later = post(series("Later", MONDAY + 20 * WEEK, "RRULE:FREQ=WEEKLY;COUNT=2")).path("id").asText();
        String single = post(fields("Single", MONDAY + DAY)).path("id").asText();
        onEvent("PUT", weekly(ten, 2), Map.of("title", "Edited"));
        onEvent("DELETE", weekly(ten, 3), null);
        String firstFiveWeeks = window(MONDAY, MONDAY + 5 * WEEK);

        JsonNode listed = list("expand_recurring=false&" + firstFiveWeeks);
        JsonNode withCancelled = list("expand_recurring=false&show_cancelled=true&" + firstFiveWeeks);

        assertThat(ids(listed)).containsExactlyInAnyOrder(ten, weekly(ten, 2), single).doesNotContain(later);
        JsonNode master = listed.get(ids(listed).indexOf(ten));
        assertThat(master.path("recurrence").get(0).asText()).isEqualTo("RRULE:FREQ=WEEKLY;COUNT=10");
        assertThat(listed.get(ids(listed).indexOf(weekly(ten, 2))).path("title").asText()).isEqualTo("Edited");
        assertThat(ids(withCancelled)).containsExactlyInAnyOrder(ten, weekly(ten, 2), weekly(ten, 3), single);
        assertThat(withCancelled.get(ids(withCancelled).indexOf(weekly(ten, 3))).path("status").asText())
                .isEqualTo("cancelled");
        assertThat(ids(list("expand_recurring=false&" + window(MONDAY + 12 * WEEK, MONDAY + 13 * WEEK))))
                .as("after the series' last occurrence").isEmpty();
        assertThat(call("GET", EVENTS + "?calendar_id=primary&expand_recurring=maybe", null).statusCode())
                .isEqualTo(400);
    }

    @Test
    void masterEventIdListsOneSeriesGoogleUnchangedOccurrencesFirstMicrosoftByTime() throws Exception {
        String id = post(series("Weekly", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4")).path("id").asText();
        post(series("Another", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4"));
        onEvent("PUT", weekly(id, 1), Map.of("title", "Edited"));
        String query = "master_event_id=" + id + "&" + window(MONDAY, MONDAY + 5 * WEEK);

        JsonNode google = list(query);
        sim.quirks.recurrenceStyle = ProviderQuirks.RecurrenceStyle.MICROSOFT;
        JsonNode microsoft = list(query);

        assertThat(ids(google)).containsExactly(weekly(id, 0), weekly(id, 2), weekly(id, 3), weekly(id, 1));
        assertThat(ids(microsoft)).containsExactly(weekly(id, 0), weekly(id, 1), weekly(id, 2), weekly(id, 3));
    }

    @Test
    void aRuleWithoutEndIsExpandedOnlyWithinTheWindowAndTheCapAndPaged() throws Exception {
        String id = post(series("Daily forever", MONDAY, "RRULE:FREQ=DAILY")).path("id").asText();
        Set<String> seen = new HashSet<>();
        String token = null;
        int pages = 0;
        do {
            JsonNode page = json.readTree(call("GET", EVENTS + "?calendar_id=primary&limit=200&"
                    + window(MONDAY, MONDAY + 3650 * DAY) + (token == null ? "" : "&page_token=" + token), null).body());
            page.path("data").forEach(e -> seen.add(e.path("id").asText()));
            token = page.path("next_cursor").isNull() ? null : page.path("next_cursor").asText();
            pages++;
        } while (token != null);

        assertThat(seen).hasSize(Series.MAX_OCCURRENCES).contains(NylasSimulator.occurrenceId(id, MONDAY));
        assertThat(pages).isEqualTo(Series.MAX_OCCURRENCES / 200);
        assertThat(ids(list(window(MONDAY + 3000 * DAY, MONDAY + 3002 * DAY)))).as("far ahead, just the window's")
                .containsExactly(NylasSimulator.occurrenceId(id, MONDAY + 3000 * DAY),
                        NylasSimulator.occurrenceId(id, MONDAY + 3001 * DAY));
    }

    @Test
    void aMetadataFilterFindsTheMasterNeverItsOccurrences() throws Exception {
        Map<String, Object> f = series("Tagged", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4");
        f.put("metadata", Map.of("key1", "rec-m"));
        String id = post(f).path("id").asText();
        onEvent("PUT", weekly(id, 1), Map.of("title", "An override carries the metadata too"));

        JsonNode found = list("metadata_pair=key1:rec-m");

        assertThat(ids(found)).containsExactly(id);
        assertThat(found.get(0).has("recurrence")).isTrue();
        assertThat(sim.countWithKey1(GRANT, "rec-m", false)).isEqualTo(1);
    }

    @Test
    void anOccurrenceIsFoundByItsIdUntilItIsRemoved() throws Exception {
        String id = post(series("Weekly", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4")).path("id").asText();
        onEvent("PUT", weekly(id, 2), Map.of("title", "Edited"));

        HttpResponse<String> generated = onEvent("GET", weekly(id, 1), null);
        HttpResponse<String> edited = onEvent("GET", weekly(id, 2), null);

        assertThat(generated.statusCode()).isEqualTo(200);
        assertThat(data(generated).path("master_event_id").asText()).isEqualTo(id);
        assertThat(data(edited).path("title").asText()).isEqualTo("Edited");
        assertThat(onEvent("GET", NylasSimulator.occurrenceId(id, MONDAY + WEEK + 60), null).statusCode())
                .as("no occurrence starts then").isEqualTo(404);
        assertThat(onEvent("GET", weekly(id, 4), null).statusCode()).as("after COUNT").isEqualTo(404);
        assertThat(onEvent("GET", id + "_tomorrow", null).statusCode()).isEqualTo(404);
        assertThat(onEvent("DELETE", weekly(id, 1), null).statusCode()).isEqualTo(200);
        assertThat(onEvent("GET", weekly(id, 1), null).statusCode()).as("cancelled").isEqualTo(404);
        assertThat(onEvent("DELETE", id, null).statusCode()).isEqualTo(200);
        assertThat(onEvent("GET", weekly(id, 2), null).statusCode()).as("series deleted").isEqualTo(404);
        assertThat(onEvent("GET", weekly(id, 3), null).statusCode()).as("series deleted").isEqualTo(404);
    }

    @Test
    void editingAnOccurrenceStoresItsOverrideAndLeavesTheSeriesAsItWas() throws Exception {
        Map<String, Object> f = series("Weekly", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4");
        f.put("metadata", Map.of("key1", "rec-o"));
        JsonNode master = post(f);
        String id = master.path("id").asText();
        long moved = MONDAY + WEEK + 3600;

        JsonNode override = data(onEvent("PUT", weekly(id, 1), Map.of("title", "Moved",
                "when", Map.of("start_time", moved, "end_time", moved + 600))));
        JsonNode again = data(onEvent("PUT", weekly(id, 1), Map.of("description", "Agenda")));

        assertThat(override.path("id").asText()).isEqualTo(weekly(id, 1));
        assertThat(override.path("master_event_id").asText()).isEqualTo(id);
        assertThat(override.path("original_start_time").asLong()).isEqualTo(MONDAY + WEEK);
        assertThat(override.path("when").path("start_time").asLong()).isEqualTo(moved);
        assertThat(override.path("metadata").path("key1").asText()).isEqualTo("rec-o");
        assertThat(override.path("updated_at").asLong()).as("its own updated_at")
                .isGreaterThan(master.path("updated_at").asLong());
        assertThat(again.path("title").asText()).as("merged like any PUT").isEqualTo("Moved");
        assertThat(again.path("description").asText()).isEqualTo("Agenda");
        assertThat(again.path("updated_at").asLong()).isGreaterThan(override.path("updated_at").asLong());
        JsonNode listed = list(window(MONDAY, MONDAY + 5 * WEEK));
        assertThat(ids(listed)).containsExactly(weekly(id, 0), weekly(id, 1), weekly(id, 2), weekly(id, 3));
        assertThat(listed.get(1).path("when").path("start_time").asLong()).isEqualTo(moved);
        assertThat(listed.get(2).path("title").asText()).isEqualTo("Weekly");
        assertThat(data(onEvent("GET", id, null))).as("the master unchanged").isEqualTo(master);
        assertThat(ids(list(window(moved + 900, moved + 1800)))).as("found at its new time only").isEmpty();
    }

    @Test
    void anEditedOccurrenceIsNotifiedAsItsMasterListingItOnGoogleAndAsItsMasterAloneOnMicrosoft() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        String google = post(series("Google", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4")).path("id").asText();
        onEvent("PUT", weekly(google, 1), Map.of("title", "Edited"));
        sim.quirks.recurrenceStyle = ProviderQuirks.RecurrenceStyle.MICROSOFT;
        String microsoft = post(series("Microsoft", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4")).path("id").asText();
        onEvent("PUT", weekly(microsoft, 1), Map.of("title", "Edited"));

        List<Map<String, Object>> ofGoogle = aboutSeries(receiver, google, 2);
        List<Map<String, Object>> ofMicrosoft = aboutSeries(receiver, microsoft, 2);

        Map<String, Object> googleUpdate = object(ofGoogle.stream()
                .filter(n -> "event.updated".equals(n.get("type"))).findFirst().orElseThrow());
        assertThat(googleUpdate).containsEntry("id", google).containsEntry("occurrences", List.of(weekly(google, 1)))
                .containsKey("recurrence");
        Map<String, Object> microsoftUpdate = object(ofMicrosoft.stream()
                .filter(n -> "event.updated".equals(n.get("type"))).findFirst().orElseThrow());
        assertThat(microsoftUpdate).containsEntry("id", microsoft).containsKey("recurrence")
                .doesNotContainKey("occurrences");
        assertThat(receiver.types()).containsExactlyInAnyOrder("event.created", "event.updated", "event.created",
                "event.updated");
    }

    @Test
    void aGoogleCancellationIsACancelledOverrideNotifiedAsConfigured() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        Map<ProviderQuirks.GoogleCancellation, List<String>> expected = Map.of(
                ProviderQuirks.GoogleCancellation.BOTH, List.of("event.created", "event.updated", "event.deleted"),
                ProviderQuirks.GoogleCancellation.UPDATED, List.of("event.created", "event.updated"),
                ProviderQuirks.GoogleCancellation.DELETED, List.of("event.created", "event.deleted"));
        for (ProviderQuirks.GoogleCancellation how : ProviderQuirks.GoogleCancellation.values()) {
            sim.quirks.googleCancellation = how;
            String id = post(series("Weekly", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4")).path("id").asText();

            assertThat(onEvent("DELETE", weekly(id, 1), null).statusCode()).isEqualTo(200);

            List<Map<String, Object>> sent = aboutSeries(receiver, id, expected.get(how).size());
            assertThat(sent).extracting(n -> n.get("type")).as(how.name())
                    .containsExactlyInAnyOrderElementsOf(expected.get(how));
            for (Map<String, Object> n : sent) {
                if ("event.updated".equals(n.get("type"))) {
                    assertThat(object(n)).containsEntry("id", id)
                            .containsEntry("cancelled_occurrences", List.of(weekly(id, 1)));
                } else if ("event.deleted".equals(n.get("type"))) {
                    assertThat(object(n)).containsOnly(Map.entry("id", weekly(id, 1)), Map.entry("object", "event"),
                            Map.entry("grant_id", GRANT), Map.entry("calendar_id", "primary"),
                            Map.entry("master_event_id", id));
                }
            }
            JsonNode cancelled = list("master_event_id=" + id + "&show_cancelled=true&"
                    + window(MONDAY, MONDAY + 5 * WEEK));
            assertThat(cancelled.get(3).path("id").asText()).isEqualTo(weekly(id, 1));
            assertThat(cancelled.get(3).path("status").asText()).isEqualTo("cancelled");
            assertThat(sim.event(GRANT, id).get("recurrence")).as("no EXDATE on Google")
                    .isEqualTo(List.of("RRULE:FREQ=WEEKLY;COUNT=4"));
        }
    }

    @Test
    void aMicrosoftCancellationIsAnExdateOnTheMasterAndDropsTheOverride() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        sim.quirks.recurrenceStyle = ProviderQuirks.RecurrenceStyle.MICROSOFT;
        JsonNode created = post(series("Weekly", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4"));
        String id = created.path("id").asText();
        onEvent("PUT", weekly(id, 1), Map.of("title", "Edited first"));

        assertThat(onEvent("DELETE", weekly(id, 1), null).statusCode()).isEqualTo(200);

        JsonNode master = data(onEvent("GET", id, null));
        assertThat(master.path("recurrence").get(1).asText()).isEqualTo("EXDATE:" + utc(MONDAY + WEEK));
        assertThat(master.path("updated_at").asLong()).isGreaterThan(created.path("updated_at").asLong());
        assertThat(onEvent("GET", weekly(id, 1), null).statusCode()).isEqualTo(404);
        assertThat(ids(list("show_cancelled=true&" + window(MONDAY, MONDAY + 5 * WEEK))))
                .as("no cancelled override either").containsExactly(weekly(id, 0), weekly(id, 2), weekly(id, 3));
        List<Map<String, Object>> sent = aboutSeries(receiver, id, 3);
        assertThat(sent).extracting(n -> n.get("type"))
                .containsExactlyInAnyOrder("event.created", "event.updated", "event.updated");
        assertThat(sent).filteredOn(n -> "event.updated".equals(n.get("type"))).extracting(n -> object(n).get("id"))
                .containsOnly(id);
        assertThat(sent).extracting(n -> object(n).get("recurrence").toString())
                .anyMatch(r -> r.contains("EXDATE:" + utc(MONDAY + WEEK)));
    }

    @Test
    void aRuleChangeOnGoogleKeepsTheOverridesStillInTheNewRule() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        String id = post(series("Weekly", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=5")).path("id").asText();
        onEvent("PUT", weekly(id, 1), Map.of("title", "Kept"));
        onEvent("PUT", weekly(id, 4), Map.of("title", "Beyond the new end"));

        assertThat(onEvent("PUT", id, Map.of("recurrence", List.of("RRULE:FREQ=WEEKLY;COUNT=4"))).statusCode())
                .isEqualTo(200);

        assertThat(data(onEvent("GET", weekly(id, 1), null)).path("title").asText()).isEqualTo("Kept");
        assertThat(onEvent("GET", weekly(id, 4), null).statusCode()).isEqualTo(404);
        assertThat(sim.occurrences(GRANT, id, MONDAY, MONDAY + 10 * WEEK)).extracting(o -> o.get("title"))
                .containsExactly("Weekly", "Kept", "Weekly", "Weekly");
        assertThat(aboutSeries(receiver, id, 4)).extracting(n -> n.get("type"))
                .containsExactlyInAnyOrder("event.created", "event.updated", "event.updated", "event.updated");
    }

    @Test
    void aRuleChangeOnMicrosoftDropsEveryOverrideButTheSameRuleSpelledOtherwiseDoesNot() throws Exception {
        sim.quirks.recurrenceStyle = ProviderQuirks.RecurrenceStyle.MICROSOFT;
        String id = post(series("Weekly", MONDAY, "RRULE:FREQ=WEEKLY;UNTIL=" + utc(MONDAY + 4 * WEEK)))
                .path("id").asText();
        onEvent("PUT", weekly(id, 1), Map.of("title", "Edited"));

        onEvent("PUT", id, Map.of("title", "Renamed", "recurrence", List.of("RRULE:FREQ=WEEKLY;COUNT=5")));
        String afterSameRule = data(onEvent("GET", weekly(id, 1), null)).path("title").asText();
        onEvent("PUT", id, Map.of("recurrence", List.of("RRULE:FREQ=WEEKLY;COUNT=4")));

        assertThat(afterSameRule).as("the same five occurrences, spelled with COUNT").isEqualTo("Edited");
        assertThat(data(onEvent("GET", weekly(id, 1), null)).path("title").asText()).isEqualTo("Renamed");
        assertThat(sim.occurrences(GRANT, id, MONDAY, MONDAY + 10 * WEEK)).extracting(o -> o.get("title"))
                .containsOnly("Renamed").hasSize(4);
    }

    @Test
    void microsoftRespellsUntilADayLaterForTheSameOccurrences() throws Exception {
        String rule = "RRULE:FREQ=WEEKLY;UNTIL=20300128T090000Z"; // the fourth Monday, exactly
        String google = post(series("Google", MONDAY, rule)).path("id").asText();
        sim.quirks.recurrenceStyle = ProviderQuirks.RecurrenceStyle.MICROSOFT;

        JsonNode microsoft = post(series("Microsoft", MONDAY, rule));

        assertThat(microsoft.path("recurrence").get(0).asText()).isEqualTo("RRULE:FREQ=WEEKLY;UNTIL=20300129T085959Z");
        assertThat(sim.event(GRANT, google).get("recurrence")).isEqualTo(List.of(rule));
        assertThat(sim.occurrences(GRANT, microsoft.path("id").asText(), MONDAY, MONDAY + 10 * WEEK))
                .extracting(o -> o.get("original_start_time"))
                .isEqualTo(sim.occurrences(GRANT, google, MONDAY, MONDAY + 10 * WEEK).stream()
                        .map(o -> o.get("original_start_time")).toList())
                .hasSize(4);
    }

    @Test
    void deletingTheMasterDeletesTheWholeSeriesWithOneNotification() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        String id = post(series("Weekly", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4")).path("id").asText();
        onEvent("PUT", weekly(id, 1), Map.of("title", "Edited"));

        assertThat(onEvent("DELETE", id, null).statusCode()).isEqualTo(200);

        List<Map<String, Object>> sent = aboutSeries(receiver, id, 3);
        assertThat(sent).filteredOn(n -> "event.deleted".equals(n.get("type"))).singleElement()
                .satisfies(n -> assertThat(object(n)).containsEntry("id", id));
        assertThat(onEvent("GET", id, null).statusCode()).isEqualTo(404);
        assertThat(onEvent("GET", weekly(id, 0), null).statusCode()).isEqualTo(404);
        assertThat(onEvent("GET", weekly(id, 1), null).statusCode()).isEqualTo(404);
        assertThat(onEvent("PUT", weekly(id, 2), Map.of("title", "Too late")).statusCode()).isEqualTo(404);
        assertThat(onEvent("DELETE", weekly(id, 2), null).statusCode()).isEqualTo(404);
        assertThat(list(window(MONDAY, MONDAY + 5 * WEEK))).isEmpty();
        assertThat(list("expand_recurring=false&" + window(MONDAY, MONDAY + 5 * WEEK))).isEmpty();
        assertThat(sim.occurrences(GRANT, id, MONDAY, MONDAY + 5 * WEEK)).isEmpty();
        assertThat(sim.event(GRANT, id)).containsEntry("status", "cancelled");
    }

    @Test
    void aSeriesCreatedSendsOneCreatedForItsMasterOnly() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());

        String id = post(series("Ten weeks", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=10")).path("id").asText();

        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.received.size() == 1 && sim.webhooksQuiet());
        assertThat(receiver.types()).containsExactly("event.created");
        assertThat(object(receiver.received.peek())).containsEntry("id", id)
                .containsEntry("recurrence", List.of("RRULE:FREQ=WEEKLY;COUNT=10"));
    }

    @Test
    void theUserActsOnASeriesAsTheApiDoesAndEachActionNotifies() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        sim.quirks.googleCancellation = ProviderQuirks.GoogleCancellation.UPDATED;

        String id = (String) sim.userCreates(GRANT, "primary",
                series("By the user", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4")).get("id");
        Map<String, Object> edited = sim.userEditsOccurrence(GRANT, id, MONDAY + WEEK, Map.of("title", "Edited"));
        sim.userCancelsOccurrence(GRANT, id, MONDAY + 2 * WEEK);
        List<Map<String, Object>> beforeRuleChange = sim.occurrences(GRANT, id, MONDAY, MONDAY + 10 * WEEK);
        Map<String, Object> master = sim.userChangesRule(GRANT, id, List.of("RRULE:FREQ=WEEKLY;COUNT=6"));
        List<Map<String, Object>> afterRuleChange = sim.occurrences(GRANT, id, MONDAY, MONDAY + 10 * WEEK);
        assertThat(sim.userDeletes(GRANT, id)).isTrue();

        assertThat(edited).containsEntry("id", weekly(id, 1)).containsEntry("title", "Edited");
        assertThat(beforeRuleChange).extracting(o -> o.get("id"))
                .containsExactly(weekly(id, 0), weekly(id, 1), weekly(id, 3));
        assertThat(master).containsEntry("recurrence", List.of("RRULE:FREQ=WEEKLY;COUNT=6"));
        assertThat(afterRuleChange).extracting(o -> o.get("title"))
                .containsExactly("By the user", "Edited", "By the user", "By the user", "By the user");
        assertThat(sim.occurrences(GRANT, id, MONDAY, MONDAY + 10 * WEEK)).isEmpty();
        assertThat(aboutSeries(receiver, id, 5)).extracting(n -> n.get("type")).containsExactlyInAnyOrder(
                "event.created", "event.updated", "event.updated", "event.updated", "event.deleted");
        assertThat(NylasSimulator.occurrenceId(id, MONDAY)).isEqualTo(id + "_20300107T090000Z");
        assertThatThrownBy(() -> sim.userCancelsOccurrence(GRANT, id, MONDAY)).as("the series is gone")
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> sim.userCreates(GRANT, "primary", series("Bad", MONDAY, "EXRULE:FREQ=DAILY")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void seriesNotificationsAreHeldReorderedAndDuplicatedLikeAnyOther() throws Exception {
        Receiver receiver = new Receiver();
        sim.deliverWebhooksTo(SECRET, receiver.url());
        sim.pauseWebhooks();
        String id = (String) sim.userCreates(GRANT, "primary", series("Held", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4"))
                .get("id");
        sim.userCancelsOccurrence(GRANT, id, MONDAY + WEEK); // Google: updated, then deleted
        sim.userDeletes(GRANT, id);

        sim.releaseWebhooksInReverse();
        await().atMost(Duration.ofSeconds(10)).until(() -> receiver.received.size() == 4 && sim.webhooksQuiet());
        // read before the next change: its notifications are delivered while the test goes on
        assertThat(receiver.types()).containsExactly("event.deleted", "event.deleted", "event.updated",
                "event.created");
        sim.faults.rateDuplicate = 1;
        String again = (String) sim.userCreates(GRANT, "primary", series("Twice", MONDAY, "RRULE:FREQ=DAILY;COUNT=2"))
                .get("id");

        List<Map<String, Object>> duplicated = aboutSeries(receiver, again, 2);
        assertThat(duplicated).extracting(n -> n.get("id")).as("one notification, delivered more than once")
                .hasSizeBetween(2, 3).containsOnly(duplicated.get(0).get("id"));
    }

    @Test
    void resetRestoresGoogleStyleWithBothCancellationNotifications() {
        sim.quirks.recurrenceStyle = ProviderQuirks.RecurrenceStyle.MICROSOFT;
        sim.quirks.googleCancellation = ProviderQuirks.GoogleCancellation.DELETED;
        sim.userCreates(GRANT, "primary", series("Gone after reset", MONDAY, "RRULE:FREQ=DAILY;COUNT=2"));

        sim.reset();

        assertThat(sim.quirks.recurrenceStyle).isEqualTo(ProviderQuirks.RecurrenceStyle.GOOGLE);
        assertThat(sim.quirks.googleCancellation).isEqualTo(ProviderQuirks.GoogleCancellation.BOTH);
        assertThat(sim.allEvents(GRANT)).isEmpty();
    }

    @Test
    void aSeededOverrideIsWhatItsOccurrenceShows() throws Exception {
        sim.putEvent(new LinkedHashMap<>(Map.of("id", "m-1", "grant_id", GRANT, "calendar_id", "primary",
                "status", "confirmed", "updated_at", 1, "title", "Seeded",
                "when", Map.of("start_time", MONDAY, "end_time", MONDAY + 1800),
                "recurrence", List.of("RRULE:FREQ=DAILY;COUNT=3"))));
        sim.putEvent(Map.of("grant_id", GRANT, "calendar_id", "primary", "master_event_id", "m-1",
                "original_start_time", MONDAY + DAY, "status", "confirmed", "updated_at", 2, "title", "Seeded edit",
                "when", Map.of("start_time", MONDAY + DAY, "end_time", MONDAY + DAY + 1800)));

        assertThat(data(onEvent("GET", NylasSimulator.occurrenceId("m-1", MONDAY + DAY), null)).path("title").asText())
                .isEqualTo("Seeded edit");
        assertThat(sim.occurrences(GRANT, "m-1", MONDAY, MONDAY + 3 * DAY)).extracting(o -> o.get("title"))
                .containsExactly("Seeded", "Seeded edit", "Seeded");
    }

    @Test
    void controlSurfaceActsOnSeries() throws Exception {
        String id = json.readTree(call("POST", "/_sim/user/events?grant_id=" + GRANT + "&calendar_id=primary",
                series("By the user", MONDAY, "RRULE:FREQ=WEEKLY;COUNT=4"), null).body()).path("id").asText();
        String occurrences = "/_sim/user/occurrences/" + GRANT + "/" + id + "/";

        HttpResponse<String> edited = call("PUT", occurrences + (MONDAY + WEEK), Map.of("title", "Edited"), null);
        HttpResponse<String> cancelled = call("DELETE", occurrences + (MONDAY + 2 * WEEK), null, null);
        HttpResponse<String> cancelledAgain = call("DELETE", occurrences + (MONDAY + 2 * WEEK), null, null);
        HttpResponse<String> rule = call("PUT", "/_sim/user/rules/" + GRANT + "/" + id,
                List.of("RRULE:FREQ=WEEKLY;COUNT=5"), null);
        call("POST", "/_sim/quirks", Map.of("recurrenceStyle", "MICROSOFT"), null);
        JsonNode live = json.readTree(call("GET", "/_sim/occurrences?grant_id=" + GRANT + "&master_id=" + id
                + "&from=" + MONDAY + "&to=" + (MONDAY + 10 * WEEK), null, null).body()).path("data");

        assertThat(edited.statusCode()).isEqualTo(200);
        assertThat(cancelled.statusCode()).isEqualTo(200);
        assertThat(cancelledAgain.statusCode()).as("no such live occurrence").isEqualTo(400);
        assertThat(json.readTree(rule.body()).path("recurrence").get(0).asText()).isEqualTo("RRULE:FREQ=WEEKLY;COUNT=5");
        assertThat(ids(live)).containsExactly(weekly(id, 0), weekly(id, 1), weekly(id, 3), weekly(id, 4));
        assertThat(sim.quirks.recurrenceStyle).isEqualTo(ProviderQuirks.RecurrenceStyle.MICROSOFT);
    }
}

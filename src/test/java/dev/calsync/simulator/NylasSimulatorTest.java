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
}

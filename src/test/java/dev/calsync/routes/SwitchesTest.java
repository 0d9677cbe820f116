package dev.calsync.routes;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import dev.calsync.webhook.WebhookListener;
import io.swagger.v3.parser.OpenAPIV3Parser;
import org.apache.camel.CamelContext;
import org.apache.camel.Route;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The four switches ({@code calsync.webhook.enabled}, {@code calsync.api.enabled}, {@code calsync.push.enabled},
 * {@code calsync.reconcile.enabled}, route preconditions): each one off leaves its routes out, no route left calls an
 * endpoint nobody consumes, the other parts keep working, and the API's description leaves out what is off.
 */
class SwitchesTest {

    private static final NylasSimulator NYLAS = new NylasSimulator(IntegrationTest.NYLAS_API_KEY);
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    static final Set<String> WEBHOOK_ROUTES = Set.of("calsync-nylas-webhook-listener", "calsync-nylas-webhook",
            "calsync-webhook-request", "calsync-webhook-challenge", "calsync-webhook-acknowledge");
    static final Set<String> API_ROUTES = Set.of("calsync-app-event-put", "calsync-app-event-delete",
            "calsync-app-event-get", "calsync-app-events-list", "calsync-admin-notifications-list",
            "calsync-admin-notification-replay", "calsync-admin-push-replay", "calsync-admin-grants-list",
            "calsync-admin-grant-resume", "calsync-json-response", "calsync-admin-reconcile-start",
            "calsync-admin-reconcile-get", "calsync-admin-reconcile-list", "calsync-admin-notifications-replay",
            "calsync-admin-pushes-replay", "calsync-admin-summary", "calsync-ops-page",
            "calsync-openapi");
    static final Set<String> PUSH_ROUTES = Set.of("calsync-outbound-poll", "calsync-push-record",
            "calsync-push-create", "calsync-push-update", "calsync-push-delete", "calsync-push-occurrence-find",
            "calsync-push-occurrence-cancelled");
    static final Set<String> RECONCILE_ROUTES = Set.of("calsync-reconcile-scheduled", "calsync-reconcile-poll",
            "calsync-reconcile-claim", "calsync-reconcile-worker", "calsync-reconcile-lease-renewal",
            "calsync-reconcile-purge", "calsync-reconcile-grant", "calsync-reconcile-run", "calsync-reconcile-import",
            "calsync-reconcile-import-batch", "calsync-reconcile-next-page", "calsync-reconcile-prefetch-page",
            "calsync-reconcile-list-page", "calsync-reconcile-repair", "calsync-admin-reconcile-start",
            "calsync-admin-reconcile-get", "calsync-admin-reconcile-list");
    /** Takes the place of calsync-reconcile-grant while reconciliation is off. */
    static final String RECONCILE_SWITCHED_OFF = "calsync-reconcile-grant-switched-off";

    @AfterAll
    static void stopSimulator() {
        NYLAS.close();
    }

    private static RunningService start(String database, String property) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put(property, "false");
        p.put("calsync.nylas.api-uri", NYLAS.baseUrl());
        p.put("calsync.nylas.api-key", IntegrationTest.NYLAS_API_KEY);
        p.put("calsync.push.poll-delay-millis", "50");
        p.put("calsync.dedupe.redis-key-prefix", "calsync-" + database + ":notification");
        return RunningService.start(EmbeddedServers.newDatabase(database), p);
    }

    @Test
    void withTheWebhookOffNothingListensForNylasAndTheApiStillServes() throws Exception {
        try (RunningService service = start("switch_webhook", "calsync.webhook.enabled")) {
            assertRoutesLeftOut(service, WEBHOOK_ROUTES);
            assertThat(service.bean(WebhookListener.class).port()).as("listener port").isEqualTo(-1);

            HttpResponse<String> webhook = send(HttpRequest.newBuilder(local(service, "/webhooks/nylas"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{}")));
            HttpResponse<String> put = putEvent(service, "switch-webhook-1");

            assertThat(webhook.statusCode()).as("webhook on server.port").isEqualTo(404);
            assertThat(put.statusCode()).isEqualTo(201);
            assertThat(describedPaths(service)).as("the API's description").contains("/api/v1/events/{id}")
                    .doesNotContain("/webhooks/nylas");
        }
    }

    @Test
    void withTheApiOffItsPathsAreNotFoundUnguardedAndTheWebhookStillAcknowledges() throws Exception {
        try (RunningService service = start("switch_api", "calsync.api.enabled")) {
            assertRoutesLeftOut(service, API_ROUTES);

            HttpResponse<String> withoutToken = send(HttpRequest.newBuilder(local(service, "/api/v1/events")).GET());
            HttpResponse<String> admin = send(HttpRequest.newBuilder(local(service, "/admin/notifications"))
                    .header("Authorization", "Bearer " + IntegrationTest.API_TOKEN).GET());
            String id = newId();
            HttpResponse<String> ack = service.deliver(envelope(id, "event.created",
                    event("grant-api-off", "evt-1", "Standup", 100)));

            assertThat(withoutToken.statusCode()).as("no token filter on a switched-off API").isEqualTo(404);
            assertThat(admin.statusCode()).isEqualTo(404);
            assertThat(send(HttpRequest.newBuilder(local(service, "/openapi.json")).GET()).statusCode())
                    .as("the API's description").isEqualTo(404);
            assertThat(ack.statusCode()).isEqualTo(200);
            awaitProcessed(service, id);
            assertThat(service.jdbc().queryForObject("SELECT title FROM app_event", String.class))
                    .isEqualTo("Standup");
        }
    }

    @Test
    void withPushOffApplicationChangesAreAcceptedAndWaitAsPending() throws Exception {
        try (RunningService service = start("switch_push", "calsync.push.enabled")) {
            assertRoutesLeftOut(service, PUSH_ROUTES);
            NYLAS.reset();

            HttpResponse<String> put = putEvent(service, "switch-push-1");
            Thread.sleep(500); // ten push polls' worth, had the poller been running

            assertThat(put.statusCode()).isEqualTo(201);
            assertThat(service.jdbc().queryForObject(
                    "SELECT sync_state FROM event_sync_map WHERE internal_id = 'switch-push-1'", String.class))
                    .isEqualTo("pending");
            assertThat(NYLAS.requests()).as("Nylas calls").isEmpty();
        }
    }

    @Test
    void withReconciliationOffAReauthenticatedGrantResumesWithoutARunAndTheAdminRunsAreNotFound() throws Exception {
        try (RunningService service = start("switch_reconcile", "calsync.reconcile.enabled")) {
            assertRoutesLeftOut(service, RECONCILE_ROUTES);
            assertThat(routeIds(service)).contains(RECONCILE_SWITCHED_OFF);
            long t = Instant.now().getEpochSecond();
            String expired = newId();
            String reauthenticated = newId();

            service.deliver(envelope(expired, "grant.expired", Map.of("grant_id", "grant-r"), t - 1));
            awaitProcessed(service, expired);
            service.deliver(envelope(reauthenticated, "grant.updated",
                    Map.of("grant_id", "grant-r", "reauthentication_flag", true), t));
            awaitProcessed(service, reauthenticated);
            HttpResponse<String> run = send(HttpRequest.newBuilder(local(service, "/admin/reconcile"))
                    .header("Authorization", "Bearer " + IntegrationTest.API_TOKEN)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"grant_id\":\"grant-r\",\"calendar_id\":\"primary\"}")));

            assertThat(service.jdbc().queryForObject("SELECT outcome FROM webhook_inbox WHERE notification_id = ?",
                    String.class, reauthenticated)).isEqualTo("resumed");
            assertThat(service.jdbc().queryForObject("SELECT count(*) FROM reconcile_run", Integer.class)).isZero();
            assertThat(run.statusCode()).isEqualTo(404);
            assertThat(describedPaths(service)).as("the API's description").contains("/admin/grants")
                    .noneMatch(path -> path.startsWith("/admin/reconcile"));
        }
    }

    /** The paths {@code GET /openapi.json} describes. */
    private static Set<String> describedPaths(RunningService service) {
        HttpResponse<String> description = send(HttpRequest.newBuilder(local(service, "/openapi.json")).GET());
        assertThat(description.statusCode()).as("GET /openapi.json").isEqualTo(200);
        return new TreeSet<>(new OpenAPIV3Parser().readContents(description.body()).getOpenAPI().getPaths().keySet());
    }

    /** Exactly {@code left} is missing from the routes the files define, and every call has a consumer. */
    private static void assertRoutesLeftOut(RunningService service, Set<String> left) throws IOException {
        Set<String> expected = new TreeSet<>(definedRouteIds());
        expected.removeAll(left);
        expected.remove(RECONCILE_SWITCHED_OFF);
        expected.remove("calsync-local-kafka-publish"); // the Kafka sink's own, loaded only with calsync.local.sink=kafka
        Set<String> running = routeIds(service);
        running.remove(RECONCILE_SWITCHED_OFF);

        assertThat(running).isEqualTo(expected);
        assertThat(RunningRoutes.callsWithoutConsumer(service.bean(CamelContext.class)))
                .as("direct: endpoints called but not consumed").isEmpty();
    }

    private static Set<String> definedRouteIds() throws IOException {
        Set<String> ids = new TreeSet<>();
        try (Stream<Path> files = Files.list(Path.of("routes"))) {
            for (Path file : files.filter(p -> p.toString().endsWith(".camel.yaml")).toList()) {
                ids.addAll(RouteFile.read(file).routeIds());
            }
        }
        return ids;
    }

    private static Set<String> routeIds(RunningService service) {
        return service.bean(CamelContext.class).getRoutes().stream().map(Route::getRouteId)
                .collect(Collectors.toCollection(TreeSet::new));
    }

    private static void awaitProcessed(RunningService service, String notificationId) {
        await().atMost(Duration.ofSeconds(20)).until(() -> "processed".equals(service.jdbc().queryForObject(
                "SELECT status FROM webhook_inbox WHERE notification_id = ?", String.class, notificationId)));
    }

    private static HttpResponse<String> putEvent(RunningService service, String id) {
        String body = "{\"grant_id\":\"grant-1\",\"calendar_id\":\"primary\",\"title\":\"Planning\","
                + "\"when\":{\"start_time\":1790000000,\"end_time\":1790003600}}";
        return send(HttpRequest.newBuilder(local(service, "/api/v1/events/" + id))
                .header("Authorization", "Bearer " + IntegrationTest.API_TOKEN)
                .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString(body)));
    }

    private static URI local(RunningService service, String path) {
        return URI.create("http://127.0.0.1:" + service.port() + path);
    }

    private static HttpResponse<String> send(HttpRequest.Builder request) {
        try {
            return HTTP.send(request.timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}

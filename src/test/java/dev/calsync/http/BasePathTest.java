package dev.calsync.http;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import dev.calsync.support.Signing;
import dev.calsync.webhook.WebhookListener;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.servers.Server;
import io.swagger.v3.parser.OpenAPIV3Parser;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code calsync.http.base-path=/calsync}: the webhook (on its listener and on server.port) and the APIs answer under
 * the base path and not without it, and a path outside calsync's is not calsync's token filter's business; the
 * OpenAPI description is served under it and names it as its server's url.
 */
class BasePathTest {

    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final String TOKEN = "Bearer " + IntegrationTest.API_TOKEN;
    private static RunningService service;

    @BeforeAll
    static void start() {
        service = RunningService.start(EmbeddedServers.newDatabase("base_path"), Map.of(
                "calsync.http.base-path", "/calsync",
                "calsync.dedupe.redis-key-prefix", "calsync-base-path:notification"));
    }

    @AfterAll
    static void stop() {
        service.close();
    }

    @Test
    void theWebhookAcknowledgesUnderTheBasePathOnTheListenerAndOnTheServerPort() {
        HttpResponse<String> listener = post(listener("/calsync/webhooks/nylas"), notification());
        HttpResponse<String> serverPort = post(server("/calsync/webhooks/nylas"), notification());
        HttpResponse<String> challenge = send(HttpRequest.newBuilder(listener("/calsync/webhooks/nylas?challenge=c-1"))
                .GET());

        assertThat(listener.statusCode()).isEqualTo(200);
        assertThat(listener.body()).isEqualTo("{\"status\":\"accepted\"}");
        assertThat(serverPort.statusCode()).isEqualTo(200);
        assertThat(challenge.statusCode()).isEqualTo(200);
        assertThat(challenge.body()).isEqualTo("c-1");
    }

    @Test
    void theWebhookIsNotServedWithoutTheBasePath() {
        assertThat(post(listener("/webhooks/nylas"), notification()).statusCode()).isEqualTo(404);
        assertThat(post(server("/webhooks/nylas"), notification()).statusCode()).isEqualTo(404);
    }

    @Test
    void theApisAnswerUnderTheBasePathBehindTheirToken() {
        HttpResponse<String> list = get("/calsync/api/v1/events?grant_id=grant-1", TOKEN);
        HttpResponse<String> admin = get("/calsync/admin/notifications?status=dead", TOKEN);
        HttpResponse<String> withoutToken = get("/calsync/api/v1/events?grant_id=grant-1", null);

        assertThat(list.statusCode()).isEqualTo(200);
        assertThat(list.body()).startsWith("{\"data\":[");
        assertThat(admin.statusCode()).isEqualTo(200);
        assertThat(withoutToken.statusCode()).isEqualTo(401);
    }

    @Test
    void theApisAreNotServedWithoutTheBasePathAndOtherPathsAreNotGuarded() {
        assertThat(get("/api/v1/events?grant_id=grant-1", TOKEN).statusCode()).isEqualTo(404);
        assertThat(get("/admin/notifications", TOKEN).statusCode()).isEqualTo(404);
        // not calsync's: no 401 from its token filter, the server's own 404
        assertThat(get("/api/v1/events", null).statusCode()).isEqualTo(404);
        assertThat(get("/api/other", null).statusCode()).isEqualTo(404);
        assertThat(get("/calsync/api/other", null).statusCode()).isEqualTo(404);
    }

    @Test
    void theOperatorPageIsServedUnderTheBasePathWithoutAToken() {
        HttpResponse<String> page = get("/calsync/ops/", null);

        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.body()).contains("calsync operations");
        assertThat(get("/calsync/ops/ops.js", null).statusCode()).isEqualTo(200);
        assertThat(get("/calsync/admin/summary", TOKEN).statusCode()).isEqualTo(200);
        assertThat(get("/ops/", null).statusCode()).isEqualTo(404);
    }

    @Test
    void theOpenApiDescriptionIsServedUnderTheBasePathWhichIsItsServersUrl() {
        HttpResponse<String> response = get("/calsync/openapi.json", null);

        assertThat(response.statusCode()).isEqualTo(200);
        OpenAPI description = new OpenAPIV3Parser().readContents(response.body()).getOpenAPI();
        assertThat(description.getServers()).extracting(Server::getUrl).containsExactly("/calsync");
        // the paths are below the server's url: each one, joined to it, is a path the service answers
        assertThat(description.getPaths()).containsKeys("/webhooks/nylas", "/api/v1/events/{id}",
                "/admin/notifications", "/openapi.json");
        assertThat(description.getPaths().keySet()).noneMatch(path -> path.startsWith("/calsync"));
        assertThat(get("/openapi.json", null).statusCode()).as("not served without the base path").isEqualTo(404);
    }

    private static String notification() {
        return envelope(newId(), "event.created", event("grant-1", "evt-" + newId(), "Standup", 100));
    }

    private static URI listener(String path) {
        return URI.create("http://127.0.0.1:" + service.bean(WebhookListener.class).port() + path);
    }

    private static URI server(String path) {
        return URI.create("http://127.0.0.1:" + service.port() + path);
    }

    private static HttpResponse<String> post(URI uri, String body) {
        return send(HttpRequest.newBuilder(uri).header("Content-Type", "application/json")
                .header("X-Nylas-Signature", Signing.sign(body.getBytes(StandardCharsets.UTF_8),
                        IntegrationTest.SECRET))
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    private static HttpResponse<String> get(String path, String authorization) {
        HttpRequest.Builder request = HttpRequest.newBuilder(server(path)).GET();
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return send(request);
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

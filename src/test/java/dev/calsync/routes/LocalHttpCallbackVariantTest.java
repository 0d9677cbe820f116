package dev.calsync.routes;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import com.sun.net.httpserver.HttpServer;
import dev.calsync.CalsyncHeaders;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.Notifications;
import dev.calsync.support.RunningService;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * calsync.local.sink=http (routes/local-http.camel.yaml) in place of the built-in store's routes: the app gets HTTP
 * calls, and the store's guards hold for them too.
 */
class LocalHttpCallbackVariantTest {

    record Call(String method, String path, String idempotencyKey, String body, List<String> headerNames) {
    }

    @Test
    void calendarChangesReachTheApplicationCallbackWithAnIdempotencyKey() throws IOException {
        List<Call> calls = new CopyOnWriteArrayList<>();
        HttpServer app = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        app.createContext("/calsync/events/", exchange -> {
            calls.add(new Call(exchange.getRequestMethod(), exchange.getRequestURI().getRawPath(),
                    exchange.getRequestHeaders().getFirst("Idempotency-Key"),
                    new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8),
                    List.copyOf(exchange.getRequestHeaders().keySet())));
            // the application does not know deleted records: 404 must count as done
            exchange.sendResponseHeaders("DELETE".equals(exchange.getRequestMethod()) ? 404 : 204, -1);
            exchange.close();
        });
        app.start();
        try (RunningService service = RunningService.start(EmbeddedServers.newDatabase("variant_callback"), Map.of(
                "calsync.local.sink", "http",
                "calsync.local.callback-url", "http://127.0.0.1:" + app.getAddress().getPort() + "/calsync",
                "calsync.dedupe.redis-key-prefix", "calsync-variant:notification"))) {
            // the HTTP sink's routes run, the built-in store's do not (both files are in routes/)
            assertThat(service.bean(org.apache.camel.CamelContext.class).getRoute("calsync-local-upsert").getDescription())
                    .contains("HTTP callback");
            assertThat(service.bean(org.apache.camel.CamelContext.class).getRoute("calsync-local-upsert-batch")).isNull();
            String created = newId();
            String deleted = newId();

            service.deliver(envelope(created, "event.created", event("grant-1", "evt-1", "Standup", 100)));
            await().atMost(Duration.ofSeconds(20)).until(() -> calls.size() == 1);
            service.deliver(envelope(deleted, "event.deleted", Notifications.deletedEvent("grant-1", "evt-1")));
            await().atMost(Duration.ofSeconds(20)).until(() -> "processed".equals(service.jdbc().queryForObject(
                    "SELECT status FROM webhook_inbox WHERE notification_id = ?", String.class, deleted)));

            String recordId = service.jdbc().queryForObject("SELECT internal_id FROM event_sync_map", String.class);
            assertThat(calls).hasSize(2);
            Call put = calls.get(0);
            assertThat(put.method()).isEqualTo("PUT");
            assertThat(put.path()).isEqualTo("/calsync/events/" + recordId);
            assertThat(put.idempotencyKey()).isEqualTo(created + ":upsert");
            assertThat(put.body()).contains("\"title\":\"Standup\"").contains("\"id\":\"" + recordId + "\"");
            assertThat(put.headerNames()).noneMatch(h -> h.toLowerCase().startsWith("calsync"));
            Call delete = calls.get(1);
            assertThat(delete.method()).isEqualTo("DELETE");
            assertThat(delete.idempotencyKey()).isEqualTo(deleted + ":delete");
            assertThat(service.jdbc().queryForObject("SELECT sync_state FROM event_sync_map", String.class))
                    .isEqualTo("deleted");
            assertThat(service.jdbc().queryForObject("SELECT count(*) FROM app_event", Integer.class)).isZero();

            // a write planned before the delete and arriving after it reaches neither store nor application
            Map<String, Object> late = new java.util.LinkedHashMap<>(event("grant-1", "evt-1", "Written late", 200));
            late.put("id", recordId);
            service.bean(org.apache.camel.ProducerTemplate.class).sendBodyAndHeader("direct:calsync-local-upsert", late,
                    CalsyncHeaders.RECORD_ID, recordId);
            assertThat(calls).hasSize(2);
            assertThat(service.jdbc().queryForObject("SELECT count(*) FROM app_event", Integer.class)).isZero();
        } finally {
            app.stop(0);
        }
    }
}

package dev.calsync.webhook;

import java.net.http.HttpResponse;
import java.util.Map;

import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.RunningService;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.junit.jupiter.api.Test;
import org.springframework.data.redis.core.StringRedisTemplate;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;

/** Without the database nothing can be stored, so Nylas must be told to deliver again: 503, never 200 or 500. */
class DatabaseOutageTest {

    @Test
    void withTheDatabaseDownTheWebhookAnswers503InTimeRemembersNothingAndTheServiceIsNotReady() throws Exception {
        EmbeddedPostgres own = EmbeddedServers.startPostgres();
        try (RunningService service = RunningService.start(EmbeddedServers.jdbcUrl(own),
                Map.of("calsync.dedupe.redis-key-prefix", "calsync-dbdown:notification"))) {
            assertThat(service.deliver(envelope(newId(), "event.created", event("g", "e0", "Up", 1)))
                    .statusCode()).isEqualTo(200);
            assertThat(service.managementGet("/actuator/health/readiness", null).statusCode()).isEqualTo(200);
            own.close();
            String id = newId();

            long started = System.nanoTime();
            HttpResponse<String> response = service.deliver(envelope(id, "event.created", event("g", "e1", "Down", 1)));
            long millis = (System.nanoTime() - started) / 1_000_000;

            assertThat(response.statusCode()).isEqualTo(503);
            assertThat(response.body()).contains("\"error\":\"unavailable\"").doesNotContain("Exception");
            assertThat(response.headers().firstValue("Retry-After")).hasValue("1");
            assertThat(millis).as("answered inside Nylas' 10 s budget").isLessThan(10_000);
            assertThat(service.bean(StringRedisTemplate.class).hasKey("calsync-dbdown:notification:" + id)).isFalse();

            // not ready for traffic while its database is gone, yet alive: no restart would bring the database back
            HttpResponse<String> readiness = service.managementGet("/actuator/health/readiness", null);
            assertThat(readiness.statusCode()).as(readiness.body()).isEqualTo(503);
            assertThat(readiness.body()).contains("\"status\":\"DOWN\"");
            assertThat(service.managementGet("/actuator/health/liveness", null).statusCode()).isEqualTo(200);
            assertThat(service.managementGet("/actuator/health", null).statusCode()).isEqualTo(503);
        }
    }
}

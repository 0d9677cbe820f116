package dev.calsync.webhook;

import java.time.Duration;

import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import org.junit.jupiter.api.Test;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.TestPropertySource;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * With {@code calsync.dedupe.redis-prefilter} on, Redis is a cache in front of the inbox's dedupe: it answers repeats
 * without the database, and losing it degrades nothing but speed.
 */
@TestPropertySource(properties = "calsync.dedupe.redis-prefilter=true")
// a second service on the suite's database: closed after this class, so its pollers never claim another test's rows
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class RedisPrefilterTest extends IntegrationTest {

    @Test
    void aStoredIdIsRememberedAfterItsCommitAndAnIdRedisKnowsIsAnsweredWithoutTheDatabase() {
        String stored = newId();
        assertThat(deliver(envelope(stored, "event.created", event("grant-1", "evt-1", "Standup", 100)))
                .statusCode()).isEqualTo(200);
        assertThat(redis.hasKey("calsync:notification:" + stored)).isTrue();
        assertThat(count("SELECT count(*) FROM webhook_inbox")).isEqualTo(1);

        // an id only Redis knows: answered from Redis alone (a key is only ever set after its row's commit)
        String known = newId();
        redis.opsForValue().set("calsync:notification:" + known, "1");
        assertThat(deliver(envelope(known, "event.created", event("grant-1", "evt-2", "Lunch", 100)))
                .statusCode()).isEqualTo(200);
        assertThat(count("SELECT count(*) FROM webhook_inbox")).isEqualTo(1);
    }

    private static String redisHealth(String health) throws com.fasterxml.jackson.core.JsonProcessingException {
        return new com.fasterxml.jackson.databind.ObjectMapper().readTree(health)
                .path("components").path("redisDedupe").path("status").asText();
    }

    @Test
    void withRedisStoppedDeliveriesAreDedupedByTheDatabaseAndHealthSaysDegradedUntilItReturnsWhileStayingReady()
            throws Exception {
        String first = newId();
        String body = envelope(first, "event.created", event("grant-1", "evt-1", "Standup", 100));
        EmbeddedServers.stopRedis();
        try {
            assertThat(deliver(body).statusCode()).isEqualTo(200);
            assertThat(deliver(body).statusCode()).isEqualTo(200);
            awaitStatus(first, "processed");
            assertThat(count("SELECT count(*) FROM webhook_inbox")).isEqualTo(1);
            assertThat(count("SELECT count(*) FROM app_event")).isEqualTo(1);

            var health = managementGet("/actuator/health", ADMIN_TOKEN);
            assertThat(health.statusCode()).isEqualTo(200);
            assertThat(redisHealth(health.body())).isEqualTo("DEGRADED");
            // the service works on without Redis: it stays ready for traffic
            var readiness = managementGet("/actuator/health/readiness", null);
            assertThat(readiness.statusCode()).isEqualTo(200);
            assertThat(readiness.body()).contains("\"status\":\"UP\"");
        } finally {
            EmbeddedServers.startRedis();
        }

        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                assertThat(redisHealth(managementGet("/actuator/health", ADMIN_TOKEN).body())).isEqualTo("UP"));
        String second = newId();
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            assertThat(deliver(envelope(second, "event.updated", event("grant-1", "evt-1", "Moved", 200)))
                    .statusCode()).isEqualTo(200);
            assertThat(redis.hasKey("calsync:notification:" + second)).isTrue();
        });
    }
}

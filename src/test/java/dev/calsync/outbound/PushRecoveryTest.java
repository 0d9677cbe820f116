package dev.calsync.outbound;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Pending application changes survive a process that dies at any point, and Nylas being down: after a restart (or
 * when Nylas is back) each record ends up on the calendar exactly once.
 */
class PushRecoveryTest {

    private static final String GRANT = "grant-out";
    private final NylasSimulator nylas = new NylasSimulator("recovery-key");
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void stop() {
        nylas.close();
    }

    private Map<String, Object> settings(boolean pushing) {
        Map<String, Object> p = new HashMap<>();
        p.put("calsync.nylas.api-uri", nylas.baseUrl());
        p.put("calsync.nylas.api-key", "recovery-key");
        p.put("calsync.push.poll-delay-millis", "50");
        p.put("calsync.push.redelivery-delay-millis", "50");
        p.put("calsync.push.max-redeliveries", "3");
        p.put("calsync.push.circuit-open-wait", "1s");
        p.put("calsync.nylas.response-timeout-millis", "1000");
        // a create answered 5xx may still land: the next one waits this long (2 minutes by default)
        p.put("calsync.push.create-settle-time", "2s");
        p.put("calsync.dedupe.redis-key-prefix", "calsync-push:notification");
        if (!pushing) {
            p.put("camel.main.auto-startup-exclude-pattern", "calsync-outbound-poll");
        }
        return p;
    }

    private int put(RunningService service, String id, String title) throws Exception {
        return put(service, id, title, GRANT);
    }

    private int put(RunningService service, String id, String title, String grant) throws Exception {
        Map<String, Object> body = new LinkedHashMap<>(OutboundPushTest.body(title));
        body.put("grant_id", grant);
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.port() + "/api/v1/events/" + id))
                .header("Authorization", "Bearer " + IntegrationTest.API_TOKEN)
                .header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    private static String state(RunningService service, String id) {
        return service.jdbc().queryForObject("SELECT sync_state FROM event_sync_map WHERE internal_id = ?",
                String.class, id);
    }

    @Test
    void changeSavedButNeverPushedIsPushedAfterRestart() throws Exception {
        String db = EmbeddedServers.newDatabase("push_restart");
        try (RunningService first = RunningService.start(db, settings(false))) {
            assertThat(put(first, "rec-a", "Saved")).isEqualTo(201);
            assertThat(state(first, "rec-a")).isEqualTo("pending");
        }
        assertThat(nylas.calls("POST 200")).isZero();

        try (RunningService second = RunningService.start(db, settings(true))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> "synced".equals(state(second, "rec-a")));
        }
        assertThat(nylas.countWithKey1(GRANT, "rec-a", true)).isEqualTo(1);
    }

    @Test
    void createThatReachedNylasBeforeTheCrashIsAdoptedAfterRestart() throws Exception {
        String db = EmbeddedServers.newDatabase("push_after_call");
        try (RunningService first = RunningService.start(db, settings(false))) {
            put(first, "rec-b", "Reached Nylas");
            // what a process killed right after its POST leaves: the attempt counted, the event on the calendar,
            // its id never stored
            first.jdbc().update("UPDATE event_sync_map SET create_attempts = 1 WHERE internal_id = 'rec-b'");
            Map<String, Object> fields = new LinkedHashMap<>(OutboundPushTest.body("Reached Nylas"));
            fields.put("metadata", Map.of("key1", "rec-b"));
            nylas.userCreates(GRANT, "primary", fields);
        }

        try (RunningService second = RunningService.start(db, settings(true))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> "synced".equals(state(second, "rec-b")));
            assertThat(second.jdbc().queryForObject("SELECT nylas_event_id FROM event_sync_map", String.class))
                    .isEqualTo(nylas.liveEvents(GRANT, "primary").get(0).get("id"));
        }
        assertThat(nylas.countWithKey1(GRANT, "rec-b", true)).isEqualTo(1);
        assertThat(nylas.calls("POST 200")).isZero();
    }

    @Test
    void pushWhoseWorkerDiedMidCallIsTakenAgainWhenItsLeaseRunsOut() throws Exception {
        String db = EmbeddedServers.newDatabase("push_lease");
        try (RunningService first = RunningService.start(db, settings(false))) {
            put(first, "rec-c", "Orphaned");
            first.jdbc().update("UPDATE event_sync_map SET create_attempts = 1, attempts = 1,"
                    + " lease_until = now() + interval '2 seconds' WHERE internal_id = 'rec-c'");
        }

        try (RunningService second = RunningService.start(db, settings(true))) {
            assertThat(state(second, "rec-c")).isEqualTo("pending");
            await().atMost(Duration.ofSeconds(30)).until(() -> "synced".equals(state(second, "rec-c")));
        }
        assertThat(nylas.countWithKey1(GRANT, "rec-c", true)).isEqualTo(1);
    }

    @Test
    void whileNylasIsDownTheCircuitOpensAndTheBacklogDrainsWhenItReturns() throws Exception {
        String db = EmbeddedServers.newDatabase("push_circuit");
        nylas.faults.rate5xx = 1;
        try (RunningService service = RunningService.start(db, settings(true))) {
            for (int i = 0; i < 8; i++) {
                put(service, "rec-d" + i, "Backlog " + i);
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> service.jdbc().queryForObject(
                    "SELECT count(*) FROM event_sync_map WHERE sync_state = 'pending' AND next_attempt_at > now()",
                    Integer.class) > 0);
            int callsWhileOpen = nylas.calls("POST 500") + nylas.calls("POST 502") + nylas.calls("POST 503");

            nylas.faults.rate5xx = 0;
            await().atMost(Duration.ofSeconds(60)).until(() -> service.jdbc().queryForObject(
                    "SELECT count(*) FROM event_sync_map WHERE sync_state = 'pending'", Integer.class) == 0);

            List<String> failed = service.jdbc().queryForList(
                    "SELECT internal_id FROM event_sync_map WHERE sync_state = 'failed'", String.class);
            assertThat(service.jdbc().queryForObject("SELECT count(*) FROM event_sync_map WHERE sync_state = 'synced'",
                    Integer.class)).isEqualTo(8 - failed.size()).isPositive();
            assertThat(callsWhileOpen).as("the circuit stopped the calls: fewer than 4 tries per record")
                    .isLessThan(8 * 4);
            for (int i = 0; i < 8; i++) {
                assertThat(nylas.countWithKey1(GRANT, "rec-d" + i, true)).isLessThanOrEqualTo(1);
            }
        }
    }

    @Test
    void aGrantWhoseCallsKeepFailingOpensOnlyItsOwnCircuit() throws Exception {
        String db = EmbeddedServers.newDatabase("push_grant_circuit");
        nylas.faults.failingGrants.add("grant-failing");
        try (RunningService service = RunningService.start(db, settings(true))) {
            for (int i = 0; i < 12; i++) {
                put(service, "rec-f" + i, "Failing " + i, "grant-failing");
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> nylas.calls("POST 503") >= 5);

            // while the failing grant's calls keep failing, another grant's changes go straight through
            for (int i = 0; i < 6; i++) {
                put(service, "rec-h" + i, "Healthy " + i, GRANT);
            }
            await().atMost(Duration.ofSeconds(8)).until(() -> service.jdbc().queryForObject(
                    "SELECT count(*) FROM event_sync_map WHERE sync_state = 'synced' AND internal_id LIKE 'rec-h%'",
                    Integer.class) == 6);
            assertThat(service.jdbc().queryForObject("SELECT count(*) FROM event_sync_map WHERE sync_state = 'synced'"
                    + " AND internal_id LIKE 'rec-f%'", Integer.class)).isZero();
        }
    }

    @Test
    void callsToOneGrantStayUnderTheConfiguredRate() throws Exception {
        String db = EmbeddedServers.newDatabase("push_rate");
        Map<String, Object> limited = settings(true);
        limited.put("calsync.push.max-requests-per-second-per-grant", "5");
        try (RunningService service = RunningService.start(db, limited)) {
            for (int i = 0; i < 15; i++) {
                put(service, "rec-r" + i, "Rate " + i);
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> service.jdbc().queryForObject(
                    "SELECT count(*) FROM event_sync_map WHERE sync_state = 'synced'", Integer.class) == 15);
        }
        List<Long> created = nylas.liveEvents(GRANT, "primary").stream()
                .map(e -> ((Number) e.get("created_at")).longValue()).sorted().toList();
        assertThat(created).hasSize(15);
        // 15 creates at no more than 5 per second cannot all fall within two seconds
        assertThat(created.get(14) - created.get(0)).isGreaterThanOrEqualTo(2);
    }
}

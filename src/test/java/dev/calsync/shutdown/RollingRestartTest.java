package dev.calsync.shutdown;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.inbox.NotificationInbox;
import dev.calsync.mapping.SyncMappings;
import dev.calsync.reconcile.ReconcileRuns;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.Notifications;
import dev.calsync.support.RunningService;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.camel.CamelContext;
import org.apache.camel.support.DefaultExchange;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A rolling restart delays nothing by a lease: an instance stopped gracefully first stops claiming, lets the work in
 * flight finish within {@code camel.main.shutdown-timeout}, then gives back every claim it still holds (and only its
 * own), so another instance takes that work at once and completes it exactly once.
 */
class RollingRestartTest {

    private static final String GRANT = "grant-rolling";
    /** The polls are started by each test, on the instance it means. */
    private static final String POLLS = "calsync-notification-poll,calsync-outbound-poll,calsync-reconcile-poll";

    private final NylasSimulator nylas = new NylasSimulator("rolling-key");
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void stop() {
        nylas.close();
    }

    private Map<String, Object> settings() {
        Map<String, Object> p = new HashMap<>();
        p.put("calsync.nylas.api-uri", nylas.baseUrl());
        p.put("calsync.nylas.api-key", "rolling-key");
        p.put("calsync.nylas.response-timeout-millis", "20000");
        p.put("calsync.dedupe.redis-key-prefix", "calsync-rolling:notification");
        p.put("camel.main.auto-startup-exclude-pattern", POLLS);
        // work still running a second after the stop began is given up (and given back)
        p.put("camel.main.shutdown-timeout", "1");
        // one worker each: the first item of a claimed batch holds it, the rest wait claimed in its queue
        p.put("calsync.inbound.workers", "1");
        p.put("calsync.inbound.workers-while-acknowledging", "1");
        p.put("calsync.push.workers", "1");
        p.put("calsync.push.poll-delay-millis", "50");
        // a create sent by the stopped instance may still land: the next push waits this long for it
        p.put("calsync.push.create-settle-time", "6s");
        p.put("calsync.reconcile.concurrency", "1");
        return p;
    }

    @Test
    void notificationsClaimedByAStoppedInstanceAreProcessedAtOnceByAnotherExactlyOnce() {
        String db = EmbeddedServers.newDatabase("rolling_inbox");
        List<String> ids = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            nylas.putEvent(event(GRANT, "evt-" + i, "Meeting " + i, 100));
        }
        try (RunningService b = RunningService.start(db, settings())) {
            RunningService a = RunningService.start(db, settings());
            try {
                // Given: instance A claims three notifications, and the Nylas call of the first is not answered yet
                for (int i = 1; i <= 3; i++) {
                    String id = newId();
                    ids.add(id);
                    assertThat(a.deliver(envelope(id, "event.updated.truncated",
                            Notifications.deletedEvent(GRANT, "evt-" + i))).statusCode()).isEqualTo(200);
                }
                nylas.delayNext(4000);
                startRoute(a, "calsync-notification-poll");
                await().atMost(Duration.ofSeconds(10)).until(() -> count(a,
                        "SELECT count(*) FROM webhook_inbox WHERE status = 'processing'"
                                + " AND lease_until > now() + interval '60 seconds'") == 3
                        && nylas.requests().stream().anyMatch(r -> r.startsWith("GET ")));
            } finally {
                // When: A is stopped gracefully
                a.close();
            }

            // Then: every notification is claimable at once, none waits for A's two-minute lease
            assertThat(b.jdbc().queryForList("SELECT status, lease_until, claim_token, attempts FROM webhook_inbox"))
                    .hasSize(3).allSatisfy(row -> {
                        assertThat(row.get("status")).isEqualTo("received");
                        assertThat(row.get("lease_until")).isNull();
                        assertThat(row.get("claim_token")).isNull();
                        assertThat(row.get("attempts")).as("the stop is not the notification's failure")
                                .isEqualTo(0);
                    });

            // and instance B processes each of them exactly once, well inside that lease
            startRoute(b, "calsync-notification-poll");
            await().atMost(Duration.ofSeconds(30)).until(() -> count(b,
                    "SELECT count(*) FROM webhook_inbox WHERE status = 'processed'") == 3);
            assertThat(b.jdbc().queryForList("SELECT outcome, attempts FROM webhook_inbox")).allSatisfy(row -> {
                assertThat(row.get("outcome")).isEqualTo("created");
                assertThat(row.get("attempts")).isEqualTo(1);
            });
            assertThat(b.jdbc().queryForList("SELECT title FROM app_event ORDER BY title", String.class))
                    .containsExactly("Meeting 1", "Meeting 2", "Meeting 3");
        }
    }

    @Test
    void pushesClaimedByAStoppedInstanceArePushedAtOnceByAnotherAndEachEventIsCreatedOnce() throws Exception {
        String db = EmbeddedServers.newDatabase("rolling_push");
        List<String> records = List.of("rec-1", "rec-2", "rec-3");
        try (RunningService b = RunningService.start(db, settings())) {
            RunningService a = RunningService.start(db, settings());
            try {
                // Given: instance A claims three application changes, and the create of the first is not answered
                // yet when A stops (it lands on the calendar afterwards)
                for (String id : records) {
                    assertThat(put(a, id, "Pushed " + id)).isEqualTo(201);
                }
                nylas.delayNext(3000);
                startRoute(a, "calsync-outbound-poll");
                await().atMost(Duration.ofSeconds(10)).until(() -> count(a,
                        "SELECT count(*) FROM event_sync_map WHERE lease_until > now() + interval '5 minutes'") == 3
                        && nylas.requests().stream().anyMatch(r -> r.startsWith("POST ")));
            } finally {
                // When: A is stopped gracefully
                a.close();
            }

            // Then: every change is claimable at once, none waits for A's ten-minute lease
            assertThat(b.jdbc().queryForList("SELECT sync_state, lease_until, claim_token FROM event_sync_map"))
                    .hasSize(3).allSatisfy(row -> {
                        assertThat(row.get("sync_state")).isEqualTo("pending");
                        assertThat(row.get("lease_until")).isNull();
                        assertThat(row.get("claim_token")).isNull();
                    });

            // and instance B pushes them, the create A sent adopted rather than made twice
            startRoute(b, "calsync-outbound-poll");
            await().atMost(Duration.ofSeconds(30)).until(() -> count(b,
                    "SELECT count(*) FROM event_sync_map WHERE sync_state = 'synced'") == 3);
            for (String id : records) {
                assertThat(nylas.countWithKey1(GRANT, id, true)).as("events of %s", id).isEqualTo(1);
                String eventId = b.jdbc().queryForObject(
                        "SELECT nylas_event_id FROM event_sync_map WHERE internal_id = ?", String.class, id);
                assertThat(nylas.event(GRANT, eventId)).isNotNull().extracting(e -> e.get("title"))
                        .isEqualTo("Pushed " + id);
            }
            assertThat(nylas.liveEvents(GRANT, "primary")).hasSize(3);
            assertThat(nylas.requests().stream().filter(r -> r.startsWith("POST ")))
                    .as("one create per record: the one A sent was waited for and adopted, not sent again").hasSize(3);
        }
    }

    @Test
    void aReconciliationRunClaimedByAStoppedInstanceIsRunAtOnceByAnother() {
        String db = EmbeddedServers.newDatabase("rolling_reconcile");
        long tomorrow = java.time.Instant.now().plus(Duration.ofDays(1)).getEpochSecond();
        for (int i = 1; i <= 3; i++) {
            // inside the reconciliation window
            Map<String, Object> listed = new LinkedHashMap<>(event(GRANT, "evt-" + i, "Listed " + i, 100));
            listed.put("when", Map.of("object", "timespan", "start_time", tomorrow, "end_time", tomorrow + 3600));
            nylas.putEvent(listed);
        }
        try (RunningService b = RunningService.start(db, settings())) {
            RunningService a = RunningService.start(db, settings());
            String runId;
            try {
                // Given: instance A claims a run, and the first page of its listing is not answered yet
                runId = (String) a.bean(ReconcileRuns.class).queue(GRANT, "primary", false, "api", "newest-wins",
                        "delete").get("run_id");
                nylas.delayNext(4000);
                startRoute(a, "calsync-reconcile-poll");
                await().atMost(Duration.ofSeconds(10)).until(() -> count(a,
                        "SELECT count(*) FROM reconcile_run WHERE status = 'running'"
                                + " AND lease_until > now() + interval '10 minutes'") == 1
                        && nylas.requests().stream().anyMatch(r -> r.startsWith("GET ")));
            } finally {
                // When: A is stopped gracefully
                a.close();
            }

            // Then: the run is queued again at once, not held for A's fifteen-minute lease
            assertThat(b.jdbc().queryForMap("SELECT status, lease_until, claim_token FROM reconcile_run"
                    + " WHERE run_id = ?", runId)).containsEntry("status", "queued")
                    .containsEntry("lease_until", null).containsEntry("claim_token", null);

            // and instance B runs it to the end, once
            startRoute(b, "calsync-reconcile-poll");
            await().atMost(Duration.ofSeconds(30)).until(() -> "succeeded".equals(b.jdbc().queryForObject(
                    "SELECT status FROM reconcile_run WHERE run_id = ?", String.class, runId)));
            assertThat(count(b, "SELECT count(*) FROM reconcile_run")).isEqualTo(1);
            assertThat(count(b, "SELECT created FROM reconcile_run")).isEqualTo(3);
            assertThat(b.jdbc().queryForList("SELECT title FROM app_event ORDER BY title", String.class))
                    .containsExactly("Listed 1", "Listed 2", "Listed 3");
        }
    }

    @Test
    void aStoppedInstanceGivesBackOnlyItsOwnClaims() {
        String db = EmbeddedServers.newDatabase("rolling_own");
        Map<String, Object> oneAtATime = settings();
        oneAtATime.put("calsync.inbound.batch-size", "1");
        oneAtATime.put("calsync.push.batch-size", "1");
        try (RunningService b = RunningService.start(db, oneAtATime)) {
            RunningService a = RunningService.start(db, oneAtATime);
            Map<String, String> heldByA;
            Map<String, String> heldByB;
            MeterRegistry metricsOfA = a.bean(MeterRegistry.class);
            try {
                // Given: two of everything, one of each claimed by A and one by B
                for (int i = 1; i <= 2; i++) {
                    a.deliver(envelope(newId(), "event.created", event(GRANT, "evt-" + i, "Event " + i, 100)));
                    try {
                        assertThat(put(a, "rec-" + i, "Record " + i)).isEqualTo(201);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    a.bean(ReconcileRuns.class).queue("grant-" + i, "primary", false, "api", "newest-wins", "delete");
                }
                heldByA = claimOneOfEach(a);
                heldByB = claimOneOfEach(b);
                assertThat(heldByA.values()).doesNotContainAnyElementsOf(heldByB.values());
            } finally {
                // When: A is stopped gracefully
                a.close();
            }

            // Then: A's claims are given back
            assertThat(b.jdbc().queryForMap("SELECT status, lease_until, claim_token FROM webhook_inbox"
                    + " WHERE notification_id = ?", heldByA.get("webhook_inbox")))
                    .containsEntry("status", "received").containsEntry("lease_until", null)
                    .containsEntry("claim_token", null);
            assertThat(b.jdbc().queryForMap("SELECT lease_until, claim_token FROM event_sync_map"
                    + " WHERE internal_id = ?", heldByA.get("event_sync_map")))
                    .containsEntry("lease_until", null).containsEntry("claim_token", null);
            assertThat(b.jdbc().queryForMap("SELECT status, lease_until, claim_token FROM reconcile_run"
                    + " WHERE run_id = ?", heldByA.get("reconcile_run")))
                    .containsEntry("status", "queued").containsEntry("lease_until", null)
                    .containsEntry("claim_token", null);
            for (String table : List.of("webhook_inbox", "event_sync_map", "reconcile_run")) {
                assertThat(metricsOfA.get("calsync.shutdown.released").tag("table", table).counter().count())
                        .as("released in %s", table).isEqualTo(1.0);
            }
            // and B's claims are untouched: B still holds them under its own tokens and leases
            assertThat(b.jdbc().queryForMap("SELECT status, claim_token, lease_until > now() AS leased"
                    + " FROM webhook_inbox WHERE notification_id = ?", heldByB.get("webhook_inbox")))
                    .containsEntry("status", "processing").containsEntry("leased", true)
                    .containsEntry("claim_token", heldByB.get("webhook_inbox token"));
            assertThat(b.jdbc().queryForMap("SELECT claim_token, lease_until > now() AS leased"
                    + " FROM event_sync_map WHERE internal_id = ?", heldByB.get("event_sync_map")))
                    .containsEntry("leased", true).containsEntry("claim_token", heldByB.get("event_sync_map token"));
            assertThat(b.jdbc().queryForMap("SELECT status, lease_until > now() AS leased FROM reconcile_run"
                    + " WHERE run_id = ?", heldByB.get("reconcile_run")))
                    .containsEntry("status", "running").containsEntry("leased", true);
        }
    }

    /** One claim in each table, taken the way the instance's polls take them; the ids (and tokens) claimed. */
    private static Map<String, String> claimOneOfEach(RunningService service) {
        CamelContext camel = service.bean(CamelContext.class);
        Map<String, String> held = new LinkedHashMap<>();
        List<Map<String, Object>> notifications = service.bean(NotificationInbox.class).claim(new DefaultExchange(camel));
        assertThat(notifications).hasSize(1);
        held.put("webhook_inbox", (String) notifications.get(0).get("notification_id"));
        held.put("webhook_inbox token", (String) notifications.get(0).get("claim_token"));
        List<Map<String, Object>> pushes = service.bean(SyncMappings.class).claim(1);
        assertThat(pushes).hasSize(1);
        held.put("event_sync_map", (String) pushes.get(0).get("internal_id"));
        held.put("event_sync_map token", (String) pushes.get(0).get("claim_token"));
        List<String> runs = service.bean(ReconcileRuns.class).claim(new DefaultExchange(camel));
        assertThat(runs).hasSize(1);
        held.put("reconcile_run", runs.get(0));
        return held;
    }

    private static void startRoute(RunningService service, String routeId) {
        try {
            service.bean(CamelContext.class).getRouteController().startRoute(routeId);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static int count(RunningService service, String sql) {
        return service.jdbc().queryForObject(sql, Integer.class);
    }

    private int put(RunningService service, String id, String title) throws Exception {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("grant_id", GRANT);
        body.put("calendar_id", "primary");
        body.put("title", title);
        body.put("when", Map.of("start_time", 1_790_000_000L, "end_time", 1_790_003_600L));
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.port() + "/api/v1/events/" + id))
                .header("Authorization", "Bearer " + IntegrationTest.API_TOKEN)
                .header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
    }
}

package dev.calsync.reconcile;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Reconciliation as shared work: many calendars whose every later webhook was dropped converge, through the
 * service's own schedule and through concurrent admin requests, with each event once and each calendar's run once.
 * The figures: {@code -Dscale.calendars=2000 -Dscale.interval-millis=60000} for the schedule, 300 calendars
 * for the admin requests (docs/SCALING.md). The test waits, it asserts no time; the time taken is printed.
 */
class ReconcileAtScaleTest {

    private static final int CALENDARS = Integer.getInteger("scale.calendars", 300);
    private static final long INTERVAL = Long.getLong("scale.interval-millis", 10_000);
    private static final int CALENDARS_PER_GRANT = 5;

    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();

    private static String grant(int calendar) {
        return "grant-" + calendar / CALENDARS_PER_GRANT;
    }

    private static String calendar(int calendar) {
        return "cal-" + calendar;
    }

    private static Map<String, Object> fields(String title) {
        long soon = Instant.now().getEpochSecond() + 86_400;
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("title", title);
        f.put("when", Map.of("start_time", soon, "end_time", soon + 1800));
        return f;
    }

    /**
     * One event per calendar, created on the calendar and synced by webhook (so the service knows every calendar);
     * then every event is edited on the calendar and none of those webhooks is ever delivered.
     */
    private List<Map<String, Object>> syncedThenEditedUnnotified(NylasSimulator nylas, RunningService service) {
        nylas.deliverWebhooksTo(IntegrationTest.SECRET, service.webhookUrl().toString());
        List<Map<String, Object>> events = new ArrayList<>();
        for (int i = 0; i < CALENDARS; i++) {
            events.add(nylas.userCreates(grant(i), calendar(i), fields("Event " + i)));
        }
        await().atMost(Duration.ofMinutes(3)).until(() -> nylas.webhooksQuiet()
                && count(service, "SELECT count(*) FROM app_event") == CALENDARS
                && count(service, "SELECT count(*) FROM webhook_inbox WHERE status <> 'processed'") == 0);
        assertThat(count(service, "SELECT count(*) FROM reconcile_calendar")).isEqualTo(CALENDARS);
        nylas.pauseWebhooks(); // held forever: Nylas never delivers them
        for (Map<String, Object> event : events) {
            nylas.userUpdates((String) event.get("grant_id"), (String) event.get("id"),
                    Map.of("title", "Edited " + event.get("title")));
        }
        return events;
    }

    private static int count(RunningService service, String sql) {
        return service.jdbc().queryForObject(sql, Integer.class);
    }

    private static Map<String, Object> settings(NylasSimulator nylas, long intervalMillis) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("calsync.nylas.api-uri", nylas.baseUrl());
        p.put("calsync.nylas.api-key", "scale-key");
        p.put("calsync.api.admin-token", IntegrationTest.ADMIN_TOKEN);
        p.put("calsync.reconcile.interval-millis", intervalMillis);
        p.put("calsync.reconcile.poll-delay-millis", 200);
        return p;
    }

    private void assertEachEventOnceAndEdited(NylasSimulator nylas, RunningService service) {
        assertThat(count(service, "SELECT count(*) FROM app_event")).isEqualTo(CALENDARS);
        assertThat(count(service, "SELECT count(*) FROM app_event WHERE title LIKE 'Edited %'")).isEqualTo(CALENDARS);
        assertThat(count(service, "SELECT count(*) FROM event_sync_map")).isEqualTo(CALENDARS);
        for (int i = 0; i < CALENDARS; i++) {
            assertThat(nylas.liveEvents(grant(i), calendar(i))).hasSize(1);
        }
        assertThat(nylas.calls("POST 200")).as("nothing was created on a calendar").isZero();
    }

    @Test
    void theSchedulesOwnRunsRepairEveryKnownCalendarWhoseWebhooksWereDropped() {
        String db = EmbeddedServers.newDatabase("reconcile_schedule");
        try (NylasSimulator nylas = new NylasSimulator("scale-key");
             RunningService service = RunningService.start(db, settings(nylas, INTERVAL))) {
            syncedThenEditedUnnotified(nylas, service);
            long started = System.nanoTime();

            await().atMost(Duration.ofMillis(2 * INTERVAL).plusMinutes(2)).pollInterval(Duration.ofMillis(250))
                    .until(() -> count(service, "SELECT count(*) FROM app_event WHERE title LIKE 'Edited %'")
                            == CALENDARS);

            System.out.printf("[scale] the schedule (interval %d ms) repaired %d calendars in %.1f s%n", INTERVAL,
                    CALENDARS, (System.nanoTime() - started) / 1e9);
            assertEachEventOnceAndEdited(nylas, service);
            assertThat(count(service, "SELECT count(*) FROM reconcile_run WHERE trigger = 'schedule'"
                    + " AND status = 'failed'")).isZero();
        }
    }

    @Test
    void concurrentAdminRequestsForEveryCalendarConvergeWithOneRunEach() throws Exception {
        String db = EmbeddedServers.newDatabase("reconcile_requests");
        try (NylasSimulator nylas = new NylasSimulator("scale-key");
             RunningService service = RunningService.start(db, settings(nylas, 30L * 24 * 3600 * 1000))) {
            syncedThenEditedUnnotified(nylas, service);
            assertThat(count(service, "SELECT count(*) FROM app_event WHERE title LIKE 'Edited %'")).isZero();
            long started = System.nanoTime();

            ExecutorService admins = Executors.newFixedThreadPool(32);
            List<CompletableFuture<HttpResponse<String>>> requests = new ArrayList<>();
            for (int i = 0; i < CALENDARS; i++) {
                String body = json.writeValueAsString(Map.of("grant_id", grant(i), "calendar_id", calendar(i)));
                requests.add(CompletableFuture.supplyAsync(() -> post(service, body), admins));
            }
            for (CompletableFuture<HttpResponse<String>> request : requests) {
                assertThat(request.get().statusCode()).isEqualTo(202);
            }
            admins.shutdown();
            await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(250)).until(() ->
                    count(service, "SELECT count(*) FROM reconcile_run WHERE status IN ('queued', 'running')") == 0);

            System.out.printf("[scale] %d concurrent admin requests converged in %.1f s%n", CALENDARS,
                    (System.nanoTime() - started) / 1e9);
            assertThat(count(service, "SELECT count(*) FROM reconcile_run WHERE status = 'succeeded'"))
                    .isEqualTo(CALENDARS);
            assertEachEventOnceAndEdited(nylas, service);
        }
    }

    private HttpResponse<String> post(RunningService service, String body) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.port()
                            + "/admin/reconcile")).header("Authorization", "Bearer " + IntegrationTest.ADMIN_TOKEN)
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body))
                    .build(), HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}

package dev.calsync.reconcile;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.inbound.EventCanonicalizer;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.Notifications;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.newId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Reconciliation makes both sides equal again after missed webhooks, restores and drift, without duplicates. */
class ReconcileTest extends IntegrationTest {

    private static final String GRANT = "grant-rec";
    private static final long SOON = Instant.now().getEpochSecond() + 7 * 24 * 3600;
    private final ObjectMapper json = new ObjectMapper();

    @Autowired
    EventCanonicalizer canonicalizer;
    @Autowired
    ReconcileRuns runs;

    private Map<String, Object> fields(String title) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("title", title);
        f.put("when", Map.of("start_time", SOON, "end_time", SOON + 1800));
        f.put("participants", List.of(Map.of("email", "ada@example.com")));
        return f;
    }

    private int putRecord(String id, String title) throws Exception {
        Map<String, Object> body = fields(title);
        body.put("grant_id", GRANT);
        body.put("calendar_id", "primary");
        return send(HttpRequest.newBuilder(url("/api/v1/events/" + id))
                .header("Authorization", "Bearer " + API_TOKEN).header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build()).statusCode();
    }

    private JsonNode reconcile(Map<String, Object> request) throws Exception {
        HttpResponse<String> started = send(HttpRequest.newBuilder(url("/admin/reconcile"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(request))).build());
        assertThat(started.statusCode()).isEqualTo(202);
        String runId = json.readTree(started.body()).path("run_id").asText();
        await().atMost(Duration.ofSeconds(30)).until(() -> Set.of("succeeded", "failed").contains(
                json.readTree(apiGet("/admin/reconcile/" + runId, ADMIN_TOKEN).body()).path("status").asText()));
        return json.readTree(apiGet("/admin/reconcile/" + runId, ADMIN_TOKEN).body());
    }

    private JsonNode reconcile(boolean dryRun) throws Exception {
        return reconcile(Map.of("grant_id", GRANT, "calendar_id", "primary", "dry_run", dryRun));
    }

    private void awaitSettled() {
        await().atMost(Duration.ofSeconds(30)).until(() -> NYLAS.webhooksQuiet()
                && count("SELECT count(*) FROM webhook_inbox WHERE status IN ('received','processing')") == 0
                && count("SELECT count(*) FROM event_sync_map WHERE sync_state = 'pending'") == 0);
    }

    private void assertBothSidesEqual() {
        List<Map<String, Object>> live = NYLAS.liveEvents(GRANT, "primary");
        List<Map<String, Object>> records = jdbc.queryForList("""
                SELECT e.id, e.title, m.nylas_event_id FROM app_event e JOIN event_sync_map m ON m.internal_id = e.id
                 WHERE e.grant_id = ?""", GRANT);
        assertThat(records).hasSameSizeAs(live);
        for (Map<String, Object> event : live) {
            assertThat(records).filteredOn(r -> event.get("id").equals(r.get("nylas_event_id")))
                    .singleElement().satisfies(r -> assertThat(r.get("title")).isEqualTo(event.get("title")));
        }
    }

    @Test
    void afterTheMappingTableIsLostRecordsAreRelinkedWithoutDuplicates() throws Exception {
        for (int i = 0; i < 3; i++) {
            putRecord("rec-" + i, "Record " + i);
        }
        awaitSettled();
        jdbc.execute("TRUNCATE event_sync_map");

        JsonNode run = reconcile(false);

        assertThat(run.path("status").asText()).isEqualTo("succeeded");
        assertThat(run.path("relinked").asInt()).isEqualTo(3);
        assertThat(run.path("created").asInt()).isZero();
        awaitSettled();
        assertThat(count("SELECT count(*) FROM app_event")).isEqualTo(3);
        for (int i = 0; i < 3; i++) {
            assertThat(NYLAS.countWithKey1(GRANT, "rec-" + i, true)).isEqualTo(1);
        }
        assertBothSidesEqual();
    }

    @Test
    void changesWhoseWebhooksWereDroppedAreRecovered() throws Exception {
        NYLAS.faults.reseed(3);
        NYLAS.faults.rateDrop = 0.3;
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            ids.add((String) NYLAS.userCreates(GRANT, "primary", fields("Meeting " + i)).get("id"));
        }
        NYLAS.userUpdates(GRANT, ids.get(0), Map.of("title", "Moved"));
        NYLAS.userDeletes(GRANT, ids.get(1));
        awaitSettled();
        assertThat(NYLAS.webhookCount("dropped")).isPositive();
        NYLAS.faults.rateDrop = 0;

        JsonNode run = reconcile(false);

        assertThat(run.path("status").asText()).isEqualTo("succeeded");
        awaitSettled();
        assertBothSidesEqual();
    }

    @Test
    void newEventsAreImportedInOneBatchPerPageWithTheSameResultAsOneByOne() throws Exception {
        NYLAS.faults.rateDrop = 1; // the calendar's events never reached the service by webhook
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 25; i++) {
            ids.add((String) NYLAS.userCreates(GRANT, "primary", fields("Imported " + i)).get("id"));
        }
        await().atMost(Duration.ofSeconds(30)).until(NYLAS::webhooksQuiet);
        NYLAS.faults.rateDrop = 0;

        JsonNode run = reconcile(false);

        assertThat(run.path("status").asText()).isEqualTo("succeeded");
        assertThat(run.path("created").asInt()).isEqualTo(25);
        assertThat(count("SELECT count(*) FROM event_sync_map WHERE sync_state = 'synced' AND source = 'calendar'"
                + " AND content_hash IS NOT NULL AND remote_updated_at IS NOT NULL")).isEqualTo(25);
        assertBothSidesEqual();
        // what the import stored is what live sync would have: the same event again is "unchanged"
        Map<String, Object> again = NYLAS.liveEvents(GRANT, "primary").stream()
                .filter(e -> ids.get(7).equals(e.get("id"))).findFirst().orElseThrow();
        String notification = Notifications.newId();
        deliver(Notifications.envelope(notification, "event.updated", again));
        awaitStatus(notification, "processed");
        assertThat(notificationRow(notification)).containsEntry("outcome", "unchanged");
    }

    @Test
    void aThrottledPageIsRetriedAndTheRunSucceeds() throws Exception {
        NYLAS.pauseWebhooks(); // never delivered
        NYLAS.userCreates(GRANT, "primary", fields("Missed"));
        NYLAS.failNext(429, 429); // the run's first two calls: the provider throttles the mailbox

        JsonNode run = reconcile(false);

        assertThat(run.path("status").asText()).as(run.toString()).isEqualTo("succeeded");
        assertThat(run.path("created").asInt()).isEqualTo(1);
        assertThat(NYLAS.calls("GET 429")).isEqualTo(2);
        assertThat(count("SELECT count(*) FROM app_event WHERE title = 'Missed'")).isEqualTo(1);
    }

    @Test
    void aPageAskedForAheadThatFailsIsAskedForAgainAndTheRunSucceeds() throws Exception {
        NYLAS.pauseWebhooks(); // never delivered
        for (int i = 0; i < 250; i++) {
            NYLAS.userCreates(GRANT, "primary", fields("Missed " + i));
        }
        // the first page is answered; the second, asked for while the first is applied, is throttled twice
        NYLAS.failNext(0, 429, 429);

        JsonNode run = reconcile(false);

        assertThat(run.path("status").asText()).as(run.toString()).isEqualTo("succeeded");
        assertThat(run.path("pages").asInt()).isEqualTo(2);
        assertThat(run.path("created").asInt()).isEqualTo(250);
        assertThat(NYLAS.calls("GET 429")).isEqualTo(2);
        assertThat(count("SELECT count(*) FROM app_event WHERE title LIKE 'Missed %'")).isEqualTo(250);
    }

    @Test
    void aRequestedRunStartsAtOnceWithoutWaitingForThePoll() throws Exception {
        NYLAS.pauseWebhooks(); // never delivered
        NYLAS.userCreates(GRANT, "primary", fields("Missed"));
        camel.getRouteController().stopRoute("calsync-reconcile-poll");
        try {
            JsonNode run = reconcile(false);

            assertThat(run.path("status").asText()).as(run.toString()).isEqualTo("succeeded");
            assertThat(run.path("created").asInt()).isEqualTo(1);
        } finally {
            camel.getRouteController().startRoute("calsync-reconcile-poll");
        }
    }

    @Test
    void anEventTheApplicationRefusesIsSkippedAndReportedAndTheOthersAreApplied() throws Exception {
        NYLAS.pauseWebhooks();
        String poison = (String) NYLAS.userCreates(GRANT, "primary", fields("Poison")).get("id");
        NYLAS.userCreates(GRANT, "primary", fields("Fine"));
        jdbc.execute("ALTER TABLE app_event ADD CONSTRAINT test_refuses_poison CHECK (title <> 'Poison')");
        try {
            JsonNode run = reconcile(false);

            assertThat(run.path("status").asText()).as(run.toString()).isEqualTo("succeeded");
            assertThat(run.path("skipped").asInt()).isEqualTo(1);
            assertThat(run.path("skipped_errors").get(0).path("event_id").asText()).isEqualTo(poison);
            assertThat(run.path("skipped_errors").get(0).path("error").asText()).isNotBlank();
            assertThat(count("SELECT count(*) FROM app_event WHERE title = 'Fine'")).isEqualTo(1);
        } finally {
            jdbc.execute("ALTER TABLE app_event DROP CONSTRAINT test_refuses_poison");
        }
    }

    @Test
    void theLeasesOfRunsAtWorkAreRenewedInTheBackgroundUntilTheyFinish() {
        jdbc.update("""
                INSERT INTO reconcile_run (run_id, grant_id, calendar_id, dry_run, status, trigger, conflict_policy,
                                           missing_policy, lease_until)
                VALUES ('at-work', 'g', 'c', false, 'running', 'api', 'newest-wins', 'delete', now() + interval '1 minute')""");
        assertThat(runs.renew("at-work")).isTrue(); // the run begins its work on this instance
        jdbc.update("UPDATE reconcile_run SET lease_until = now() + interval '5 seconds'");

        assertThat(runs.renewActive()).isEqualTo(1);
        assertThat(jdbc.queryForObject("SELECT lease_until > now() + interval '1 minute' FROM reconcile_run",
                Boolean.class)).isTrue();

        runs.fail("at-work", null, "stopped for the test");
        assertThat(runs.renewActive()).isZero();
    }

    @Test
    void secondEventOfOneRecordIsDeletedByReconciliationAsByLiveSync() throws Exception {
        putRecord("rec-twice", "Twice");
        putRecord("rec-keep", "Keeper");
        awaitSettled();
        // two creates were sent for it, and the second event's webhook never came
        jdbc.update("UPDATE event_sync_map SET create_attempts = 2 WHERE internal_id = 'rec-twice'");
        String linked = jdbc.queryForObject("SELECT nylas_event_id FROM event_sync_map WHERE internal_id = 'rec-twice'",
                String.class);
        Map<String, Object> duplicate = new LinkedHashMap<>(NYLAS.event(GRANT, linked));
        duplicate.put("id", "evt-late-create");
        NYLAS.putEvent(duplicate);

        JsonNode dry = reconcile(true);
        assertThat(dry.path("planned").toString()).contains("delete-duplicate").contains("evt-late-create");
        JsonNode run = reconcile(false);

        assertThat(run.path("status").asText()).isEqualTo("succeeded");
        awaitSettled();
        assertThat(count("SELECT count(*) FROM app_event")).isEqualTo(2);
        assertThat(NYLAS.liveEvents(GRANT, "primary")).extracting(e -> e.get("id")).doesNotContain("evt-late-create");
        assertBothSidesEqual();
    }

    @Test
    void sameSecondDifferenceIsSettledByAskingNylas() throws Exception {
        putRecord("rec-tie", "Before");
        awaitSettled();
        String eventId = jdbc.queryForObject("SELECT nylas_event_id FROM event_sync_map", String.class);
        Map<String, Object> edited = new LinkedHashMap<>(NYLAS.event(GRANT, eventId));
        edited.put("title", "Within the same second");
        NYLAS.putEvent(edited); // same updated_at, no webhook
        int getsBefore = (int) NYLAS.requests().stream().filter(r -> r.startsWith("GET /v3/grants/" + GRANT
                + "/events/")).count();

        JsonNode run = reconcile(false);

        assertThat(run.path("updated").asInt()).isEqualTo(1);
        awaitSettled();
        assertThat(jdbc.queryForObject("SELECT title FROM app_event", String.class)).isEqualTo("Within the same second");
        assertThat(NYLAS.requests().stream().filter(r -> r.startsWith("GET /v3/grants/" + GRANT + "/events/"))
                .count()).isGreaterThan(getsBefore);
    }

    @Test
    void eventThatOutlivedTheApplicationsDeleteIsDeletedAgain() throws Exception {
        putRecord("rec-gone", "Deleted in the app");
        putRecord("rec-keep", "Keeper");
        awaitSettled();
        String eventId = jdbc.queryForObject("SELECT nylas_event_id FROM event_sync_map WHERE internal_id = 'rec-gone'",
                String.class);
        Map<String, Object> event = new LinkedHashMap<>(NYLAS.event(GRANT, eventId));
        send(HttpRequest.newBuilder(url("/api/v1/events/rec-gone")).header("Authorization", "Bearer " + API_TOKEN)
                .DELETE().build());
        awaitSettled();
        NYLAS.putEvent(event); // the calendar shows it again (a delete that did not stick), with no webhook

        JsonNode run = reconcile(false);

        assertThat(run.path("deleted").asInt()).isEqualTo(1);
        awaitSettled();
        assertThat(NYLAS.liveEvents(GRANT, "primary")).extracting(e -> e.get("id")).doesNotContain(eventId);
        assertThat(count("SELECT count(*) FROM app_event")).isEqualTo(1);
    }

    @Test
    void emptyListingTripsTheMassDeleteGuardAndDeletesNothing() throws Exception {
        putRecord("rec-a", "Keep me");
        putRecord("rec-b", "Keep me too");
        awaitSettled();
        NYLAS.reset(); // the calendar now answers an empty list (an outage, a wrong calendar, a bug)

        JsonNode run = reconcile(false);

        assertThat(run.path("status").asText()).isEqualTo("failed");
        assertThat(run.path("error").asText()).contains("mass-delete guard");
        assertThat(count("SELECT count(*) FROM app_event")).isEqualTo(2);
        assertThat(count("SELECT count(*) FROM event_sync_map WHERE sync_state = 'synced'")).isEqualTo(2);
    }

    @Test
    void dryRunChangesNothingAndPlansExactlyWhatTheRealRunDoes() throws Exception {
        for (int i = 0; i < 8; i++) {
            putRecord("rec-" + i, "Record " + i);
        }
        awaitSettled();
        NYLAS.pauseWebhooks(); // these changes are never delivered
        NYLAS.userCreates(GRANT, "primary", fields("Unknown to the app"));
        NYLAS.userUpdates(GRANT, (String) NYLAS.liveEvents(GRANT, "primary").get(0).get("id"), Map.of("title", "Edited"));
        NYLAS.userDeletes(GRANT, (String) NYLAS.liveEvents(GRANT, "primary").get(1).get("id"));
        String before = jdbc.queryForList("SELECT * FROM event_sync_map ORDER BY internal_id").toString()
                + jdbc.queryForList("SELECT * FROM app_event ORDER BY id");

        JsonNode dry = reconcile(true);

        assertThat(jdbc.queryForList("SELECT * FROM event_sync_map ORDER BY internal_id").toString()
                + jdbc.queryForList("SELECT * FROM app_event ORDER BY id")).isEqualTo(before);
        List<String> plannedActions = new ArrayList<>();
        dry.path("planned").forEach(p -> plannedActions.add(p.path("action").asText()));
        assertThat(plannedActions).containsExactlyInAnyOrder("create", "update", "delete");

        JsonNode real = reconcile(false);

        for (String counter : List.of("created", "updated", "deleted", "relinked", "unchanged", "conflicts",
                "events_seen", "pages")) {
            assertThat(real.path(counter).asInt()).as(counter).isEqualTo(dry.path(counter).asInt());
        }
        NYLAS.releaseWebhooks(false);
        awaitSettled();
        assertBothSidesEqual();
    }

    @Test
    void conflictIsResolvedByEachPolicyAndRecorded() throws Exception {
        for (String policy : List.of("calendar-wins", "app-wins", "newest-wins")) {
            String id = "rec-" + policy;
            putRecord(id, "Original");
            awaitSettled();
            String eventId = jdbc.queryForObject("SELECT nylas_event_id FROM event_sync_map WHERE internal_id = ?",
                    String.class, id);
            // both sides change: the app's push fails (400), the user's edit is never delivered
            NYLAS.failNext(400);
            putRecord(id, "Edited in the app");
            await().atMost(Duration.ofSeconds(20)).until(() -> "failed".equals(jdbc.queryForObject(
                    "SELECT sync_state FROM event_sync_map WHERE internal_id = ?", String.class, id)));
            NYLAS.pauseWebhooks();
            Map<String, Object> edited = new LinkedHashMap<>(NYLAS.event(GRANT, eventId));
            edited.put("title", "Edited on the calendar");
            edited.put("updated_at", Instant.now().getEpochSecond() + 3600); // the calendar's edit is the newest
            NYLAS.putEvent(edited);

            JsonNode run = reconcile(Map.of("grant_id", GRANT, "calendar_id", "primary", "conflict_policy", policy));
            NYLAS.releaseWebhooks(false);
            awaitSettled();

            assertThat(run.path("conflicts").asInt()).as(policy).isEqualTo(1);
            String expected = "app-wins".equals(policy) ? "Edited in the app" : "Edited on the calendar";
            assertThat(jdbc.queryForObject("SELECT title FROM app_event WHERE id = ?", String.class, id))
                    .as(policy).isEqualTo(expected);
            assertThat(NYLAS.event(GRANT, eventId).get("title")).as(policy).isEqualTo(expected);
            assertThat(jdbc.queryForObject("SELECT winner FROM sync_conflict WHERE record_id = ?", String.class, id))
                    .isEqualTo("app-wins".equals(policy) ? "app" : "calendar");
            jdbc.execute("TRUNCATE webhook_inbox");
        }
    }

    @Test
    void twoRequestsForTheSameCalendarShareOneRun() throws Exception {
        putRecord("rec-x", "Only");
        awaitSettled();
        NYLAS.faults.latencyMillis = 300; // keep the first run busy
        String body = json.writeValueAsString(Map.of("grant_id", GRANT, "calendar_id", "primary"));
        List<CompletableFuture<String>> requests = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            requests.add(CompletableFuture.supplyAsync(() -> send(HttpRequest.newBuilder(url("/admin/reconcile"))
                    .header("Authorization", "Bearer " + ADMIN_TOKEN).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build()).body()));
        }

        String first = json.readTree(requests.get(0).get()).path("run_id").asText();
        String second = json.readTree(requests.get(1).get()).path("run_id").asText();

        assertThat(first).isEqualTo(second);
        assertThat(count("SELECT count(*) FROM reconcile_run")).isEqualTo(1);
        await().atMost(Duration.ofSeconds(30)).until(() ->
                count("SELECT count(*) FROM reconcile_run WHERE status IN ('queued', 'running')") == 0);
    }

    @Test
    void aCalendarJoinsTheScheduleWithItsFirstMappingAndIsQueuedOnceWhenItsSlotComes() throws Exception {
        putRecord("rec-s", "Scheduled");
        awaitSettled();
        assertThat(jdbc.queryForList("SELECT grant_id, calendar_id FROM reconcile_calendar"))
                .containsExactly(Map.of("grant_id", GRANT, "calendar_id", "primary"));
        org.apache.camel.Exchange poll = new org.apache.camel.support.DefaultExchange(camel);
        // the service's own schedule (every 100 ms here) would queue the calendar between the steps below
        camel.getRouteController().stopRoute("calsync-reconcile-scheduled");
        int queued;
        try {
            runs.queueDue(poll); // gives the calendar its slot in the (30-day) interval: not due yet
            assertThat(count("SELECT count(*) FROM reconcile_run")).isZero();
            jdbc.update("UPDATE reconcile_calendar SET next_due_at = now() - interval '1 second'");
            // two instances' schedules at once: the calendar is queued once and its slot moves on by an interval
            List<CompletableFuture<Integer>> schedules = List.of(
                    CompletableFuture.supplyAsync(() -> runs.queueDue(new org.apache.camel.support.DefaultExchange(camel))),
                    CompletableFuture.supplyAsync(() -> runs.queueDue(new org.apache.camel.support.DefaultExchange(camel))));
            queued = schedules.get(0).get() + schedules.get(1).get();
        } finally {
            camel.getRouteController().startRoute("calsync-reconcile-scheduled");
        }

        assertThat(queued).isEqualTo(1);
        assertThat(jdbc.queryForObject("SELECT next_due_at > now() + interval '29 days' FROM reconcile_calendar",
                Boolean.class)).isTrue();
        await().atMost(Duration.ofSeconds(30)).until(() ->
                count("SELECT count(*) FROM reconcile_run WHERE trigger = 'schedule' AND status = 'succeeded'") == 1);
    }

    @Test
    void aGrantWithManyQueuedCalendarsDoesNotHoldBackOtherGrantsRuns() throws Exception {
        camel.getRouteController().stopRoute("calsync-reconcile-poll");
        List<String> claimed = List.of();
        try {
            // one grant resumed with 40 calendars, queued first; then three other grants' calendars
            for (int i = 0; i < 40; i++) {
                runs.queue("grant-many", "cal-" + i, false, "grant-resumed", "newest-wins", "delete");
            }
            for (String grant : List.of("grant-b", "grant-c", "grant-d")) {
                runs.queue(grant, "primary", false, "api", "newest-wins", "delete");
            }

            claimed = runs.claim(new org.apache.camel.support.DefaultExchange(camel));

            // every free place of calsync.reconcile.concurrency (4) is used, one run per grant
            assertThat(claimed).hasSize(4);
            assertThat(jdbc.queryForList("SELECT DISTINCT grant_id FROM reconcile_run WHERE status = 'running'",
                    String.class)).containsExactlyInAnyOrder("grant-many", "grant-b", "grant-c", "grant-d");
        } finally {
            runs.release(claimed);
            jdbc.update("DELETE FROM reconcile_run");
            camel.getRouteController().startRoute("calsync-reconcile-poll");
        }
    }

    @Test
    void aPausedGrantsCalendarKeepsItsSlotAndGetsNoRun() throws Exception {
        putRecord("rec-p", "Paused soon");
        awaitSettled();
        deliver(envelope(newId(), "grant.expired", Map.of("grant_id", GRANT)));
        await().atMost(Duration.ofSeconds(10)).until(() ->
                count("SELECT count(*) FROM grant_sync_state WHERE state = 'paused'") == 1);
        jdbc.update("UPDATE reconcile_calendar SET next_due_at = now() - interval '1 second'");

        runs.queueDue(new org.apache.camel.support.DefaultExchange(camel));

        assertThat(count("SELECT count(*) FROM reconcile_run")).isZero();
        assertThat(jdbc.queryForObject("SELECT next_due_at > now() FROM reconcile_calendar", Boolean.class)).isTrue();
    }

    @Test
    void aRunQueuedForAPausedGrantWaitsForItsResume() throws Exception {
        putRecord("rec-w", "Waits");
        awaitSettled();
        deliver(envelope(newId(), "grant.expired", Map.of("grant_id", GRANT)));
        await().atMost(Duration.ofSeconds(10)).until(() ->
                count("SELECT count(*) FROM grant_sync_state WHERE state = 'paused'") == 1);
        String body = json.writeValueAsString(Map.of("grant_id", GRANT, "calendar_id", "primary"));

        HttpResponse<String> queued = send(HttpRequest.newBuilder(url("/admin/reconcile"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());

        assertThat(queued.statusCode()).isEqualTo(202);
        assertThat(runs.claim(new org.apache.camel.support.DefaultExchange(camel))).isEmpty();
        assertThat(jdbc.queryForObject("SELECT status FROM reconcile_run", String.class)).isEqualTo("queued");
        send(HttpRequest.newBuilder(url("/admin/grants/" + GRANT + "/resume"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).POST(HttpRequest.BodyPublishers.noBody()).build());
        await().atMost(Duration.ofSeconds(30)).until(() ->
                count("SELECT count(*) FROM reconcile_run WHERE status = 'succeeded'") >= 1);
    }

    @Test
    void finishedRunsAndTheirConflictsArePurgedAfterTheRetention() {
        jdbc.update("""
                INSERT INTO reconcile_run (run_id, grant_id, calendar_id, dry_run, status, trigger, conflict_policy,
                                           missing_policy, finished_at)
                VALUES ('old', 'g', 'c', false, 'succeeded', 'schedule', 'newest-wins', 'delete', now() - interval '3 days'),
                       ('new', 'g', 'd', false, 'succeeded', 'schedule', 'newest-wins', 'delete', now())""");
        jdbc.update("""
                INSERT INTO sync_conflict (run_id, record_id, policy, winner, recorded_at)
                VALUES ('old', 'r', 'newest-wins', 'app', now() - interval '3 days'), ('new', 'r', 'newest-wins', 'app', now())""");

        assertThat(runs.purge()).isEqualTo(1);

        assertThat(jdbc.queryForList("SELECT run_id FROM reconcile_run", String.class)).containsExactly("new");
        assertThat(jdbc.queryForList("SELECT run_id FROM sync_conflict", String.class)).containsExactly("new");
    }

    @Test
    void reauthenticatedGrantIsReconciled() throws Exception {
        putRecord("rec-g", "Before expiry");
        awaitSettled();
        deliver(envelope(newId(), "grant.expired", Map.of("grant_id", GRANT)));
        NYLAS.pauseWebhooks(); // Nylas does not notify for an expired grant
        NYLAS.userCreates(GRANT, "primary", fields("Made while expired"));

        deliver(envelope(newId(), "grant.updated", Map.of("grant_id", GRANT, "reauthentication_flag", true)));

        await().atMost(Duration.ofSeconds(30)).until(() ->
                count("SELECT count(*) FROM reconcile_run WHERE trigger = 'grant-resumed' AND status = 'succeeded'") == 1);
        awaitSettled();
        assertThat(jdbc.queryForList("SELECT title FROM app_event", String.class))
                .containsExactlyInAnyOrder("Before expiry", "Made while expired");
    }

    @Test
    void badRequestNamesTheMissingFields() {
        HttpResponse<String> response = send(HttpRequest.newBuilder(url("/admin/reconcile"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"dry_run\":\"yes\"}")).build());

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("grant_id").contains("calendar_id").contains("dry_run");
        assertThat(apiGet("/admin/reconcile/nope", ADMIN_TOKEN).statusCode()).isEqualTo(404);
        assertThat(apiGet("/admin/reconcile/nope", API_TOKEN).statusCode()).isEqualTo(401);
    }
}

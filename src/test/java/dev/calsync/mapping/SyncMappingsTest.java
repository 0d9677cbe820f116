package dev.calsync.mapping;

import java.util.List;
import java.util.Map;

import dev.calsync.support.IntegrationTest;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.dao.DataIntegrityViolationException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The contract of the mapping table's one writer: each transition, its guard, and the claim fencing. Run against the
 * real schema, so the CHECK constraints are part of what is specified.
 */
class SyncMappingsTest extends IntegrationTest {

    private static final String GRANT = "grant-map";

    @Autowired
    SyncMappings mappings;
    @Autowired
    org.springframework.transaction.PlatformTransactionManager transactions;

    /** The service's own push poller would claim the rows these specifications claim by hand. */
    @org.junit.jupiter.api.BeforeEach
    void stopThePushPoller() throws Exception {
        camel.getRouteController().stopRoute("calsync-outbound-poll");
    }

    @org.junit.jupiter.api.AfterEach
    void startThePushPoller() throws Exception {
        camel.getRouteController().startRoute("calsync-outbound-poll");
    }

    private Map<String, Object> row(String id) {
        return jdbc.queryForMap("SELECT * FROM event_sync_map WHERE internal_id = ?", id);
    }

    private String claimOne() {
        List<Map<String, Object>> claimed = mappings.claim(10);
        assertThat(claimed).hasSize(1);
        return (String) claimed.get(0).get("claim_token");
    }

    @Test
    void aPushClaimTakesNoMoreThanItsLimitWhateverPlanTheDatabaseChooses() {
        // Given more due application changes than one claim may take
        jdbc.update("""
                INSERT INTO event_sync_map (internal_id, grant_id, calendar_id, source, sync_state, next_attempt_at)
                SELECT 'rec-due-' || n, ?, 'primary', 'app', 'pending', now() - make_interval(secs => 1000 - n)
                  FROM generate_series(1, 40) n""", GRANT);

        // When one claim of five runs with a plan that reads its choice of rows again for every row it updates
        List<Map<String, Object>> claimed = dev.calsync.support.RescanPlans.withNestedLoopsOnly(transactions, jdbc,
                () -> mappings.claim(5));

        // Then it took five, the longest due, and leased no other row
        assertThat(claimed).extracting(r -> r.get("internal_id"))
                .containsExactlyInAnyOrder("rec-due-1", "rec-due-2", "rec-due-3", "rec-due-4", "rec-due-5");
        assertThat(count("SELECT count(*) FROM event_sync_map WHERE lease_until IS NOT NULL")).isEqualTo(5);
    }

    @Test
    void calendarRowIsInsertedPendingThenMarkedSynced() {
        assertThat(mappings.insertFromCalendar("rec-1", "evt-1", GRANT, "primary")).isEqualTo(1);
        assertThat(mappings.insertFromCalendar("rec-1", "evt-1", GRANT, "primary")).isZero();
        assertThat(row("rec-1")).containsEntry("sync_state", "pending").containsEntry("source", "calendar");

        assertThat(mappings.markSynced("rec-1", "evt-1", "primary", "h1", 100L, "{\"key1\":\"rec-1\"}")).isEqualTo(1);

        assertThat(row("rec-1")).containsEntry("sync_state", "synced").containsEntry("content_hash", "h1")
                .containsEntry("remote_updated_at", 100L);
    }

    @Test
    void tombstoneIsFinal() {
        mappings.insertFromCalendar("rec-1", "evt-1", GRANT, "primary");
        assertThat(mappings.tombstone("rec-1", "evt-1", GRANT, "primary")).isEqualTo(1);

        assertThat(mappings.markSynced("rec-1", "evt-1", "primary", "h2", 200L, null)).isZero();
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h3");
        assertThat(mappings.pushAgain("rec-1")).isZero();
        assertThat(mappings.yieldToCalendar("rec-1")).isZero();
        assertThat(mappings.recreate("rec-1")).isZero();
        assertThat(mappings.writableByCalendar("rec-1")).isFalse();

        assertThat(row("rec-1")).containsEntry("sync_state", "deleted").containsEntry("desired", "deleted");
    }

    @Test
    void calendarWritesNeverOverwriteAPendingOrFailedApplicationChange() {
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "app-hash");

        assertThat(mappings.markSynced("rec-1", "evt-1", "primary", "cal-hash", 100L, null)).isZero();
        assertThat(mappings.writableByCalendar("rec-1")).isFalse();
        String claim = claimOne();
        mappings.fail("rec-1", 1, "refused", claim);
        assertThat(row("rec-1")).containsEntry("sync_state", "failed");
        assertThat(mappings.markSynced("rec-1", "evt-1", "primary", "cal-hash", 100L, null)).isZero();

        assertThat(row("rec-1")).containsEntry("content_hash", "app-hash");
    }

    @Test
    void pendingDeleteIsNotWritableByTheCalendar() {
        mappings.insertFromCalendar("rec-1", "evt-1", GRANT, "primary");
        mappings.markSynced("rec-1", "evt-1", "primary", "h1", 100L, null);

        mappings.enqueueAppDelete("rec-1");

        assertThat(mappings.writableByCalendar("rec-1")).isFalse();
        assertThat(row("rec-1")).containsEntry("desired", "deleted").containsEntry("sync_state", "pending");
    }

    @Test
    void pushResultsAreRecordedOnlyByTheWorkerHoldingTheClaim() {
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h1");
        String first = claimOne();
        jdbc.update("UPDATE event_sync_map SET lease_until = now() - interval '1 second'");
        String second = claimOne();

        mappings.link("rec-1", "evt-stale", first);
        assertThat(mappings.complete("rec-1", "evt-stale", 1, 100L, null, first)).isZero();
        assertThat(mappings.fail("rec-1", 1, "late", first)).isZero();
        assertThat(mappings.defer("rec-1", java.time.Duration.ofSeconds(1), first)).isZero();
        assertThat(row("rec-1")).containsEntry("sync_state", "pending").containsEntry("nylas_event_id", null);

        mappings.link("rec-1", "evt-1", second);
        assertThat(mappings.complete("rec-1", "evt-1", 1, 100L, null, second)).isEqualTo(1);
        assertThat(row("rec-1")).containsEntry("sync_state", "synced").containsEntry("nylas_event_id", "evt-1");
    }

    @Test
    void newerApplicationChangeKeepsTheRowPendingAfterAPushOfTheOlderVersion() {
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h1");
        String claim = claimOne();
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h2");

        assertThat(mappings.complete("rec-1", "evt-1", 1, 100L, null, claim)).isEqualTo(1);

        assertThat(row("rec-1")).containsEntry("sync_state", "pending").containsEntry("version", 2L);
    }

    @Test
    void noLookupOrCreateWhileAnEarlierCreateMayStillLand() {
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h1");
        String claim = claimOne();
        assertThat(mappings.deferWhileCreateMayLand("rec-1", claim)).isFalse(); // nothing sent yet
        assertThat(mappings.countCreate("rec-1", claim, null, null)).isEqualTo(1);

        assertThat(mappings.deferWhileCreateMayLand("rec-1", claim)).isTrue();
        assertThat(jdbc.queryForObject("SELECT next_attempt_at >= create_attempted_at + interval '3 seconds'"
                + " FROM event_sync_map", Boolean.class)).isTrue();

        String next = claimAfterDue();
        jdbc.update("UPDATE event_sync_map SET create_attempted_at = now() - interval '1 minute'");
        assertThat(mappings.deferWhileCreateMayLand("rec-1", next)).isFalse();
    }

    private String claimAfterDue() {
        jdbc.update("UPDATE event_sync_map SET next_attempt_at = now()");
        return claimOne();
    }

    @Test
    void duplicateEventIsQueuedForDeletionOnce() {
        assertThat(mappings.deleteDuplicate(GRANT, "primary", "evt-dup")).isEqualTo(1);
        assertThat(mappings.deleteDuplicate(GRANT, "primary", "evt-dup")).isZero();

        assertThat(jdbc.queryForMap("SELECT source, sync_state, desired FROM event_sync_map WHERE nylas_event_id = ?",
                "evt-dup")).containsEntry("source", "app").containsEntry("sync_state", "pending")
                .containsEntry("desired", "deleted");
    }

    @Test
    void statesOutsideTheMachineAreRefusedByTheDatabase() {
        mappings.insertFromCalendar("rec-1", "evt-1", GRANT, "primary");

        assertThatThrownBy(() -> jdbc.update("UPDATE event_sync_map SET sync_state = 'done'"))
                .isInstanceOf(DataIntegrityViolationException.class);
        assertThatThrownBy(() -> jdbc.update("UPDATE event_sync_map SET sync_state = 'deleted', desired = 'live'"))
                .isInstanceOf(DataIntegrityViolationException.class);
        assertThatThrownBy(() -> jdbc.update("UPDATE event_sync_map SET source = 'someone'"))
                .isInstanceOf(DataIntegrityViolationException.class);
    }

    @Test
    void createTombstonedWhileItRanQueuesTheDeleteOfTheEventItWrote() {
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h1");
        String claim = claimOne();
        mappings.tombstone("rec-1", null, GRANT, "primary"); // the calendar's user deleted it meanwhile

        assertThat(mappings.complete("rec-1", "evt-1", 1, 100L, null, claim)).isZero();
        assertThat(mappings.undoCreate("rec-1", "evt-1", claim)).isEqualTo(1);

        assertThat(row("rec-1")).containsEntry("sync_state", "pending").containsEntry("desired", "deleted")
                .containsEntry("nylas_event_id", "evt-1");
    }

    @Test
    void goneTombstonesOnlyForTheClaimHolder() {
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h1");
        String claim = claimOne();

        assertThat(mappings.gone("rec-1", "another-claim")).isZero();
        assertThat(mappings.gone("rec-1", claim)).isEqualTo(1);

        assertThat(row("rec-1")).containsEntry("sync_state", "deleted").containsEntry("desired", "deleted");
    }

    @Test
    void releaseAndAnAnswerEndTheClaimAndTheWaitForACreate() {
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h1");
        String claim = claimOne();
        mappings.countCreate("rec-1", claim, 10L, 20L);

        mappings.createAnswered("rec-1", claim);
        mappings.release("rec-1", claim);

        assertThat(row("rec-1")).containsEntry("create_attempted_at", null).containsEntry("lease_until", null)
                .containsEntry("create_attempts", 1);
        assertThat(mappings.createdWindow("rec-1")).containsExactly(10L, 20L);
    }

    @Test
    void createdWindowCoversEveryCreateSent() {
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h1");
        String claim = claimOne();

        mappings.countCreate("rec-1", claim, 100L, 200L);
        mappings.countCreate("rec-1", claim, 50L, 150L);
        mappings.countCreate("rec-1", claim, null, null);

        assertThat(mappings.createdWindow("rec-1")).containsExactly(50L, 200L);
        assertThat(mappings.createsSent("rec-1")).isEqualTo(3);
    }

    @Test
    void failedPushIsRequeuedAndAMissingEventRecreated() {
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h1");
        mappings.fail("rec-1", 1, "refused", claimOne());

        assertThat(mappings.requeueFailed("rec-1")).isTrue();
        assertThat(mappings.requeueFailed("rec-1")).isFalse();
        String claim = claimAfterDue();
        mappings.link("rec-1", "evt-1", claim);
        mappings.complete("rec-1", "evt-1", 1, 100L, null, claim);
        assertThat(mappings.recreate("rec-1")).isEqualTo(1);

        assertThat(row("rec-1")).containsEntry("sync_state", "pending").containsEntry("nylas_event_id", null)
                .containsEntry("create_attempts", 0).containsEntry("version", 2L);
    }

    @Test
    void eventOutlivingAnApplicationDeleteIsDeletedAgain() {
        mappings.enqueueAppChange("rec-1", GRANT, "primary", "h1");
        mappings.enqueueAppDelete("rec-1");
        String claim = claimOne();
        mappings.complete("rec-1", null, 2, null, null, claim);
        assertThat(row("rec-1")).containsEntry("sync_state", "deleted");

        assertThat(mappings.deleteAgain("rec-1", "evt-late", GRANT, "primary")).isEqualTo(1);
        assertThat(row("rec-1")).containsEntry("sync_state", "pending").containsEntry("nylas_event_id", "evt-late");

        // a calendar tombstone is not reopened: another event carrying the record is queued as a duplicate
        mappings.tombstone("rec-2", "evt-2", GRANT, "primary");
        assertThat(mappings.deleteAgain("rec-2", "evt-3", GRANT, "primary")).isEqualTo(1);
        assertThat(row("rec-2")).containsEntry("sync_state", "deleted");
        assertThat(count("SELECT count(*) FROM event_sync_map WHERE nylas_event_id = 'evt-3' AND desired = 'deleted'"))
                .isEqualTo(1);
    }
}

package dev.calsync.inbound;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import dev.calsync.config.CalsyncProperties.AllDayEnd;
import dev.calsync.inbound.InboundPlan.Action;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The order-independence rules of inbound changes, without a database. */
class InboundPlannerTest {

    private final EventCanonicalizer canonicalizer = new EventCanonicalizer(AllDayEnd.EXCLUSIVE);
    private final InboundPlanner planner = new InboundPlanner(canonicalizer);

    private static Map<String, Object> event(String title, long updatedAt) {
        Map<String, Object> e = new HashMap<>();
        e.put("id", "evt-1");
        e.put("grant_id", "g");
        e.put("calendar_id", "c");
        e.put("title", title);
        e.put("when", Map.of("start_time", 10L, "end_time", 20L));
        e.put("updated_at", updatedAt);
        return e;
    }

    private Map<String, Object> mapping(String state, String hash, Long remoteUpdatedAt) {
        Map<String, Object> m = new HashMap<>();
        m.put("internal_id", "rec-1");
        m.put("nylas_event_id", "evt-1");
        m.put("grant_id", "g");
        m.put("sync_state", state);
        m.put("content_hash", hash);
        m.put("remote_updated_at", remoteUpdatedAt);
        return m;
    }

    @Test
    void unknownEventIsCreatedUnderANewRecordId() {
        InboundPlan plan = planner.planUpsert(event("A", 1), null);

        assertThat(plan.action()).isEqualTo(Action.CREATE);
        assertThat(plan.outcome()).isEqualTo("created");
        assertThat(plan.record()).containsEntry("id", plan.recordId()).containsEntry("title", "A");
    }

    @Test
    void unknownEventCarryingOurRecordIdIsRelinkedToIt() {
        Map<String, Object> e = event("A", 1);
        e.put("metadata", Map.of("key1", "rec-9"));

        InboundPlan plan = planner.planUpsert(e, null);

        assertThat(plan.recordId()).isEqualTo("rec-9");
        assertThat(plan.outcome()).isEqualTo("relinked");
    }

    @Test
    void tombstoneWinsOverAnyLaterUpsert() {
        assertThat(planner.planUpsert(event("A", 99), mapping("deleted", "", 1L)).outcome()).isEqualTo("tombstoned");
    }

    @Test
    void olderUpdateIsStale() {
        assertThat(planner.planUpsert(event("A", 5), mapping("synced", "x", 6L)).outcome()).isEqualTo("stale");
    }

    @Test
    void sameContentAsStoredIsUnchanged() {
        Map<String, Object> e = event("A", 7);

        assertThat(planner.planUpsert(e, mapping("synced", canonicalizer.hash(e), 6L)).action())
                .isEqualTo(Action.SKIP);
    }

    @Test
    void aSkippedChangeStillNamesTheRecordItConcernsSoItsLogLinesDo() {
        Map<String, Object> e = event("A", 7);

        InboundPlan plan = planner.planUpsert(e, mapping("synced", canonicalizer.hash(e), 6L));

        assertThat(plan.action()).isEqualTo(Action.SKIP);
        assertThat(plan.recordId()).isEqualTo("rec-1");
    }

    @Test
    void sameContentOnAPendingMappingIsStillWrittenSoACrashedCreateIsFinished() {
        Map<String, Object> e = event("A", 7);

        assertThat(planner.planUpsert(e, mapping("pending", canonicalizer.hash(e), null)).action())
                .isEqualTo(Action.UPDATE);
    }

    @Test
    void deleteOfAnUnknownEventLeavesATombstone() {
        InboundPlan plan = planner.planDelete(Map.of("id", "evt-1", "grant_id", "g"), null);

        assertThat(plan.action()).isEqualTo(Action.DELETE);
        assertThat(plan.outcome()).isEqualTo("tombstoned");
    }

    @Test
    void recordHintLinkedToAnotherEventIsNotTrusted() {
        Map<String, Object> other = mapping("synced", "x", 1L);
        other.put("nylas_event_id", "evt-other");
        Map<String, Object> byEvent = mapping("synced", "y", 1L);

        assertThat(InboundPlanner.choose(List.of(other), List.of(byEvent), "g", "evt-1")).isSameAs(byEvent);
        assertThat(InboundPlanner.choose(List.of(other), List.of(), "g", "evt-1")).isNull();
    }

    @Test
    void differentContentWithTheSameUpdatedAtIsSettledByAskingNylas() {
        InboundPlan plan = planner.planUpsert(event("B", 6), mapping("synced", "hash-of-A", 6L));

        assertThat(plan.action()).isEqualTo(Action.REFETCH);
    }

    @Test
    void eventFetchedToSettleATieIsAppliedAsItIs() {
        InboundPlan plan = planner.planUpsert(event("B", 6), mapping("synced", "hash-of-A", 6L), true);

        assertThat(plan.action()).isEqualTo(Action.UPDATE);
        assertThat(plan.record()).containsEntry("title", "B");
    }

    @Test
    void failedApplicationChangeIsNeitherOverwrittenNorReportedAsUpdated() {
        Map<String, Object> failed = mapping("failed", "x", 1L);
        failed.put("source", "app");

        InboundPlan plan = planner.planUpsert(event("A", 99), failed);

        assertThat(plan.action()).isEqualTo(Action.SKIP);
        assertThat(plan.outcome()).isEqualTo("app-change-failed");
    }

    @Test
    void deleteOfATombstoneRepeatsTheIdempotentLocalDelete() {
        InboundPlan plan = planner.planDelete(Map.of("id", "evt-1", "grant_id", "g"), mapping("deleted", "", 1L));

        assertThat(plan.action()).isEqualTo(Action.DELETE);
        assertThat(plan.recordId()).isEqualTo("rec-1");
        assertThat(plan.outcome()).isEqualTo("already-deleted");
    }
}

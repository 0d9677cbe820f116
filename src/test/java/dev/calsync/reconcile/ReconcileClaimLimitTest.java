package dev.calsync.reconcile;

import java.util.List;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RescanPlans;
import org.apache.camel.support.DefaultExchange;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.transaction.PlatformTransactionManager;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The schedule moves at most one batch of calendars a round, and a claim takes at most {@code
 * calsync.reconcile.concurrency} runs, one per grant, whatever plan the database chooses: also one that reads the
 * choice of rows again for every row it updates ({@link RescanPlans}).
 */
class ReconcileClaimLimitTest extends IntegrationTest {

    @Autowired
    ReconcileRuns runs;
    @Autowired
    CalsyncProperties properties;
    @Autowired
    PlatformTransactionManager transactions;

    /** The service's own schedule and poller would move and claim what these specifications do by hand. */
    @BeforeEach
    void stopThePollers() throws Exception {
        camel.getRouteController().stopRoute("calsync-reconcile-scheduled");
        camel.getRouteController().stopRoute("calsync-reconcile-poll");
    }

    @AfterEach
    void startThePollers() throws Exception {
        camel.getRouteController().startRoute("calsync-reconcile-scheduled");
        camel.getRouteController().startRoute("calsync-reconcile-poll");
    }

    private int queueDue() {
        return RescanPlans.withNestedLoopsOnly(transactions, jdbc, () -> runs.queueDue(new DefaultExchange(camel)));
    }

    @Test
    void theScheduleGivesNewCalendarsTheirSlotsOneBatchAtATime() {
        // Given more calendars without a slot than one round schedules
        jdbc.update("""
                INSERT INTO reconcile_calendar (grant_id, calendar_id)
                SELECT 'grant-' || n, 'primary' FROM generate_series(1, ?) n""", ReconcileRuns.SCHEDULE_BATCH + 200);

        // When one round runs
        queueDue();

        // Then one batch got its slot
        assertThat(count("SELECT count(*) FROM reconcile_calendar WHERE next_due_at IS NOT NULL"))
                .isEqualTo(ReconcileRuns.SCHEDULE_BATCH);
    }

    @Test
    void theScheduleQueuesNoMoreThanOneBatchOfDueCalendarsARound() {
        // Given more calendars whose slot has come than one round moves
        jdbc.update("""
                INSERT INTO reconcile_calendar (grant_id, calendar_id, next_due_at)
                SELECT 'grant-' || n, 'primary', now() - make_interval(secs => 5000 - n)
                  FROM generate_series(1, ?) n""", ReconcileRuns.SCHEDULE_BATCH + 200);

        // When one round runs
        int queued = queueDue();

        // Then one batch was queued and moved on, the longest due first
        assertThat(queued).isEqualTo(ReconcileRuns.SCHEDULE_BATCH);
        assertThat(count("SELECT count(*) FROM reconcile_run")).isEqualTo(ReconcileRuns.SCHEDULE_BATCH);
        assertThat(count("SELECT count(*) FROM reconcile_calendar WHERE next_due_at <= now()")).isEqualTo(200);
    }

    @Test
    void aClaimTakesNoMoreRunsThanTheConcurrencyAndOneAGrant() {
        int concurrency = properties.reconcile().concurrency();
        // Given queued runs of many grants, several calendars each
        jdbc.update("""
                INSERT INTO reconcile_calendar (grant_id, calendar_id, next_due_at)
                SELECT 'grant-' || (n % 10), 'cal-' || n, now() - make_interval(secs => 1000 - n)
                  FROM generate_series(1, 60) n""");
        assertThat(runs.queueDue(new DefaultExchange(camel))).isEqualTo(60);

        // When one claim runs
        List<String> claimed = RescanPlans.withNestedLoopsOnly(transactions, jdbc,
                () -> runs.claim(new DefaultExchange(camel)));
        try {
            // Then it took at most the concurrency, each of another grant, and only those are running
            assertThat(claimed).isNotEmpty().hasSizeLessThanOrEqualTo(concurrency);
            assertThat(count("SELECT count(*) FROM reconcile_run WHERE status = 'running'")).isEqualTo(claimed.size());
            assertThat(count("SELECT count(DISTINCT grant_id) FROM reconcile_run WHERE status = 'running'"))
                    .isEqualTo(claimed.size());
        } finally {
            runs.release(claimed);
        }
    }
}

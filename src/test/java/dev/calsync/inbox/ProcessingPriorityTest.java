package dev.calsync.inbox;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Processing gives way to acknowledgements: fewer workers while the webhook is busy, all of them otherwise. */
class ProcessingPriorityTest {

    private final ThreadPoolExecutor workers = new ThreadPoolExecutor(8, 8, 60, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>());
    private final AtomicLong acksLastSecond = new AtomicLong();
    private final ProcessingPriority priority = new ProcessingPriority(workers, acksLastSecond::get, 50, 8, 2);

    @AfterEach
    void stop() {
        workers.shutdownNow();
    }

    @Test
    void ordinaryTrafficNeverSlowsProcessing() {
        acksLastSecond.set(49);
        assertThat(priority.adjust()).isEqualTo(8);
        assertThat(workers.getMaximumPoolSize()).isEqualTo(8);
    }

    @Test
    void aBusyWebhookShrinksProcessingAndItGrowsBackWhenTheRateFalls() {
        acksLastSecond.set(400);
        assertThat(priority.adjust()).isEqualTo(2);
        assertThat(workers.getCorePoolSize()).isEqualTo(2);
        assertThat(workers.getMaximumPoolSize()).isEqualTo(2);

        acksLastSecond.set(50);
        assertThat(priority.adjust()).as("still busy at the threshold").isEqualTo(2);

        acksLastSecond.set(0);
        assertThat(priority.adjust()).isEqualTo(8);
        assertThat(workers.getCorePoolSize()).isEqualTo(8);
        assertThat(workers.getMaximumPoolSize()).isEqualTo(8);
    }

    @Test
    void theBudgetWhileBusyNeverExceedsTheWorkersNorFallsBelowOne() {
        acksLastSecond.set(1_000);
        assertThat(new ProcessingPriority(workers, acksLastSecond::get, 50, 3, 16).adjust()).isEqualTo(3);
        assertThat(new ProcessingPriority(workers, acksLastSecond::get, 50, 8, 0).adjust()).isEqualTo(1);
    }
}

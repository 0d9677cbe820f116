package dev.calsync.inbox;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Processing gives way to acknowledgements: fewer workers while the webhook stores notifications. */
class ProcessingPriorityTest {

    private final ThreadPoolExecutor workers = new ThreadPoolExecutor(8, 8, 60, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>());
    private final AtomicLong lastStored = new AtomicLong();
    private final AtomicLong now = new AtomicLong(1_000_000_000_000L);
    private final ProcessingPriority priority = new ProcessingPriority(workers, lastStored::get, now::get, 8, 2);

    @AfterEach
    void stop() {
        workers.shutdownNow();
    }

    @Test
    void withNothingStoredYetAllWorkersProcess() {
        assertThat(priority.adjust()).isEqualTo(8);
        assertThat(workers.getMaximumPoolSize()).isEqualTo(8);
    }

    @Test
    void whileTheWebhookStoresNotificationsProcessingShrinksAndGrowsBackASecondAfterTheLastCommit() {
        lastStored.set(now.get() - TimeUnit.MILLISECONDS.toNanos(200));
        assertThat(priority.adjust()).isEqualTo(2);
        assertThat(workers.getCorePoolSize()).isEqualTo(2);
        assertThat(workers.getMaximumPoolSize()).isEqualTo(2);

        now.addAndGet(TimeUnit.MILLISECONDS.toNanos(700));
        assertThat(priority.adjust()).as("still within a second of the last commit").isEqualTo(2);

        now.addAndGet(TimeUnit.MILLISECONDS.toNanos(200));
        assertThat(priority.adjust()).isEqualTo(8);
        assertThat(workers.getCorePoolSize()).isEqualTo(8);
        assertThat(workers.getMaximumPoolSize()).isEqualTo(8);
    }

    @Test
    void theBudgetWhileAcknowledgingNeverExceedsTheWorkersNorFallsBelowOne() {
        lastStored.set(now.get());
        assertThat(new ProcessingPriority(workers, lastStored::get, now::get, 3, 16).adjust()).isEqualTo(3);
        assertThat(new ProcessingPriority(workers, lastStored::get, now::get, 8, 0).adjust()).isEqualTo(1);
    }
}

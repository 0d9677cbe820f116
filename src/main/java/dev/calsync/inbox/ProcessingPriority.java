package dev.calsync.inbox;

import java.time.Duration;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.function.LongSupplier;

import dev.calsync.config.CalsyncProperties;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.camel.CamelContext;
import org.apache.camel.builder.ThreadPoolProfileBuilder;
import org.apache.camel.spi.ThreadPoolProfile;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;

/**
 * Gives acknowledgements priority over processing: while the webhook is storing notifications (a commit within the
 * last {@link #ACKNOWLEDGING}), at most {@code calsync.inbound.workers-while-acknowledging} notifications are
 * processed at once; otherwise {@code calsync.inbound.workers}. It resizes the {@code notificationWorkers} pool the
 * {@code notification-poll} route splits claimed notifications over, before each claim is split; a shrunk pool lets
 * its extra threads finish the notification they hold, and the rest of the claim waits in its queue.
 * <p>
 * On a small machine processing and acknowledgements share the CPU and the database: measured on 2 cores, eight
 * processing threads left the acknowledgements half of what two did, and processed fewer notifications in all
 * (docs/PERFORMANCE.md). Processing catches up as soon as the load stops.
 */
@Component("processingPriority")
public class ProcessingPriority {

    /** The name the {@code notification-poll} route's split finds the worker pool by (Camel's registry). */
    public static final String WORKERS = "notificationWorkers";

    static final Duration ACKNOWLEDGING = Duration.ofSeconds(1);

    private final ThreadPoolExecutor workers;
    private final LongSupplier lastStoredNanos;
    private final LongSupplier nanoTime;
    private final int idle;
    private final int busy;

    @Autowired
    public ProcessingPriority(CamelContext camel, InboxWriter writer, CalsyncProperties properties,
                              MeterRegistry registry) {
        this(workerPool(camel, properties.inbound().workers()), writer::lastCommitNanos, System::nanoTime,
                properties.inbound().workers(), properties.inbound().workersWhileAcknowledging());
        // in Camel's registry only: an Executor bean in Spring's would replace Spring Boot's task executor
        camel.getRegistry().bind(WORKERS, workers);
        Gauge.builder("calsync.inbound.workers", workers, ThreadPoolExecutor::getMaximumPoolSize)
                .description("Notifications processed at once at most (lower while the webhook stores notifications)")
                .register(registry);
    }

    /** A pool of Camel's (named threads, shut down with the context) that can be resized. */
    private static ThreadPoolExecutor workerPool(CamelContext camel, int workers) {
        ThreadPoolProfile profile = new ThreadPoolProfileBuilder(WORKERS)
                .poolSize(workers).maxPoolSize(workers).maxQueueSize(-1).build();
        return (ThreadPoolExecutor) camel.getExecutorServiceManager().newThreadPool(ProcessingPriority.class, WORKERS,
                profile);
    }

    ProcessingPriority(ThreadPoolExecutor workers, LongSupplier lastStoredNanos, LongSupplier nanoTime, int idle,
                       int busy) {
        this.workers = workers;
        this.lastStoredNanos = lastStoredNanos;
        this.nanoTime = nanoTime;
        this.idle = idle;
        this.busy = Math.max(1, Math.min(busy, idle));
    }

    /** Sizes the worker pool for the claim about to be split; returns the size. */
    public synchronized int adjust() {
        long last = lastStoredNanos.getAsLong();
        boolean acknowledging = last != 0 && nanoTime.getAsLong() - last < ACKNOWLEDGING.toNanos();
        int size = acknowledging ? busy : idle;
        if (size < workers.getMaximumPoolSize()) {
            workers.setCorePoolSize(size);
            workers.setMaximumPoolSize(size);
        } else if (size > workers.getMaximumPoolSize()) {
            workers.setMaximumPoolSize(size);
            workers.setCorePoolSize(size);
        }
        return size;
    }
}

package dev.calsync.inbox;

import java.util.concurrent.ThreadPoolExecutor;
import java.util.function.LongSupplier;

import dev.calsync.config.CalsyncProperties;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.camel.CamelContext;
import org.apache.camel.support.LifecycleStrategySupport;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;

/**
 * Gives acknowledgements priority over processing: while the webhook is busy (at least {@code
 * calsync.inbound.yield-at-acks-per-second} notifications stored in the last second), at most {@code
 * calsync.inbound.workers-while-acknowledging} notifications are processed at once; otherwise {@code
 * calsync.inbound.workers}. Ordinary traffic below that rate never slows processing. It resizes the {@code notificationWorkers} pool the
 * {@code calsync-notification-poll} route splits claimed notifications over, before each claim is split; a shrunk
 * pool lets its extra threads finish the notification they hold, and the rest of the claim waits in its queue.
 * <p>
 * On a small machine processing and acknowledgements share the CPU and the database: measured on 2 cores, eight
 * processing threads left the acknowledgements half of what two did, and processed fewer notifications in all
 * (docs/PERFORMANCE.md). Processing catches up as soon as the load stops.
 */
@Component("processingPriority")
public class ProcessingPriority {

    /** The name the {@code calsync-notification-poll} route's split finds the worker pool by (Camel's registry). */
    public static final String WORKERS = "notificationWorkers";

    private final ThreadPoolExecutor workers;
    private final LongSupplier ackRate;
    private final long busyRate;
    private final int idle;
    private final int busy;

    @Autowired
    public ProcessingPriority(CamelContext camel, InboxWriter writer, CalsyncProperties properties,
                              MeterRegistry registry) {
        this(workerPool(camel, properties.inbound().workers()), writer::storedLastSecond,
                properties.inbound().yieldAtAcksPerSecond(), properties.inbound().workers(),
                properties.inbound().workersWhileAcknowledging());
        // in Camel's registry only: an Executor bean in Spring's would replace Spring Boot's task executor. Bound
        // again each time the context initialises (a stopped and restarted context starts from an empty registry),
        // before its routes are created
        camel.getRegistry().bind(WORKERS, workers);
        camel.addLifecycleStrategy(new LifecycleStrategySupport() {
            @Override
            public void onContextInitializing(CamelContext context) {
                context.getRegistry().bind(WORKERS, workers);
            }
        });
        Gauge.builder("calsync.inbound.workers", workers, ThreadPoolExecutor::getMaximumPoolSize)
                .description("Notifications processed at once at most (lower while the webhook is busy)")
                .register(registry);
    }

    /**
     * A pool that can be resized, with Camel's thread names. Made by hand rather than by Camel's executor service
     * manager, which shuts its pools down when the context stops: this one lives as long as the bean
     * ({@link #close}), so a context stopped and started again (a test's, an operator's) still finds it.
     */
    private static ThreadPoolExecutor workerPool(CamelContext camel, int workers) {
        java.util.concurrent.atomic.AtomicInteger threads = new java.util.concurrent.atomic.AtomicInteger();
        String pattern = camel.getExecutorServiceManager().getThreadNamePattern();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(workers, workers, 60, java.util.concurrent.TimeUnit.SECONDS,
                new java.util.concurrent.LinkedBlockingQueue<>(), runnable -> {
                    Thread thread = new Thread(runnable, org.apache.camel.util.concurrent.ThreadHelper
                            .resolveThreadName(pattern, WORKERS) + " #" + threads.incrementAndGet());
                    thread.setDaemon(true);
                    return thread;
                });
        return pool;
    }

    /** Lets the notifications being processed finish, as Camel's own pools do on shutdown. */
    @jakarta.annotation.PreDestroy
    public void close() {
        workers.shutdown();
    }

    ProcessingPriority(ThreadPoolExecutor workers, LongSupplier ackRate, long busyRate, int idle, int busy) {
        this.workers = workers;
        this.ackRate = ackRate;
        this.busyRate = busyRate;
        this.idle = idle;
        this.busy = Math.max(1, Math.min(busy, idle));
    }

    /** The pool the notifications are processed on (the routes' {@code executorService: notificationWorkers}). */
    public ThreadPoolExecutor workerPool() {
        return workers;
    }

    /** Sizes the worker pool for the claim about to be split; returns the size. */
    public synchronized int adjust() {
        int size = ackRate.getAsLong() >= busyRate ? busy : idle;
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

package dev.calsync.config;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.apache.camel.ExchangeProperty;
import org.springframework.stereotype.Component;

/**
 * The product's counters, called from the routes. A bean rather than Camel's {@code micrometer:} endpoint because
 * that endpoint searches the whole registry on every message, a cost the acknowledgement path cannot afford; here
 * each call is a map lookup.
 */
@Component("syncMetrics")
public class SyncMetrics {

    private final MeterRegistry registry;
    private final Timer ackToApplied;
    private final Map<String, Counter> released = new HashMap<>();

    public SyncMetrics(MeterRegistry registry) {
        this.registry = registry;
        // buckets from 10 ms to an hour: a backlog (or a paused grant, or a replayed dead letter) is minutes or hours
        this.ackToApplied = Timer.builder("calsync.ack.to.applied")
                .description("Time from a notification's acknowledgement (its inbox row's received_at) to its"
                        + " processing being recorded")
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(10)).maximumExpectedValue(Duration.ofHours(1))
                .register(registry);
        // registered now, not when first counted: the release runs while the application stops, after Spring Boot
        // has closed the registries (on ContextClosedEvent), and a closed registry registers no new meter
        for (String table : List.of("webhook_inbox", "event_sync_map", "reconcile_run")) {
            released.put(table, registry.counter("calsync.shutdown.released", "table", table));
        }
    }

    /** {@code calsync.webhook.notifications{result}}: stored, or duplicate (known to Redis or to the database). */
    public void webhook(String result) {
        registry.counter("calsync.webhook.notifications", "result", result).increment();
    }

    /** {@code calsync.notifications.processed{outcome}}: what processing did (created, updated, unchanged, ...). */
    public void processed(@ExchangeProperty("outcome") String outcome) {
        registry.counter("calsync.notifications.processed", "outcome", outcome == null ? "done" : outcome)
                .increment();
    }

    /** {@code calsync.push{outcome}}: pushed, failed (visible, replayable) or deferred (circuit open). */
    public void pushed(@ExchangeProperty("outcome") String outcome) {
        registry.counter("calsync.push", "outcome", outcome == null ? "pushed" : outcome).increment();
    }

    /**
     * {@code calsync.shutdown.released{table}}: claims given back on a graceful stop (webhook_inbox, event_sync_map,
     * reconcile_run), for other instances to take at once.
     */
    public void released(String table, int claims) {
        released.get(table).increment(claims);
    }

    /** {@code calsync.notifications.failed{result}}: a failed attempt that will be retried, or a new dead letter. */
    public void failed(String result) {
        registry.counter("calsync.notifications.failed", "result", result).increment();
    }

    /**
     * {@code calsync.ack.to.applied} (histogram): from the acknowledgement to the notification's processing being
     * recorded, measured by the database's clock (both ends are the inbox row's timestamps).
     */
    public void ackToApplied(double seconds) {
        ackToApplied.record(Duration.ofNanos((long) (Math.max(0, seconds) * 1_000_000_000L)));
    }
}

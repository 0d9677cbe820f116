package dev.calsync.metrics;

import java.util.Map;
import java.util.function.ToDoubleFunction;

import dev.calsync.config.CalsyncProperties;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DataAccessException;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

/**
 * The backlog gauges, read from PostgreSQL: {@code calsync_inbox_backlog{status}}, {@code
 * calsync_inbox_oldest_due_age_seconds}, {@code calsync_dead_letters}, {@code calsync_push_backlog{state}} and
 * {@code calsync_paused_grants}.
 * <p>
 * Every gauge reads one shared snapshot, taken by one statement of counts that each read a partial index holding only
 * the rows counted (V9 adds the two that were missing), so a count costs the backlog's size, not the table's. A scrape
 * that finds the snapshot older than {@code calsync.metrics.refresh-interval} takes a new one; scrapes (and gauges)
 * within the interval share it, so the database sees at most one statement per interval whatever scrapes it. The
 * statement has a time-out of its own ({@code calsync.metrics.query-timeout}); when it fails (database down, time-out)
 * the gauges show NaN, no figure rather than a wrong one, until the next interval.
 * <p>
 * A snapshot cache written by hand: Micrometer's gauges call their function on every scrape and offer no caching, and
 * a scheduled refresh would query the database even when nobody scrapes.
 */
@Component("calsyncBacklogMetrics")
public class BacklogMetrics {

    private static final Logger LOG = LoggerFactory.getLogger(BacklogMetrics.class);

    /*
     * One round trip, each count on its own index:
     * received: webhook_inbox_received_due (every received row, due or waiting: retry backoff, held for a paused grant);
     * processing: webhook_inbox_lease; dead: webhook_inbox_status (status, received_at);
     * oldest due: the oldest processing row and the oldest received row that is due (next_attempt_at reached) and not
     * an event notification of a paused grant (those are held until the grant resumes, as the claim holds them), each
     * the first row of webhook_inbox_status in received_at order;
     * pushes: event_sync_map_push_due (pending application changes) and event_sync_map_push_failed (V9; only a push
     * sets 'failed'); paused grants: grant_sync_state_paused (V9).
     * Public for the backlog metrics benchmark (BacklogMetricsBench), which times this very statement at scale.
     */
    public static final String SNAPSHOT_SQL = """
            SELECT (SELECT count(*) FROM webhook_inbox WHERE status = 'received') AS received,
                   (SELECT count(*) FROM webhook_inbox WHERE status = 'processing') AS processing,
                   (SELECT count(*) FROM webhook_inbox WHERE status = 'dead') AS dead,
                   (SELECT coalesce(greatest(extract(epoch FROM now() - min(o.received_at)), 0), 0) FROM (
                        (SELECT received_at FROM webhook_inbox WHERE status = 'processing'
                          ORDER BY received_at LIMIT 1)
                        UNION ALL
                        (SELECT w.received_at FROM webhook_inbox w
                          WHERE w.status = 'received' AND w.next_attempt_at <= now()
                            AND NOT (w.type LIKE 'event.%' AND EXISTS (SELECT 1 FROM grant_sync_state g
                                      WHERE g.grant_id = w.grant_id AND g.state = 'paused'))
                          ORDER BY w.received_at LIMIT 1)) o) AS oldest_due_age,
                   (SELECT count(*) FROM event_sync_map WHERE sync_state = 'pending' AND source = 'app') AS push_pending,
                   (SELECT count(*) FROM event_sync_map WHERE sync_state = 'failed') AS push_failed,
                   (SELECT count(*) FROM grant_sync_state WHERE state = 'paused') AS paused_grants
            """;

    private final JdbcTemplate jdbc;
    private final long refreshNanos;
    private Snapshot snapshot;
    private long takenAtNanos;

    public BacklogMetrics(JdbcTemplate jdbc, CalsyncProperties properties, MeterRegistry registry) {
        CalsyncProperties.Metrics config = properties.metrics();
        // a template of its own for its time-out; the same pool as every other statement
        this.jdbc = new JdbcTemplate(jdbc.getDataSource());
        this.jdbc.setQueryTimeout((int) Math.max(1, config.queryTimeout().toSeconds()));
        this.refreshNanos = config.refreshInterval().toNanos();

        gauge(registry, "calsync.inbox.backlog", Snapshot::received,
                "Stored notifications waiting to be processed (due, or waiting for a retry or a paused grant)",
                "status", "received");
        gauge(registry, "calsync.inbox.backlog", Snapshot::processing,
                "Stored notifications claimed by a worker and being processed", "status", "processing");
        Gauge.builder("calsync.inbox.oldest.due.age", this, m -> m.current().oldestDueAgeSeconds())
                .baseUnit("seconds")
                .description("Age since its acknowledgement of the oldest notification that is due (or being"
                        + " processed) and not yet processed; 0 when there is none")
                .register(registry);
        gauge(registry, "calsync.dead.letters", Snapshot::dead,
                "Notifications kept as dead letters (status dead) until replayed");
        gauge(registry, "calsync.push.backlog", Snapshot::pushPending,
                "Application changes waiting to be pushed to the calendar", "state", "pending");
        gauge(registry, "calsync.push.backlog", Snapshot::pushFailed,
                "Application changes whose push failed for good (replayable)", "state", "failed");
        gauge(registry, "calsync.paused.grants", Snapshot::pausedGrants,
                "Grants whose sync is paused (expired or deleted) until re-authenticated or resumed");
    }

    private void gauge(MeterRegistry registry, String name, ToDoubleFunction<Snapshot> value, String description,
                       String... tags) {
        Gauge.builder(name, this, m -> value.applyAsDouble(m.current())).description(description).tags(tags)
                .register(registry);
    }

    /** The snapshot the gauges show: the last one, or a new one when the last is older than the refresh interval. */
    public synchronized Snapshot current() {
        long now = System.nanoTime();
        if (snapshot == null || now - takenAtNanos >= refreshNanos) {
            snapshot = read();
            takenAtNanos = System.nanoTime();
        }
        return snapshot;
    }

    private Snapshot read() {
        try {
            Map<String, Object> row = jdbc.queryForMap(SNAPSHOT_SQL);
            return new Snapshot(number(row, "received"), number(row, "processing"), number(row, "dead"),
                    number(row, "oldest_due_age"), number(row, "push_pending"), number(row, "push_failed"),
                    number(row, "paused_grants"));
        } catch (DataAccessException e) {
            LOG.debug("Backlog metrics could not be read: {}", e.getMessage());
            return Snapshot.UNKNOWN;
        }
    }

    private static double number(Map<String, Object> row, String column) {
        Object value = row.get(column);
        return value instanceof Number n ? n.doubleValue() : 0;
    }

    /** One reading of the backlog; NaN throughout when the database could not be read. */
    public record Snapshot(double received, double processing, double dead, double oldestDueAgeSeconds,
                           double pushPending, double pushFailed, double pausedGrants) {
        static final Snapshot UNKNOWN = new Snapshot(Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN,
                Double.NaN, Double.NaN);
    }

}

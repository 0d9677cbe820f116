package dev.calsync.inbox;

import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.config.SyncMetrics;
import dev.calsync.shutdown.ClaimTokens;
import org.apache.camel.Exchange;
import org.apache.camel.ExchangeProperty;
import org.apache.camel.Variable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DuplicateKeyException;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;
import org.springframework.beans.factory.annotation.Qualifier;

import static dev.calsync.CalsyncVariables.ATTEMPTS;
import static dev.calsync.CalsyncVariables.NOTIFICATION_CLAIM;
import static dev.calsync.CalsyncVariables.NOTIFICATION_ID;

/**
 * The durable queue between the acknowledgement and the processing of a notification: claiming due rows under a
 * lease, recording outcomes, backing off failures and keeping the ones that keep failing as dead letters.
 */
@Component("notificationInbox")
public class NotificationInbox {

    private static final Logger LOG = LoggerFactory.getLogger(NotificationInbox.class);

    /*
     * Rows whose processing lease ran out (a worker that died or hung) keep their event's slot: they are taken
     * again first, by the lease index, a batch at a time.
     */
    private static final String RECLAIM_SQL = """
            UPDATE webhook_inbox i
               SET attempts = i.attempts + 1, lease_until = now() + make_interval(secs => ?),
                   claim_token = ? || gen_random_uuid()::text
              FROM (SELECT notification_id FROM webhook_inbox
                     WHERE status = 'processing' AND lease_until <= now()
                     ORDER BY lease_until LIMIT ? FOR UPDATE SKIP LOCKED) expired
             WHERE i.notification_id = expired.notification_id
            RETURNING i.notification_id, i.type, i.grant_id, i.object_id, i.notified_at, i.payload::text AS payload,
                      i.attempts, i.claim_token, i.payload #>> '{data,object,metadata,key1}' AS record_hint
            """;

    /*
     * New and retried rows, oldest first, read by the due index a few batches at a time: the cost is the batch's,
     * not the backlog's, and rows another instance is claiming are skipped, not waited for. Per event key at most
     * one row is processing: one per key within the batch (DISTINCT ON), none whose key has a processing row (an
     * index probe), and concurrent claimers never pick one key at once (a transaction-scoped advisory lock on the
     * key); the unique index webhook_inbox_one_per_key is the last word. Event rows of a paused grant are held instead
     * of being read on every claim: the claim that meets one holds every due event row of that grant at once (rows
     * another claimer has locked are left to it), so a paused grant's backlog never fills the candidates ahead of
     * other grants' notifications. They are due again at once when the grant resumes (releaseHeld); the hour is only
     * a safety net, long enough that a big backlog is not rewritten every few minutes.
     */
    private static final String CLAIM_SQL = """
            WITH candidates AS (
                SELECT notification_id, event_key, grant_id, type, next_attempt_at FROM webhook_inbox
                 WHERE status = 'received' AND next_attempt_at <= now()
                 ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED
            ), paused AS (
                SELECT c.notification_id, c.grant_id FROM candidates c
                  JOIN grant_sync_state g ON g.grant_id = c.grant_id AND g.state = 'paused'
                 WHERE c.type LIKE 'event.%'
            ), of_paused_grants AS MATERIALIZED (
                SELECT w.notification_id FROM webhook_inbox w
                 WHERE w.status = 'received' AND w.next_attempt_at <= now() AND w.type LIKE 'event.%'
                   AND w.grant_id IN (SELECT grant_id FROM paused)
                   FOR UPDATE SKIP LOCKED
            ), held AS (
                UPDATE webhook_inbox w SET next_attempt_at = now() + interval '1 hour'
                  FROM of_paused_grants p WHERE w.notification_id = p.notification_id
                RETURNING w.notification_id
            ), eligible AS (
                SELECT DISTINCT ON (coalesce(c.event_key, c.notification_id)) c.notification_id, c.next_attempt_at
                  FROM candidates c
                 WHERE c.notification_id NOT IN (SELECT notification_id FROM paused)
                   AND (c.event_key IS NULL
                        OR (NOT EXISTS (SELECT 1 FROM webhook_inbox b
                                         WHERE b.event_key = c.event_key AND b.status = 'processing')
                            AND pg_try_advisory_xact_lock(hashtextextended(c.event_key, 0))))
                 ORDER BY coalesce(c.event_key, c.notification_id), c.next_attempt_at
            ), batch AS (
                SELECT notification_id FROM eligible ORDER BY next_attempt_at LIMIT ?
            )
            UPDATE webhook_inbox i
               SET status = 'processing', attempts = i.attempts + 1,
                   lease_until = now() + make_interval(secs => ?), claim_token = ? || gen_random_uuid()::text
              FROM batch
             WHERE i.notification_id = batch.notification_id
            RETURNING i.notification_id, i.type, i.grant_id, i.object_id, i.notified_at, i.payload::text AS payload,
                      i.attempts, i.claim_token, i.payload #>> '{data,object,metadata,key1}' AS record_hint
            """;

    /** Candidate rows read per free slot of a batch, so rows of one busy event do not starve the others. */
    private static final int CANDIDATES_PER_SLOT = 4;

    private final JdbcTemplate jdbc;
    private final CalsyncProperties.Inbound config;
    private final Clock clock;
    private final SyncMetrics metrics;
    /** This instance's claim tokens: released on shutdown, and only they. */
    private final ClaimTokens tokens = new ClaimTokens();

    public NotificationInbox(JdbcTemplate jdbc, CalsyncProperties properties, @Qualifier("calsyncClock") Clock clock,
                             SyncMetrics metrics) {
        this.jdbc = jdbc;
        this.config = properties.inbound();
        this.clock = clock;
        this.metrics = metrics;
    }

    /**
     * Claims due notifications for this worker. Sets {@code CamelSchedulerPolledMessages} so an empty claim lets
     * the scheduler wait, and a full one polls again at once.
     */
    public List<Map<String, Object>> claim(Exchange exchange) {
        buryPoison();
        List<Map<String, Object>> rows = new ArrayList<>(jdbc.queryForList(RECLAIM_SQL, config.lease().toSeconds(),
                tokens.prefix(), config.batchSize()));
        int room = config.batchSize() - rows.size();
        if (room > 0) {
            try {
                rows.addAll(jdbc.queryForList(CLAIM_SQL, room * CANDIDATES_PER_SLOT, room,
                        config.lease().toSeconds(), tokens.prefix()));
            } catch (DuplicateKeyException e) {
                // another instance took a row of the same event between this claim's snapshot and its write: the
                // unique index refused the second one; the rows stay due for the next poll
                LOG.debug("Claim met a concurrent claim of the same event; trying again at the next poll");
            }
        }
        exchange.setProperty(Exchange.SCHEDULER_POLLED_MESSAGES, !rows.isEmpty());
        return rows;
    }

    /**
     * release-on-shutdown: every row this instance still holds (claimed by it, outcome not recorded) goes back to
     * {@code received}, due at once, lease and claim cleared, the attempt not counted (the shutdown was not the
     * notification's fault), so another instance claims it at its next poll. A worker of this instance still running
     * afterwards records nothing: {@link #start}, {@link #complete} and {@link #fail} match its claim token, which is
     * gone. Rows other instances hold (another token prefix) are never touched. Returns the number released.
     */
    public int releaseClaims() {
        return jdbc.update("""
                UPDATE webhook_inbox SET status = 'received', lease_until = NULL, claim_token = NULL,
                       attempts = greatest(attempts - 1, 0), next_attempt_at = now()
                 WHERE status = 'processing' AND claim_token LIKE ?""", tokens.pattern());
    }

    /** Gives back the rows of a grant that were held while it was paused: they are due at once. */
    public int releaseHeld(String grantId) {
        return jdbc.update("""
                UPDATE webhook_inbox SET next_attempt_at = now()
                 WHERE grant_id = ? AND status = 'received' AND next_attempt_at > now()""", grantId);
    }

    /**
     * A notification whose lease ran out after its last allowed attempt hung or killed every worker that took it:
     * it becomes a dead letter instead of being claimed again forever.
     */
    private void buryPoison() {
        List<String> dead = jdbc.queryForList("""
                UPDATE webhook_inbox SET status = 'dead', lease_until = NULL, claim_token = NULL,
                       last_error = 'lease expired after ' || attempts || ' attempts: the worker hung or died'
                 WHERE status = 'processing' AND lease_until <= now() AND attempts >= ?
                RETURNING notification_id""", String.class, config.maxAttempts());
        dead.forEach(id -> LOG.error("Notification {} is a dead letter: its lease expired after its last attempt", id));
    }

    /**
     * Starts processing a claimed notification: its lease runs from now (not from when its batch was claimed), and
     * false when this worker no longer holds the claim (the row was taken over after the lease ran out).
     */
    public boolean start(@Variable(NOTIFICATION_ID) String notificationId, @Variable(NOTIFICATION_CLAIM) String claim) {
        return jdbc.update("""
                UPDATE webhook_inbox SET lease_until = now() + make_interval(secs => ?)
                 WHERE notification_id = ? AND claim_token = ? AND status = 'processing'""",
                config.lease().toSeconds(), notificationId, claim) == 1;
    }

    /**
     * Records what processing did with a notification; the row is kept until the retention purge. The time from its
     * acknowledgement to now goes to {@code calsync_ack_to_applied_seconds}.
     */
    public void complete(@Variable(NOTIFICATION_ID) String notificationId, @Variable(NOTIFICATION_CLAIM) String claim,
                         @ExchangeProperty("outcome") String outcome) {
        List<Double> applied = jdbc.queryForList("""
                UPDATE webhook_inbox SET status = 'processed', outcome = ?, processed_at = now(), lease_until = NULL,
                       last_error = NULL, claim_token = NULL
                 WHERE notification_id = ? AND claim_token = ?
                RETURNING extract(epoch FROM processed_at - received_at)::float8""", Double.class,
                outcome == null ? "done" : outcome, notificationId, claim);
        applied.forEach(metrics::ackToApplied);
        if (applied.isEmpty()) {
            LOG.warn("Notification {} was taken over by another worker; its outcome here ({}) is not recorded",
                    notificationId, outcome);
        }
    }

    /**
     * Puts a failed notification back with exponential backoff and jitter, or keeps it as a dead letter once it has
     * used {@code calsync.inbound.max-attempts}.
     */
    public String fail(@Variable(NOTIFICATION_ID) String notificationId, @Variable(NOTIFICATION_CLAIM) String claim,
                       @Variable(ATTEMPTS) Integer attempts, Exchange exchange) {
        Throwable error = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        String message = describe(error);
        int done = attempts == null ? 1 : attempts;
        if (done >= config.maxAttempts()) {
            jdbc.update("""
                    UPDATE webhook_inbox SET status = 'dead', last_error = ?, lease_until = NULL, claim_token = NULL
                     WHERE notification_id = ? AND claim_token = ?""", message, notificationId, claim);
            LOG.error("Notification {} is a dead letter after {} attempts: {}", notificationId, done, message);
            return "dead";
        }
        Duration delay = backoff(done, config.initialBackoff(), config.maxBackoff());
        jdbc.update("""
                UPDATE webhook_inbox SET status = 'received', last_error = ?, lease_until = NULL, claim_token = NULL,
                       next_attempt_at = now() + make_interval(secs => ?)
                 WHERE notification_id = ? AND claim_token = ?""", message, delay.toMillis() / 1000.0, notificationId,
                claim);
        LOG.warn("Notification {} failed (attempt {}), retrying in {} ms: {}", notificationId, done,
                delay.toMillis(), message);
        return "retry";
    }

    /** Full-jitter exponential backoff: a random delay up to initial * 2^(attempt-1), capped. */
    static Duration backoff(int attempt, Duration initial, Duration max) {
        long ceiling = Math.min(max.toMillis(), initial.toMillis() << Math.min(attempt - 1, 30));
        long half = ceiling / 2;
        return Duration.ofMillis(half + ThreadLocalRandom.current().nextLong(half + 1));
    }

    /** Makes a dead (or processed) notification due again; false when the id is unknown. */
    public boolean replay(String notificationId) {
        return jdbc.update("""
                UPDATE webhook_inbox SET status = 'received', attempts = 0, next_attempt_at = now(),
                       lease_until = NULL, outcome = NULL
                 WHERE notification_id = ? AND status IN ('dead', 'processed')""", notificationId) == 1;
    }

    /**
     * Makes up to {@code limit} dead letters due again, as {@link #replay} does one: those of a notification type, of a
     * grant, received in {@code [from, to)}, each filter left out when null; oldest received first. Rows another
     * caller is replaying at the same moment are skipped, not waited for. Returns the ids replayed.
     */
    public List<String> replayDead(String type, String grantId, Instant from, Instant to, int limit) {
        // the rows are chosen once, in a CTE: a LIMIT ... SKIP LOCKED sub-select joined in the UPDATE may be read again
        // for each row, and skipping the rows this statement already changed it would go past its limit
        return jdbc.queryForList("""
                WITH chosen AS MATERIALIZED (
                    SELECT notification_id FROM webhook_inbox
                     WHERE status = 'dead'""" + DEAD_FILTER + """
                     ORDER BY received_at LIMIT ? FOR UPDATE SKIP LOCKED)
                UPDATE webhook_inbox i SET status = 'received', attempts = 0, next_attempt_at = now(),
                       lease_until = NULL, outcome = NULL
                  FROM chosen
                 WHERE i.notification_id = chosen.notification_id AND i.status = 'dead'
                RETURNING i.notification_id""", String.class, filterArgs(type, grantId, from, to, limit));
    }

    /** The dead letters the same filters as {@link #replayDead} match. */
    public int countDead(String type, String grantId, Instant from, Instant to) {
        Integer n = jdbc.queryForObject("SELECT count(*) FROM webhook_inbox WHERE status = 'dead'" + DEAD_FILTER,
                Integer.class, filterArgs(type, grantId, from, to, null));
        return n == null ? 0 : n;
    }

    /* A null parameter leaves its filter out; every value is a bound parameter. */
    private static final String DEAD_FILTER = """
             AND (?::text IS NULL OR type = ?) AND (?::text IS NULL OR grant_id = ?)
             AND (?::timestamptz IS NULL OR received_at >= ?) AND (?::timestamptz IS NULL OR received_at < ?)
            """;

    private static Object[] filterArgs(String type, String grantId, Instant from, Instant to, Integer limit) {
        Timestamp start = from == null ? null : Timestamp.from(from);
        Timestamp end = to == null ? null : Timestamp.from(to);
        List<Object> args = new ArrayList<>(java.util.Arrays.asList(type, type, grantId, grantId, start, start, end, end));
        if (limit != null) {
            args.add(limit);
        }
        return args.toArray();
    }

    /** How many notifications are in each status but {@code processed}, and when the oldest waiting one arrived. */
    public Map<String, Object> backlog() {
        // one round trip; a paused grant's held notifications wait too: the age of the backlog is that of its oldest
        return jdbc.queryForObject("""
                SELECT count(*) FILTER (WHERE status = 'received') AS received,
                       count(*) FILTER (WHERE status = 'processing') AS processing,
                       count(*) FILTER (WHERE status = 'dead') AS dead,
                       min(received_at) FILTER (WHERE status = 'received') AS oldest_received_at
                  FROM webhook_inbox WHERE status IN ('received', 'processing', 'dead')""",
                (rs, n) -> {
                    Map<String, Object> out = new java.util.LinkedHashMap<>();
                    out.put("received", rs.getLong("received"));
                    out.put("processing", rs.getLong("processing"));
                    out.put("dead", rs.getLong("dead"));
                    out.put("oldest_received_at", rs.getTimestamp("oldest_received_at"));
                    return out;
                });
    }

    /** Notifications in one status, newest first, without their payloads. */
    public List<Map<String, Object>> list(String status, int limit) {
        return jdbc.queryForList("""
                SELECT notification_id, type, grant_id, object_id, status, attempts, outcome, last_error,
                       received_at, processed_at
                  FROM webhook_inbox WHERE status = ? ORDER BY received_at DESC LIMIT ?""", status, limit);
    }

    /** Drops finished notifications older than the retention, which is never shorter than the replay window. */
    public int purge() {
        Duration keep = config.retention();
        return jdbc.update("DELETE FROM webhook_inbox WHERE status = 'processed' AND received_at < ?",
                Timestamp.from(clock.instant().minus(keep)));
    }

    private static String describe(Throwable error) {
        if (error == null) {
            return "unknown error";
        }
        String text = error.getClass().getSimpleName() + (error.getMessage() == null ? "" : ": " + error.getMessage());
        return text.length() > 1000 ? text.substring(0, 1000) : text;
    }
}

package dev.calsync.inbox;

import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import dev.calsync.config.CalsyncProperties;
import org.apache.camel.Exchange;
import org.apache.camel.ExchangeProperty;
import org.apache.camel.Header;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * The durable queue between the acknowledgement and the processing of a notification: claiming due rows under a
 * lease, recording outcomes, backing off failures and keeping the ones that keep failing as dead letters.
 */
@Component("notificationInbox")
public class NotificationInbox {

    public static final String ID = "CalsyncNotificationId";
    /** This attempt's number, as the claim counted it. */
    public static final String ATTEMPTS = "CalsyncAttempts";
    /** This worker's claim on the row: outcomes are recorded only while it is still the row's. */
    public static final String CLAIM = "CalsyncNotificationClaim";

    private static final Logger LOG = LoggerFactory.getLogger(NotificationInbox.class);

    /** Serialises claims across threads and instances, so two notifications of one event are never both taken. */
    private static final long CLAIM_LOCK = 0x6361_6c73_796e_63L;

    /*
     * Due rows: new ones, retries whose backoff has passed, and rows whose processing lease ran out (a crashed
     * worker). Per event key only the oldest due row is taken, and none while another row of that key is being
     * processed. Event notifications of a paused grant wait in place until the grant is resumed.
     */
    private static final String CLAIM_SQL = """
            WITH busy AS (
                SELECT event_key FROM webhook_inbox
                 WHERE status = 'processing' AND lease_until > now() AND event_key IS NOT NULL
            ), paused AS (
                SELECT grant_id FROM grant_sync_state WHERE state = 'paused'
            ), due AS (
                SELECT DISTINCT ON (coalesce(event_key, notification_id)) notification_id, received_at
                  FROM webhook_inbox
                 WHERE next_attempt_at <= now()
                   AND (status = 'received' OR (status = 'processing' AND lease_until <= now()))
                   AND (event_key IS NULL OR event_key NOT IN (SELECT event_key FROM busy))
                   AND NOT (type LIKE 'event.%' AND grant_id IS NOT NULL AND grant_id IN (SELECT grant_id FROM paused))
                 ORDER BY coalesce(event_key, notification_id), received_at
            ), batch AS (
                SELECT notification_id FROM due ORDER BY received_at LIMIT ?
            )
            UPDATE webhook_inbox i
               SET status = 'processing', attempts = i.attempts + 1,
                   lease_until = now() + make_interval(secs => ?), claim_token = gen_random_uuid()::text
              FROM batch
             WHERE i.notification_id = batch.notification_id
            RETURNING i.notification_id, i.type, i.grant_id, i.notified_at, i.payload::text AS payload, i.attempts,
                      i.claim_token
            """;

    private final JdbcTemplate jdbc;
    private final TransactionTemplate tx;
    private final CalsyncProperties.Inbound config;
    private final Clock clock;

    public NotificationInbox(JdbcTemplate jdbc, TransactionTemplate tx, CalsyncProperties properties, Clock clock) {
        this.jdbc = jdbc;
        this.tx = tx;
        this.config = properties.inbound();
        this.clock = clock;
    }

    /**
     * Claims due notifications for this worker. Sets {@code CamelSchedulerPolledMessages} so an empty claim lets
     * the scheduler wait, and a full one polls again at once.
     */
    public List<Map<String, Object>> claim(Exchange exchange) {
        List<Map<String, Object>> rows = tx.execute(status -> {
            jdbc.queryForList("SELECT pg_advisory_xact_lock(?)", CLAIM_LOCK);
            buryPoison();
            return jdbc.queryForList(CLAIM_SQL, config.batchSize(), config.lease().toSeconds());
        });
        exchange.setProperty(Exchange.SCHEDULER_POLLED_MESSAGES, rows != null && !rows.isEmpty());
        return rows;
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
    public boolean start(@Header(ID) String notificationId, @Header(CLAIM) String claim) {
        return jdbc.update("""
                UPDATE webhook_inbox SET lease_until = now() + make_interval(secs => ?)
                 WHERE notification_id = ? AND claim_token = ? AND status = 'processing'""",
                config.lease().toSeconds(), notificationId, claim) == 1;
    }

    /** Records what processing did with a notification; the row is kept until the retention purge. */
    public void complete(@Header(ID) String notificationId, @Header(CLAIM) String claim,
                         @ExchangeProperty("outcome") String outcome) {
        int done = jdbc.update("""
                UPDATE webhook_inbox SET status = 'processed', outcome = ?, processed_at = now(), lease_until = NULL,
                       last_error = NULL, claim_token = NULL
                 WHERE notification_id = ? AND claim_token = ?""", outcome == null ? "done" : outcome, notificationId,
                claim);
        if (done == 0) {
            LOG.warn("Notification {} was taken over by another worker; its outcome here ({}) is not recorded",
                    notificationId, outcome);
        }
    }

    /**
     * Puts a failed notification back with exponential backoff and jitter, or keeps it as a dead letter once it has
     * used {@code calsync.inbound.max-attempts}.
     */
    public String fail(@Header(ID) String notificationId, @Header(CLAIM) String claim,
                       @Header(ATTEMPTS) Integer attempts, Exchange exchange) {
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

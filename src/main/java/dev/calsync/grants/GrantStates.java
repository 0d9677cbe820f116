package dev.calsync.grants;

import java.sql.Timestamp;
import java.util.List;
import java.util.Map;

import org.apache.camel.Header;
import org.apache.camel.Variable;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.GRANT_ID;
import static dev.calsync.CalsyncVariables.NOTIFICATION_TYPE;
import static dev.calsync.CalsyncVariables.NOTIFIED_AT;

/**
 * The one writer of {@code grant_sync_state}. A grant's state follows the notifications in the order Nylas sent them
 * (their signed {@code time}), not the order they arrived: a {@code grant.expired} sent before a re-authentication
 * but delivered after it changes nothing. An admin can resume a paused grant. Paused grants are counted by the gauge
 * {@code calsync_paused_grants} ({@link dev.calsync.metrics.BacklogMetrics}).
 */
@Component("grantStates")
public class GrantStates {

    public static final String PAUSED = "paused";
    public static final String ACTIVE = "active";

    /*
     * A state changes only when the notification is newer than the one that set the current state; within the same
     * second the order is unknown and the grant stays (or becomes) active, since a wrongly paused grant stops its
     * sync for good while a wrongly active one only meets errors until Nylas reports it again. The
     * conditional ON CONFLICT update makes the comparison and the write one atomic statement.
     */
    private static final String SET_STATE = """
            INSERT INTO grant_sync_state (grant_id, state, reason, notified_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (grant_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,
                   notified_at = excluded.notified_at, updated_at = now()
             WHERE grant_sync_state.notified_at IS NULL OR excluded.notified_at IS NULL
                OR excluded.notified_at > grant_sync_state.notified_at
                OR (excluded.notified_at = grant_sync_state.notified_at AND excluded.state = 'active')""";

    private final JdbcTemplate jdbc;
    private final dev.calsync.inbox.NotificationInbox inbox;

    public GrantStates(JdbcTemplate jdbc, dev.calsync.inbox.NotificationInbox inbox) {
        this.jdbc = jdbc;
        this.inbox = inbox;
    }

    /**
     * Pauses a grant (route {@code calsync-grant-pause}); returns the outcome: {@code paused}, or {@code stale} when a
     * newer notification already set the grant's state.
     */
    public String pause(@Header(GRANT_ID) String grantId, @Variable(NOTIFICATION_TYPE) String type,
                        @Variable(NOTIFIED_AT) Timestamp notifiedAt) {
        return jdbc.update(SET_STATE, grantId, PAUSED, type, notifiedAt) == 1 ? "paused" : "stale";
    }

    /**
     * Resumes a grant after a re-authentication (route {@code calsync-grant-update}): {@code resumed} or
     * {@code stale}.
     */
    public String resume(@Header(GRANT_ID) String grantId, @Variable(NOTIFICATION_TYPE) String type,
                         @Variable(NOTIFIED_AT) Timestamp notifiedAt) {
        if (jdbc.update(SET_STATE, grantId, ACTIVE, type, notifiedAt) != 1) {
            return "stale";
        }
        inbox.releaseHeld(grantId); // its notifications held while it was paused are due at once
        return "resumed";
    }

    /**
     * Resumes a paused grant by an admin's decision, as of now (a notification sent before now changes nothing);
     * false when the grant is not paused.
     */
    public boolean resumeByAdmin(String grantId) {
        boolean resumed = jdbc.update("""
                UPDATE grant_sync_state SET state = 'active', reason = 'admin', notified_at = greatest(notified_at, now()),
                       updated_at = now()
                 WHERE grant_id = ? AND state = 'paused'""", grantId) == 1;
        if (resumed) {
            inbox.releaseHeld(grantId);
        }
        return resumed;
    }

    /** Grants in one state, most recently changed first. */
    public List<Map<String, Object>> list(String state, int limit) {
        return page(state, limit, null, null);
    }

    /**
     * A page of grants, most recently changed first (ties by grant id): those in {@code state} (every state when
     * null) changed before the grant {@code afterGrantId} changed at {@code afterUpdatedAt}, or from the first when
     * that is null. The values are bound parameters; the order is the primary key's with the change time first.
     */
    public List<Map<String, Object>> page(String state, int limit, java.time.Instant afterUpdatedAt,
                                          String afterGrantId) {
        Timestamp after = afterUpdatedAt == null ? null : Timestamp.from(afterUpdatedAt);
        return jdbc.queryForList("""
                SELECT grant_id, state, reason, notified_at, updated_at FROM grant_sync_state
                 WHERE (?::text IS NULL OR state = ?)
                   AND (?::timestamptz IS NULL OR (updated_at, grant_id) < (?, ?))
                 ORDER BY updated_at DESC, grant_id DESC LIMIT ?""",
                state, state, after, after, afterGrantId, limit);
    }

    /** How many grants are in each state. */
    public Map<String, Object> counts() {
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        out.put(ACTIVE, 0L);
        out.put(PAUSED, 0L);
        jdbc.query("SELECT state, count(*) AS n FROM grant_sync_state GROUP BY state",
                (org.springframework.jdbc.core.RowCallbackHandler) rs -> out.put(rs.getString("state"), rs.getLong("n")));
        return out;
    }
}

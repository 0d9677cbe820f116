package dev.calsync.mapping;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.shutdown.ClaimTokens;
import org.apache.camel.Header;
import org.apache.camel.Variable;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.CALENDAR_ID;
import static dev.calsync.CalsyncHeaders.EVENT_ID;
import static dev.calsync.CalsyncHeaders.GRANT_ID;
import static dev.calsync.CalsyncHeaders.RECORD_ID;
import static dev.calsync.CalsyncVariables.CONTENT_HASH;
import static dev.calsync.CalsyncVariables.REMOTE_METADATA;
import static dev.calsync.CalsyncVariables.REMOTE_UPDATED_AT;

/**
 * The one writer of {@code event_sync_map}: every change of a mapping row is one of the named transitions below,
 * each with its guard in the same statement (so no caller can forget it) and, for the push, fenced by the worker's
 * claim token. The states themselves are enforced by {@code CHECK} constraints (migration V5). The transitions and
 * their guards are listed in docs/ARCHITECTURE.md ("The mapping state machine") and specified by
 * {@code SyncMappingsTest}.
 * <p>
 * States: {@code sync_state} pending | synced | failed | deleted (tombstone, final); {@code source} app | calendar
 * (the side of the last change); {@code desired} live | deleted (what the calendar must end up with).
 */
@Component("syncMappings")
public class SyncMappings {

    /** A row an inbound write may not touch: tombstoned, being deleted, or holding an application change. */
    static final String WRITABLE_BY_CALENDAR = """
            sync_state <> 'deleted' AND desired = 'live' AND NOT (source = 'app' AND sync_state IN ('pending', 'failed'))""";

    private final JdbcTemplate jdbc;
    private final Duration pushLease;
    private final Duration createSettleTime;
    /** The claim tokens of this instance's pushes: released on shutdown, and only they. */
    private final ClaimTokens pushTokens = new ClaimTokens();

    public SyncMappings(JdbcTemplate jdbc, CalsyncProperties properties) {
        this.jdbc = jdbc;
        this.pushLease = properties.push().lease();
        this.createSettleTime = properties.push().createSettleTime();
    }

    // ------------------------------------------------------------------------------------- calendar -> app

    /** insert-from-calendar: a new calendar event's row, saved pending before the local record is written. */
    public int insertFromCalendar(@Header(RECORD_ID) String recordId, @Header(EVENT_ID) String eventId,
                                  @Header(GRANT_ID) String grantId, @Header(CALENDAR_ID) String calendarId) {
        return jdbc.update("""
                INSERT INTO event_sync_map (internal_id, nylas_event_id, grant_id, calendar_id, source, sync_state)
                VALUES (?, ?, ?, ?, 'calendar', 'pending') ON CONFLICT (internal_id) DO NOTHING""",
                recordId, eventId, grantId, calendarId);
    }

    /** One new calendar event of a bulk import: its record id, event id, calendar, content hash, time and metadata. */
    public record Imported(String recordId, String eventId, String calendarId, String contentHash, Long remoteUpdatedAt,
                           String remoteMetadata) {
    }

    /**
     * insert-pending for many new calendar events of one grant in one statement (a bulk import); the record ids
     * actually inserted. An event some other writer mapped meanwhile (any unique key taken) is left out: the caller
     * applies it the one-by-one way.
     */
    public List<String> insertAllFromCalendar(String grantId, List<Imported> events) {
        if (events.isEmpty()) {
            return List.of();
        }
        return jdbc.queryForList("""
                INSERT INTO event_sync_map (internal_id, nylas_event_id, grant_id, calendar_id, source, sync_state)
                SELECT u.internal_id, u.nylas_event_id, ?, u.calendar_id, 'calendar', 'pending'
                  FROM unnest(CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]))
                       AS u(internal_id, nylas_event_id, calendar_id)
                ON CONFLICT DO NOTHING RETURNING internal_id""", String.class, grantId,
                events.stream().map(Imported::recordId).toArray(String[]::new),
                events.stream().map(Imported::eventId).toArray(String[]::new),
                events.stream().map(Imported::calendarId).toArray(String[]::new));
    }

    /** mark-synced for many records (a bulk import) in one statement, by the same rule; the rows marked. */
    public int markAllSynced(List<Imported> events) {
        if (events.isEmpty()) {
            return 0;
        }
        return jdbc.update("""
                UPDATE event_sync_map SET nylas_event_id = u.nylas_event_id, calendar_id = u.calendar_id,
                       content_hash = u.content_hash,
                       remote_updated_at = coalesce(u.remote_updated_at, event_sync_map.remote_updated_at),
                       remote_metadata = coalesce(CAST(u.remote_metadata AS jsonb), event_sync_map.remote_metadata),
                       source = 'calendar', sync_state = 'synced', attempts = 0, last_error = NULL, updated_at = now()
                  FROM unnest(CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]), CAST(? AS text[]),
                              CAST(? AS bigint[]), CAST(? AS text[]))
                       AS u(internal_id, nylas_event_id, calendar_id, content_hash, remote_updated_at, remote_metadata)
                 WHERE event_sync_map.internal_id = u.internal_id AND\s""" + WRITABLE_BY_CALENDAR,
                events.stream().map(Imported::recordId).toArray(String[]::new),
                events.stream().map(Imported::eventId).toArray(String[]::new),
                events.stream().map(Imported::calendarId).toArray(String[]::new),
                events.stream().map(Imported::contentHash).toArray(String[]::new),
                events.stream().map(Imported::remoteUpdatedAt).toArray(Long[]::new),
                events.stream().map(Imported::remoteMetadata).toArray(String[]::new));
    }

    /**
     * mark-synced: the local record holds the event's content now. Never over a tombstone, a pending delete or an
     * application change that is still on its way (those are newer). 1 when the row was marked.
     */
    public int markSynced(@Header(RECORD_ID) String recordId, @Header(EVENT_ID) String eventId,
                          @Header(CALENDAR_ID) String calendarId, @Variable(CONTENT_HASH) String contentHash,
                          @Variable(REMOTE_UPDATED_AT) Long remoteUpdatedAt,
                          @Variable(REMOTE_METADATA) String remoteMetadata) {
        // not markAllSynced of one: PostgreSQL plans a join on unnest(...) for ten rows, and a generic plan made while
        // the table held a few thousand rows (a hash join over a full scan) is kept while the table grows, until the
        // next ANALYZE: measured at 2.6 ms a call instead of 0.17 (docs/PERFORMANCE.md). An equality on the key is
        // an index scan on any table of more than a page or two.
        return jdbc.update("""
                UPDATE event_sync_map SET nylas_event_id = ?, calendar_id = ?, content_hash = ?,
                       remote_updated_at = coalesce(CAST(? AS bigint), remote_updated_at),
                       remote_metadata = coalesce(CAST(? AS jsonb), remote_metadata),
                       source = 'calendar', sync_state = 'synced', attempts = 0, last_error = NULL, updated_at = now()
                 WHERE internal_id = ? AND\s""" + WRITABLE_BY_CALENDAR,
                eventId, calendarId, contentHash, remoteUpdatedAt, remoteMetadata, recordId);
    }

    /** Whether an inbound write may still change this record (see {@link #WRITABLE_BY_CALENDAR}). */
    public boolean writableByCalendar(@Header(RECORD_ID) String recordId) {
        return Boolean.TRUE.equals(lockIfWritableByCalendar(recordId)); // outside a transaction the lock ends at once
    }

    /**
     * {@link #lockIfWritableByCalendar} for many records: locks their rows ({@code FOR SHARE}, until the caller's
     * transaction ends, in id order so two callers never deadlock) and returns the ids an inbound write may not change
     * (a record without a row may be written).
     */
    public List<String> lockNotWritableByCalendar(List<String> recordIds) {
        if (recordIds.isEmpty()) {
            return List.of();
        }
        return jdbc.queryForList("SELECT internal_id FROM (SELECT internal_id, " + WRITABLE_BY_CALENDAR
                + " AS writable FROM event_sync_map WHERE internal_id = ANY(?) ORDER BY internal_id FOR SHARE) locked"
                + " WHERE NOT writable", String.class, (Object) recordIds.toArray(String[]::new));
    }

    /**
     * Locks the row ({@code FOR SHARE}, until the caller's transaction ends) and tells whether an inbound write may
     * change the record; null when there is no row. A delete, which tombstones the row first, then waits for the
     * write, or the write sees the tombstone.
     */
    public Boolean lockIfWritableByCalendar(String recordId) {
        return lockIfWritableByCalendar(recordId, null);
    }

    /**
     * {@link #lockIfWritableByCalendar(String)}, where the push holding the row's claim ({@code claim}) may also
     * write: it found the calendar's side of its own change (an occurrence the calendar cancelled) and records it.
     */
    public Boolean lockIfWritableByCalendar(String recordId, String claim) {
        List<Boolean> writable = jdbc.queryForList("SELECT " + WRITABLE_BY_CALENDAR
                + " OR (sync_state = 'pending' AND desired = 'live' AND claim_token = ?)"
                + " FROM event_sync_map WHERE internal_id = ? FOR SHARE", Boolean.class, claim, recordId);
        return writable.isEmpty() ? null : writable.get(0);
    }

    /**
     * tombstone: the event was deleted on the calendar (or never existed for us): the row becomes, or is created
     * as, a tombstone, so no later notification brings the event back. Final.
     */
    public int tombstone(@Header(RECORD_ID) String recordId, @Header(EVENT_ID) String eventId,
                         @Header(GRANT_ID) String grantId, @Header(CALENDAR_ID) String calendarId) {
        return jdbc.update("""
                INSERT INTO event_sync_map (internal_id, nylas_event_id, grant_id, calendar_id, source, sync_state,
                                            desired, deleted_at)
                VALUES (?, ?, ?, ?, 'calendar', 'deleted', 'deleted', now())
                ON CONFLICT (internal_id) DO UPDATE SET sync_state = 'deleted', desired = 'deleted',
                       deleted_at = coalesce(event_sync_map.deleted_at, now()),
                       -- the side that deleted it stays recorded: the echo of our own delete changes nothing
                       source = CASE WHEN event_sync_map.sync_state = 'deleted' THEN event_sync_map.source
                                     ELSE 'calendar' END,
                       lease_until = NULL,
                       nylas_event_id = coalesce(event_sync_map.nylas_event_id, excluded.nylas_event_id),
                       updated_at = now()""", recordId, eventId, grantId, calendarId);
    }

    /**
     * revive-occurrence: a tombstone of an occurrence record is lifted when the occurrence shows an edit made at or
     * after the record was deleted. An occurrence, unlike an event, keeps its id for as long as its series lives:
     * its record goes when its override goes (a rule change, an edit taken back, an excluded date restored), and a
     * later edit of the same occurrence is a new difference to record. Answers whether a tombstone was lifted.
     */
    public boolean reviveOccurrence(String recordId, long occurrenceUpdatedAt) {
        return jdbc.update("""
                DELETE FROM event_sync_map
                 WHERE internal_id = ? AND sync_state = 'deleted' AND deleted_at <= to_timestamp(?)""",
                recordId, occurrenceUpdatedAt) == 1;
    }

    /**
     * delete-duplicate: a second calendar event carrying one record's {@code metadata.key1} (an earlier create
     * landed after the one that was adopted) is queued for deletion, with no local record.
     */
    public int deleteDuplicate(@Header(GRANT_ID) String grantId, @Header(CALENDAR_ID) String calendarId,
                               @Header(EVENT_ID) String eventId) {
        return jdbc.update("""
                INSERT INTO event_sync_map (internal_id, nylas_event_id, grant_id, calendar_id, source, sync_state,
                                            desired, version)
                VALUES ('duplicate:' || gen_random_uuid(), ?, ?, ?, 'app', 'pending', 'deleted', 1)
                ON CONFLICT (grant_id, nylas_event_id) DO NOTHING""", eventId, grantId, calendarId);
    }

    /**
     * delete-again: the application deleted the record, yet the calendar shows an event carrying it (a create that
     * landed after the delete's lookup, or a delete that did not stick). A tombstone that never learned its event,
     * or learned this one, is reopened as a pending delete of it; any other event is queued as a duplicate.
     * Returns 1 when something was queued.
     */
    public int deleteAgain(@Header(RECORD_ID) String recordId, @Header(EVENT_ID) String eventId,
                           @Header(GRANT_ID) String grantId, @Header(CALENDAR_ID) String calendarId) {
        int reopened = jdbc.update("""
                UPDATE event_sync_map SET sync_state = 'pending', nylas_event_id = ?, version = version + 1,
                       attempts = 0, last_error = NULL, lease_until = NULL, next_attempt_at = now(), updated_at = now()
                 WHERE internal_id = ? AND sync_state = 'deleted' AND desired = 'deleted' AND source = 'app'
                   AND (nylas_event_id IS NULL OR nylas_event_id = ?)""", eventId, recordId, eventId);
        return reopened == 1 ? 1 : deleteDuplicate(grantId, calendarId, eventId);
    }

    // ------------------------------------------------------------------------------------- app -> calendar

    /** The row of a record, locked for the rest of the caller's transaction; null when there is none. */
    public Map<String, Object> lock(String recordId) {
        List<Map<String, Object>> rows = jdbc.queryForList(
                "SELECT * FROM event_sync_map WHERE internal_id = ? FOR UPDATE", recordId);
        return rows.isEmpty() ? null : rows.get(0);
    }

    /** enqueue-app-change: the application created or changed a record; it is pushed (a new version). */
    public void enqueueAppChange(String recordId, String grantId, String calendarId, String contentHash) {
        jdbc.update("""
                INSERT INTO event_sync_map (internal_id, grant_id, calendar_id, content_hash, source, sync_state,
                                            desired, version)
                VALUES (?, ?, ?, ?, 'app', 'pending', 'live', 1)
                ON CONFLICT (internal_id) DO UPDATE SET content_hash = excluded.content_hash, source = 'app',
                       sync_state = 'pending', desired = 'live', version = event_sync_map.version + 1, attempts = 0,
                       last_error = NULL, next_attempt_at = now(), updated_at = now()
                 WHERE event_sync_map.sync_state <> 'deleted' AND event_sync_map.desired = 'live'""",
                recordId, grantId, calendarId, contentHash);
    }

    /** enqueue-app-delete: the application deleted a record; the calendar delete is pushed (a new version). */
    public void enqueueAppDelete(String recordId) {
        jdbc.update("""
                UPDATE event_sync_map SET desired = 'deleted', source = 'app', sync_state = 'pending',
                       version = version + 1, attempts = 0, last_error = NULL, next_attempt_at = now(), updated_at = now()
                 WHERE internal_id = ? AND sync_state <> 'deleted'""", recordId);
    }

    // ------------------------------------------------------------------------------------------ the push

    /** claim: due pending application changes, each with a new claim token and a lease. */
    public List<Map<String, Object>> claim(int limit) {
        // chosen once, in a CTE: a LIMIT ... SKIP LOCKED sub-select in the UPDATE's WHERE may be read again per row
        // (a nested-loop semi join), skipping the rows this statement already leased and taking others past its limit
        return jdbc.queryForList("""
                WITH chosen AS MATERIALIZED (
                    SELECT internal_id FROM event_sync_map
                     WHERE sync_state = 'pending' AND source = 'app' AND next_attempt_at <= now()
                       AND (lease_until IS NULL OR lease_until < now())
                       AND grant_id NOT IN (SELECT grant_id FROM grant_sync_state WHERE state = 'paused')
                     ORDER BY next_attempt_at
                     LIMIT ?
                     FOR UPDATE SKIP LOCKED)
                UPDATE event_sync_map m
                   SET lease_until = now() + make_interval(secs => ?), attempts = m.attempts + 1,
                       claim_token = ? || gen_random_uuid()::text
                  FROM chosen
                 WHERE m.internal_id = chosen.internal_id
                RETURNING m.internal_id, m.grant_id, m.calendar_id, m.nylas_event_id, m.desired, m.version,
                          m.create_attempts, m.remote_metadata::text AS remote_metadata, m.claim_token""",
                limit, pushLease.toSeconds(), pushTokens.prefix());
    }

    /**
     * wait-for-earlier-create: while a create sent earlier may still land (Nylas may work on a provider call longer
     * than the client waits), the row is given back until {@code calsync.push.create-settle-time} after that create,
     * and nothing is looked up or created meanwhile. True when the row was deferred.
     */
    public boolean deferWhileCreateMayLand(String recordId, String claim) {
        return jdbc.update("""
                UPDATE event_sync_map SET lease_until = NULL, attempts = greatest(attempts - 1, 0),
                       next_attempt_at = create_attempted_at + make_interval(secs => ?)
                 WHERE internal_id = ? AND claim_token = ? AND create_attempts > 0
                   AND create_attempted_at > now() - make_interval(secs => ?)""",
                createSettleTime.toMillis() / 1000.0, recordId, claim, createSettleTime.toMillis() / 1000.0) == 1;
    }

    /** create-answered: Nylas answered the last call of this push, so no create sent by it can still land. */
    public void createAnswered(String recordId, String claim) {
        jdbc.update("""
                UPDATE event_sync_map SET create_attempted_at = NULL
                 WHERE internal_id = ? AND claim_token = ? AND create_attempted_at IS NOT NULL""", recordId, claim);
    }

    /**
     * count-create: a create is about to be sent, for an event within [windowStart, windowEnd) (Unix s; null when
     * unknown); its number, or 0 when the record no longer wants one. The windows of every create sent are kept
     * (their union), so a later lookup by {@code metadata.key1} covers each of them, whatever the record became.
     */
    public int countCreate(String recordId, String claim, Long windowStart, Long windowEnd) {
        List<Integer> n = jdbc.queryForList("""
                UPDATE event_sync_map SET create_attempts = create_attempts + 1, create_attempted_at = now(),
                       created_window_start = least(created_window_start, CAST(? AS bigint)),
                       created_window_end = greatest(created_window_end, CAST(? AS bigint))
                 WHERE internal_id = ? AND claim_token = ? AND sync_state = 'pending' AND desired = 'live'
                RETURNING create_attempts""", Integer.class, windowStart, windowEnd, recordId, claim);
        return n.isEmpty() ? 0 : n.get(0);
    }

    /** How many creates were sent for a record so far. */
    public int createsSent(String recordId) {
        List<Integer> n = jdbc.queryForList("SELECT create_attempts FROM event_sync_map WHERE internal_id = ?",
                Integer.class, recordId);
        return n.isEmpty() ? 0 : n.get(0);
    }

    /** [start, end) (Unix s) covering every create sent for a record, or null when none carried a time. */
    public long[] createdWindow(String recordId) {
        List<long[]> w = jdbc.query("""
                SELECT created_window_start, created_window_end FROM event_sync_map
                 WHERE internal_id = ? AND created_window_start IS NOT NULL AND created_window_end IS NOT NULL""",
                (rs, i) -> new long[] {rs.getLong(1), rs.getLong(2)}, recordId);
        return w.isEmpty() ? null : w.get(0);
    }

    /** release: the claim is given back without recording anything. */
    public void release(String recordId, String claim) {
        jdbc.update("UPDATE event_sync_map SET lease_until = NULL WHERE internal_id = ? AND claim_token = ?",
                recordId, claim);
    }

    /**
     * release-on-shutdown: every push this instance still holds (its claim token, a lease) is given back, lease and
     * claim cleared and the attempt not counted, so another instance claims it at its next poll (a held row is
     * pending and the application's: the push-due index finds it). A worker of this instance still running afterwards
     * records nothing (every push transition matches its claim token), and a create it may have sent is waited for by
     * the next claimer ({@link #deferWhileCreateMayLand}). Rows other instances hold are never touched. Returns the
     * number released.
     */
    public int releasePushClaims() {
        return jdbc.update("""
                UPDATE event_sync_map SET lease_until = NULL, claim_token = NULL, attempts = greatest(attempts - 1, 0)
                 WHERE sync_state = 'pending' AND source = 'app' AND lease_until IS NOT NULL AND claim_token LIKE ?""",
                pushTokens.pattern());
    }

    /** link: the event id is recorded the moment a create or a lookup returns it. */
    public void link(String recordId, String eventId, String claim) {
        jdbc.update("UPDATE event_sync_map SET nylas_event_id = ? WHERE internal_id = ? AND claim_token = ?",
                eventId, recordId, claim);
    }

    /**
     * complete: the push is done for the version it read: synced (a tombstone for a delete), or pending again when
     * a newer application change arrived meanwhile. 1 when recorded; 0 when the claim was lost or the row left
     * {@code pending} meanwhile (tombstoned by the calendar).
     */
    public int complete(String recordId, String eventId, long version, Long remoteUpdatedAt, String remoteMetadata,
                        String claim) {
        return jdbc.update("""
                UPDATE event_sync_map
                   SET nylas_event_id = ?,
                       sync_state = CASE WHEN version <> ? THEN 'pending'
                                         WHEN desired = 'deleted' THEN 'deleted' ELSE 'synced' END,
                       deleted_at = CASE WHEN version = ? AND desired = 'deleted' THEN now() ELSE deleted_at END,
                       remote_updated_at = coalesce(CAST(? AS bigint), remote_updated_at),
                       remote_metadata = coalesce(CAST(? AS jsonb), remote_metadata),
                       attempts = 0, last_error = NULL, lease_until = NULL, next_attempt_at = now(), updated_at = now()
                 WHERE internal_id = ? AND sync_state = 'pending' AND claim_token = ?""",
                eventId, version, version, remoteUpdatedAt, remoteMetadata, recordId, claim);
    }

    /**
     * undo-create: the record was tombstoned while its create ran (the calendar's user deleted the event before the
     * create answered, and that delete was applied first): the event the push wrote is queued for deletion.
     */
    public int undoCreate(String recordId, String eventId, String claim) {
        return jdbc.update("""
                UPDATE event_sync_map SET nylas_event_id = ?, desired = 'deleted', sync_state = 'pending',
                       source = 'app', version = version + 1, attempts = 0, lease_until = NULL,
                       next_attempt_at = now(), updated_at = now()
                 WHERE internal_id = ? AND sync_state = 'deleted' AND claim_token = ?
                   AND (nylas_event_id IS NULL OR nylas_event_id = ?)""", eventId, recordId, claim, eventId);
    }

    /** gone: the event was deleted on the calendar while the application changed it; the delete wins. */
    public int gone(String recordId, String claim) {
        return jdbc.update("""
                UPDATE event_sync_map SET sync_state = 'deleted', desired = 'deleted', deleted_at = now(),
                       source = 'calendar', lease_until = NULL, attempts = 0, last_error = NULL, updated_at = now()
                 WHERE internal_id = ? AND claim_token = ?""", recordId, claim);
    }

    /** fail: the push failed for good (visible, replayable), unless a newer change arrived meanwhile. */
    public int fail(String recordId, long version, String error, String claim) {
        return jdbc.update("""
                UPDATE event_sync_map SET sync_state = CASE WHEN version = ? THEN 'failed' ELSE 'pending' END,
                       last_error = ?, lease_until = NULL, updated_at = now()
                 WHERE internal_id = ? AND sync_state = 'pending' AND claim_token = ?""",
                version, error.length() > 1000 ? error.substring(0, 1000) : error, recordId, claim);
    }

    /** defer: Nylas or the database is unavailable; the change waits, untouched, and the attempt is not counted. */
    public int defer(String recordId, Duration wait, String claim) {
        return jdbc.update("""
                UPDATE event_sync_map SET lease_until = NULL, attempts = greatest(attempts - 1, 0),
                       next_attempt_at = now() + make_interval(secs => ?)
                 WHERE internal_id = ? AND claim_token = ?""", wait.toMillis() / 1000.0, recordId, claim);
    }

    /** requeue (admin replay): a failed push becomes pending again. */
    public boolean requeueFailed(String recordId) {
        return jdbc.update("""
                UPDATE event_sync_map SET sync_state = 'pending', attempts = 0, last_error = NULL, lease_until = NULL,
                       next_attempt_at = now() WHERE internal_id = ? AND sync_state = 'failed'""", recordId) == 1;
    }

    /**
     * requeue (admin bulk replay): up to {@code limit} failed pushes of a grant and of a calendar (each filter left out
     * when null) become pending again, as {@link #requeueFailed(String)} makes one, longest failed first; rows another
     * caller is replaying at the same moment are skipped. Returns the record ids.
     */
    public List<String> requeueFailed(String grantId, String calendarId, int limit) {
        // chosen once, in a CTE: a LIMIT ... SKIP LOCKED sub-select joined in the UPDATE may be read again per row
        return jdbc.queryForList("""
                WITH chosen AS MATERIALIZED (
                    SELECT internal_id FROM event_sync_map
                     WHERE sync_state = 'failed' AND (?::text IS NULL OR grant_id = ?)
                       AND (?::text IS NULL OR calendar_id = ?)
                     ORDER BY updated_at, internal_id LIMIT ? FOR UPDATE SKIP LOCKED)
                UPDATE event_sync_map m SET sync_state = 'pending', attempts = 0, last_error = NULL, lease_until = NULL,
                       next_attempt_at = now()
                  FROM chosen WHERE m.internal_id = chosen.internal_id AND m.sync_state = 'failed'
                RETURNING m.internal_id""", String.class, grantId, grantId, calendarId, calendarId, limit);
    }

    /** The failed pushes the same filters as {@link #requeueFailed(String, String, int)} match. */
    public int countFailed(String grantId, String calendarId) {
        Integer n = jdbc.queryForObject("""
                SELECT count(*) FROM event_sync_map WHERE sync_state = 'failed' AND (?::text IS NULL OR grant_id = ?)
                   AND (?::text IS NULL OR calendar_id = ?)""", Integer.class, grantId, grantId, calendarId,
                calendarId);
        return n == null ? 0 : n;
    }

    /** The calendar event a record is linked to, or null (none yet, or no mapping). */
    public String eventOf(String recordId) {
        List<String> ids = jdbc.queryForList("SELECT nylas_event_id FROM event_sync_map WHERE internal_id = ?",
                String.class, recordId);
        return ids.isEmpty() ? null : ids.get(0);
    }

    // --------------------------------------------------------------------------------------- reconciliation

    /** requeue (reconciliation): every failed push of a calendar becomes pending again. */
    public int requeueFailed(String grantId, String calendarId) {
        return jdbc.update("""
                UPDATE event_sync_map SET sync_state = 'pending', attempts = 0, last_error = NULL, lease_until = NULL,
                       next_attempt_at = now() WHERE grant_id = ? AND calendar_id = ? AND sync_state = 'failed'""",
                grantId, calendarId);
    }

    /** push-again (conflict won by the application): the local state is pushed again as a new version. */
    public int pushAgain(String recordId) {
        return jdbc.update("""
                UPDATE event_sync_map SET sync_state = 'pending', source = 'app', attempts = 0, last_error = NULL,
                       lease_until = NULL, next_attempt_at = now(), version = version + 1
                 WHERE internal_id = ? AND sync_state <> 'deleted' AND desired = 'live'""", recordId);
    }

    /** yield (conflict won by the calendar): the pending application change is dropped so the event applies. */
    public int yieldToCalendar(String recordId) {
        return jdbc.update("""
                UPDATE event_sync_map SET sync_state = 'synced', source = 'calendar', attempts = 0, last_error = NULL,
                       lease_until = NULL, version = version + 1
                 WHERE internal_id = ? AND sync_state <> 'deleted' AND desired = 'live'""", recordId);
    }

    /** recreate (missing-policy recreate): the event is gone from the calendar; it is created again. */
    public int recreate(String recordId) {
        return jdbc.update("""
                UPDATE event_sync_map SET nylas_event_id = NULL, create_attempts = 0, create_attempted_at = NULL,
                       created_window_start = NULL, created_window_end = NULL,
                       sync_state = 'pending', source = 'app', desired = 'live', attempts = 0, next_attempt_at = now(),
                       version = version + 1
                 WHERE internal_id = ? AND sync_state <> 'deleted'""", recordId);
    }
}

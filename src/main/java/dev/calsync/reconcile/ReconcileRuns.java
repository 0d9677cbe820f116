package dev.calsync.reconcile;

import java.util.LinkedHashMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.api.Rejection;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.shutdown.ClaimTokens;
import org.apache.camel.Body;
import org.apache.camel.Exchange;
import org.apache.camel.Header;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.GRANT_ID;
import static dev.calsync.CalsyncVariables.RUN_ID;

/**
 * Reconciliation runs as shared work. Every calendar the sync knows has a slot in the interval
 * ({@code reconcile_calendar}, spread by a hash of grant and calendar); when its slot comes, any instance queues a run
 * for it. Runs are claimed from the queue with {@code SKIP LOCKED} by every instance, at most
 * {@code calsync.reconcile.concurrency} at once on each and one per grant per claim, and hold a lease that a
 * background renewal keeps fresh while they work. At most one run per calendar is queued or running (a partial unique
 * index, so a second request gets the first run back). Finished runs and their conflicts are purged after
 * {@code calsync.reconcile.retention}.
 */
@Component("reconcileRuns")
public class ReconcileRuns {

    private static final Logger LOG = LoggerFactory.getLogger(ReconcileRuns.class);

    static final Set<String> CONFLICT_POLICIES = Set.of("newest-wins", "calendar-wins", "app-wins");
    static final Set<String> MISSING_POLICIES = Set.of("delete", "recreate");

    /** Calendars given their slot, and due calendars queued, per statement. */
    static final int SCHEDULE_BATCH = 1_000;
    /** Queued runs read per claim for each free slot (so one busy grant at the head does not stall the claim). */
    private static final int CANDIDATES_PER_SLOT = 8;
    /** Claim statements per poll at most (each one leaves out the grants the ones before picked). */
    private static final int CLAIM_ROUNDS = 3;

    private static final String QUEUE_SQL = """
            INSERT INTO reconcile_run (run_id, grant_id, calendar_id, dry_run, status, trigger, conflict_policy,
                                       missing_policy)
            VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)
            ON CONFLICT (grant_id, calendar_id) WHERE status IN ('queued', 'running') DO NOTHING""";

    private static final String EXPIRE_SQL = """
            UPDATE reconcile_run SET status = 'failed', error = 'lease expired: the instance running it stopped',
                   finished_at = now()
             WHERE status = 'running' AND lease_until < now()""";

    private final JdbcTemplate jdbc;
    private final ObjectMapper json;
    private final CalsyncProperties.Reconcile config;
    /** The runs this instance is working on: their leases are renewed in the background. */
    private final Set<String> active = ConcurrentHashMap.newKeySet();
    /** This instance's claim tokens: released on shutdown, and only they. */
    private final ClaimTokens tokens = new ClaimTokens();
    /**
     * The runs this instance gave back on shutdown: a worker of it still running one records nothing more (its lease
     * is not renewed, its result not stored), since another instance may be running it already.
     */
    private final Set<String> givenBack = ConcurrentHashMap.newKeySet();

    public ReconcileRuns(JdbcTemplate jdbc, ObjectMapper json, CalsyncProperties properties) {
        this.jdbc = jdbc;
        this.json = json;
        this.config = properties.reconcile();
    }

    /**
     * {@code POST /admin/reconcile}: queues a run, or returns the one already queued or running for that calendar.
     */
    public Map<String, Object> request(@Body String body, Exchange exchange) {
        Map<String, Object> req;
        try {
            req = json.readValue(body == null || body.isBlank() ? "{}" : body, new TypeReference<>() {
            });
        } catch (java.io.IOException e) {
            throw new Rejection(400, "malformed_json", "body is not a JSON object");
        }
        Map<String, String> problems = new LinkedHashMap<>();
        if (!(req.get("grant_id") instanceof String g) || g.isBlank()) {
            problems.put("grant_id", "is required");
        }
        if (!(req.get("calendar_id") instanceof String c) || c.isBlank()) {
            problems.put("calendar_id", "is required");
        }
        if (req.get("dry_run") != null && !(req.get("dry_run") instanceof Boolean)) {
            problems.put("dry_run", "must be true or false");
        }
        String conflict = req.get("conflict_policy") == null ? config.conflictPolicy() : req.get("conflict_policy").toString();
        if (!CONFLICT_POLICIES.contains(conflict)) {
            problems.put("conflict_policy", "must be one of " + CONFLICT_POLICIES);
        }
        String missing = req.get("missing_policy") == null ? config.missingPolicy() : req.get("missing_policy").toString();
        if (!MISSING_POLICIES.contains(missing)) {
            problems.put("missing_policy", "must be one of " + MISSING_POLICIES);
        }
        if (!problems.isEmpty()) {
            throw new dev.calsync.outbound.AppChanges.InvalidEvent(problems);
        }
        Map<String, Object> run = queue((String) req.get("grant_id"), (String) req.get("calendar_id"),
                Boolean.TRUE.equals(req.get("dry_run")), "api", conflict, missing);
        exchange.setVariable(RUN_ID, run.get("run_id"));
        exchange.setProperty("httpStatus", 202);
        return run;
    }

    /** A new queued run, or the one already queued or running for this calendar (its {@code status} says which). */
    public Map<String, Object> queue(String grantId, String calendarId, boolean dryRun, String trigger,
                                     String conflictPolicy, String missingPolicy) {
        expireLease(grantId, calendarId);
        String runId = newRunId();
        Map<String, Object> out = new LinkedHashMap<>();
        if (jdbc.update(QUEUE_SQL, runId, grantId, calendarId, dryRun, trigger, conflictPolicy, missingPolicy) == 1) {
            out.put("run_id", runId);
            out.put("status", "queued");
            return out;
        }
        // the queued or running one (or, if it finished a moment ago, the latest)
        Map<String, Object> existing = jdbc.queryForMap("""
                SELECT run_id, status FROM reconcile_run WHERE grant_id = ? AND calendar_id = ?
                 ORDER BY (status IN ('queued', 'running')) DESC, queued_at DESC LIMIT 1""", grantId, calendarId);
        out.put("run_id", existing.get("run_id"));
        out.put("status", existing.get("status"));
        return out;
    }

    /** A run whose instance died holds its calendar only until its lease runs out. */
    private void expireLease(String grantId, String calendarId) {
        jdbc.update(EXPIRE_SQL + " AND grant_id = ? AND calendar_id = ?", grantId, calendarId);
    }

    /**
     * The schedule, on every instance: gives new calendars their slot in the interval, then queues a run for each
     * calendar whose slot has come (a paused grant's calendars keep their slot and get no run) and moves its slot on
     * by whole intervals. Sets {@code CamelSchedulerPolledMessages}, so a full batch is followed at once by the next.
     * Returns the number of calendars that were due.
     */
    @org.springframework.transaction.annotation.Transactional
    public int queueDue(Exchange exchange) {
        long interval = Math.max(1, config.intervalMillis() / 1000);
        // chosen once, in a CTE: a LIMIT ... SKIP LOCKED sub-select in the UPDATE's WHERE may be read again per row
        // (a nested-loop semi join), skipping the rows this statement already scheduled and taking others past the
        // limit
        int scheduled = jdbc.update("""
                WITH chosen AS MATERIALIZED (
                    SELECT grant_id, calendar_id FROM reconcile_calendar WHERE next_due_at IS NULL LIMIT ?
                       FOR UPDATE SKIP LOCKED)
                UPDATE reconcile_calendar c
                   SET next_due_at = now() + make_interval(secs => (abs(hashtext(c.grant_id || '/' || c.calendar_id)::bigint) % ?))
                  FROM chosen
                 WHERE c.grant_id = chosen.grant_id AND c.calendar_id = chosen.calendar_id""",
                SCHEDULE_BATCH, interval);
        // every due slot moves on by whole intervals; a paused grant's calendars get no run
        List<Map<String, Object>> moved = jdbc.queryForList("""
                WITH due AS (
                    SELECT grant_id, calendar_id FROM reconcile_calendar
                     WHERE next_due_at <= now() ORDER BY next_due_at LIMIT ? FOR UPDATE SKIP LOCKED)
                UPDATE reconcile_calendar c
                   SET next_due_at = c.next_due_at + make_interval(secs => ?)
                           * (floor(extract(epoch FROM now() - c.next_due_at) / ?) + 1)
                  FROM due
                 WHERE c.grant_id = due.grant_id AND c.calendar_id = due.calendar_id
                RETURNING c.grant_id, c.calendar_id,
                          EXISTS (SELECT 1 FROM grant_sync_state g WHERE g.grant_id = c.grant_id AND g.state = 'paused')
                              AS paused""", SCHEDULE_BATCH, interval, interval);
        List<Object[]> due = moved.stream().filter(c -> !Boolean.TRUE.equals(c.get("paused")))
                .map(c -> new Object[] {newRunId(), c.get("grant_id"), c.get("calendar_id"), false, "schedule",
                        config.conflictPolicy(), config.missingPolicy()}).toList();
        if (!due.isEmpty()) {
            jdbc.batchUpdate(QUEUE_SQL, due);
            LOG.debug("Queued reconciliation of {} calendar(s) whose slot came", due.size());
        }
        exchange.setProperty(Exchange.SCHEDULER_POLLED_MESSAGES, scheduled == SCHEDULE_BATCH
                || moved.size() == SCHEDULE_BATCH);
        return due.size();
    }

    /**
     * One claim round: the oldest queued runs (leaving out the grants in the first parameter, a {@code text[]}), at
     * most the second parameter of them read, one per grant, at most the third parameter taken; lease seconds and
     * claim token follow. Public for the scale benchmark, which explains it with a whole sweep queued.
     */
    public static final String CLAIM_SQL = """
            WITH candidates AS (
                SELECT run_id, grant_id, queued_at FROM reconcile_run r
                 WHERE status = 'queued' AND grant_id <> ALL(?)
                   AND NOT EXISTS (SELECT 1 FROM reconcile_run x WHERE x.grant_id = r.grant_id
                                                                  AND x.status = 'running')
                   AND NOT EXISTS (SELECT 1 FROM grant_sync_state g WHERE g.grant_id = r.grant_id
                                                                      AND g.state = 'paused')
                 ORDER BY queued_at LIMIT ? FOR UPDATE SKIP LOCKED),
            picked AS (
                SELECT run_id FROM (SELECT DISTINCT ON (grant_id) run_id, queued_at FROM candidates
                                     ORDER BY grant_id, queued_at) one_per_grant
                 ORDER BY queued_at LIMIT ?)
            UPDATE reconcile_run r
               SET status = 'running', started_at = now(), lease_until = now() + make_interval(secs => ?),
                   claim_token = ?
              FROM picked WHERE r.run_id = picked.run_id
            RETURNING r.run_id, r.grant_id""";

    /**
     * Claims queued runs for this instance: at most {@code calsync.reconcile.concurrency} minus the runs it is
     * working on, oldest first, one per grant and none of a grant that already has a run going (so one grant with
     * many calendars does not take every slot) and none of a paused grant (they wait for its resume), with {@code
     * SKIP LOCKED} so instances claim in parallel. Runs whose
     * lease ran out (their instance died) are failed first. Returns the claimed run ids. One claim at a time on an
     * instance (the poll, a worker that finished, an operator's request), so together they never exceed the cap.
     */
    public synchronized List<String> claim(Exchange exchange) {
        jdbc.update(EXPIRE_SQL);
        List<String> claimed = new ArrayList<>();
        List<String> grants = new ArrayList<>();
        // one grant's many queued calendars (a resumed grant) fill the oldest candidates: the next round leaves out
        // the grants already picked, so every free place can go to another grant
        for (int round = 0; round < CLAIM_ROUNDS; round++) {
            int free = config.concurrency() - active.size() - claimed.size();
            if (free <= 0) {
                break;
            }
            List<Map<String, Object>> picked = jdbc.queryForList(CLAIM_SQL, grants.toArray(String[]::new),
                    free * CANDIDATES_PER_SLOT, free,
                    config.lease().toSeconds(), tokens.next());
            picked.forEach(row -> {
                claimed.add((String) row.get("run_id"));
                grants.add((String) row.get("grant_id"));
            });
            if (picked.isEmpty() || picked.size() == free) {
                break;
            }
        }
        // this instance's work from now on: the next claim counts them against the concurrency
        active.addAll(claimed);
        exchange.setProperty(Exchange.SCHEDULER_POLLED_MESSAGES, !claimed.isEmpty());
        return claimed;
    }

    /**
     * Gives claimed runs that have not started working back to the queue (their lease and claim cleared), so any
     * instance claims them at once; they no longer count against this instance's concurrency.
     */
    public int release(java.util.Collection<String> runIds) {
        active.removeAll(runIds);
        return runIds.isEmpty() ? 0 : jdbc.update("""
                UPDATE reconcile_run SET status = 'queued', started_at = queued_at, lease_until = NULL, claim_token = NULL
                 WHERE run_id = ANY(?) AND status = 'running'""", (Object) runIds.toArray(String[]::new));
    }

    /**
     * release-on-shutdown: every run this instance holds (claimed with its tokens: waiting for a worker, or still
     * working after the graceful shutdown gave up waiting) goes back to the queue, lease and claim cleared, so any
     * instance claims it at once and runs it from the start (a run's repairs are decided afresh from the state it
     * finds, so a partial run repeated changes nothing twice). Runs other instances hold are never touched. Returns
     * the number released.
     */
    public int releaseClaims() {
        List<String> released = jdbc.queryForList("""
                UPDATE reconcile_run SET status = 'queued', started_at = queued_at, lease_until = NULL, claim_token = NULL
                 WHERE status = 'running' AND claim_token LIKE ?
                RETURNING run_id""", String.class, tokens.pattern());
        givenBack.addAll(released);
        active.removeAll(released);
        return released.size();
    }

    /** Queues runs for every calendar of a grant that was just resumed (events were missed while it was expired). */
    public int queueForGrant(@Header(GRANT_ID) String grantId) {
        List<Map<String, Object>> calendars = jdbc.queryForList(
                "SELECT calendar_id FROM reconcile_calendar WHERE grant_id = ?", grantId);
        int queued = 0;
        for (Map<String, Object> c : calendars) {
            if ("queued".equals(queue(grantId, (String) c.get("calendar_id"), false, "grant-resumed",
                    config.conflictPolicy(), config.missingPolicy()).get("status"))) {
                queued++;
            }
        }
        return queued;
    }

    private static String newRunId() {
        return "rec-run-" + UUID.randomUUID();
    }

    /** {@code GET /admin/reconcile/{run_id}}. */
    public Map<String, Object> get(@Header("run_id") String runId) {
        List<Map<String, Object>> rows = jdbc.queryForList("""
                SELECT run_id, grant_id, calendar_id, status, dry_run, trigger, conflict_policy, missing_policy, pages,
                       events_seen, created, updated, deleted, relinked, unchanged, conflicts, pushed, skipped,
                       skipped_errors::text AS skipped_errors, planned::text AS planned, error, queued_at,
                       CASE WHEN status = 'queued' THEN NULL ELSE started_at END AS started_at, finished_at
                  FROM reconcile_run WHERE run_id = ?""", runId);
        if (rows.isEmpty()) {
            throw new Rejection(404, "not_found", "no reconciliation run " + runId);
        }
        Map<String, Object> run = new LinkedHashMap<>(rows.get(0));
        try {
            run.put("planned", json.readValue((String) run.get("planned"), List.class));
            run.put("skipped_errors", json.readValue((String) run.get("skipped_errors"), List.class));
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        return run;
    }

    /**
     * Runs, newest queued first, without their plans: those in {@code status} and of {@code grantId}, each filter left
     * out when null ({@code GET /admin/reconcile}); {@code planned} is the number of planned changes.
     */
    public List<Map<String, Object>> list(String status, String grantId, int limit) {
        return jdbc.queryForList("""
                SELECT run_id, grant_id, calendar_id, status, dry_run, trigger, pages, events_seen, created, updated,
                       deleted, relinked, unchanged, conflicts, pushed, skipped, jsonb_array_length(planned) AS planned,
                       error, queued_at, CASE WHEN status = 'queued' THEN NULL ELSE started_at END AS started_at,
                       finished_at
                  FROM reconcile_run
                 WHERE (?::text IS NULL OR status = ?) AND (?::text IS NULL OR grant_id = ?)
                 ORDER BY queued_at DESC, run_id DESC LIMIT ?""", status, status, grantId, grantId, limit);
    }

    /** How many runs are queued and running now. */
    public Map<String, Object> counts() {
        return jdbc.queryForObject("""
                SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
                       count(*) FILTER (WHERE status = 'running') AS running
                  FROM reconcile_run WHERE status IN ('queued', 'running')""",
                (rs, n) -> {
                    Map<String, Object> out = new LinkedHashMap<>();
                    out.put("queued", rs.getLong("queued"));
                    out.put("running", rs.getLong("running"));
                    return out;
                });
    }

    /**
     * Extends the run's lease (at the start and after every page; {@link #renewActive} does it in the background
     * too); false when the run was given up meanwhile (its lease had run out), in which case it must stop. The run
     * counts as this instance's work until it finishes or fails.
     */
    public boolean renew(String runId) {
        boolean running = !givenBack.contains(runId) && jdbc.update("""
                UPDATE reconcile_run SET lease_until = now() + make_interval(secs => ?)
                 WHERE run_id = ? AND status = 'running'""", config.lease().toSeconds(), runId) == 1;
        if (running) {
            active.add(runId);
        } else {
            active.remove(runId);
        }
        return running;
    }

    /** Renews the leases of every run this instance is working on, so a slow page never lets another run start. */
    public int renewActive() {
        if (active.isEmpty()) {
            return 0;
        }
        return jdbc.update("""
                UPDATE reconcile_run SET lease_until = now() + make_interval(secs => ?)
                 WHERE run_id = ANY (?) AND status = 'running'""", config.lease().toSeconds(),
                active.toArray(new String[0]));
    }

    /** Deletes finished runs older than {@code calsync.reconcile.retention}, with their conflicts. */
    public int purge() {
        long seconds = config.retention().toSeconds();
        jdbc.update("""
                DELETE FROM sync_conflict WHERE recorded_at < now() - make_interval(secs => ?)""", seconds);
        int purged = jdbc.update("""
                DELETE FROM reconcile_run
                 WHERE status IN ('succeeded', 'failed') AND finished_at < now() - make_interval(secs => ?)""", seconds);
        if (purged > 0) {
            LOG.info("Purged {} reconciliation run(s) finished more than {} ago", purged, config.retention());
        }
        return purged;
    }

    public Map<String, Object> settings(String runId) {
        return jdbc.queryForMap("SELECT * FROM reconcile_run WHERE run_id = ?", runId);
    }

    /** Stores the counters (and, for a dry run, the plan) of a finished run. */
    public void finish(String runId, ReconcileReport report) {
        active.remove(runId);
        if (givenBack.contains(runId)) {
            LOG.info("Reconciliation {} was given back on shutdown; its result here is not recorded", runId);
            return;
        }
        jdbc.update("""
                UPDATE reconcile_run SET status = 'succeeded', finished_at = now(), pages = ?, events_seen = ?,
                       created = ?, updated = ?, deleted = ?, relinked = ?, unchanged = ?, conflicts = ?, pushed = ?,
                       skipped = ?, skipped_errors = CAST(? AS jsonb), planned = CAST(? AS jsonb)
                 WHERE run_id = ? AND status = 'running'""",
                report.pages, report.eventsSeen, report.created, report.updated, report.deleted, report.relinked,
                report.unchanged, report.conflicts, report.pushed, report.skipped, report.skippedJson(json),
                report.plannedJson(json), runId);
    }

    /** A run that stopped: the error is reported, nothing after the failure point was changed. */
    public void fail(String runId, ReconcileReport report, String error) {
        if (runId != null) {
            active.remove(runId);
            if (givenBack.contains(runId)) {
                LOG.info("Reconciliation {} was given back on shutdown; its failure here is not recorded", runId);
                return;
            }
        }
        jdbc.update("""
                UPDATE reconcile_run SET status = 'failed', finished_at = now(), error = ?, pages = ?, events_seen = ?,
                       planned = CAST(? AS jsonb) WHERE run_id = ? AND status = 'running'""",
                error, report == null ? 0 : report.pages, report == null ? 0 : report.eventsSeen,
                report == null ? "[]" : report.plannedJson(json), runId);
    }
}

package dev.calsync.reconcile;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.api.Rejection;
import dev.calsync.config.CalsyncProperties;
import org.apache.camel.Body;
import org.apache.camel.Exchange;
import org.apache.camel.Header;
import org.springframework.dao.DuplicateKeyException;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

/**
 * Reconciliation runs as rows: at most one running per (grant, calendar) across all instances (a partial unique
 * index, so a second request gets the running run back), a lease so a run whose instance died is given up, and the
 * report that {@code GET /admin/reconcile/{run_id}} shows.
 */
@Component("reconcileRuns")
public class ReconcileRuns {

    static final Set<String> CONFLICT_POLICIES = Set.of("newest-wins", "calendar-wins", "app-wins");
    static final Set<String> MISSING_POLICIES = Set.of("delete", "recreate");

    private final JdbcTemplate jdbc;
    private final ObjectMapper json;
    private final CalsyncProperties.Reconcile config;

    public ReconcileRuns(JdbcTemplate jdbc, ObjectMapper json, CalsyncProperties properties) {
        this.jdbc = jdbc;
        this.json = json;
        this.config = properties.reconcile();
    }

    /**
     * {@code POST /admin/reconcile}: starts a run, or returns the one already running for that calendar. Sets
     * {@code CalsyncRunStarted} so the route starts the work only for a new run.
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
        Map<String, Object> run = start((String) req.get("grant_id"), (String) req.get("calendar_id"),
                Boolean.TRUE.equals(req.get("dry_run")), "api", conflict, missing);
        exchange.getMessage().setHeader("CalsyncRunStarted", run.remove("started"));
        exchange.getMessage().setHeader("CalsyncRunId", run.get("run_id"));
        exchange.setProperty("httpStatus", 202);
        return run;
    }

    /** A new running run, or the one already running for this calendar (key {@code started} says which). */
    public Map<String, Object> start(String grantId, String calendarId, boolean dryRun, String trigger,
                                     String conflictPolicy, String missingPolicy) {
        // a run whose instance died holds its calendar only until its lease runs out
        jdbc.update("""
                UPDATE reconcile_run SET status = 'failed', error = 'lease expired: the instance running it stopped',
                       finished_at = now() WHERE status = 'running' AND lease_until < now()""");
        String runId = "rec-run-" + UUID.randomUUID();
        Map<String, Object> out = new LinkedHashMap<>();
        try {
            jdbc.update("""
                    INSERT INTO reconcile_run (run_id, grant_id, calendar_id, dry_run, status, trigger, conflict_policy,
                                               missing_policy, lease_until)
                    VALUES (?, ?, ?, ?, 'running', ?, ?, ?, now() + make_interval(secs => ?))""",
                    runId, grantId, calendarId, dryRun, trigger, conflictPolicy, missingPolicy,
                    config.lease().toSeconds());
            out.put("started", true);
        } catch (DuplicateKeyException e) {
            // the running one (or, if it finished a moment ago, the latest)
            runId = jdbc.queryForObject("""
                    SELECT run_id FROM reconcile_run WHERE grant_id = ? AND calendar_id = ?
                     ORDER BY (status = 'running') DESC, started_at DESC LIMIT 1""", String.class, grantId, calendarId);
            out.put("started", false);
        }
        out.put("run_id", runId);
        out.put("status", "running");
        return out;
    }

    /**
     * The scheduled trigger: true on exactly one instance per interval (the one whose update moves the schedule),
     * with a run started for every calendar of every active grant. Returns the new runs' ids.
     */
    public List<String> fireSchedule() {
        int won = jdbc.update("""
                UPDATE reconcile_schedule SET last_fired_at = now()
                 WHERE name = 'all-calendars' AND last_fired_at < now() - make_interval(secs => ?)""",
                Math.max(1, config.intervalMillis() / 1000 - 5));
        if (won == 0) {
            return List.of();
        }
        return startForCalendars(jdbc.queryForList("""
                SELECT DISTINCT grant_id, calendar_id FROM event_sync_map
                 WHERE calendar_id IS NOT NULL
                   AND grant_id NOT IN (SELECT grant_id FROM grant_sync_state WHERE state = 'paused')"""), "schedule");
    }

    /** Runs for every calendar of a grant that was just resumed (events were missed while it was expired). */
    public List<String> startForGrant(@Header("CalsyncGrantId") String grantId) {
        return startForCalendars(jdbc.queryForList("""
                SELECT DISTINCT grant_id, calendar_id FROM event_sync_map WHERE grant_id = ? AND calendar_id IS NOT NULL""",
                grantId), "grant-resumed");
    }

    private List<String> startForCalendars(List<Map<String, Object>> calendars, String trigger) {
        List<String> started = new ArrayList<>();
        for (Map<String, Object> c : calendars) {
            Map<String, Object> run = start((String) c.get("grant_id"), (String) c.get("calendar_id"), false, trigger,
                    config.conflictPolicy(), config.missingPolicy());
            if (Boolean.TRUE.equals(run.get("started"))) {
                started.add((String) run.get("run_id"));
            }
        }
        return started;
    }

    /** {@code GET /admin/reconcile/{run_id}}. */
    public Map<String, Object> get(@Header("run_id") String runId) {
        List<Map<String, Object>> rows = jdbc.queryForList("""
                SELECT run_id, grant_id, calendar_id, status, dry_run, trigger, conflict_policy, missing_policy, pages,
                       events_seen, created, updated, deleted, relinked, unchanged, conflicts, pushed,
                       planned::text AS planned, error, started_at, finished_at
                  FROM reconcile_run WHERE run_id = ?""", runId);
        if (rows.isEmpty()) {
            throw new Rejection(404, "not_found", "no reconciliation run " + runId);
        }
        Map<String, Object> run = new LinkedHashMap<>(rows.get(0));
        try {
            run.put("planned", json.readValue((String) run.get("planned"), List.class));
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        return run;
    }

    /**
     * Extends the run's lease while it works (at the start and after every page); false when the run was given up
     * meanwhile (its lease had run out and another run took the calendar), in which case it must stop.
     */
    public boolean renew(String runId) {
        return jdbc.update("""
                UPDATE reconcile_run SET lease_until = now() + make_interval(secs => ?)
                 WHERE run_id = ? AND status = 'running'""", config.lease().toSeconds(), runId) == 1;
    }

    public Map<String, Object> settings(String runId) {
        return jdbc.queryForMap("SELECT * FROM reconcile_run WHERE run_id = ?", runId);
    }

    /** Stores the counters (and, for a dry run, the plan) of a finished run. */
    public void finish(String runId, ReconcileReport report) {
        jdbc.update("""
                UPDATE reconcile_run SET status = 'succeeded', finished_at = now(), pages = ?, events_seen = ?,
                       created = ?, updated = ?, deleted = ?, relinked = ?, unchanged = ?, conflicts = ?, pushed = ?,
                       planned = CAST(? AS jsonb)
                 WHERE run_id = ? AND status = 'running'""",
                report.pages, report.eventsSeen, report.created, report.updated, report.deleted, report.relinked,
                report.unchanged, report.conflicts, report.pushed, report.plannedJson(json), runId);
    }

    /** A run that stopped: the error is reported, nothing after the failure point was changed. */
    public void fail(String runId, ReconcileReport report, String error) {
        jdbc.update("""
                UPDATE reconcile_run SET status = 'failed', finished_at = now(), error = ?, pages = ?, events_seen = ?,
                       planned = CAST(? AS jsonb) WHERE run_id = ? AND status = 'running'""",
                error, report == null ? 0 : report.pages, report == null ? 0 : report.eventsSeen,
                report == null ? "[]" : report.plannedJson(json), runId);
    }
}

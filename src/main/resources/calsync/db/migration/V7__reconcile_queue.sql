-- Reconciliation as shared work. Every calendar the sync knows is a row with the time the schedule next reconciles
-- it (spread over the interval by a hash of the grant); due calendars become queued runs, and every instance claims
-- queued runs with SKIP LOCKED under a concurrency cap of its own. No hourly scan of event_sync_map, no global lock.

CREATE TABLE reconcile_calendar (
    grant_id    TEXT NOT NULL,
    calendar_id TEXT NOT NULL,
    -- NULL until the schedule gives the calendar its slot in the interval
    next_due_at TIMESTAMPTZ,
    PRIMARY KEY (grant_id, calendar_id)
);
CREATE INDEX reconcile_calendar_due ON reconcile_calendar (next_due_at);
CREATE INDEX reconcile_calendar_unscheduled ON reconcile_calendar (grant_id) WHERE next_due_at IS NULL;

INSERT INTO reconcile_calendar (grant_id, calendar_id)
SELECT DISTINCT grant_id, calendar_id FROM event_sync_map WHERE calendar_id IS NOT NULL;

-- A calendar joins the schedule with its first mapping, whichever transition wrote it.
CREATE FUNCTION reconcile_calendar_join() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reconcile_calendar (grant_id, calendar_id) VALUES (NEW.grant_id, NEW.calendar_id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER event_sync_map_calendar_joins AFTER INSERT OR UPDATE OF calendar_id ON event_sync_map
    FOR EACH ROW WHEN (NEW.calendar_id IS NOT NULL) EXECUTE FUNCTION reconcile_calendar_join();

-- queued -> running -> succeeded | failed; at most one queued or running run per calendar
ALTER TABLE reconcile_run ADD COLUMN queued_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE reconcile_run ADD COLUMN claim_token TEXT;
ALTER TABLE reconcile_run ALTER COLUMN lease_until DROP NOT NULL;
-- events a run could not apply: reported and skipped (the next run tries them again)
ALTER TABLE reconcile_run ADD COLUMN skipped INT NOT NULL DEFAULT 0;
ALTER TABLE reconcile_run ADD COLUMN skipped_errors JSONB NOT NULL DEFAULT '[]';
DROP INDEX reconcile_run_one_at_a_time;
CREATE UNIQUE INDEX reconcile_run_one_at_a_time ON reconcile_run (grant_id, calendar_id)
    WHERE status IN ('queued', 'running');
CREATE INDEX reconcile_run_queued ON reconcile_run (queued_at) WHERE status = 'queued';
CREATE INDEX reconcile_run_running_grant ON reconcile_run (grant_id) WHERE status = 'running';
CREATE INDEX reconcile_run_lease ON reconcile_run (lease_until) WHERE status = 'running';
-- the retention purge
CREATE INDEX reconcile_run_finished ON reconcile_run (finished_at) WHERE status IN ('succeeded', 'failed');
CREATE INDEX sync_conflict_recorded ON sync_conflict (recorded_at);
CREATE INDEX sync_conflict_run ON sync_conflict (run_id);

-- the schedule no longer fires on one instance: every instance queues what is due
DROP TABLE reconcile_schedule;

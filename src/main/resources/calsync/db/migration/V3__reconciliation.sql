-- Reconciliation runs: one (grant, calendar) at a time across every instance (the partial unique index), with the
-- counters and, for a dry run, the planned changes.
CREATE TABLE reconcile_run (
    run_id      TEXT PRIMARY KEY,
    grant_id    TEXT        NOT NULL,
    calendar_id TEXT        NOT NULL,
    dry_run     BOOLEAN     NOT NULL,
    status      TEXT        NOT NULL, -- running | succeeded | failed
    trigger     TEXT        NOT NULL, -- api | schedule | grant-resumed
    conflict_policy TEXT    NOT NULL,
    missing_policy  TEXT    NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    pages       INT NOT NULL DEFAULT 0,
    events_seen INT NOT NULL DEFAULT 0,
    created     INT NOT NULL DEFAULT 0,
    updated     INT NOT NULL DEFAULT 0,
    deleted     INT NOT NULL DEFAULT 0,
    relinked    INT NOT NULL DEFAULT 0,
    unchanged   INT NOT NULL DEFAULT 0,
    conflicts   INT NOT NULL DEFAULT 0,
    pushed      INT NOT NULL DEFAULT 0,
    planned     JSONB NOT NULL DEFAULT '[]',
    error       TEXT
);
CREATE UNIQUE INDEX reconcile_run_one_at_a_time ON reconcile_run (grant_id, calendar_id) WHERE status = 'running';

-- Every conflict a run met (both sides changed since the last sync) and which side won.
CREATE TABLE sync_conflict (
    id               BIGSERIAL PRIMARY KEY,
    run_id           TEXT        NOT NULL,
    record_id        TEXT        NOT NULL,
    nylas_event_id   TEXT,
    policy           TEXT        NOT NULL,
    winner           TEXT        NOT NULL, -- app | calendar
    local_updated_at BIGINT,
    remote_updated_at BIGINT,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The schedule fires on one instance: the one whose UPDATE moves last_fired_at.
CREATE TABLE reconcile_schedule (
    name          TEXT PRIMARY KEY,
    last_fired_at TIMESTAMPTZ NOT NULL
);
INSERT INTO reconcile_schedule (name, last_fired_at) VALUES ('all-calendars', 'epoch');

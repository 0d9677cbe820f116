-- Every notification Nylas delivered and we acknowledged. The primary key on the notification id is the real
-- dedupe guard: a row exists exactly when a 200 was (or could have been) sent for that id.
CREATE TABLE webhook_inbox (
    notification_id TEXT PRIMARY KEY,
    type            TEXT        NOT NULL,
    grant_id        TEXT,
    object_id       TEXT,
    -- notifications sharing an event key are never processed concurrently
    event_key       TEXT,
    notified_at     TIMESTAMPTZ,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    payload         JSONB       NOT NULL,
    -- received -> processing -> processed | dead ; processing rows whose lease ran out are claimed again
    status          TEXT        NOT NULL DEFAULT 'received',
    attempts        INT         NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until     TIMESTAMPTZ,
    outcome         TEXT,
    last_error      TEXT,
    processed_at    TIMESTAMPTZ
);
CREATE INDEX webhook_inbox_due ON webhook_inbox (next_attempt_at) WHERE status IN ('received', 'processing');
CREATE INDEX webhook_inbox_busy ON webhook_inbox (event_key) WHERE status = 'processing';
CREATE INDEX webhook_inbox_status ON webhook_inbox (status, received_at);

-- The link between a local record and a calendar event (the recipes' event_sync_map), plus tombstones.
CREATE TABLE event_sync_map (
    internal_id       TEXT PRIMARY KEY,
    nylas_event_id    TEXT,                          -- null until a create call returns
    grant_id          TEXT        NOT NULL,
    calendar_id       TEXT,
    content_hash      TEXT        NOT NULL DEFAULT '', -- canonical SHA-256 of the synced fields last written
    source            TEXT        NOT NULL,          -- 'app' or 'calendar': the side of the last change
    sync_state        TEXT        NOT NULL,          -- pending | synced | failed | deleted (tombstone)
    remote_updated_at BIGINT,                        -- the event's updated_at (Unix s) last applied
    attempts          INT         NOT NULL DEFAULT 0,
    last_error        TEXT,
    deleted_at        TIMESTAMPTZ,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (grant_id, nylas_event_id)
);

-- Sync for a grant stops while Nylas says it needs re-authentication (grant.expired) or is gone.
CREATE TABLE grant_sync_state (
    grant_id   TEXT PRIMARY KEY,
    state      TEXT        NOT NULL, -- active | paused
    reason     TEXT,                 -- the notification type that set the state
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The built-in local store: the application's own events (used when local-upsert/local-delete are not
-- pointed at another system).
CREATE TABLE app_event (
    id           TEXT PRIMARY KEY,
    grant_id     TEXT        NOT NULL,
    calendar_id  TEXT,
    title        TEXT,
    description  TEXT,
    location     TEXT,
    when_json    JSONB,
    participants JSONB       NOT NULL DEFAULT '[]',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX app_event_calendar ON app_event (grant_id, calendar_id, id);

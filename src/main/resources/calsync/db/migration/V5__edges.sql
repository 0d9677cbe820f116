-- Grant state follows the notifications in the order Nylas sent them: the signed time of the notification that set
-- the current state (an admin's resume sets it to the moment of the resume).
ALTER TABLE grant_sync_state ADD COLUMN notified_at TIMESTAMPTZ;
ALTER TABLE grant_sync_state ADD CONSTRAINT grant_sync_state_state CHECK (state IN ('active', 'paused'));

-- event_sync_map: the states its one writer (SyncMappings) moves between, enforced here too. A tombstone is always
-- a row the calendar must not show.
UPDATE event_sync_map SET desired = 'deleted' WHERE sync_state = 'deleted';
ALTER TABLE event_sync_map
    ADD CONSTRAINT event_sync_map_sync_state CHECK (sync_state IN ('pending', 'synced', 'failed', 'deleted')),
    ADD CONSTRAINT event_sync_map_source CHECK (source IN ('app', 'calendar')),
    ADD CONSTRAINT event_sync_map_desired CHECK (desired IN ('live', 'deleted')),
    ADD CONSTRAINT event_sync_map_tombstone_not_live CHECK (sync_state <> 'deleted' OR desired = 'deleted'),
    ADD CONSTRAINT event_sync_map_counts CHECK (attempts >= 0 AND create_attempts >= 0 AND version >= 0),
    -- when the last create was sent: none is looked up or repeated until Nylas' own time-out has passed after it
    ADD COLUMN create_attempted_at TIMESTAMPTZ,
    -- the union of the time windows (Unix s) of every create sent: a lookup by metadata.key1 covers all of them
    ADD COLUMN created_window_start BIGINT,
    ADD COLUMN created_window_end BIGINT;

-- webhook_inbox: each claim gets a token; a worker records an outcome only while it still holds its claim.
ALTER TABLE webhook_inbox
    ADD COLUMN claim_token TEXT,
    ADD CONSTRAINT webhook_inbox_status CHECK (status IN ('received', 'processing', 'processed', 'dead'));

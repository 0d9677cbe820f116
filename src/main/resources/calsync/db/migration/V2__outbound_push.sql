-- Application -> calendar: the mapping row doubles as the outbox. An app change bumps version and sets the row
-- pending; a push worker claims it under a lease, writes the latest local state to Nylas and marks it synced only
-- if no newer change arrived meanwhile (otherwise it stays pending and is pushed again).
ALTER TABLE event_sync_map
    ADD COLUMN desired         TEXT        NOT NULL DEFAULT 'live', -- live | deleted: what the calendar must end up with
    ADD COLUMN version         BIGINT      NOT NULL DEFAULT 0,      -- bumped by every application change
    ADD COLUMN create_attempts INT         NOT NULL DEFAULT 0,      -- POSTs that may have reached Nylas
    ADD COLUMN remote_metadata JSONB,                               -- the event's metadata as last seen
    ADD COLUMN next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN lease_until     TIMESTAMPTZ;

CREATE INDEX event_sync_map_push_due ON event_sync_map (next_attempt_at)
    WHERE sync_state = 'pending' AND source = 'app';

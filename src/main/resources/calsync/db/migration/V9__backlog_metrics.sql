-- The backlog gauges (dev.calsync.metrics.BacklogMetrics) count rows by state every few seconds. Each count reads a
-- partial index holding only the rows it counts, so its cost is the backlog's, not the table's: at 100,000 grants
-- and millions of mapping rows a count of a few failed pushes or paused grants must not read the whole table.
-- Inbox counts use the inbox's existing indexes (webhook_inbox_received_due, webhook_inbox_lease,
-- webhook_inbox_status) and pending pushes event_sync_map_push_due.

-- Failed pushes: no index covered sync_state = 'failed'. Keyed by calendar, so reconciliation's requeue of a
-- calendar's failed pushes reads it too.
CREATE INDEX event_sync_map_push_failed ON event_sync_map (grant_id, calendar_id) WHERE sync_state = 'failed';

-- Paused grants: only the primary key existed. Keyed by updated_at, so GET /admin/grants?state=paused (most recently
-- changed first) reads it too.
CREATE INDEX grant_sync_state_paused ON grant_sync_state (updated_at) WHERE state = 'paused';

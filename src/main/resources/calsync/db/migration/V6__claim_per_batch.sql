-- The claim reads a batch by index instead of sorting every due row under one global lock.
-- At most one row per event key is processing: earlier versions could leave an expired one beside a newer one;
-- all but the latest go back to 'received'.
UPDATE webhook_inbox w SET status = 'received', lease_until = NULL, claim_token = NULL
 WHERE w.status = 'processing' AND w.event_key IS NOT NULL
   AND w.notification_id <> (SELECT p.notification_id FROM webhook_inbox p
                              WHERE p.event_key = w.event_key AND p.status = 'processing'
                              ORDER BY p.lease_until DESC NULLS LAST LIMIT 1);
CREATE UNIQUE INDEX webhook_inbox_one_per_key ON webhook_inbox (event_key) WHERE status = 'processing';
DROP INDEX webhook_inbox_busy;
DROP INDEX webhook_inbox_due;
-- new and retried rows, oldest first
CREATE INDEX webhook_inbox_received_due ON webhook_inbox (next_attempt_at) WHERE status = 'received';
-- processing rows whose lease runs out
CREATE INDEX webhook_inbox_lease ON webhook_inbox (lease_until) WHERE status = 'processing';

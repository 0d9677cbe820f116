-- Each claim of a pending push gets a token; a worker only records results while it still holds its claim, so a
-- worker that outlived its lease can never overwrite the work of the one that took over.
ALTER TABLE event_sync_map ADD COLUMN claim_token TEXT;

-- Recurring series. A record is a single event, a series master (recurrence: its RRULE/EXDATE strings, as Nylas
-- holds them on the master) or an occurrence of a series that differs from it (master_record_id and
-- original_start_time: an edited occurrence, or a cancelled one with status 'cancelled').
ALTER TABLE app_event ADD COLUMN recurrence JSONB;
ALTER TABLE app_event ADD COLUMN status TEXT NOT NULL DEFAULT 'confirmed';
ALTER TABLE app_event ADD COLUMN master_record_id TEXT;
ALTER TABLE app_event ADD COLUMN original_start_time BIGINT;
ALTER TABLE app_event ADD CONSTRAINT app_event_status CHECK (status IN ('confirmed', 'cancelled'));
ALTER TABLE app_event ADD CONSTRAINT app_event_occurrence
    CHECK ((master_record_id IS NULL) = (original_start_time IS NULL));
ALTER TABLE app_event ADD CONSTRAINT app_event_occurrence_has_no_rule
    CHECK (master_record_id IS NULL OR recurrence IS NULL);
-- one record per occurrence of a series
CREATE UNIQUE INDEX app_event_one_per_occurrence ON app_event (master_record_id, original_start_time)
    WHERE master_record_id IS NOT NULL;

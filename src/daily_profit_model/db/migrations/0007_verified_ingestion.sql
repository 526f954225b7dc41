-- 0007: an endpoint-day is complete only once verified, and a day fetched again in full
-- leaves no row the source no longer serves.

-- provisional: loaded while the day was inside the late-data horizon (its newest
-- `recheck_days` days), so rows may still arrive; re-checked by every later run until a
-- check past the horizon agrees. empty: the source served no row; re-checked until a
-- check past the horizon still finds none. Both count as loaded for the features.
ALTER TABLE ingestion_state DROP CONSTRAINT ingestion_state_status_check;
ALTER TABLE ingestion_state ADD CONSTRAINT ingestion_state_status_check
    CHECK (status IN ('complete', 'provisional', 'empty', 'partial', 'failed'));
ALTER TABLE ingestion_state
    ADD COLUMN removed_count bigint NOT NULL DEFAULT 0,
    ADD COLUMN checked_at timestamptz;

-- Rows a raw table held for a day that the source no longer serves when the day was
-- fetched again in full: moved here (the whole row as JSON) in the same transaction,
-- so the raw table equals the source and nothing it once held is lost.
CREATE TABLE raw_removed_rows (
    removed_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_table text NOT NULL,
    day date NOT NULL,
    row_data jsonb NOT NULL,
    run_id text,
    removed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX raw_removed_rows_table_day_idx ON raw_removed_rows (source_table, day);

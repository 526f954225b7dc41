-- 0008: which process a pipeline run is, so that a run whose process died (SIGKILL,
-- OOM, a lost machine) is closed as `killed` by the next start instead of staying
-- `running` for ever.
ALTER TABLE pipeline_run_log DROP CONSTRAINT pipeline_run_log_status_check;
ALTER TABLE pipeline_run_log ADD CONSTRAINT pipeline_run_log_status_check
    CHECK (status IN ('running', 'success', 'failed', 'killed'));
ALTER TABLE pipeline_run_log
    ADD COLUMN host text,
    ADD COLUMN pid integer,
    ADD COLUMN process_started_at timestamptz;
CREATE INDEX pipeline_run_log_running_idx ON pipeline_run_log (status)
    WHERE status = 'running';

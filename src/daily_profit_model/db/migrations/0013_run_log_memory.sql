-- 0013: each node's memory: the process's resident set when the node's outputs are
-- saved, and its peak so far (a node raised the peak when its value is above the
-- previous node's), so a run that grows with the firm shows which step to shrink.
ALTER TABLE pipeline_run_log
    ADD COLUMN rss_mib integer,
    ADD COLUMN peak_rss_mib integer;

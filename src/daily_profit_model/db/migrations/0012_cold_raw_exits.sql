-- 0012: what a cold month of daily metrics leaves in PostgreSQL.
--
-- raw_trades_closed and raw_metrics_daily keep their old months as parquet files
-- (ingestion's cold tiers). Every staging build reads one thing over the whole
-- history: each account's first day with a status other than active (its exit), to
-- know which accounts are still alive in the window. So that an incremental build
-- never loads every cold month back for it, a month that goes cold first writes its
-- accounts' first such day here (datasets/cold_tier.py); a month loaded back to take
-- a correction drops its rows here, and writes them again when it goes cold again.
CREATE TABLE raw_metrics_daily_cold_exits (
    month date NOT NULL,
    account_id text NOT NULL,
    exit_day date NOT NULL,
    PRIMARY KEY (month, account_id)
);

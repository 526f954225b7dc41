-- 0011: "is anything stored for this day?" answered by an index, not a scan.
--
-- Ingestion asks it twice per endpoint-day (was the day stored before, so must rows the
-- source no longer serves move out; is the day's range empty, so may the rows be copied
-- straight in). 0001 gave the day columns BRIN indexes for it, but the planner never
-- used them: measured with EXPLAIN on the ingestion benchmark's world, the question for
-- a day not yet stored scanned the whole month partition (154,132 rows, 21.7 ms; at the
-- firm's size a month of hourly metrics is ~25 M rows, seconds per question). A B-tree
-- on the day alone is small (PostgreSQL deduplicates equal keys into posting lists:
-- a few bytes per row) and days arrive in order, so it grows at its right edge.
DROP INDEX raw_metrics_daily_date_brin;
DROP INDEX raw_metrics_hourly_date_brin;
DROP INDEX raw_trades_closed_date_brin;
CREATE INDEX raw_metrics_daily_date_idx ON raw_metrics_daily (date);
CREATE INDEX raw_metrics_hourly_date_idx ON raw_metrics_hourly (date);
CREATE INDEX raw_trades_closed_date_idx ON raw_trades_closed (trade_date);

-- 0003: reference data the feature build joins to. The derived tables themselves
-- (stg_account_day, feature_account_day, target_account_day) are created by
-- SqlTableBuildDataset from the shape of their query, so the SQL stays their one
-- definition.

-- Which asset class each standard symbol belongs to (written from parameters_features.yml).
CREATE TABLE ref_symbol_asset_class (
    symbol text PRIMARY KEY,
    asset_class text NOT NULL CHECK (asset_class IN ('fx', 'metal', 'index', 'energy', 'crypto'))
);

-- The population and exits are read by status; a partial index keeps that cheap.
CREATE INDEX raw_metrics_daily_exit_idx ON raw_metrics_daily (account_id, date)
    WHERE status <> 1;

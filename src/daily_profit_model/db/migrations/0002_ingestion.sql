-- 0002: what ingestion needs beyond the raw API tables.

-- A rejected record seen again (a day fetched again) is stored once.
ALTER TABLE quarantine
    ADD COLUMN day date,
    ADD COLUMN payload_sha256 text;
CREATE UNIQUE INDEX quarantine_record_uq ON quarantine (source, payload_sha256);

-- What paging ran into, per endpoint and day.
ALTER TABLE ingestion_state
    ADD COLUMN received_count bigint,
    ADD COLUMN pages integer,
    ADD COLUMN requests integer,
    ADD COLUMN seconds double precision;

-- Every row of every plan export: the rules the models use, typed, and the whole row
-- (all columns, as text) so nothing an export holds is lost. Several exports may carry
-- the same planId; each keeps its own row, and staging decides which one holds.
CREATE TABLE raw_plans (
    plan_id bigint NOT NULL,
    export_file text NOT NULL,
    export_row integer NOT NULL,
    type text,
    description text,
    platform text,
    broker text,
    starting_balance double precision,
    profit_target_pct double precision,
    max_trailing_drawdown_pct double precision,
    daily_loss_limit_pct double precision,
    daily_drawdown_by_balance_equity smallint,
    make_drawdown_static smallint,
    leverage double precision,
    profit_share_pct double precision,
    minimum_required_active_trading_days integer,
    maximum_time integer,
    inactivity_period integer,
    liquidate_friday smallint,
    is_swing smallint,
    enable_consistency smallint,
    upgrade_plan_id bigint,
    reset_plan_id bigint,
    price double precision,
    archived smallint,
    inserted timestamp,
    updated timestamp,
    rules text,
    row_data jsonb NOT NULL,
    run_id text,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, export_file)
);

-- 0009: what the real contract says of open positions and of the source.

-- v2/trades/open is a snapshot "as of now": every snapshot is kept with the time it was
-- taken (the server's clock). Features of a past cutoff never read a snapshot's P&L;
-- they rebuild the positions open at the cutoff from closed trades and from the first
-- snapshot taken after it (positions opened before the cutoff, still open then).
CREATE TABLE raw_open_positions (
    snapshot_at timestamptz NOT NULL,
    trade_date date,
    broker text NOT NULL,
    mngr text,
    platform text NOT NULL,
    ticket text,
    position text NOT NULL,
    login bigint NOT NULL,
    std_symbol text,
    side text,
    lots double precision,
    contract_size double precision,
    qty_in_base_crncy double precision,
    volume_usd double precision,
    stop_loss double precision,
    take_profit double precision,
    open_time timestamptz,
    open_price double precision,
    profit double precision,
    commission double precision,
    fee double precision,
    swap double precision,
    comment text,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    run_id text,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (snapshot_at, login, platform, broker, position)
);
CREATE INDEX raw_open_positions_login_idx
    ON raw_open_positions (login, platform, broker, position);

-- The earlier per-day rows were snapshots at the end of their trade_date (the sandbox
-- served them so): kept as such, nothing dropped.
INSERT INTO raw_open_positions (
    snapshot_at, trade_date, broker, mngr, platform, ticket, position, login, std_symbol,
    side, lots, contract_size, qty_in_base_crncy, volume_usd, stop_loss, take_profit,
    open_time, open_price, profit, commission, fee, swap, comment, extra, run_id,
    ingested_at
)
SELECT
    (trade_date + 1)::timestamp AT TIME ZONE 'UTC', trade_date, broker, mngr, platform,
    ticket, position, login, std_symbol, side, lots, contract_size, qty_in_base_crncy,
    volume_usd, stop_loss, take_profit, open_time, open_price, profit, commission, fee,
    swap, comment, extra, run_id, ingested_at
FROM raw_trades_open;
DROP TABLE raw_trades_open;

-- The one source a database is filled from (an API base URL, or a sandbox world).
-- A run against another source stops at once (see the ingestion planner).
CREATE TABLE source_identity (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    identity text NOT NULL,
    first_run_id text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- The trading calendar: the days whose daily metrics the source served (loaded, with
-- rows). Staging densifies account days over it, targets step along it; it needs no
-- regime document (the firm's lives outside the API).
CREATE VIEW trading_calendar AS
SELECT day
FROM ingestion_state
WHERE endpoint = 'v2/metrics/daily'
  AND status IN ('complete', 'provisional')
  AND stored_count > 0;

-- 0010: risk on a correlated firm (the firm's total and the funded book).

-- Each account's mean forecast (sums of means are unbiased; sums of medians are not)
-- and its phase when scored (the funded book is phase 4). NULL on rows scored by a
-- model without a mean booster.
ALTER TABLE predictions ADD COLUMN mean double precision;
ALTER TABLE predictions ADD COLUMN phase integer;

-- One row per cutoff, model version and book ('firm': every account; 'funded': the
-- funded accounts, whose gains the firm pays). The rows of earlier versions are the
-- firm book.
ALTER TABLE firm_forecasts ADD COLUMN book text NOT NULL DEFAULT 'firm'
    CHECK (book IN ('firm', 'funded'));
ALTER TABLE firm_forecasts ADD COLUMN method text;
ALTER TABLE firm_forecasts ADD COLUMN median_total double precision;
ALTER TABLE firm_forecasts ADD COLUMN payout_liability double precision;
ALTER TABLE firm_forecasts ADD COLUMN payout_liability_lower_90 double precision;
ALTER TABLE firm_forecasts ADD COLUMN payout_liability_upper_90 double precision;
ALTER TABLE firm_forecasts DROP CONSTRAINT firm_forecasts_pkey;
ALTER TABLE firm_forecasts ADD PRIMARY KEY (cutoff_date, model_version, book);

-- Each morning's degradation checks (daily_profit_model.scoring.degradation): one row
-- per cutoff, model version and check; a failing one was an alert.
CREATE TABLE performance_checks (
    cutoff_date date NOT NULL,
    model_version integer NOT NULL,
    check_name text NOT NULL,
    value double precision,
    reference double precision,
    p_value double precision,
    days integer NOT NULL,
    status text NOT NULL,
    alert boolean NOT NULL,
    detail text NOT NULL,
    checked_at timestamptz NOT NULL,
    run_id text NOT NULL,
    PRIMARY KEY (cutoff_date, model_version, check_name)
);

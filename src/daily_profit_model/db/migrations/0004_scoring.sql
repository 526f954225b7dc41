-- 0004: the morning job's tables: forecasts (champion and shadows), the firm-level view,
-- evaluation against actuals, champion/challenger comparisons, promotions, drift.

-- One forecast per account, target day and model version. A re-run of a day replaces
-- the day's rows (the dataset deletes the cutoff's rows first), so nothing duplicates.
CREATE TABLE predictions (
    account_id text NOT NULL,
    cutoff_date date NOT NULL,
    target_date date NOT NULL,
    model_name text NOT NULL,
    model_version integer NOT NULL,
    role text NOT NULL CHECK (role IN ('champion', 'shadow')),
    alias text,
    served boolean NOT NULL,
    forecast double precision NOT NULL,
    lower_90 double precision NOT NULL,
    upper_90 double precision NOT NULL,
    reason_1 text,
    reason_1_usd double precision,
    reason_2 text,
    reason_2_usd double precision,
    reason_3 text,
    reason_3_usd double precision,
    scored_at timestamptz NOT NULL,
    run_id text NOT NULL,
    PRIMARY KEY (account_id, target_date, model_version)
)
PARTITION BY RANGE (target_date);

CREATE TABLE firm_forecasts (
    cutoff_date date NOT NULL,
    target_date date NOT NULL,
    model_version integer NOT NULL,
    role text NOT NULL,
    accounts integer NOT NULL,
    forecast_total double precision NOT NULL,
    lower_90 double precision NOT NULL,
    upper_90 double precision NOT NULL,
    independent_lower_90 double precision NOT NULL,
    independent_upper_90 double precision NOT NULL,
    error_days integer NOT NULL,
    error_source text NOT NULL,
    scored_at timestamptz NOT NULL,
    run_id text NOT NULL,
    PRIMARY KEY (cutoff_date, model_version)
);

CREATE TABLE prediction_evaluation (
    target_date date NOT NULL,
    model_version integer NOT NULL,
    role text NOT NULL,
    accounts integer NOT NULL,
    mae double precision NOT NULL,
    pinball_05 double precision NOT NULL,
    pinball_95 double precision NOT NULL,
    coverage_90 double precision NOT NULL,
    evaluated_at timestamptz NOT NULL,
    PRIMARY KEY (target_date, model_version)
);

CREATE TABLE model_comparisons (
    window_end date NOT NULL,
    champion_version integer NOT NULL,
    challenger_version integer NOT NULL,
    window_start date NOT NULL,
    days integer NOT NULL,
    champion_mae double precision NOT NULL,
    challenger_mae double precision NOT NULL,
    mean_loss_difference double precision NOT NULL,
    dm_statistic double precision,
    p_value double precision,
    challenger_better boolean NOT NULL,
    compared_at timestamptz NOT NULL,
    PRIMARY KEY (window_end, champion_version, challenger_version)
);

CREATE TABLE model_promotions (
    promotion_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    promoted_at timestamptz NOT NULL DEFAULT now(),
    promoted_by text NOT NULL,
    model_name text NOT NULL,
    from_version integer,
    to_version integer NOT NULL,
    forced boolean NOT NULL,
    reason text NOT NULL,
    figures jsonb NOT NULL
);

CREATE TABLE feature_drift (
    cutoff_date date NOT NULL,
    model_version integer NOT NULL,
    feature text NOT NULL,
    psi double precision,
    ks_statistic double precision,
    ks_pvalue double precision,
    severity text NOT NULL CHECK (severity IN ('ok', 'warn', 'severe')),
    PRIMARY KEY (cutoff_date, model_version, feature)
);

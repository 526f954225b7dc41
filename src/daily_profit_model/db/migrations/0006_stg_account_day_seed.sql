-- The stored stg_account_day rows of one day: what an incremental staging build carries
-- forward instead of recomputing every live account from its first day. The table is
-- created by its build (from the query's own shape) and may not exist yet, so the query
-- cannot name it directly: this function returns no row until it exists.
CREATE FUNCTION stg_account_day_seed(seed_day date)
RETURNS TABLE (
    account_id text,
    seed_date date,
    trading_day_index integer,
    balance double precision,
    equity double precision,
    approved_payouts_to_date double precision,
    days_to_next_payout integer,
    high_water_mark double precision,
    days_traded integer,
    trading_days_since_trade integer,
    winning_streak integer,
    losing_streak integer,
    lifetime_net_profit double precision,
    lifetime_winning_days integer,
    lifetime_losing_days integer,
    lifetime_pnl_sq double precision,
    lifetime_traded_pnl double precision,
    lifetime_worst_day double precision,
    lifetime_best_day double precision,
    lifetime_trades integer,
    lifetime_lots double precision,
    ewm_pnl_short double precision,
    ewm_pnl_long double precision,
    net_profit double precision
)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF seed_day IS NULL OR to_regclass('stg_account_day') IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT account_id, date, trading_day_index, balance::float8, equity::float8,
                approved_payouts_to_date::float8, days_to_next_payout, high_water_mark::float8,
                days_traded, trading_days_since_trade, winning_streak, losing_streak,
                lifetime_net_profit::float8, lifetime_winning_days, lifetime_losing_days,
                lifetime_pnl_sq::float8, lifetime_traded_pnl::float8,
                lifetime_worst_day::float8, lifetime_best_day::float8, lifetime_trades,
                lifetime_lots::float8, ewm_pnl_short::float8, ewm_pnl_long::float8,
                net_profit::float8
         FROM stg_account_day WHERE date = $1'
        USING seed_day;
END
$$;

-- sum_{k=1..n} r^k with r = 2^(1 / halflife): the total weight of an account's first n
-- days in the staging EWMs (0 for n = 0 or NULL), so a seeded build continues them.
CREATE FUNCTION ewm_weights(n integer, halflife double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN coalesce(n, 0) = 0 THEN 0::float8
        ELSE exp(ln(2) / halflife) * (exp(n * ln(2) / halflife) - 1)
            / (exp(ln(2) / halflife) - 1)
    END
$$;

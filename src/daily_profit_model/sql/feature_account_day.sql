-- feature_account_day: one row per account alive at a cutoff (the end of trading day
-- `date`), every column computed from data dated on or before the cutoff. The target
-- lives apart (target_account_day), so nothing here can see the day it predicts.
--
-- Parameters: start, end (the cutoffs to build); bucket of buckets (the accounts of one
-- worker of a parallel full build; 0 of 1 is every account).
-- History: stg_account_day rows of the last 60 calendar days for the rolling windows; lifetime and exponentially weighted
-- figures are cumulative columns of stg_account_day, so a day built alone equals a rebuild.
WITH history AS (
    SELECT *
    FROM stg_account_day
    WHERE date <= %(end)s AND date >= %(start)s::date - 59
      AND (%(buckets)s = 1 OR (hashtext(account_id) & 2147483647) %% %(buckets)s = %(bucket)s)
),
windows AS (
    SELECT
        h.*,
        sum(net_profit) OVER d3 AS pnl_sum_3d,
        avg(net_profit) OVER d3 AS pnl_mean_3d,
        stddev_samp(net_profit) OVER d3 AS pnl_std_3d,
        min(net_profit) OVER d3 AS pnl_min_3d,
        max(net_profit) OVER d3 AS pnl_max_3d,
        avg((net_profit > 0)::int::float8) OVER d3 AS win_share_3d,
        sum(greatest(net_profit, 0)) OVER d3 AS gains_3d,
        sum(greatest(-net_profit, 0)) OVER d3 AS losses_3d,
        sum(trades) OVER d3 AS trades_3d,
        count(*) FILTER (WHERE traded) OVER d3 AS active_days_3d,
        sum(net_profit) OVER d5 AS pnl_sum_5d,
        avg(net_profit) OVER d5 AS pnl_mean_5d,
        stddev_samp(net_profit) OVER d5 AS pnl_std_5d,
        min(net_profit) OVER d5 AS pnl_min_5d,
        max(net_profit) OVER d5 AS pnl_max_5d,
        avg((net_profit > 0)::int::float8) OVER d5 AS win_share_5d,
        sum(greatest(net_profit, 0)) OVER d5 AS gains_5d,
        sum(greatest(-net_profit, 0)) OVER d5 AS losses_5d,
        sum(trades) OVER d5 AS trades_5d,
        count(*) FILTER (WHERE traded) OVER d5 AS active_days_5d,
        sum(net_profit) OVER d10 AS pnl_sum_10d,
        avg(net_profit) OVER d10 AS pnl_mean_10d,
        stddev_samp(net_profit) OVER d10 AS pnl_std_10d,
        min(net_profit) OVER d10 AS pnl_min_10d,
        max(net_profit) OVER d10 AS pnl_max_10d,
        avg((net_profit > 0)::int::float8) OVER d10 AS win_share_10d,
        sum(greatest(net_profit, 0)) OVER d10 AS gains_10d,
        sum(greatest(-net_profit, 0)) OVER d10 AS losses_10d,
        sum(trades) OVER d10 AS trades_10d,
        count(*) FILTER (WHERE traded) OVER d10 AS active_days_10d,
        sum(net_profit) OVER d20 AS pnl_sum_20d,
        avg(net_profit) OVER d20 AS pnl_mean_20d,
        stddev_samp(net_profit) OVER d20 AS pnl_std_20d,
        min(net_profit) OVER d20 AS pnl_min_20d,
        max(net_profit) OVER d20 AS pnl_max_20d,
        avg((net_profit > 0)::int::float8) OVER d20 AS win_share_20d,
        sum(greatest(net_profit, 0)) OVER d20 AS gains_20d,
        sum(greatest(-net_profit, 0)) OVER d20 AS losses_20d,
        sum(trades) OVER d20 AS trades_20d,
        count(*) FILTER (WHERE traded) OVER d20 AS active_days_20d,
        sum(net_profit) OVER d60 AS pnl_sum_60d,
        avg(net_profit) OVER d60 AS pnl_mean_60d,
        stddev_samp(net_profit) OVER d60 AS pnl_std_60d,
        min(net_profit) OVER d60 AS pnl_min_60d,
        max(net_profit) OVER d60 AS pnl_max_60d,
        avg((net_profit > 0)::int::float8) OVER d60 AS win_share_60d,
        sum(greatest(net_profit, 0)) OVER d60 AS gains_60d,
        sum(greatest(-net_profit, 0)) OVER d60 AS losses_60d,
        sum(trades) OVER d60 AS trades_60d,
        count(*) FILTER (WHERE traded) OVER d60 AS active_days_60d,
        count(*) OVER d20 AS days_in_window_20d,
        count(*) OVER d60 AS days_in_window_60d,
        sum(volume_usd) OVER d60 AS volume_60d,
        avg(abs(net_profit)) FILTER (WHERE traded) OVER d20 AS mean_abs_traded_pnl_20d,
        avg(abs(net_profit)) FILTER (WHERE traded) OVER d60 AS mean_abs_traded_pnl_60d,
        sum(lots) OVER d5 AS lots_5d,
        sum(volume_usd) OVER d5 AS volume_5d,
        sum(mean_holding_time * trades) OVER d5 / nullif(sum(trades) OVER d5, 0) AS mean_holding_time_5d,
        sum(stop_loss_share * trades) OVER d5 / nullif(sum(trades) OVER d5, 0) AS stop_loss_share_5d,
        sum(take_profit_share * trades) OVER d5 / nullif(sum(trades) OVER d5, 0) AS take_profit_share_5d,
        avg(symbol_hhi) OVER d5 AS symbol_hhi_5d,
        sum(traded_instrument_vol * volume_usd) OVER d5 / nullif(sum(volume_usd) FILTER (WHERE traded_instrument_vol IS NOT NULL) OVER d5, 0) AS traded_instrument_vol_5d,
        sum(lots) OVER d20 AS lots_20d,
        sum(volume_usd) OVER d20 AS volume_20d,
        sum(mean_holding_time * trades) OVER d20 / nullif(sum(trades) OVER d20, 0) AS mean_holding_time_20d,
        sum(stop_loss_share * trades) OVER d20 / nullif(sum(trades) OVER d20, 0) AS stop_loss_share_20d,
        sum(take_profit_share * trades) OVER d20 / nullif(sum(trades) OVER d20, 0) AS take_profit_share_20d,
        avg(symbol_hhi) OVER d20 AS symbol_hhi_20d,
        sum(traded_instrument_vol * volume_usd) OVER d20 / nullif(sum(volume_usd) FILTER (WHERE traded_instrument_vol IS NOT NULL) OVER d20, 0) AS traded_instrument_vol_20d,
        sum(fx_volume) OVER d20 / nullif(sum(volume_usd) OVER d20, 0) AS fx_volume_share_20d,
        sum(metal_volume) OVER d20 / nullif(sum(volume_usd) OVER d20, 0) AS metal_volume_share_20d,
        sum(index_volume) OVER d20 / nullif(sum(volume_usd) OVER d20, 0) AS index_volume_share_20d,
        sum(energy_volume) OVER d20 / nullif(sum(volume_usd) OVER d20, 0) AS energy_volume_share_20d,
        sum(crypto_volume) OVER d20 / nullif(sum(volume_usd) OVER d20, 0) AS crypto_volume_share_20d,
        sum(asia_trades) OVER d20 / nullif(sum(trades) OVER d20, 0)::float8 AS asia_session_share_20d,
        sum(london_trades) OVER d20 / nullif(sum(trades) OVER d20, 0)::float8 AS london_session_share_20d,
        sum(new_york_trades) OVER d20 / nullif(sum(trades) OVER d20, 0)::float8 AS new_york_session_share_20d,
        sum(weekend_trades) OVER d20 AS weekend_trades_20d,
        avg(lots) FILTER (WHERE traded AND previous_net_profit < 0) OVER d20 / nullif(avg(lots) FILTER (WHERE traded AND previous_net_profit >= 0) OVER d20, 0) AS size_after_loss_ratio_20d
    FROM history AS h
    WINDOW
        d3 AS (PARTITION BY account_id ORDER BY date RANGE BETWEEN '2 days' PRECEDING AND CURRENT ROW),
        d5 AS (PARTITION BY account_id ORDER BY date RANGE BETWEEN '4 days' PRECEDING AND CURRENT ROW),
        d10 AS (PARTITION BY account_id ORDER BY date RANGE BETWEEN '9 days' PRECEDING AND CURRENT ROW),
        d20 AS (PARTITION BY account_id ORDER BY date RANGE BETWEEN '19 days' PRECEDING AND CURRENT ROW),
        d60 AS (PARTITION BY account_id ORDER BY date RANGE BETWEEN '59 days' PRECEDING AND CURRENT ROW)
),
plan_versions AS (
    -- Overlapping exports give a plan several versions; each is valid from its own
    -- date (its update, else its insert) until the next one. A cutoff before a plan's
    -- first version has no version (plan_version_known false), never a later one's rules.
    SELECT
        p.*,
        coalesce(p.updated, p.inserted)::date AS valid_from,
        coalesce(lead(coalesce(p.updated, p.inserted)::date) OVER ordered, 'infinity'::date)
            AS valid_to
    FROM raw_plans AS p
    WINDOW ordered AS (
        PARTITION BY p.plan_id ORDER BY coalesce(p.updated, p.inserted), p.export_file
    )
),
regimes AS (
    SELECT
        r.date,
        CASE r.document #>> '{summary,key_metrics,volatility_regime}'
            WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2 END AS volatility_regime,
        CASE r.document #>> '{summary,key_metrics,liquidity_state}'
            WHEN 'normal' THEN 0 WHEN 'thin' THEN 1 END AS liquidity_thin,
        CASE r.document #>> '{summary,key_metrics,sentiment_level}'
            WHEN 'bearish' THEN -1 WHEN 'neutral' THEN 0 WHEN 'bullish' THEN 1 END
            AS sentiment_level,
        (r.document #>> '{summary,key_metrics,anomaly_count}')::float8 AS anomaly_count,
        (r.document #>> '{summary,transition_probabilities,to_risk_off}')::float8
            AS risk_off_probability,
        (r.document #>> '{summary,transition_probabilities,to_vol_spike}')::float8
            AS vol_spike_probability,
        (r.document #>> '{news_analysis,sentiment_summary,average_score}')::float8
            AS news_sentiment,
        (r.document #>> '{instruments,data,SPX500,daily_return}')::float8 AS spx_return,
        (r.document #>> '{instruments,data,SPX500,volatility_90d}')::float8 AS spx_volatility_90d,
        (SELECT avg((i.value ->> 'volatility_90d')::float8)
         FROM jsonb_each(r.document #> '{instruments,data}') AS i) AS market_volatility_90d,
        (SELECT avg(abs((i.value ->> 'daily_return')::float8))
         FROM jsonb_each(r.document #> '{instruments,data}') AS i) AS market_abs_return
    FROM raw_regimes_daily AS r
    WHERE r.date >= %(start)s AND r.date <= %(end)s
)
SELECT
    w.account_id,
    w.date AS cutoff_date,
    -- the next weekday: the target day, known from the calendar alone
    t.target_date,
    -- plan and account
    w.plan_id, w.type, w.phase, w.starting_balance, w.platform, w.broker,
    p.plan_id IS NOT NULL AS plan_version_known,
    p.profit_target_pct, p.max_trailing_drawdown_pct, p.daily_loss_limit_pct,
    coalesce(p.daily_drawdown_by_balance_equity, 0)::smallint AS daily_loss_on_equity,
    coalesce(p.make_drawdown_static, 0)::smallint AS drawdown_static,
    p.leverage, p.profit_share_pct,
    p.minimum_required_active_trading_days AS min_trading_days,
    p.maximum_time AS max_days,
    p.inactivity_period,
    coalesce(p.liquidate_friday, 0)::smallint AS liquidate_friday,
    coalesce(p.is_swing, 0)::smallint AS is_swing,
    coalesce(p.enable_consistency, 0)::smallint AS enable_consistency,
    (w.date - w.created_day) AS account_age_days,
    w.trading_day_index AS account_age_trading_days,
    greatest(coalesce(p.minimum_required_active_trading_days, 0) - w.days_traded, 0)
        AS days_to_min_trading_days,
    CASE WHEN p.maximum_time > 0 THEN p.maximum_time - w.trading_day_index END AS days_left,
    CASE WHEN p.inactivity_period > 0
         THEN p.inactivity_period - w.trading_days_since_trade END AS inactivity_days_left,
    -- state at the cutoff
    w.balance, w.equity, w.high_water_mark,
    w.equity - w.balance AS open_pnl,
    w.equity / w.starting_balance - 1 AS return_to_date,
    w.high_water_mark - w.equity AS drawdown_from_high_water,
    (w.high_water_mark - w.equity) / w.starting_balance AS drawdown_from_high_water_share,
    w.equity - f.daily_loss_floor AS distance_to_daily_loss_floor,
    (w.equity - f.daily_loss_floor) / w.balance AS distance_to_daily_loss_floor_share,
    w.equity - f.drawdown_floor AS distance_to_drawdown_floor,
    (w.equity - f.drawdown_floor) / w.balance AS distance_to_drawdown_floor_share,
    f.profit_target - w.balance AS distance_to_profit_target,
    (f.profit_target - w.balance) / w.balance AS distance_to_profit_target_share,
    w.approved_payouts_to_date, w.days_to_next_payout, w.todays_payouts,
    -- history
    w.net_profit AS pnl_1d,
    w.net_profit / w.starting_balance AS pnl_1d_share,
    w.traded AS traded_1d,
    w.pnl_sum_3d,
    w.pnl_mean_3d,
    w.pnl_std_3d,
    w.pnl_min_3d,
    w.pnl_max_3d,
    w.win_share_3d,
    w.gains_3d / nullif(w.losses_3d, 0) AS profit_factor_3d,
    w.pnl_mean_3d / nullif(w.pnl_std_3d, 0) AS sharpe_3d,
    w.pnl_sum_3d / w.starting_balance AS pnl_sum_3d_share,
    w.trades_3d::integer,
    w.active_days_3d::integer,
    w.pnl_sum_5d,
    w.pnl_mean_5d,
    w.pnl_std_5d,
    w.pnl_min_5d,
    w.pnl_max_5d,
    w.win_share_5d,
    w.gains_5d / nullif(w.losses_5d, 0) AS profit_factor_5d,
    w.pnl_mean_5d / nullif(w.pnl_std_5d, 0) AS sharpe_5d,
    w.pnl_sum_5d / w.starting_balance AS pnl_sum_5d_share,
    w.trades_5d::integer,
    w.active_days_5d::integer,
    w.pnl_sum_10d,
    w.pnl_mean_10d,
    w.pnl_std_10d,
    w.pnl_min_10d,
    w.pnl_max_10d,
    w.win_share_10d,
    w.gains_10d / nullif(w.losses_10d, 0) AS profit_factor_10d,
    w.pnl_mean_10d / nullif(w.pnl_std_10d, 0) AS sharpe_10d,
    w.pnl_sum_10d / w.starting_balance AS pnl_sum_10d_share,
    w.trades_10d::integer,
    w.active_days_10d::integer,
    w.pnl_sum_20d,
    w.pnl_mean_20d,
    w.pnl_std_20d,
    w.pnl_min_20d,
    w.pnl_max_20d,
    w.win_share_20d,
    w.gains_20d / nullif(w.losses_20d, 0) AS profit_factor_20d,
    w.pnl_mean_20d / nullif(w.pnl_std_20d, 0) AS sharpe_20d,
    w.pnl_sum_20d / w.starting_balance AS pnl_sum_20d_share,
    w.trades_20d::integer,
    w.active_days_20d::integer,
    w.pnl_sum_60d,
    w.pnl_mean_60d,
    w.pnl_std_60d,
    w.pnl_min_60d,
    w.pnl_max_60d,
    w.win_share_60d,
    w.gains_60d / nullif(w.losses_60d, 0) AS profit_factor_60d,
    w.pnl_mean_60d / nullif(w.pnl_std_60d, 0) AS sharpe_60d,
    w.pnl_sum_60d / w.starting_balance AS pnl_sum_60d_share,
    w.trades_60d::integer,
    w.active_days_60d::integer,
    w.ewm_pnl_short, w.ewm_pnl_long,
    w.winning_streak, w.losing_streak, w.trading_days_since_trade, w.days_traded,
    w.lifetime_net_profit, w.lifetime_net_profit / w.starting_balance AS lifetime_return,
    w.lifetime_winning_days, w.lifetime_losing_days,
    w.lifetime_winning_days::float8 / w.trading_day_index AS lifetime_win_share,
    w.lifetime_traded_pnl / nullif(w.days_traded, 0) AS lifetime_mean_traded_day,
    sqrt(greatest(
        w.lifetime_pnl_sq / nullif(w.days_traded, 0)
        - power(w.lifetime_traded_pnl / nullif(w.days_traded, 0), 2), 0)) AS lifetime_std_traded_day,
    w.lifetime_worst_day, w.lifetime_best_day, w.lifetime_trades, w.lifetime_lots,
    -- behaviour
    w.trades AS trades_1d, w.lots AS lots_1d, w.volume_usd AS volume_1d,
    w.lots_5d,
    w.volume_5d,
    w.mean_holding_time_5d,
    w.stop_loss_share_5d,
    w.take_profit_share_5d,
    w.symbol_hhi_5d,
    w.traded_instrument_vol_5d,
    w.lots_20d,
    w.volume_20d,
    w.mean_holding_time_20d,
    w.stop_loss_share_20d,
    w.take_profit_share_20d,
    w.symbol_hhi_20d,
    w.traded_instrument_vol_20d,
    w.fx_volume_share_20d,
    w.metal_volume_share_20d,
    w.index_volume_share_20d,
    w.energy_volume_share_20d,
    w.crypto_volume_share_20d,
    w.asia_session_share_20d,
    w.london_session_share_20d,
    w.new_york_session_share_20d,
    w.weekend_trades_20d,
    w.size_after_loss_ratio_20d,
    -- size and activity relative to the account (trees split poorly on ratios)
    w.active_days_20d::float8 / w.days_in_window_20d AS activity_share_20d,
    w.active_days_60d::float8 / w.days_in_window_60d AS activity_share_60d,
    w.volume_20d / nullif(w.active_days_20d, 0) / w.equity AS volume_per_active_day_20d_share,
    w.volume_60d / nullif(w.active_days_60d, 0) / w.equity AS volume_per_active_day_60d_share,
    w.mean_abs_traded_pnl_20d / w.equity AS mean_abs_traded_pnl_20d_share,
    w.mean_abs_traded_pnl_60d / w.equity AS mean_abs_traded_pnl_60d_share,
    w.mean_abs_traded_pnl_20d, w.mean_abs_traded_pnl_60d,
    w.pnl_std_20d / w.equity AS pnl_std_20d_share,
    w.pnl_std_60d / w.equity AS pnl_std_60d_share,
    -- exposure at the cutoff
    w.open_positions, w.open_notional, w.unrealised_pnl, w.exposure_source,
    w.open_notional / w.equity AS open_notional_to_equity,
    w.open_fx_notional, w.open_metal_notional, w.open_index_notional,
    w.open_energy_notional, w.open_crypto_notional,
    -- market at the cutoff and the target day's calendar
    r.volatility_regime, r.liquidity_thin, r.sentiment_level, r.anomaly_count,
    r.risk_off_probability, r.vol_spike_probability, r.news_sentiment, r.spx_return,
    r.spx_volatility_90d, r.market_volatility_90d, r.market_abs_return,
    w.calendar_gap_days,
    extract(isodow FROM w.date)::smallint AS cutoff_weekday,
    extract(isodow FROM t.target_date)::smallint AS target_weekday,
    (t.target_date - w.date) AS days_to_target,
    (date_trunc('month', t.target_date) + interval '1 month - 1 day')::date - t.target_date
        < 3 AS target_near_month_end
FROM windows AS w
CROSS JOIN LATERAL (
    SELECT w.date + CASE extract(isodow FROM w.date) WHEN 5 THEN 3 WHEN 6 THEN 2 ELSE 1 END
        AS target_date
) AS t
LEFT JOIN plan_versions AS p
    ON p.plan_id = w.plan_id AND w.date >= p.valid_from AND w.date < p.valid_to
LEFT JOIN regimes AS r ON r.date = w.date
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN p.daily_loss_limit_pct > 0
             THEN CASE WHEN p.daily_drawdown_by_balance_equity = 1
                       THEN greatest(w.balance, w.equity) ELSE w.balance END
                  * (1 - p.daily_loss_limit_pct / 100) END AS daily_loss_floor,
        CASE WHEN p.make_drawdown_static = 1 THEN w.starting_balance ELSE w.high_water_mark END
            * (1 - p.max_trailing_drawdown_pct / 100) AS drawdown_floor,
        CASE WHEN p.profit_target_pct > 0
             THEN w.starting_balance * (1 + p.profit_target_pct / 100) END AS profit_target
) AS f
WHERE w.date >= %(start)s AND w.alive_at_cutoff

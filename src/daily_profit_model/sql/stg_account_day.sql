-- stg_account_day: one row per account and trading day, from the day it opened to the
-- day it left (breach, pass, expiry), densified: a day without a metrics row or a
-- trade is a row with zero activity and the state carried from the last known day.
-- Everything on a row is known at the end of that day (its cutoff).
--
-- Parameters: start, end (the days to build), timezone (the trading-day timezone),
-- ewm_halflife_short and ewm_halflife_long (trading days), bucket and buckets (the
-- accounts whose hashed id falls in bucket of buckets; 0 of 1 is every account).
-- Accounts whose life overlaps [start, end] carry their state forward from their stored
-- row of the trading day before start (stg_account_day_seed): balance, high-water mark,
-- counts, streaks, lifetime sums and EWMs continue from it, so cumulative columns are the
-- same whether a day is built alone or in a rebuild. An account with no stored row there
-- (a new or rebuilt table) is computed over its whole history up to end.
-- Positions open at a cutoff are rebuilt from dated facts (open_positions below): a
-- snapshot "as of now" never lends its P&L to a past day.
WITH calendar AS (
    SELECT day FROM trading_calendar WHERE day <= %(end)s
),
seed AS (
    SELECT s.*
    FROM (SELECT max(day) AS day FROM calendar WHERE day < %(start)s) AS previous
    CROSS JOIN LATERAL stg_account_day_seed(previous.day) AS s
),
exits AS (
    SELECT account_id, min(date) AS exit_day
    FROM raw_metrics_daily
    WHERE status <> 1 AND date <= %(end)s
    GROUP BY account_id
),
accounts AS (
    SELECT
        a.account_id, a.login, a.platform, a.broker, a.plan_id, a.type, a.phase,
        a.starting_balance,
        (a.created_date AT TIME ZONE %(timezone)s)::date AS created_day,
        e.exit_day,
        -- seeded accounts are computed from start; the others from their first day
        CASE WHEN sd.account_id IS NULL
            THEN (a.created_date AT TIME ZONE %(timezone)s)::date
            ELSE %(start)s::date
        END AS from_day,
        sd.seed_date, sd.trading_day_index AS seed_index, sd.balance AS seed_balance,
        sd.equity AS seed_equity, sd.approved_payouts_to_date AS seed_approved_payouts,
        sd.days_to_next_payout AS seed_days_to_next_payout,
        sd.high_water_mark AS seed_high_water_mark, sd.days_traded AS seed_days_traded,
        sd.trading_day_index - sd.trading_days_since_trade AS seed_last_traded_index,
        sd.trading_day_index - sd.winning_streak AS seed_last_non_win_index,
        sd.trading_day_index - sd.losing_streak AS seed_last_non_loss_index,
        sd.lifetime_net_profit AS seed_lifetime_net_profit,
        sd.lifetime_winning_days AS seed_lifetime_winning_days,
        sd.lifetime_losing_days AS seed_lifetime_losing_days,
        sd.lifetime_pnl_sq AS seed_lifetime_pnl_sq,
        sd.lifetime_traded_pnl AS seed_lifetime_traded_pnl,
        sd.lifetime_worst_day AS seed_lifetime_worst_day,
        sd.lifetime_best_day AS seed_lifetime_best_day,
        sd.lifetime_trades AS seed_lifetime_trades, sd.lifetime_lots AS seed_lifetime_lots,
        sd.ewm_pnl_short AS seed_ewm_short, sd.ewm_pnl_long AS seed_ewm_long,
        sd.net_profit AS seed_net_profit
    FROM raw_accounts AS a
    LEFT JOIN exits AS e USING (account_id)
    LEFT JOIN seed AS sd USING (account_id)
    WHERE (a.created_date AT TIME ZONE %(timezone)s)::date <= %(end)s
      AND (e.exit_day IS NULL OR e.exit_day >= %(start)s)
      -- one worker's share of the accounts in a parallel full build (all when 1), by
      -- the key trades are matched on, so that trades can be shared out the same way
      AND (%(buckets)s = 1
           OR (hashtext(concat_ws('|', a.login, a.platform, a.broker)) & 2147483647)
              %% %(buckets)s = %(bucket)s)
),
grid AS (
    SELECT acc.*, c.day
    FROM accounts AS acc
    CROSS JOIN LATERAL generate_series(
        acc.from_day, least(coalesce(acc.exit_day, %(end)s), %(end)s), interval '1 day'
    ) AS g (day_ts)
    JOIN calendar AS c ON c.day = g.day_ts::date
),
closed_trades AS (
    SELECT
        acc.account_id,
        t.trade_date AS day,
        t.std_symbol,
        t.lots,
        t.volume_usd,
        t.duration,
        t.profit + coalesce(t.commission, 0) + coalesce(t.swap, 0) + coalesce(t.fee, 0)
            AS net,
        coalesce(t.stop_loss, 0) <> 0 AS has_stop_loss,
        coalesce(t.take_profit, 0) <> 0 AS has_take_profit,
        extract(hour FROM t.open_time AT TIME ZONE %(timezone)s) AS open_hour,
        extract(isodow FROM t.open_time AT TIME ZONE %(timezone)s) >= 6 AS weekend,
        coalesce(sym.asset_class, 'other') AS asset_class
    FROM accounts AS acc
    JOIN raw_trades_closed AS t
        ON t.login = acc.login AND t.platform = acc.platform AND t.broker = acc.broker
    LEFT JOIN ref_symbol_asset_class AS sym ON sym.symbol = t.std_symbol
    WHERE t.trade_date >= acc.from_day AND t.trade_date <= %(end)s
      -- one bound for the planner: only the partitions some account still needs
      AND t.trade_date >= (SELECT min(from_day) FROM accounts)
      -- the same worker's share as in accounts, so a worker aggregates only its trades
      AND (%(buckets)s = 1
           OR (hashtext(concat_ws('|', t.login, t.platform, t.broker)) & 2147483647)
              %% %(buckets)s = %(bucket)s)
),
-- One pass over the trades: per account, day and symbol, every figure the day needs,
-- summed; the day's totals and its symbol concentration both roll these up. The
-- instrument's 90-day volatility (one per day and symbol) is read from the regime
-- document once per symbol-day, not once per trade.
symbol_days AS (
    SELECT
        agg.*,
        agg.volume
            * (r.document -> 'instruments' -> 'data' -> agg.std_symbol ->> 'volatility_90d')::float8
            AS vol_weighted_volume
    FROM (
        SELECT
            account_id, day, std_symbol,
            min(asset_class) AS asset_class,  -- one class per symbol
            count(*) AS trades,
            sum(lots) AS lots,
            sum(abs(volume_usd)) AS volume,
            sum(duration) AS duration_sum,
            count(duration) AS duration_count,
            count(*) FILTER (WHERE has_stop_loss) AS stop_loss_trades,
            count(*) FILTER (WHERE has_take_profit) AS take_profit_trades,
            count(*) FILTER (WHERE weekend) AS weekend_trades,
            count(*) FILTER (WHERE open_hour < 7) AS asia_trades,
            count(*) FILTER (WHERE open_hour >= 7 AND open_hour < 13) AS london_trades,
            count(*) FILTER (WHERE open_hour >= 13 AND open_hour < 21) AS new_york_trades,
            sum(net) AS net
        FROM closed_trades
        GROUP BY account_id, day, std_symbol
    ) AS agg
    LEFT JOIN raw_regimes_daily AS r ON r.date = agg.day
),
concentration AS (
    SELECT account_id, day,
        sum(volume * volume) / nullif(sum(volume) * sum(volume), 0) AS symbol_hhi,
        count(*) AS symbols_traded
    FROM symbol_days
    GROUP BY account_id, day
),
trade_days AS (
    SELECT
        account_id, day,
        sum(trades)::bigint AS trades,
        sum(lots) AS lots,
        sum(volume) AS volume_usd,
        sum(duration_sum) / nullif(sum(duration_count), 0)::float8 AS mean_holding_time,
        sum(stop_loss_trades)::float8 / sum(trades)::float8 AS stop_loss_share,
        sum(take_profit_trades)::float8 / sum(trades)::float8 AS take_profit_share,
        sum(weekend_trades)::bigint AS weekend_trades,
        sum(asia_trades)::bigint AS asia_trades,
        sum(london_trades)::bigint AS london_trades,
        sum(new_york_trades)::bigint AS new_york_trades,
        coalesce(sum(volume) FILTER (WHERE asset_class = 'fx'), 0) AS fx_volume,
        coalesce(sum(volume) FILTER (WHERE asset_class = 'metal'), 0) AS metal_volume,
        coalesce(sum(volume) FILTER (WHERE asset_class = 'index'), 0) AS index_volume,
        coalesce(sum(volume) FILTER (WHERE asset_class = 'energy'), 0) AS energy_volume,
        coalesce(sum(volume) FILTER (WHERE asset_class = 'crypto'), 0) AS crypto_volume,
        sum(vol_weighted_volume) / nullif(sum(volume), 0) AS traded_instrument_vol,
        sum(net) AS trades_net
    FROM symbol_days
    GROUP BY account_id, day
),
cutoffs AS (
    SELECT day, (day + 1)::timestamp AT TIME ZONE %(timezone)s AS cutoff_at
    FROM calendar
    WHERE day >= %(start)s
),
-- Positions open at a cutoff: closed trades that span it (opened before, closed after;
-- trade_date is the day a trade closed), and, for positions still open later, the
-- first open-positions snapshot taken at or after the cutoff: only positions opened
-- before it, and only their size (a later snapshot's P&L is not known at the cutoff;
-- the day's equity - balance is).
spanning AS (
    SELECT acc.account_id, g.day::date AS day, t.std_symbol, t.volume_usd, false AS from_snapshot
    FROM accounts AS acc
    JOIN raw_trades_closed AS t
        ON t.login = acc.login AND t.platform = acc.platform AND t.broker = acc.broker
    CROSS JOIN LATERAL generate_series(
        (t.open_time AT TIME ZONE %(timezone)s)::date,
        (t.close_time AT TIME ZONE %(timezone)s)::date - 1,
        interval '1 day'
    ) AS g (day)
    WHERE t.trade_date >= %(start)s
      AND (t.open_time AT TIME ZONE %(timezone)s)::date
          < (t.close_time AT TIME ZONE %(timezone)s)::date
      AND g.day::date BETWEEN %(start)s AND %(end)s
      AND (%(buckets)s = 1
           OR (hashtext(concat_ws('|', t.login, t.platform, t.broker)) & 2147483647)
              %% %(buckets)s = %(bucket)s)
),
first_snapshots AS (
    SELECT c.day, c.cutoff_at,
        (SELECT min(s.snapshot_at) FROM raw_open_positions AS s
         WHERE s.snapshot_at >= c.cutoff_at) AS snapshot_at
    FROM cutoffs AS c
),
still_open AS (
    SELECT acc.account_id, f.day, s.std_symbol, s.volume_usd, true AS from_snapshot
    FROM first_snapshots AS f
    JOIN raw_open_positions AS s
        ON s.snapshot_at = f.snapshot_at AND s.open_time < f.cutoff_at
    JOIN accounts AS acc
        ON s.login = acc.login AND s.platform = acc.platform AND s.broker = acc.broker
    WHERE NOT EXISTS (  -- closed since: counted among the spanning trades
        SELECT 1 FROM raw_trades_closed AS t
        WHERE t.login = s.login AND t.platform = s.platform AND t.broker = s.broker
          AND t.position = s.position AND t.trade_date >= f.day
    )
),
open_days AS (
    SELECT
        p.account_id,
        p.day,
        count(*) AS open_positions,
        sum(abs(p.volume_usd)) AS open_notional,
        coalesce(sum(abs(p.volume_usd)) FILTER (WHERE sym.asset_class = 'fx'), 0) AS open_fx_notional,
        coalesce(sum(abs(p.volume_usd)) FILTER (WHERE sym.asset_class = 'metal'), 0) AS open_metal_notional,
        coalesce(sum(abs(p.volume_usd)) FILTER (WHERE sym.asset_class = 'index'), 0) AS open_index_notional,
        coalesce(sum(abs(p.volume_usd)) FILTER (WHERE sym.asset_class = 'energy'), 0) AS open_energy_notional,
        coalesce(sum(abs(p.volume_usd)) FILTER (WHERE sym.asset_class = 'crypto'), 0) AS open_crypto_notional,
        bool_or(p.from_snapshot) AS from_snapshot
    FROM (SELECT * FROM spanning UNION ALL SELECT * FROM still_open) AS p
    LEFT JOIN ref_symbol_asset_class AS sym ON sym.symbol = p.std_symbol
    GROUP BY p.account_id, p.day
),
joined AS (
    SELECT
        g.*,
        m.status AS metrics_status,
        m.net_profit AS metrics_net_profit,
        m.current_balance,
        m.current_equity,
        m.todays_payouts,
        m.approved_payouts,
        m.days_to_next_payout,
        td.trades, td.lots, td.volume_usd, td.mean_holding_time, td.stop_loss_share,
        td.take_profit_share, td.weekend_trades, td.asia_trades, td.london_trades,
        td.new_york_trades, td.fx_volume, td.metal_volume, td.index_volume,
        td.energy_volume, td.crypto_volume, td.traded_instrument_vol,
        cc.symbol_hhi, cc.symbols_traded,
        od.open_positions, od.open_notional, od.open_fx_notional,
        od.open_metal_notional, od.open_index_notional, od.open_energy_notional,
        od.open_crypto_notional, od.from_snapshot,
        count(m.account_id) OVER by_day AS state_group
    FROM grid AS g
    LEFT JOIN raw_metrics_daily AS m
        ON m.account_id = g.account_id AND m.date = g.day
    LEFT JOIN trade_days AS td ON td.account_id = g.account_id AND td.day = g.day
    LEFT JOIN concentration AS cc ON cc.account_id = g.account_id AND cc.day = g.day
    LEFT JOIN open_days AS od ON od.account_id = g.account_id AND od.day = g.day
    WINDOW by_day AS (PARTITION BY g.account_id ORDER BY g.day)
),
carried AS (
    SELECT
        j.*,
        coalesce(j.metrics_net_profit, 0) AS net_profit,
        coalesce(j.trades, 0) > 0 AS traded,
        -- before the window's first metrics row (state group 0), a seeded account's
        -- state is its seed row's
        CASE WHEN j.state_group = 0 AND j.seed_date IS NOT NULL THEN j.seed_balance
            ELSE coalesce(first_value(j.current_balance) OVER last_known, j.starting_balance)
        END AS balance,
        CASE WHEN j.state_group = 0 AND j.seed_date IS NOT NULL THEN j.seed_equity
            ELSE coalesce(first_value(j.current_equity) OVER last_known, j.starting_balance)
        END AS equity,
        CASE WHEN j.state_group = 0 AND j.seed_date IS NOT NULL THEN j.seed_approved_payouts
            ELSE coalesce(first_value(j.approved_payouts) OVER last_known, 0)
        END AS approved_payouts_to_date,
        CASE WHEN j.state_group = 0 AND j.seed_date IS NOT NULL
            THEN j.seed_days_to_next_payout
            ELSE first_value(j.days_to_next_payout) OVER last_known
        END AS days_to_next_payout_known,
        CASE WHEN j.state_group = 0 AND j.seed_date IS NOT NULL THEN j.seed_date
            ELSE first_value(j.day) OVER last_known
        END AS last_known_day,
        coalesce(j.seed_index, 0) + row_number() OVER by_day AS trading_day_index
    FROM joined AS j
    WINDOW
        last_known AS (PARTITION BY j.account_id, j.state_group ORDER BY j.day),
        by_day AS (PARTITION BY j.account_id ORDER BY j.day)
),
cumulative AS (
    SELECT
        c.*,
        greatest(
            c.starting_balance, c.seed_high_water_mark, max(c.equity) OVER upto
        ) AS high_water_mark,
        coalesce(c.seed_days_traded, 0)
            + count(*) FILTER (WHERE c.traded) OVER upto AS days_traded,
        coalesce(
            max(c.trading_day_index) FILTER (WHERE c.traded) OVER upto,
            c.seed_last_traded_index
        ) AS last_traded_index,
        coalesce(
            max(c.trading_day_index) FILTER (WHERE NOT c.net_profit > 0) OVER upto,
            c.seed_last_non_win_index
        ) AS last_non_win_index,
        coalesce(
            max(c.trading_day_index) FILTER (WHERE NOT c.net_profit < 0) OVER upto,
            c.seed_last_non_loss_index
        ) AS last_non_loss_index,
        coalesce(c.seed_lifetime_net_profit, 0)
            + sum(c.net_profit) OVER upto AS lifetime_net_profit,
        coalesce(c.seed_lifetime_winning_days, 0)
            + count(*) FILTER (WHERE c.net_profit > 0) OVER upto AS lifetime_winning_days,
        coalesce(c.seed_lifetime_losing_days, 0)
            + count(*) FILTER (WHERE c.net_profit < 0) OVER upto AS lifetime_losing_days,
        -- NULL until the first traded day, as a sum over no row is
        CASE WHEN c.seed_lifetime_pnl_sq IS NULL
            THEN sum(c.net_profit * c.net_profit) FILTER (WHERE c.traded) OVER upto
            ELSE c.seed_lifetime_pnl_sq
                + coalesce(sum(c.net_profit * c.net_profit) FILTER (WHERE c.traded) OVER upto, 0)
        END AS lifetime_pnl_sq,
        CASE WHEN c.seed_lifetime_traded_pnl IS NULL
            THEN sum(c.net_profit) FILTER (WHERE c.traded) OVER upto
            ELSE c.seed_lifetime_traded_pnl
                + coalesce(sum(c.net_profit) FILTER (WHERE c.traded) OVER upto, 0)
        END AS lifetime_traded_pnl,
        least(c.seed_lifetime_worst_day, min(c.net_profit) OVER upto) AS lifetime_worst_day,
        greatest(c.seed_lifetime_best_day, max(c.net_profit) OVER upto) AS lifetime_best_day,
        coalesce(c.seed_lifetime_trades, 0)
            + coalesce(sum(c.trades) OVER upto, 0) AS lifetime_trades,
        coalesce(c.seed_lifetime_lots, 0)
            + coalesce(sum(c.lots) OVER upto, 0) AS lifetime_lots,
        -- exponentially weighted mean of daily P&L: weights exp(k * ln 2 / halflife) on
        -- the account's k-th day, so the ratio of two running sums is the EWM at any day.
        -- A seeded account's sums over days 1..n are the seed's EWM times the closed form
        -- of the weights' geometric sum, sum_{k=1..n} r^k = r (r^n - 1) / (r - 1).
        (coalesce(c.seed_ewm_short, 0) * ewm_weights(c.seed_index, %(ewm_halflife_short)s)
            + sum(c.net_profit * exp(c.trading_day_index * ln(2) / %(ewm_halflife_short)s))
                OVER upto)
            / (ewm_weights(c.seed_index, %(ewm_halflife_short)s)
                + sum(exp(c.trading_day_index * ln(2) / %(ewm_halflife_short)s)) OVER upto)
            AS ewm_pnl_short,
        (coalesce(c.seed_ewm_long, 0) * ewm_weights(c.seed_index, %(ewm_halflife_long)s)
            + sum(c.net_profit * exp(c.trading_day_index * ln(2) / %(ewm_halflife_long)s))
                OVER upto)
            / (ewm_weights(c.seed_index, %(ewm_halflife_long)s)
                + sum(exp(c.trading_day_index * ln(2) / %(ewm_halflife_long)s)) OVER upto)
            AS ewm_pnl_long,
        coalesce(lag(c.net_profit) OVER by_day, c.seed_net_profit) AS previous_net_profit,
        coalesce(lag(c.day) OVER by_day, c.seed_date) AS previous_day
    FROM carried AS c
    WINDOW
        upto AS (PARTITION BY c.account_id ORDER BY c.day ROWS UNBOUNDED PRECEDING),
        by_day AS (PARTITION BY c.account_id ORDER BY c.day)
)
SELECT
    account_id, day AS date, login, platform, broker, plan_id, type, phase,
    starting_balance, created_day,
    coalesce(metrics_status, 1)::smallint AS status,
    coalesce(metrics_status, 1) = 1 AS alive_at_cutoff,
    trading_day_index::integer,
    traded,
    net_profit,
    coalesce(trades, 0)::integer AS trades,
    coalesce(lots, 0) AS lots,
    coalesce(volume_usd, 0) AS volume_usd,
    mean_holding_time, stop_loss_share, take_profit_share,
    coalesce(weekend_trades, 0)::integer AS weekend_trades,
    coalesce(asia_trades, 0)::integer AS asia_trades,
    coalesce(london_trades, 0)::integer AS london_trades,
    coalesce(new_york_trades, 0)::integer AS new_york_trades,
    coalesce(fx_volume, 0) AS fx_volume,
    coalesce(metal_volume, 0) AS metal_volume,
    coalesce(index_volume, 0) AS index_volume,
    coalesce(energy_volume, 0) AS energy_volume,
    coalesce(crypto_volume, 0) AS crypto_volume,
    traded_instrument_vol,
    symbol_hhi,
    coalesce(symbols_traded, 0)::integer AS symbols_traded,
    coalesce(open_positions, 0)::integer AS open_positions,
    coalesce(open_notional, 0) AS open_notional,
    equity - balance AS unrealised_pnl,
    -- where the open positions come from: 0 none, 1 closed trades only, 2 also a
    -- snapshot taken after the cutoff (positions still open then)
    (CASE WHEN open_positions IS NULL THEN 0 WHEN from_snapshot THEN 2 ELSE 1 END)::smallint
        AS exposure_source,
    coalesce(open_fx_notional, 0) AS open_fx_notional,
    coalesce(open_metal_notional, 0) AS open_metal_notional,
    coalesce(open_index_notional, 0) AS open_index_notional,
    coalesce(open_energy_notional, 0) AS open_energy_notional,
    coalesce(open_crypto_notional, 0) AS open_crypto_notional,
    balance, equity, high_water_mark,
    coalesce(todays_payouts, 0) AS todays_payouts,
    approved_payouts_to_date,
    greatest(days_to_next_payout_known - (day - last_known_day), 0)::integer
        AS days_to_next_payout,
    days_traded::integer,
    (trading_day_index - coalesce(last_traded_index, 0))::integer AS trading_days_since_trade,
    (trading_day_index - coalesce(last_non_win_index, 0))::integer AS winning_streak,
    (trading_day_index - coalesce(last_non_loss_index, 0))::integer AS losing_streak,
    lifetime_net_profit, lifetime_winning_days::integer, lifetime_losing_days::integer,
    lifetime_pnl_sq, lifetime_traded_pnl, lifetime_worst_day, lifetime_best_day,
    lifetime_trades::integer, lifetime_lots, ewm_pnl_short, ewm_pnl_long,
    coalesce(previous_net_profit, 0) AS previous_net_profit,
    (day - coalesce(previous_day, day))::integer AS calendar_gap_days
FROM cumulative
WHERE day >= %(start)s

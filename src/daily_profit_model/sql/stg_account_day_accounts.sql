-- The accounts a build of stg_account_day over [start, end] computes, and the day each
-- is computed from (from_day): the CTEs stg_account_day.sql.j2 and
-- stg_account_day_reads.sql.j2 share (included after WITH). See stg_account_day.sql.j2.
calendar AS (
    SELECT day FROM trading_calendar WHERE day <= %(end)s
),
seed AS (
    SELECT s.*
    FROM (SELECT max(day) AS day FROM calendar WHERE day < %(start)s) AS previous
    CROSS JOIN LATERAL stg_account_day_seed(previous.day) AS s
),
-- each account's first non-active day: the hot months' rows, and what each cold month
-- left behind (raw_metrics_daily_cold_exits, migration 0012), so that no build has to
-- load every cold month back for it
exits AS (
    SELECT account_id, min(exit_day) AS exit_day
    FROM (
        SELECT account_id, date AS exit_day
        FROM raw_metrics_daily
        WHERE status <> 1 AND date <= %(end)s
        UNION ALL
        SELECT account_id, exit_day
        FROM raw_metrics_daily_cold_exits
        WHERE exit_day <= %(end)s
    ) AS known
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
)

-- target_account_day: for every account alive at a cutoff, its netProfit on the next
-- trading day: 0 when it does not trade, the realised loss when it breaches that day.
-- The target day is the next day of the trading calendar; until that day has been
-- ingested the target is unknown (NULL), never 0.
--
-- Parameters: start, end (the cutoffs to build); bucket of buckets (see
-- feature_account_day.sql.j2).
WITH calendar AS (
    SELECT day, lead(day) OVER (ORDER BY day) AS next_day
    FROM trading_calendar
    WHERE day >= %(start)s
)
SELECT
    s.account_id,
    s.date AS cutoff_date,
    c.next_day AS target_date,
    CASE WHEN c.next_day IS NOT NULL THEN coalesce(m.net_profit, 0) END AS target_net_profit,
    m.status AS target_day_status
FROM stg_account_day AS s
JOIN calendar AS c ON c.day = s.date
LEFT JOIN raw_metrics_daily AS m
    ON m.account_id = s.account_id AND m.date = c.next_day
   AND m.date > %(start)s  -- (a bound the planner can prune by: a short build reads its days)
WHERE s.date >= %(start)s AND s.date <= %(end)s AND s.alive_at_cutoff
  AND (%(buckets)s = 1 OR (hashtext(s.account_id) & 2147483647) %% %(buckets)s = %(bucket)s)

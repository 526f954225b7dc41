-- prediction_outcomes: every stored forecast whose target day has happened, with the
-- actual netProfit of that day (from target_account_day).
--
-- Parameters: start, end (target days to build).
SELECT
    p.account_id,
    p.target_date,
    p.model_version,
    p.cutoff_date,
    p.role,
    p.served,
    p.phase,
    p.forecast,
    p.mean,
    p.lower_90,
    p.upper_90,
    t.target_net_profit AS actual
FROM predictions AS p
JOIN target_account_day AS t
    ON t.account_id = p.account_id AND t.cutoff_date = p.cutoff_date
WHERE p.target_date >= %(start)s AND p.target_date <= %(end)s
  AND t.target_net_profit IS NOT NULL

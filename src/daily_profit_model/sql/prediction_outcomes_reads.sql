-- The first cutoff of target_account_day that a build of prediction_outcomes over the
-- target days [start, end] reads: the build borrows the targets' cold months from there
-- (cold_inputs).
SELECT least(%(start)s::date, min(cutoff_date)) AS first_day
FROM predictions
WHERE target_date >= %(start)s AND target_date <= %(end)s

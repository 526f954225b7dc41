-- model_input: the feature rows whose target is known, with the target: what a model
-- learns from. Exported to parquet by ParquetExportDataset (streamed, never held whole
-- in memory). Parameters: none.
SELECT f.*, t.target_net_profit
FROM feature_account_day AS f
JOIN target_account_day AS t USING (account_id, cutoff_date)
WHERE t.target_net_profit IS NOT NULL
ORDER BY f.cutoff_date, f.account_id

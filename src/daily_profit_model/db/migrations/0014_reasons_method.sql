-- 0014: how each forecast's reasons were computed: 'treeshap' (exact Shapley values)
-- or 'path' (the decision path's contributions); NULL before this column existed.
ALTER TABLE predictions ADD COLUMN reasons_method text;

"""``preprocessing``: raw tables → densified account days (stg_account_day)."""

from daily_profit_model.pipelines.preprocessing.pipeline import create_pipeline

__all__ = ["create_pipeline"]

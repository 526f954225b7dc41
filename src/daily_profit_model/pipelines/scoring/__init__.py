"""``scoring``: the morning job's forecasts, firm view, evaluation and drift."""

from daily_profit_model.pipelines.scoring.pipeline import create_pipeline

__all__ = ["create_pipeline"]

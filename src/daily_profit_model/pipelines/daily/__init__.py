"""``daily``: the morning job (new data → features → forecasts, evaluation, drift)."""

from daily_profit_model.pipelines.daily.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""``features``: account days → point-in-time features, targets, model input."""

from daily_profit_model.pipelines.features.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""``training``: model input → tuned, calibrated, explained, registered ``daily_pnl``."""

from daily_profit_model.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]

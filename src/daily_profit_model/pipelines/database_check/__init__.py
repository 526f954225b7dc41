"""A check that the database answers, is migrated, and round-trips a row."""

from daily_profit_model.pipelines.database_check.pipeline import create_pipeline

__all__ = ["create_pipeline"]

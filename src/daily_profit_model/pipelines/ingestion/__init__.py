"""The ``ingestion`` pipeline: the API and plan exports into the raw tables."""

from daily_profit_model.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]

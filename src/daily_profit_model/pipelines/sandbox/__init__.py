"""The ``sandbox`` pipeline: generate the simulated firm that the API serves."""

from daily_profit_model.pipelines.sandbox.pipeline import create_pipeline

__all__ = ["create_pipeline"]

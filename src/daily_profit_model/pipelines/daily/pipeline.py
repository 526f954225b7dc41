"""``daily``: ingest what is new, update features, score with the champion and shadows.

``kedro run --pipelines daily --params run_date=2025-06-10`` scores the accounts alive at
the end of that day; with no ``run_date``, the newest complete day.
"""

from kedro.pipeline import Pipeline

from daily_profit_model.pipelines import (
    features,
    ingestion,
    preprocessing,
    sandbox,
    scoring,
)


def create_pipeline(**kwargs) -> Pipeline:
    """The morning job, as one pipeline of the other pipelines' nodes."""
    return (
        sandbox.create_pipeline()
        + ingestion.create_pipeline()
        + preprocessing.create_pipeline()
        + features.create_pipeline()
        + scoring.create_pipeline()
    )

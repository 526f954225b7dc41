"""``daily``: ingest what is new, update features, score with the champion and shadows.

``kedro run --pipelines daily --params run_date=2025-06-10`` scores the accounts alive at
the end of that day; with no ``run_date``, the newest complete day. Where the data
comes from is the catalog's ``api_source`` (the registry runs the sandbox first when
the environment's source is the sandbox).
"""

from kedro.pipeline import Pipeline

from daily_profit_model.pipelines import features, ingestion, preprocessing, scoring


def create_pipeline(**kwargs) -> Pipeline:
    """The morning job, as one pipeline of the other pipelines' nodes."""
    return (
        ingestion.create_pipeline()
        + preprocessing.create_pipeline()
        + features.create_pipeline()
        + scoring.create_pipeline()
    )

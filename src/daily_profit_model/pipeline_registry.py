"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    # Kedro loads only the requested pipelines' modules; __default__ needs them all.
    if {"training", "scoring", "database_check"} <= pipelines.keys():
        # Everything on a fresh machine: the world, its data, a model, a first morning.
        pipelines["__default__"] = (
            pipelines["database_check"] + pipelines["daily"] + pipelines["training"]
        )
    return pipelines

"""Project pipelines."""

from __future__ import annotations

import re
from importlib import resources

import click
from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from daily_profit_model.hooks import source_is_sandbox
from daily_profit_model.pipelines import sandbox

# Composed of the others (below), beside the pipelines found in pipelines/.
_COMPOSED = ("__default__",)


class UnknownPipelineError(click.ClickException):
    """``--pipelines`` names a pipeline the project does not have."""


def pipeline_names() -> list[str]:
    """Every pipeline a run may name: the packages in ``pipelines/`` and the composed."""
    found = [
        entry.name
        for entry in resources.files("daily_profit_model.pipelines").iterdir()
        if entry.is_dir() and (entry / "pipeline.py").is_file()
    ]
    return sorted(found) + list(_COMPOSED)


def _find_pipelines() -> dict[str, Pipeline]:
    try:
        return find_pipelines(raise_errors=True)
    except ImportError as exc:
        # Kedro imports only the requested pipelines' modules: a name that has none
        # surfaces as an import error of daily_profit_model.pipelines.<name>.
        match = re.search(r"'daily_profit_model\.pipelines\.(\w+)'", str(exc))
        if match and match.group(1) not in pipeline_names():
            raise UnknownPipelineError(
                f"No pipeline named {match.group(1)!r}. The pipelines are: "
                f"{', '.join(pipeline_names())}."
            ) from None
        raise


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Where the environment's data comes from is its catalog's ``api_source``: when that
    is the sandbox (``conf/base``), ``daily`` and ``__default__`` start by simulating
    (or reusing) its world; against the firm's API (``conf/prod``) no sandbox node is
    in any of them.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.

    Raises:
        UnknownPipelineError: A run asked for a pipeline that does not exist.
    """
    pipelines = _find_pipelines()
    source = sandbox.create_pipeline() if source_is_sandbox() else Pipeline([])
    if "daily" in pipelines:
        pipelines["daily"] = source + pipelines["daily"]
    # Kedro loads only the requested pipelines' modules; __default__ needs them all.
    if {"training", "scoring", "database_check", "daily"} <= pipelines.keys():
        # Everything on a fresh machine: the data, a model, a first morning.
        pipelines["__default__"] = (
            pipelines["database_check"] + pipelines["daily"] + pipelines["training"]
        )
    return pipelines

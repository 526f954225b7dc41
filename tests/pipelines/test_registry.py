"""The pipeline registry: a name that is not a pipeline gets the list of names."""

from __future__ import annotations

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from daily_profit_model.pipeline_registry import UnknownPipelineError, pipeline_names


def test_an_unknown_pipeline_is_named_with_the_valid_ones(project_copy, database):
    bootstrap_project(project_copy)
    with KedroSession.create(project_path=project_copy) as session:
        with pytest.raises(UnknownPipelineError) as info:
            session.run(pipeline_names=["nosuch"])
    message = info.value.message
    assert message.startswith("No pipeline named 'nosuch'. The pipelines are: ")
    for name in ("daily", "ingestion", "training", "__default__"):
        assert name in message
    assert set(pipeline_names()) >= {"sandbox", "scoring", "features"}

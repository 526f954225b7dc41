"""The run's cutoff: run_date is checked before anything runs, and against the
source's clock before anything is fetched."""

from __future__ import annotations

import datetime as dt

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.validation.exceptions import ParameterValidationError

from daily_profit_model.datasets.risk_api import SourceStatus
from daily_profit_model.params import IngestionParams, RunDate
from daily_profit_model.pipelines.ingestion.nodes import CutoffError, resolve_cutoff
from tests.params import params

MORNING = dt.datetime(2025, 7, 7, 5, tzinfo=dt.UTC)  # a Monday, 05:00 UTC
SOURCE = SourceStatus("sandbox world abc", MORNING)


def _ingestion() -> IngestionParams:
    return params(IngestionParams, "ingestion", history_start=dt.date(2025, 1, 6))


def test_without_run_date_the_cutoff_is_the_newest_complete_day():
    cutoff = resolve_cutoff(SOURCE, None, _ingestion())
    assert cutoff["cutoff"] == "2025-07-04" and not cutoff["requested"]


def test_a_run_date_past_the_source_names_its_newest_day():
    with pytest.raises(CutoffError) as info:
        resolve_cutoff(SOURCE, RunDate(dt.date(2099, 1, 1)), _ingestion())
    message = str(info.value)
    assert "run_date 2099-01-01 is not complete at the source yet" in message
    assert "the newest complete trading day it has is 2025-07-04" in message
    with pytest.raises(CutoffError, match="before ingestion.history_start"):
        resolve_cutoff(SOURCE, RunDate(dt.date(2024, 1, 2)), _ingestion())
    assert (
        resolve_cutoff(SOURCE, RunDate(dt.date(2025, 6, 10)), _ingestion())["cutoff"]
        == "2025-06-10"
    )


def test_a_run_date_that_is_not_a_date_fails_before_the_first_node(
    project_copy, database
):
    bootstrap_project(project_copy)
    with KedroSession.create(
        project_path=project_copy, runtime_params={"run_date": "notadate"}
    ) as session:
        with pytest.raises(ParameterValidationError, match="run_date"):
            session.run(pipeline_names=["daily"])
    # nothing ran: not even the world was generated
    assert not (project_copy / "data/01_raw/sandbox").exists()


def test_an_unparseable_date_parameter_is_named():
    from pydantic import ValidationError  # noqa: PLC0415

    with pytest.raises(ValidationError) as info:
        params(IngestionParams, "ingestion", start_date="2025-13-45")
    assert "start_date" in str(info.value)
    with pytest.raises(ValidationError, match="is after ingestion.end_date"):
        params(
            IngestionParams, "ingestion", start_date="2025-03-05", end_date="2025-03-01"
        )

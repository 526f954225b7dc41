"""Nodes of the database_check pipeline on small frames."""

import pandas as pd
import pytest

from daily_profit_model.pipelines.database_check.nodes import (
    DatabaseCheckError,
    make_heartbeat,
    verify_heartbeat,
)

STATUS = pd.DataFrame(
    {
        "server_version": ["18.4"],
        "database_name": ["postgres"],
        "schema_version": [1],
        "raw_tables": [7],
    }
)


def test_heartbeat_is_one_row_with_a_fresh_run_id():
    heartbeat, run_id = make_heartbeat(STATUS)
    assert heartbeat["run_id"].tolist() == [run_id]
    assert heartbeat["checked_at"].dt.tz is not None
    assert make_heartbeat(STATUS)[1] != run_id


def test_verify_reports_the_stored_heartbeat():
    heartbeat, run_id = make_heartbeat(STATUS)
    report = verify_heartbeat(heartbeat, run_id)
    assert report == {
        "run_id": run_id,
        "server_version": "18.4",
        "schema_version": 1,
        "raw_tables": 7,
        "heartbeats_stored": 1,
    }


def test_verify_fails_when_the_heartbeat_is_missing():
    heartbeat, _ = make_heartbeat(STATUS)
    with pytest.raises(DatabaseCheckError, match="0 copies came back"):
        verify_heartbeat(heartbeat, "another-run")

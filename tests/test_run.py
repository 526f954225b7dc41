"""End to end: the default `kedro run` against the embedded PostgreSQL."""

from __future__ import annotations

import json

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_PATH


def test_default_run_writes_and_reads_a_heartbeat(database):
    with database.connect() as conn:
        before = conn.execute(
            "SELECT count(*) FROM prop_trading_model.ops_heartbeat"
        ).fetchone()[0]
    bootstrap_project(PROJECT_PATH)
    small_world = {"sandbox": {"n_traders": 120, "n_days": 15, "oracle_scenarios": 20}}
    with KedroSession.create(
        project_path=PROJECT_PATH, runtime_params=small_world
    ) as session:
        session.run()
    report = json.loads(
        (PROJECT_PATH / "data/08_reporting/database_check_report.json").read_text()
    )
    assert report["server_version"].startswith("18")
    assert report["raw_tables"] == 8
    assert report["heartbeats_stored"] == before + 1

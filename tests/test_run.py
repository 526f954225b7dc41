"""End to end: the default `kedro run` against the embedded PostgreSQL."""

from __future__ import annotations

import json

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project


def test_default_run_builds_the_world_ingests_it_and_checks_the_database(
    database, project_copy
):
    with database.connect() as conn:
        before = conn.execute(
            "SELECT count(*) FROM prop_trading_model.ops_heartbeat"
        ).fetchone()[0]
    bootstrap_project(project_copy)
    small_world = {"sandbox": {"n_traders": 120, "n_days": 15, "oracle_scenarios": 20}}
    with KedroSession.create(
        project_path=project_copy, runtime_params=small_world
    ) as session:
        session.run()

    reports = project_copy / "data/08_reporting"
    report = json.loads((reports / "database_check_report.json").read_text())
    assert report["server_version"].startswith("18")
    assert report["raw_tables"] == 8
    assert report["heartbeats_stored"] == before + 1
    plans = json.loads((reports / "plan_ingestion_report.json").read_text())
    assert plans["stored"] == 72 and plans["quarantined"] == 0  # the sandbox's export
    with database.connect() as conn:
        trades = conn.execute(
            "SELECT count(*) FROM prop_trading_model.raw_trades_closed"
        ).fetchone()[0]
        incomplete = conn.execute(
            "SELECT count(*) FROM prop_trading_model.ingestion_state WHERE status <> 'complete'"
        ).fetchone()[0]
    assert trades > 0 and incomplete == 0

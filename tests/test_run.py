"""End to end: the default `kedro run` against the embedded PostgreSQL."""

from __future__ import annotations

import json

import mlflow


def test_default_run_from_world_to_registered_model(database, default_run):
    project = default_run["project"]
    before = default_run["heartbeats_before"]
    reports = project / "data/08_reporting"
    report = json.loads((reports / "database_check_report.json").read_text())
    assert report["server_version"].startswith("18")
    assert report["raw_tables"] == 10  # the API's 7, plans, removed rows, cold exits
    assert report["heartbeats_stored"] == before + 1
    plans = json.loads((reports / "plan_ingestion_report.json").read_text())
    assert plans["stored"] == 72 and plans["quarantined"] == 0  # the sandbox's export
    with database.connect() as conn:
        trades = conn.execute(
            "SELECT count(*) FROM prop_trading_model.raw_trades_closed"
        ).fetchone()[0]
        incomplete = conn.execute(
            "SELECT count(*) FROM prop_trading_model.ingestion_state WHERE status NOT IN ('complete', 'provisional')"
        ).fetchone()[0]
    assert trades > 0 and incomplete == 0

    # features → model input → training: metrics, plots and the registered model
    metrics = json.loads((reports / "training_metrics.json").read_text())
    assert {"test_mae", "test_coverage_90", "mae_ratio_to_oracle"} <= set(metrics)
    for plot in ("shap_summary", "predicted_vs_actual", "interval_calibration"):
        assert (reports / f"{plot}.png").stat().st_size > 10_000
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias("daily_pnl", "champion")
    run = client.get_run(version.run_id)
    assert run.data.metrics["test_mae"] == metrics["test_mae"]
    logged = {a.path for a in client.list_artifacts(version.run_id, "plots")}
    assert "plots/shap_summary.png" in logged

    # the first morning: every account alive at the newest cutoff is forecast
    with database.connect() as conn:
        conn.execute("SET search_path TO prop_trading_model")
        forecast, alive = conn.execute(
            "SELECT (SELECT count(*) FROM predictions WHERE cutoff_date = c.d AND served), "
            "(SELECT count(*) FROM feature_account_day WHERE cutoff_date = c.d) "
            "FROM (SELECT max(cutoff_date) AS d FROM feature_account_day) AS c"
        ).fetchone()
        firm = conn.execute(
            "SELECT count(*) FROM firm_forecasts WHERE book = 'firm'"
        ).fetchone()[0]
        run_rows = conn.execute(
            "SELECT node IS NULL, status, count(*), "
            "count(*) FILTER (WHERE 0 < rss_mib AND rss_mib <= peak_rss_mib), "
            "max(peak_rss_mib) FROM pipeline_run_log "
            "WHERE run_id = (SELECT run_id FROM pipeline_run_log WHERE node IS NULL "
            "ORDER BY started_at DESC LIMIT 1) GROUP BY 1, 2"
        ).fetchall()
    assert forecast == alive > 0 and firm == 1
    # the run log: the pipeline's row and one row per node, all successful, each
    # node with the process's memory then (a run is over 100 MiB of Python)
    counts = {(p, s): (n, m, peak) for p, s, n, m, peak in run_rows}
    assert counts[(True, "success")][0] == 1
    nodes, with_memory, peak = counts[(False, "success")]
    assert nodes == with_memory > 20 and peak > 100

    # the morning's report, self-contained
    (page,) = (reports / "daily_report").glob("daily_report_*.html")
    assert page.stat().st_size > 50_000 and "Daily P&amp;L forecast" in page.read_text()
    # one kedro-mlflow run per `kedro run`: the report sits beside the training's plots
    logged = {a.path for a in client.list_artifacts(version.run_id, "daily_report")}
    assert f"daily_report/{page.name}" in logged


def test_nodes_run_alone_in_fresh_processes(default_run):
    """`--to-nodes` and `--nodes` in new processes: the plan is a file, not state
    kept in a dataset object of the process that made it."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from tests.conftest import SMALL_RUN_PARAMS  # noqa: PLC0415

    project = default_run["project"]
    world = SMALL_RUN_PARAMS["sandbox"]
    params = ",".join(f"sandbox.{k}={v}" for k, v in world.items())
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    for args in (
        ["--to-nodes", "ingestion.plan_ingestion", "--params", params],
        ["--nodes", "ingestion.validate_api_days"],
        [
            "--from-nodes",
            "features.build_targets",
            "--to-nodes",
            "features.build_targets",
        ],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "kedro", "run", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, (args, (done.stdout + done.stderr)[-3000:])
    plan = json.loads(
        (project / "data/02_intermediate/ingestion_plan.json").read_text()
    )
    assert plan["requests"] and plan["run_id"]


def test_json_logs_are_one_object_per_line_with_the_run_id(database, default_run):
    """`KEDRO_LOGGING_CONFIG=conf/logging_json.yml`: every stdout line is one JSON
    object carrying the run id of the run's `pipeline_run_log` row; the known
    harmless third-party warnings are not printed."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "KEDRO_LOGGING_CONFIG": "conf/logging_json.yml",
        "KEDRO_LOGGING_MODULE_ALLOWLIST": "pythonjsonlogger.json",
    }
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--pipelines", "database_check"],
        cwd=default_run["project"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    with database.connect() as conn:
        (run_id,) = conn.execute(
            "SELECT run_id FROM prop_trading_model.pipeline_run_log "
            "WHERE node IS NULL AND pipeline = 'database_check' "
            "ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
    ran = [e for e in events if e["run_id"] is not None]
    assert ran and {e["run_id"] for e in ran} == {run_id}
    assert {"asctime", "levelname", "name", "message"} <= set(events[-1])
    assert any("Database check passed" in e["message"] for e in ran)
    assert "Add type hints" not in done.stdout + done.stderr

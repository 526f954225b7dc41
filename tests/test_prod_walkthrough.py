"""The production path as a firm runs it, nothing in-process: a vendor API over HTTP in
another process (``kedro sandbox serve``, with faults, whose clock moves on), a
PostgreSQL over TCP with a password, and ``kedro run --env prod`` in fresh processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import psycopg
import pytest

from daily_profit_model.db.embedded import stop_embedded_server
from tests.conftest import copy_project
from tests.pg_tcp import start_tcp_server, stop_tcp_server

PASSWORD = "pw-E2e-S3cret"
API_KEY = "vendor-K3y-e2e-0123"
WORLD = (
    "sandbox.n_traders=150,sandbox.n_days=32,sandbox.oracle_scenarios=0,"
    "sandbox.faults.seed=2,sandbox.faults.rates.server_error=0.05,"
    "sandbox.faults.rates.duplicates=0.05,sandbox.faults.rates.late_rows=0.1,"
    "sandbox.faults.rates.cut=0.03,sandbox.faults.rates.rate_limit_retry_after=0.03,"
    "sandbox.faults.retry_after_seconds=0"
)
FIRST_DAY, SERVED_FIRST, LAST_DAY = "2025-01-06", "2025-02-17", "2025-02-18"
SMALL_TRAINING = (
    f"ingestion.history_start={FIRST_DAY},training.windows.test_days=5,"
    "training.windows.calibration_days=5,training.windows.validation_days=4,"
    "training.tuning.n_trials=2"
)
TIMEOUT = httpx.Timeout(60.0)


def _env(**values: str) -> dict[str, str]:
    # nothing of the test process's own set-up: its database, its MLflow store
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DPM_") and k != "MLFLOW_TRACKING_URI"
    }
    return {**env, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200", **values}


def _kedro(project: Path, args: list[str], env: dict, timeout: int = 900):
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done, time.perf_counter() - started


class Vendor:
    """``kedro sandbox serve`` in its own process group, on its own port."""

    def __init__(self, project: Path, port: int, until: str | None) -> None:
        self.base_url = f"http://127.0.0.1:{port}/risk-analytics/tft/external/"
        args = ["sandbox", "serve", "--port", str(port), "--api-key", API_KEY]
        args += ["--params", WORLD] + (["--until", until] if until else [])
        self.log = project / f"vendor-{port}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kedro", *args],
            cwd=project,
            env=_env(),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if self.clock().status_code == 200:  # noqa: PLR2004
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"the vendor never answered: {self.log.read_text()[-3000:]}"
        )

    def clock(self, **move: object) -> httpx.Response:
        headers = {"apiKey": API_KEY}
        url = f"{self.base_url}_sandbox/clock"
        if move:
            return httpx.post(url, json=move, headers=headers, timeout=TIMEOUT)
        return httpx.get(url, headers=headers, timeout=TIMEOUT)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


def _port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def tcp_server(tmp_path_factory):
    server = start_tcp_server(tmp_path_factory.mktemp("prod_pg") / "data", PASSWORD)
    yield server
    stop_tcp_server(server)


def _query(server, statement: str, params=()) -> list[tuple]:
    with psycopg.connect(server.url) as conn:
        return conn.execute(statement, params).fetchall()


def _first_run(firm: Path, vendor: Vendor, server, env: dict) -> tuple[str, float]:
    """Backfill from history_start, train, score the newest day the vendor has."""
    done, seconds = _kedro(
        firm, ["run", "--env", "prod", "--params", SMALL_TRAINING], env
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert not (firm / "data/01_raw/sandbox").exists()  # no sandbox node ran
    assert not (firm / "data/postgres").exists()  # no embedded server either
    nodes = {
        n
        for (n,) in _query(
            server,
            "SELECT DISTINCT node FROM prop_trading_model.pipeline_run_log "
            "WHERE node IS NOT NULL",
        )
    }
    assert "ingestion.resolve_cutoff" in nodes and "scoring.score_accounts" in nodes
    assert not any(n.startswith("sandbox.") for n in nodes)
    (identity,) = _query(
        server, "SELECT identity FROM prop_trading_model.source_identity"
    )[0]
    assert identity == vendor.base_url
    scored = _query(
        server,
        "SELECT cutoff_date, count(*) FROM prop_trading_model.predictions "
        "GROUP BY 1 ORDER BY 1",
    )
    assert [str(d) for d, _ in scored] == [SERVED_FIRST] and scored[0][1] > 50
    newest = _query(server, "SELECT max(day) FROM prop_trading_model.ingestion_state")
    assert str(newest[0][0]) == SERVED_FIRST  # nothing beyond the source's clock
    return done.stdout + done.stderr, seconds


def _next_morning(firm: Path, vendor: Vendor, server, env: dict) -> tuple[str, float]:
    """A day passes at the vendor; the morning job ingests only what is new."""
    assert vendor.clock(advance_days=1).json()["Data"]["serve_until"] == LAST_DAY
    done, seconds = _kedro(firm, ["run", "--env", "prod", "--pipelines", "daily"], env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    plan = json.loads((firm / "data/02_intermediate/ingestion_plan.json").read_text())
    fetched = {r["day"] for r in plan["requests"] if r["stored_count"] is None}
    checked = {r["day"] for r in plan["requests"] if r["stored_count"] is not None}
    assert fetched == {LAST_DAY}  # the new day (and the snapshots, as of it)
    assert checked and max(checked) <= SERVED_FIRST  # the re-check window only
    assert len(checked) <= 2  # noqa: PLR2004 (recheck_days)
    scored = _query(
        server,
        "SELECT cutoff_date FROM prop_trading_model.predictions GROUP BY 1 ORDER BY 1",
    )
    assert [str(d) for (d,) in scored] == [SERVED_FIRST, LAST_DAY]
    return done.stdout + done.stderr, seconds


def _another_source_is_refused(firm: Path, first: Vendor, second: Vendor, env) -> str:
    other = {**env, "DPM_API_BASE_URL": second.base_url}
    done, _ = _kedro(firm, ["run", "--env", "prod", "--pipelines", "ingestion"], other)
    assert done.returncode != 0
    said = " ".join((done.stdout + done.stderr).split())
    assert f"This database was filled from {first.base_url}" in said
    assert f"this run's source is {second.base_url}" in said
    assert "kedro db reset" in said
    return done.stdout + done.stderr


def _prod_dag_has_no_sandbox(firm: Path, dags: Path, env: dict) -> None:
    args = ["airflow", "create", "--env", "prod", "--pipelines", "daily"]
    args += [
        "--group-by",
        "namespace",
        "--jinja-file",
        "deploy/airflow/dag_template.j2",
    ]
    done, _ = _kedro(firm, [*args, "--target-dir", str(dags)], env)
    assert done.returncode == 0, done.stderr[-3000:]
    (dag,) = dags.glob("*.py")
    text = dag.read_text()
    assert '_run_stage("ingestion")' in text and "sandbox" not in text


def _no_secret_anywhere(firm: Path, server, outputs: list[str]) -> None:
    """Neither the API key nor the database password: logs, files, run log, MLflow."""
    texts = [*outputs, (firm / "data/09_logs/info.log").read_text()]
    texts += [p.read_text() for p in (firm / "data").rglob("*.json")]
    texts += [
        _query(
            server,
            "SELECT coalesce(string_agg(t::text, ' '), '') "
            "FROM prop_trading_model.pipeline_run_log AS t",
        )[0][0]
    ]
    client = mlflow.MlflowClient(
        tracking_uri=f"postgresql+psycopg://risk:{PASSWORD}@127.0.0.1:{server.port}/mlflow"
    )
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], max_results=500
    )
    assert runs
    for run in runs:
        texts += [*run.data.params.values(), *run.data.tags.values()]
    for text in texts:
        assert API_KEY not in text and PASSWORD not in text


def test_a_firm_runs_the_morning_job_against_its_api_and_database(tcp_server, tmp_path):
    vendor_project = copy_project(tmp_path / "vendor")
    firm = copy_project(tmp_path / "firm")
    vendor = Vendor(vendor_project, _port(), until=SERVED_FIRST)
    # the firm's plan exports (the sandbox firm's, as the sandbox publishes them)
    shutil.copytree(
        vendor_project / "data/01_raw/sandbox/plans", firm / "data/01_raw/plans"
    )
    second = None
    env = _env(
        DPM_DATABASE_URL=tcp_server.url,
        DPM_API_BASE_URL=vendor.base_url,
        DPM_API_KEY=API_KEY,
    )
    try:
        first_out, first_s = _first_run(firm, vendor, tcp_server, env)
        daily_out, daily_s = _next_morning(firm, vendor, tcp_server, env)
        second = Vendor(vendor_project, _port(), until=None)
        refused = _another_source_is_refused(firm, vendor, second, env)
        _prod_dag_has_no_sandbox(firm, tmp_path / "dags", env)
    finally:
        vendor.stop()
        if second is not None:
            second.stop()
        # the vendor's embedded PostgreSQL outlives its process group: stop it too
        stop_embedded_server(vendor_project / "data/postgres")
    _no_secret_anywhere(firm, tcp_server, [first_out, daily_out, refused])
    # the walk-through's times, for the README
    print(json.dumps({"first_run_s": round(first_s, 1), "daily_s": round(daily_s, 1)}))  # noqa: T201

"""The run log: a run whose process was killed is closed as killed by the next start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil

from daily_profit_model.db import configure_database
from daily_profit_model.monitoring import close_dead_runs

_RUN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    project = Path(sys.argv[1])
    bootstrap_project(project)
    with KedroSession.create(
        project_path=project,
        runtime_params={"sandbox": {"n_traders": 20000, "n_days": 60, "seed": 99}},
    ) as session:
        session.run(pipeline_names=["sandbox"])
    """
)


def _rows(database, run_status: str) -> list[tuple]:
    with database.connect() as conn:
        return conn.execute(
            "SELECT run_id, pid, status, error FROM prop_trading_model.pipeline_run_log "
            "WHERE node IS NULL AND status = %s",
            [run_status],
        ).fetchall()


def test_a_killed_run_is_closed_as_killed_and_a_live_one_is_not(database, project_copy):
    configure_database(database)  # earlier modules may leave another schema configured
    before = {r[0] for r in _rows(database, "running")}
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN, str(project_copy)],
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    running = []
    while time.monotonic() < deadline and not running:
        running = [r for r in _rows(database, "running") if r[0] not in before]
        time.sleep(0.1)
    if not running:
        process.kill()
        _, err = process.communicate()
    assert running, (
        f"the run never opened its row: {err.decode()[-3000:] if not running else ''}"
    )
    (run_id, pid, _, _) = running[0]
    assert pid == process.pid
    # a live run (this test's own process) is not touched
    me = psutil.Process()
    with database.connect() as conn:
        conn.execute(
            "INSERT INTO prop_trading_model.pipeline_run_log (run_id, pipeline, status, "
            "started_at, host, pid, process_started_at) VALUES ('alive', 'test', "
            "'running', now(), %s, %s, to_timestamp(%s))",
            [socket.gethostname(), me.pid, me.create_time()],
        )
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert close_dead_runs() >= 1
    killed = {r[0]: r for r in _rows(database, "killed")}
    assert run_id in killed and f"pid {pid}" in killed[run_id][3]
    assert "alive" in {r[0] for r in _rows(database, "running")}
    with database.connect() as conn:
        conn.execute(
            "DELETE FROM prop_trading_model.pipeline_run_log WHERE run_id = 'alive'"
        )

"""SIGKILL at any moment, run again: the tables end as an uninterrupted run leaves them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import PROJECT_PATH
from tests.ingestion.helpers import checksums, run_ingestion, use_schema

_RUN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from daily_profit_model.sandbox.handle import SandboxWorld
    from tests.ingestion.helpers import run_ingestion, use_schema
    use_schema(Path(sys.argv[1]), sys.argv[2])
    run_ingestion(SandboxWorld(Path(sys.argv[3])))
    """
)


def _state_rows(database) -> int:
    with database.connect() as conn:
        return conn.execute(
            f"SELECT count(*) FROM {database.schema}.ingestion_state"
        ).fetchone()[0]


def _run_and_kill(pgdata, schema, world, database, kill_after_rows: int | None) -> bool:
    """Run ingestion in a subprocess; SIGKILL it once the state has that many rows."""
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN, str(pgdata), schema, str(world.folder)],
        cwd=PROJECT_PATH,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
    )
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if kill_after_rows is not None and _state_rows(database) >= kill_after_rows:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.05)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()[-2000:]
    return False


@pytest.mark.parametrize("kill_points", [(1, 35, 90)])
def test_killed_runs_resume_to_the_uninterrupted_state(
    kill_points, pgdata, small_world, database
):
    clean = use_schema(pgdata, "kill_reference")
    run_ingestion(small_world)
    expected = checksums(clean)

    killed = use_schema(pgdata, "kill_target")
    with killed.connect() as conn:  # migrate before the subprocesses poll the state
        conn.execute("SELECT 1")
    kills = 0
    for rows in kill_points:
        kills += _run_and_kill(pgdata, "kill_target", small_world, killed, rows)
    assert kills >= 2  # the run was really cut short more than once
    _run_and_kill(pgdata, "kill_target", small_world, killed, None)
    assert checksums(killed) == expected

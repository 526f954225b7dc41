"""The embedded server: shared by processes, and back after crashes and stale locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from daily_profit_model.db.embedded import (
    EmbeddedDatabaseError,
    embedded_server_status,
    ensure_embedded_server,
    stop_embedded_server,
)

_START_AND_PRINT_PID = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from daily_profit_model.db.embedded import ensure_embedded_server, embedded_server_status
    ensure_embedded_server(Path(sys.argv[1]))
    print(embedded_server_status(Path(sys.argv[1]))["pid"])
    """
)


def _start_in_subprocess(data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _START_AND_PRINT_PID, str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def server_dir(tmp_path: Path):
    data_dir = tmp_path / "pg"
    yield data_dir
    stop_embedded_server(data_dir)


def _query(uri: str, statement: str):
    with psycopg.connect(uri) as conn:
        return conn.execute(statement).fetchall()


def test_server_outlives_its_starter_and_is_reused(server_dir: Path):
    first = _start_in_subprocess(server_dir)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    pid_after_first = int(out.strip())
    assert psutil.pid_exists(pid_after_first)

    second = _start_in_subprocess(server_dir)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert int(out.strip()) == pid_after_first


def test_two_processes_starting_at_once_share_one_server(server_dir: Path):
    procs = [_start_in_subprocess(server_dir) for _ in range(2)]
    results = [p.communicate(timeout=90) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1] for r in results]
    pids = {int(out.strip()) for out, _ in results}
    assert len(pids) == 1
    postmasters = [
        p
        for p in psutil.process_iter(["name", "ppid"])
        if p.info["name"] == "postgres"
        and p.info["ppid"] == 1
        and Path(p.cwd()) == server_dir.resolve()
    ]
    assert len(postmasters) == 1


def test_sigkilled_server_recovers_with_its_data(server_dir: Path):
    uri = ensure_embedded_server(server_dir)
    with psycopg.connect(uri) as conn:
        conn.execute("CREATE TABLE survivor (x int)")
        conn.execute("INSERT INTO survivor VALUES (1), (2)")
    pid = embedded_server_status(server_dir)["pid"]
    postmaster = psutil.Process(pid)
    os.kill(pid, signal.SIGKILL)
    psutil.wait_procs([postmaster], timeout=10)
    assert (server_dir / "postmaster.pid").exists()  # left behind by the crash

    uri = ensure_embedded_server(server_dir)
    assert embedded_server_status(server_dir)["pid"] != pid
    assert _query(uri, "SELECT sum(x) FROM survivor") == [(3,)]


def test_stale_pid_file_naming_a_live_foreign_process_is_cleared(server_dir: Path):
    uri = ensure_embedded_server(server_dir)
    stop_embedded_server(server_dir)
    # A pid file that names a live process that is not this server's postmaster.
    (server_dir / "postmaster.pid").write_text(
        f"{os.getpid()}\n{server_dir}\n{int(time.time())}\n5432\n{server_dir}\n\n0 0\nready\n"
    )
    uri = ensure_embedded_server(server_dir)
    assert _query(uri, "SELECT 1") == [(1,)]


def test_lock_held_by_a_killed_process_does_not_block(server_dir: Path):
    lock_path = server_dir.parent / f".{server_dir.name}.start.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock;"
            f"l = FileLock({str(lock_path)!r}); l.acquire(); print('held', flush=True);"
            "time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert lock_path.exists()

    uri = ensure_embedded_server(server_dir)
    assert _query(uri, "SELECT 1") == [(1,)]


def test_stop_reports_whether_a_server_ran(server_dir: Path):
    ensure_embedded_server(server_dir)
    assert stop_embedded_server(server_dir) is True
    assert embedded_server_status(server_dir)["running"] is False
    assert stop_embedded_server(server_dir) is False


def test_a_folder_that_cannot_be_written_is_named_with_what_to_fix(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    # root writes anywhere chmod allows; an immutable folder stops root too
    lock, unlock = (
        (["chattr", "+i", str(locked)], ["chattr", "-i", str(locked)])
        if os.geteuid() == 0
        else (["chmod", "555", str(locked)], ["chmod", "755", str(locked)])
    )
    subprocess.run(lock, check=True)
    try:
        with pytest.raises(EmbeddedDatabaseError) as info:
            ensure_embedded_server(locked / "postgres")
    finally:
        subprocess.run(unlock, check=True)
    message = str(info.value)
    assert message.startswith(f"Permission denied on {locked}")
    assert "DPM_PGDATA" in message and "Do not move the data directory away" in message

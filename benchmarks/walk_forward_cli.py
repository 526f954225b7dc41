"""What the walk-forward benchmarks share (``firm_backtest.py``, ``phase_shrinkage.py``):
the walk's arguments, the logging and the commit the figures come from."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def walk_forward_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the walk's arguments: cutoffs scored, refit interval, seed days."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cutoffs", type=int, default=260)
    parser.add_argument("--refit-every", type=int, default=20)
    parser.add_argument("--seed-days", type=int, default=40)
    return parser


def start() -> None:
    """No telemetry; INFO logs with their time and logger."""
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def head_commit() -> str:
    """The project's short commit (empty outside a git checkout)."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()

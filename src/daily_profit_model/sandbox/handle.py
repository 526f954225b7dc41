"""Sandbox worlds on disk: how a generated world is written, found and served.

A world is a folder named by its config's fingerprint, holding one folder of parquet
parts per table (``accounts``, ``trades_closed``, ..., ``truth_oracle``) and
``world.json``, written last: a folder without it is an interrupted generation. The
root folder holds every world generated there and ``current.json``, the world the
sandbox serves now and how its server behaves (faults).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from daily_profit_model.sandbox.faults import FaultSettings
from daily_profit_model.sandbox.server import SandboxApp

BASE_PATH = "/risk-analytics/tft/external/"
SUMMARY = "world.json"
CURRENT = "current.json"


@dataclass
class WorldPart:
    """One chunk of a world being generated.

    Attributes:
        fingerprint: The world's config fingerprint (its folder's name).
        chunk: 0 for the first chunk (which starts the folder over), then 1, 2, ...
        tables: Rows to append, per table.
        summary: Set on the last chunk: the world is complete once it is written.
    """

    fingerprint: str
    chunk: int
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, Any] | None = None


@dataclass(frozen=True)
class Publication:
    """Which world the sandbox serves, and with which faults."""

    fingerprint: str
    faults: dict[str, Any]


def write_part(folder: Path, part: WorldPart) -> None:
    """Append ``part``'s tables to the world in ``folder`` (started over at chunk 0)."""
    if part.chunk == 0:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in part.tables.items():
        if frame.empty:
            continue
        target = folder / table
        target.mkdir(exist_ok=True)
        pq.write_table(
            pa.Table.from_pandas(frame, preserve_index=False),
            target / f"part-{part.chunk:05d}.parquet",
        )
    if part.summary is not None:
        temporary = folder / f"{SUMMARY}.tmp"
        temporary.write_text(json.dumps(part.summary, indent=2))
        temporary.replace(folder / SUMMARY)


def generated_worlds(root: Path) -> list[str]:
    """Fingerprints of the complete worlds under ``root``."""
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{SUMMARY}"))


def publish(root: Path, publication: Publication) -> None:
    """Make ``publication`` the world the sandbox serves."""
    root.mkdir(parents=True, exist_ok=True)
    temporary = root / f"{CURRENT}.tmp"
    temporary.write_text(
        json.dumps(
            {"fingerprint": publication.fingerprint, "faults": publication.faults}
        )
    )
    temporary.replace(root / CURRENT)


def published(root: Path) -> tuple[SandboxWorld, FaultSettings] | None:
    """The world the sandbox serves and its faults (None: nothing published)."""
    marker = root / CURRENT
    if not marker.exists():
        return None
    current = json.loads(marker.read_text())
    return SandboxWorld(root / current["fingerprint"]), FaultSettings(
        **current["faults"]
    )


@dataclass(frozen=True)
class SandboxWorld:
    """A world folder: its summary, its API and its ground truth."""

    folder: Path

    @property
    def summary(self) -> dict:
        """Config, date range and row counts written by the builder."""
        return json.loads((self.folder / SUMMARY).read_text())

    @property
    def identity(self) -> str:
        """What a database filled from this world records as its source."""
        return f"sandbox world {self.folder.name}"

    def app(
        self,
        api_key: str,
        faults: FaultSettings | None = None,
        serve_until: str | None = None,
    ) -> SandboxApp:
        """The WSGI application serving this world (up to ``serve_until``)."""
        return SandboxApp(self.folder, api_key, faults, serve_until)

    def client(
        self, api_key: str, faults: FaultSettings | None = None, timeout: float = 10.0
    ) -> httpx.Client:
        """An httpx client talking to this world in-process (no port)."""
        return httpx.Client(
            transport=httpx.WSGITransport(app=self.app(api_key, faults)),
            base_url=f"http://sandbox{BASE_PATH}",
            timeout=timeout,
        )

    def truth(self, name: str) -> pd.DataFrame:
        """A ground-truth table (``oracle``, ``traders``, ``accounts``): scoring only."""
        return pd.read_parquet(self.folder / f"truth_{name}")

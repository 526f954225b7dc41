"""``SandboxWorld``: a generated world on disk, and what can be done with it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd

from daily_profit_model.sandbox.faults import FaultSettings
from daily_profit_model.sandbox.server import SandboxApp

BASE_PATH = "/risk-analytics/tft/external/"


@dataclass(frozen=True)
class SandboxWorld:
    """A world folder: its summary, its API and its ground truth."""

    folder: Path

    @property
    def summary(self) -> dict:
        """Config, date range and row counts written by the builder."""
        return json.loads((self.folder / "world.json").read_text())

    def app(self, api_key: str, faults: FaultSettings | None = None) -> SandboxApp:
        """The WSGI application serving this world."""
        return SandboxApp(self.folder, api_key, faults)

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
        path = self.folder / f"truth_{name}"
        if not path.exists():
            path = self.folder / f"truth_{name}.parquet"
        return pd.read_parquet(path)

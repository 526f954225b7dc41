"""``SandboxWorldDataset``: where sandbox worlds are generated and found again."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from daily_profit_model.sandbox.config import WorldConfig
from daily_profit_model.sandbox.handle import SandboxWorld
from daily_profit_model.sandbox.plans import PLAN_SAMPLE, plan_export_text
from daily_profit_model.sandbox.world import WorldBuilder

logger = logging.getLogger(__name__)


class SandboxWorldDataset(AbstractDataset[WorldConfig, SandboxWorld]):
    """Saving a :class:`WorldConfig` generates that world under ``path/<fingerprint>``.

    A world already generated for the same config is reused, so a second ``kedro run``
    does not simulate again; another seed or size is another folder. A folder left
    incomplete by an interrupted run has no ``world.json`` and is generated anew.
    Loading returns the world of the last saved config.

    Args:
        path: The folder that holds one sub-folder per world.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata
        self._current: Path | None = None

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def save(self, data: WorldConfig) -> None:
        """Generate the world of ``data`` unless it exists already."""
        folder = self._path / data.fingerprint()
        summary = folder / "world.json"
        if (
            summary.exists()
            and json.loads(summary.read_text())["fingerprint"] == data.fingerprint()
        ):
            logger.info("Reusing sandbox world %s in %s", data.fingerprint(), folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
            WorldBuilder(data, folder).build()
        self._path.mkdir(parents=True, exist_ok=True)
        self._export_plans(str(data.start_date))
        (self._path / "current").write_text(data.fingerprint())
        self._current = folder

    def _export_plans(self, first_day: str) -> None:
        """Put the firm's plan export where ingestion reads plan exports by default."""
        folder = self._path / "plans"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PLAN_SAMPLE).write_text(plan_export_text(first_day), encoding="utf-8")

    def load(self) -> SandboxWorld:
        """The world of the last saved config."""
        if self._current is None:
            marker = self._path / "current"
            if not marker.exists():
                raise DatasetError(
                    f"No sandbox world in {self._path}: run `uv run kedro run --pipelines sandbox`."
                )
            self._current = self._path / marker.read_text().strip()
        return SandboxWorld(self._current)

    def _exists(self) -> bool:
        return (self._path / "current").exists()

"""The sandbox's worlds on disk, as datasets: the generated ones, and the one served.

- ``GeneratedWorldsDataset`` loads which worlds are complete under a folder (so the
  node that simulates can reuse one instead of simulating it again);
- ``SandboxWorldDataset`` saves what that node yields, part by part (a world's tables,
  chunk by chunk, then which world the sandbox serves and its faults), and loads the
  served world's :class:`~daily_profit_model.datasets.risk_api.SourceStatus`, the same
  thing the firm's API gives in ``conf/prod``: in ``conf/base`` the sandbox is the
  source, and this entry is ``api_source``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from daily_profit_model.datasets.risk_api import (
    SourceStatus,
    resolve_source,
    source_status,
)
from daily_profit_model.sandbox.handle import (
    Publication,
    WorldPart,
    generated_worlds,
    publish,
    published,
    write_part,
)
from daily_profit_model.sandbox.plans import PLAN_SAMPLE, plan_export_text

logger = logging.getLogger(__name__)


class GeneratedWorldsDataset(AbstractDataset[None, list[str]]):
    """The fingerprints of the complete worlds in ``path``."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def load(self) -> list[str]:
        """Every complete world (a folder with its ``world.json``)."""
        return generated_worlds(self._path)

    def save(self, data: None) -> None:
        raise DatasetError("GeneratedWorldsDataset is read-only")


class SandboxWorldDataset(AbstractDataset[WorldPart | Publication, SourceStatus]):
    """Worlds under ``path/<fingerprint>`` and the one the sandbox serves.

    Saving a :class:`WorldPart` appends it to its world's folder (the first part
    starts the folder over, the last writes ``world.json``); saving a
    :class:`Publication` makes that world the served one and puts its plan export
    where ingestion reads plan exports by default. Loading asks the served world's API
    (in-process) for its status.

    Args:
        path: The folder that holds one sub-folder per world.
        client: Client settings for the status request.
    """

    def __init__(
        self,
        path: str,
        client: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = Path(path)
        self._client_args = dict(client or {})
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def save(self, data: WorldPart | Publication) -> None:
        """Write a part of a world, or publish a world."""
        if isinstance(data, WorldPart):
            write_part(self._path / data.fingerprint, data)
            return
        world = self._path / data.fingerprint
        summary = world / "world.json"
        if not summary.exists():
            raise DatasetError(f"Cannot publish {world}: the world is not complete")
        publish(self._path, data)
        import json  # noqa: PLC0415

        first_day = json.loads(summary.read_text())["first_day"]
        plans = self._path / "plans"
        plans.mkdir(parents=True, exist_ok=True)
        (plans / PLAN_SAMPLE).write_text(plan_export_text(first_day), encoding="utf-8")
        logger.info("Sandbox serves world %s", data.fingerprint)

    def load(self) -> SourceStatus:
        """The served world's identity and clock, asked through its API."""
        return source_status(
            resolve_source({"kind": "sandbox", "path": str(self._path)}, None),
            self._client_args,
        )

    def _exists(self) -> bool:
        return published(self._path) is not None

"""``PlanExportsDataset``: a folder of plan CSV exports, read as text, file by file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from daily_profit_model.plan_format import PlanExport, read_plan_export


class PlanExportsDataset(AbstractDataset[None, dict[str, PlanExport]]):
    """Every ``*.csv`` in ``path`` as a :class:`PlanExport` (text), keyed by file name.

    Cells stay text (empty cells are empty strings), so nothing is lost or guessed
    while reading; the ingestion node types them. Quoted fields may span lines. A file
    that cannot be read (empty, not UTF-8, not CSV) is returned with its problem, so
    the node can report it by name while the other files load.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def load(self) -> dict[str, PlanExport]:
        """Read every export in the folder (sorted by name).

        Raises:
            DatasetError: The folder does not exist.
        """
        if not self._path.is_dir():
            raise DatasetError(
                f"Plan exports folder {self._path} does not exist: pass another one with "
                f'--params "ingestion.plans_dir=PATH".'
            )
        return {
            file.name: read_plan_export(file)
            for file in sorted(self._path.glob("*.csv"))
        }

    def save(self, data: None) -> None:
        """Refuse: exports come from the firm."""
        raise DatasetError("PlanExportsDataset is read-only.")

    def _exists(self) -> bool:
        return self._path.is_dir()

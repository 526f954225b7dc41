"""``PlanExportsDataset``: a folder of plan CSV exports, read as text, file by file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from daily_profit_model.sandbox.plans import read_plan_export


class PlanExportsDataset(AbstractDataset[None, dict[str, pd.DataFrame]]):
    """Every ``*.csv`` in ``path`` as a frame of strings, keyed by file name.

    Cells stay text (empty cells are empty strings), so nothing is lost or guessed
    while reading; the ingestion node types them. Quoted fields may span lines.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def load(self) -> dict[str, pd.DataFrame]:
        """Read every export in the folder (sorted by name)."""
        if not self._path.is_dir():
            raise DatasetError(
                f"Plan exports folder {self._path} does not exist: pass another one with "
                f'--params "ingestion.plans_dir=PATH".'
            )
        exports = {}
        for file in sorted(self._path.glob("*.csv")):
            try:
                exports[file.name] = read_plan_export(file)
            except (pd.errors.ParserError, UnicodeDecodeError) as exc:
                raise DatasetError(
                    f"Plan export {file} cannot be read as CSV: {exc}"
                ) from exc
        return exports

    def save(self, data: None) -> None:
        """Refuse: exports come from the firm."""
        raise DatasetError("PlanExportsDataset is read-only.")

    def _exists(self) -> bool:
        return self._path.is_dir()

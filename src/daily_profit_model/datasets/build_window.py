"""``BuildWindowDataset``: the cutoff days a run builds, as a JSON file.

The window is planned by one node and read by the builds after it; kept in a file, any
of those builds can run alone in a later process (``kedro run --from-nodes``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from daily_profit_model.features.build_window_plan import BuildWindow


class BuildWindowDataset(AbstractDataset[BuildWindow, BuildWindow]):
    """A :class:`BuildWindow` in a JSON file.

    Args:
        filepath: Where the window is kept.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def save(self, data: BuildWindow) -> None:
        """Write the window."""
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        self._filepath.write_text(json.dumps(data.to_json(), indent=1))

    def load(self) -> BuildWindow:
        """The window the last planning node wrote.

        Raises:
            DatasetError: No window was planned yet.
        """
        if not self._filepath.exists():
            raise DatasetError(
                f"No build window at {self._filepath}: run the node "
                "preprocessing.plan_feature_window first."
            )
        return BuildWindow.from_json(json.loads(self._filepath.read_text()))

    def _exists(self) -> bool:
        return self._filepath.exists()

"""``HtmlReportDataset``: one HTML file per day in a folder, also logged to MLflow."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import HTMLPreview

logger = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9_.-]+\.html")


class HtmlReportDataset(AbstractDataset[dict[str, str], dict[str, str]]):
    """A folder of self-contained HTML pages, ``{file name: page}``.

    Saving writes each page (replacing a page of the same name) and, when an MLflow
    run is active (``kedro run`` with kedro-mlflow), logs it as an artifact under
    ``artifact_path``. Loading returns every page, newest name last. kedro-viz previews
    the newest page.

    Example::

        daily_report:
          type: daily_profit_model.datasets.html_report.HtmlReportDataset
          path: data/08_reporting/daily_report
          artifact_path: daily_report
    """

    def __init__(
        self,
        path: str,
        artifact_path: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Args:
        path: The folder of pages.
        artifact_path: The MLflow artifact folder; ``None`` to not log.
        metadata: Free-form metadata (kedro-viz layer).
        """
        self._path = Path(path)
        self._artifact_path = artifact_path
        self.metadata = metadata

    @property
    def folder(self) -> Path:
        """The folder the pages are written to."""
        return self._path

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "artifact_path": self._artifact_path}

    def _pages(self) -> list[Path]:
        return sorted(self._path.glob("*.html")) if self._path.is_dir() else []

    def load(self) -> dict[str, str]:
        """Every page in the folder, by file name."""
        return {page.name: page.read_text(encoding="utf-8") for page in self._pages()}

    def save(self, data: dict[str, str]) -> None:
        """Write the pages; log them to the active MLflow run.

        Raises:
            DatasetError: A name is not a plain ``*.html`` file name.
        """
        self._path.mkdir(parents=True, exist_ok=True)
        for name, page in data.items():
            if not _NAME.fullmatch(name):
                raise DatasetError(
                    f"Report name {name!r} is not a plain file name ending in .html"
                )
            target = self._path / name
            target.write_text(page, encoding="utf-8")
            logged = self._artifact_path is not None and mlflow.active_run()
            if logged:
                mlflow.log_artifact(str(target), artifact_path=self._artifact_path)
            logger.info(
                "Report %s: %d KiB%s",
                target,
                len(page.encode()) // 1024,
                f", logged to MLflow under {self._artifact_path}/" if logged else "",
            )

    def _exists(self) -> bool:
        return bool(self._pages())

    def preview(self) -> HTMLPreview:
        """The newest page, for kedro-viz."""
        pages = self._pages()
        return HTMLPreview(
            pages[-1].read_text(encoding="utf-8") if pages else "<p>No report yet.</p>"
        )

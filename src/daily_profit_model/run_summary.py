"""One closing line per ``kedro run``: what was loaded, the model trained and its test
figures, the day scored, and where the report is.

Collected from the outputs of the nodes that ran (nothing is re-read but the
ingestion's own counts, which are rows of ``ingestion_state``), so a run of one
pipeline says only what that pipeline did.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.framework.hooks import hook_impl
from psycopg import sql

from daily_profit_model.db import get_database

logger = logging.getLogger(__name__)


def _usd(value: Any) -> str:
    return f"{value:,.0f} USD"


def _loaded(run_id: str | None, plans: dict[str, Any] | None) -> str | None:
    parts = []
    if run_id is not None:
        database = get_database()
        with database.connect() as conn:
            days, stored, quarantined = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(sum(stored_count), 0), "
                    "coalesce(sum(quarantined_count), 0) FROM {} WHERE run_id = %s"
                ).format(sql.Identifier(database.schema, "ingestion_state")),
                [run_id],
            ).fetchone()
        parts.append(
            f"{days:,} API endpoint-days ({stored:,} rows stored, "
            f"{quarantined:,} quarantined)"
        )
    if plans is not None:
        parts.append(
            f"{plans.get('stored', 0):,} plan rows "
            f"({plans.get('quarantined', 0):,} quarantined)"
        )
    return "loaded " + " and ".join(parts) if parts else None


def _trained(metrics: dict[str, Any] | None, alias: str | None) -> str | None:
    if metrics is None:
        return None
    figures = [
        f"test MAE {metrics['test_mae']:.1f}",
        f"coverage {metrics['test_coverage_90']:.3f}",
    ]
    if "mae_ratio_to_oracle" in metrics:
        figures.append(f"MAE / oracle {metrics['mae_ratio_to_oracle']:.3f}")
    return f"trained daily_pnl ({alias or 'no alias'}): " + ", ".join(figures)


def _scored(predictions: pd.DataFrame | None, books: pd.DataFrame | None) -> str | None:
    if predictions is None or predictions.empty:
        return None
    served = (
        predictions[predictions["served"]] if "served" in predictions else predictions
    )
    day = pd.Timestamp(served["cutoff_date"].max()).date()
    text = f"scored {day}: {len(served):,} accounts"
    if books is not None and len(books):
        firm = books[(books["book"] == "firm") & (books["role"] == "champion")]
        if len(firm):
            row = firm.iloc[0]
            text += (
                f", firm expected {_usd(row['expected_total'])} "
                f"(90%: {_usd(row['lower_90'])} … {_usd(row['upper_90'])})"
            )
    return text


class RunSummaryHooks:
    """Log one summary line at the end of every successful ``kedro run``."""

    _WATCHED = (
        "ingestion_plan@json",
        "plan_ingestion_report",
        "training_metrics",
        "new_version_alias",
        "predictions",
        "firm_forecasts",
        "daily_report",
    )

    def __init__(self) -> None:
        self._outputs: dict[str, Any] = {}
        self._report_folder: str | None = None

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        """Remember where the report's pages go."""
        if "daily_report" in catalog:
            folder = getattr(catalog.get("daily_report"), "folder", None)
            self._report_folder = None if folder is None else str(folder)

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Start from nothing (a process may run several pipelines)."""
        self._outputs = {}

    @hook_impl
    def after_node_run(self, outputs: dict[str, Any]) -> None:
        """Keep the outputs the summary reads."""
        for name in self._WATCHED:
            if name in (outputs or {}):
                self._outputs[name] = outputs[name]

    def summary(self) -> str | None:
        """The line, or ``None`` when the run did none of the summarised steps."""
        out = self._outputs
        plan = out.get("ingestion_plan@json")
        parts = [
            _loaded(plan["run_id"] if plan else None, out.get("plan_ingestion_report")),
            _trained(out.get("training_metrics"), out.get("new_version_alias")),
            _scored(out.get("predictions"), out.get("firm_forecasts")),
        ]
        pages = out.get("daily_report")
        if pages and self._report_folder:
            parts.append(f"report {Path(self._report_folder) / next(iter(pages))}")
        said = [p for p in parts if p]
        return "Run summary: " + "; ".join(said) if said else None

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Log the summary line."""
        line = self.summary()
        if line:
            logger.info("%s", line)

"""Nodes of the ``ingestion`` pipeline."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd

from daily_profit_model.ingestion.batches import IngestionBatch, to_batch
from daily_profit_model.ingestion.plans import parse_plan_exports
from daily_profit_model.ingestion.requests import IngestionPlan, plan_requests
from daily_profit_model.params import IngestionParams, SandboxParams
from daily_profit_model.plan_format import PlanExport
from daily_profit_model.sandbox.handle import SandboxWorld

logger = logging.getLogger(__name__)


def plan_ingestion(
    ingestion_state: pd.DataFrame,
    sandbox_world: SandboxWorld,
    ingestion: IngestionParams,
    sandbox: SandboxParams,
) -> tuple[IngestionPlan, str]:
    """Decide what this run fetches, from the state table and the source's days.

    Args:
        ingestion_state: What earlier runs loaded.
        sandbox_world: The sandbox world (its calendar, and where it lives).
        ingestion: ``ingestion`` parameters (dates, endpoints, recheck_days).
        sandbox: ``sandbox`` parameters (its faults).

    Returns:
        The plan, and the run's id (which the plan-export load shares).
    """
    summary = sandbox_world.summary
    days = [d.date() for d in pd.bdate_range(summary["first_day"], summary["last_day"])]
    source = {
        "kind": "sandbox",
        "folder": str(sandbox_world.folder),
        "faults": sandbox.faults.model_dump(),
    }
    plan = plan_requests(ingestion_state, days, ingestion, source)
    fetch = sum(r.stored_count is None for r in plan.requests)
    logger.info(
        "Ingestion run %s: %d endpoint-days to fetch, %d to re-check",
        plan.run_id,
        fetch,
        len(plan) - fetch,
    )
    return plan, plan.run_id


def validate_api_days(
    api_days: Iterator, ingestion: IngestionParams
) -> Iterator[IngestionBatch]:
    """Validate each fetched endpoint-day; yields one batch per endpoint-day.

    Yields are saved one at a time, so every finished day is committed before the
    next one is fetched. Ends with one summary line per endpoint.

    Raises:
        TooManyRejectsError: A day has more invalid rows than ``max_reject_share``.
    """
    limit, min_rows = ingestion.max_reject_share, ingestion.reject_share_min_rows
    totals: dict[str, dict[str, int]] = {}
    for api_day in api_days:
        batch = to_batch(api_day, limit, min_rows)
        counts = totals.setdefault(
            batch.endpoint,
            dict.fromkeys(
                ("days", "received", "stored", "quarantined", "duplicates", "pages"), 0
            ),
        )
        counts["days"] += 1
        counts["received"] += batch.received
        counts["stored"] += batch.stored
        counts["quarantined"] += batch.quarantined
        counts["duplicates"] += batch.duplicates
        counts["pages"] += batch.pages
        yield batch
    for endpoint, c in totals.items():
        logger.info(
            "Ingested %s: %d days, received %d = stored %d + quarantined %d + duplicates %d, "
            "%d pages",
            endpoint,
            c["days"],
            c["received"],
            c["stored"],
            c["quarantined"],
            c["duplicates"],
            c["pages"],
        )


def ingest_plan_exports(
    plan_exports: dict[str, PlanExport], ingestion_run_id: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Type every plan export row for ``raw_plans``; quarantine what cannot be stored.

    Runs under the same run id as the API ingestion. A refused export is logged as an
    error with its name and reason; the others load.
    """
    plans, quarantine, report = parse_plan_exports(plan_exports, ingestion_run_id)
    for name, reason in report["refused"].items():
        logger.error("Plan export %s refused: %s", name, reason)
    logger.info(
        "Plan exports: %d files, %d rows in = %d stored + %d quarantined; oddities %s",
        len(report["files"]),
        report["rows_in"],
        report["stored"],
        report["quarantined"],
        report["oddities"],
    )
    return plans, quarantine, report

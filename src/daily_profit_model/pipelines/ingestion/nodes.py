"""Nodes of the ``ingestion`` pipeline."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from daily_profit_model.datasets.risk_api import ApiDay, SourceStatus
from daily_profit_model.ingestion.batches import IngestionBatch, to_batch
from daily_profit_model.ingestion.plans import parse_plan_exports
from daily_profit_model.ingestion.requests import plan_requests
from daily_profit_model.params import IngestionParams, RunDate, requested_day
from daily_profit_model.plan_format import PlanExport

logger = logging.getLogger(__name__)

# How often a long ingestion says how far it got.
_PROGRESS_EVERY_S = 15.0

_SATURDAY = 5


class CutoffError(ValueError):
    """``run_date`` names a day the source cannot have complete."""


class SourceMismatchError(RuntimeError):
    """The database was filled from another source than this run's."""


def last_complete_trading_day(now: dt.datetime, timezone: str) -> dt.date:
    """The newest weekday whose end (midnight in ``timezone``) is at or before ``now``."""
    day = now.astimezone(ZoneInfo(timezone)).date() - dt.timedelta(days=1)
    while day.weekday() >= _SATURDAY:
        day -= dt.timedelta(days=1)
    return day


def resolve_cutoff(
    source: SourceStatus, run_date: RunDate | None, ingestion: IngestionParams
) -> dict[str, Any]:
    """The run's cutoff: ``run_date``, or the last complete trading day of the
    source's clock in the trading timezone.

    Returns:
        ``{"cutoff", "newest_complete_day", "source_time", "requested"}`` (ISO text).

    Raises:
        CutoffError: ``run_date`` is after the newest complete day, or before
            ``ingestion.history_start``.
    """
    newest = last_complete_trading_day(source.server_time, ingestion.trading_timezone)
    requested = requested_day(run_date)
    if requested is not None and requested > newest:
        raise CutoffError(
            f"run_date {requested} is not complete at the source yet: the newest "
            f"complete trading day it has is {newest} (its clock says "
            f"{source.server_time:%Y-%m-%d %H:%M} UTC). Pass run_date={newest} or an "
            "earlier day, or leave run_date out for the newest."
        )
    if requested is not None and requested < ingestion.history_start:
        raise CutoffError(
            f"run_date {requested} is before ingestion.history_start "
            f"{ingestion.history_start}: nothing is fetched for it."
        )
    cutoff = requested or newest
    logger.info(
        "Cutoff %s (%s; the source's newest complete day is %s)",
        cutoff,
        "run_date" if requested else "the newest",
        newest,
    )
    return {
        "cutoff": cutoff.isoformat(),
        "newest_complete_day": newest.isoformat(),
        "source_time": source.server_time.isoformat(),
        "requested": requested is not None,
    }


def record_source(source: SourceStatus, recorded: pd.DataFrame) -> pd.DataFrame:
    """The source this database is filled from: this run's, if it has none yet.

    Raises:
        SourceMismatchError: The database was filled from another source.
    """
    if len(recorded) and recorded["identity"].iloc[0] != source.identity:
        raise SourceMismatchError(
            f"This database was filled from {recorded['identity'].iloc[0]} (since "
            f"{recorded['recorded_at'].iloc[0]:%Y-%m-%d}); this run's source is "
            f"{source.identity}. One database holds one source's data: point this run "
            "at another database (DPM_PGDATA for the embedded one, DPM_DATABASE_URL "
            "with --env prod), or start this one over with `uv run kedro db reset "
            "--yes` (it drops every table of the project's schema)."
        )
    if not len(recorded):
        logger.info("This database is now filled from %s", source.identity)
    return pd.DataFrame({"singleton": [True], "identity": [source.identity]})


def plan_ingestion(
    ingestion_state: pd.DataFrame,
    run_cutoff: dict[str, Any],
    source: pd.DataFrame,
    ingestion: IngestionParams,
) -> dict[str, Any]:
    """Decide what this run fetches, from the state table and the calendar.

    Args:
        ingestion_state: What earlier runs loaded.
        run_cutoff: The run's cutoff (:func:`resolve_cutoff`).
        source: The source of this database (checked by :func:`record_source`).
        ingestion: ``ingestion`` parameters (history start, dates, endpoints, horizon).

    Returns:
        The plan, as JSON (it is fetched by ``ingestion_plan@api``).
    """
    plan = plan_requests(
        ingestion_state,
        dt.date.fromisoformat(run_cutoff["cutoff"]),
        ingestion,
        str(source["identity"].iloc[0]),
    )
    fetch = sum(r.stored_count is None for r in plan.requests)
    logger.info(
        "Ingestion run %s up to %s: %d endpoint-days to fetch, %d to re-check",
        plan.run_id,
        plan.cutoff,
        fetch,
        len(plan) - fetch,
    )
    return plan.to_json()


def validate_api_days(
    api_days: Iterator[ApiDay], ingestion: IngestionParams
) -> Iterator[IngestionBatch]:
    """Validate each fetched endpoint-day; yields one batch per endpoint-day.

    Yields are saved one at a time, so every finished day is committed before the
    next one is fetched. Ends with one summary line per endpoint.

    Raises:
        TooManyRejectsError: A day has more invalid rows than ``max_reject_share``.
    """
    limit, min_rows = ingestion.max_reject_share, ingestion.reject_share_min_rows
    totals: dict[str, dict[str, int]] = {}
    started = last_said = time.perf_counter()
    days = rows = 0
    for api_day in api_days:
        batch = to_batch(api_day, limit, min_rows)
        days, rows = days + 1, rows + batch.received
        if time.perf_counter() - last_said >= _PROGRESS_EVERY_S:
            last_said = time.perf_counter()
            logger.info(
                "Ingesting: %d endpoint-days, %d rows so far (%.0f rows/s)",
                days,
                rows,
                rows / (last_said - started),
            )
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
    plan_exports: dict[str, PlanExport], ingestion_plan: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Type every plan export row for ``raw_plans``; quarantine what cannot be stored.

    Runs under the same run id as the API ingestion. A refused export is logged as an
    error with its name and reason; the others load.
    """
    run_id = ingestion_plan["run_id"]
    plans, quarantine, report = parse_plan_exports(plan_exports, run_id)
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

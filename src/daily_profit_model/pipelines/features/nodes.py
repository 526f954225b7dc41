"""Nodes of the ``features`` pipeline."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from daily_profit_model.datasets.sql_build import SqlBuild
from daily_profit_model.features.build_window_plan import BuildWindow

logger = logging.getLogger(__name__)

# Targets of cutoffs before the window become known when the window's days arrive.
_TARGET_LOOKBACK_DAYS = 7


class StaleInputError(RuntimeError):
    """A build's input table does not reach the days the build needs."""


def _require_coverage(stored: dict[str, Any], window: BuildWindow) -> None:
    last = stored.get("last")
    if last is None or pd.Timestamp(last).date() < window.end:
        raise StaleInputError(
            f"{stored.get('table')} reaches {last}, but cutoffs up to {window.end} "
            "are being built; run the preprocessing pipeline for those days first"
        )


def build_account_day_features(
    window: BuildWindow, staged: dict[str, Any], plans: pd.DataFrame
) -> SqlBuild:
    """Point-in-time features of every account alive at each cutoff of the window.

    Args:
        window: Cutoffs to build.
        staged: Coverage of ``stg_account_day`` (must reach ``window.end``).
        plans: The loaded plan versions (their rules become features).

    Raises:
        StaleInputError: The account days do not reach the window's end.
        ValueError: No plan is loaded, so rule distances cannot be computed.
    """
    _require_coverage(staged, window)
    if plans.empty:
        raise ValueError(
            "raw_plans is empty: features need the plans' rules; load plan exports "
            "with `kedro run --pipelines ingestion`"
        )
    return SqlBuild(
        window.start,
        window.end,
        first_day=window.first_day,
        stamp=window.covers_reloads,
    )


def build_targets(window: BuildWindow, staged: dict[str, Any]) -> SqlBuild:
    """Next-trading-day netProfit of every account alive at each cutoff.

    The window is widened by a week: the targets of the cutoffs just before it became
    known when its days were ingested.
    """
    _require_coverage(staged, window)
    widened = window.widened(_TARGET_LOOKBACK_DAYS)
    return SqlBuild(
        widened.start,
        widened.end,
        first_day=window.first_day,
        stamp=window.covers_reloads,
    )

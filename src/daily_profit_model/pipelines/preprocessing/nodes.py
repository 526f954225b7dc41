"""Nodes of the ``preprocessing`` pipeline."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pandas as pd

from daily_profit_model.datasets.sql_build import SqlBuild
from daily_profit_model.features.build_window_plan import BuildWindow, plan_window
from daily_profit_model.params import FeatureParams

logger = logging.getLogger(__name__)


def classify_symbols(features: FeatureParams) -> pd.DataFrame:
    """The symbol → asset class reference table, from ``features.asset_classes``
    (each symbol under one class: the parameters' model checks it)."""
    rows = [
        (symbol, asset_class)
        for asset_class, symbols in features.asset_classes.items()
        for symbol in symbols
    ]
    return pd.DataFrame(rows, columns=["symbol", "asset_class"])


def plan_feature_window(
    ingestion_state: pd.DataFrame,
    staged: dict[str, Any],
    run_cutoff: dict[str, Any],
    features: FeatureParams,
) -> BuildWindow:
    """The cutoff days this run builds (see :func:`plan_window`), never past the
    run's cutoff.

    Args:
        ingestion_state: The state table after ingestion.
        staged: Coverage of ``stg_account_day`` before this run.
        run_cutoff: The run's cutoff (ingestion's ``resolve_cutoff``).
        features: ``features`` parameters.
    """
    last = staged.get("last")
    window = plan_window(
        ingestion_state,
        None if last is None else pd.Timestamp(last).date(),
        features,
        staged.get("built_at"),
        dt.date.fromisoformat(run_cutoff["cutoff"]),
    )
    if window.reloaded_from is not None:
        logger.info(
            "Features: days already built were loaded again since the last build "
            "(%s), the earliest %s: building from there",
            staged.get("built_at"),
            window.reloaded_from,
        )
    logger.info(
        "Features: building cutoffs %s..%s (data from %s)",
        window.start,
        window.end,
        window.first_day,
    )
    return window


def stage_account_days(
    window: BuildWindow, symbol_classes: pd.DataFrame, features: FeatureParams
) -> SqlBuild:
    """The densified account days of the window, built in PostgreSQL.

    Args:
        window: Cutoffs to build.
        symbol_classes: The asset-class reference (stored before the build reads it).
        features: ``features`` parameters (timezone, EWM half-lives).
    """
    logger.info("Staging account days with %d symbols classified", len(symbol_classes))
    return SqlBuild(
        window.start,
        window.end,
        {
            "timezone": features.timezone,
            "ewm_halflife_short": features.ewm_halflife_short,
            "ewm_halflife_long": features.ewm_halflife_long,
        },
        first_day=window.first_day,
        stamp=window.covers_reloads,
    )

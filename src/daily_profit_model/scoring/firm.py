"""The firm's total forecast P&L for a day, with an interval that respects correlation.

Accounts move together (one market, one regime), so the firm's total is far more
uncertain than a sum of independent account intervals suggests. The interval here is
built from the firm's own history of *daily total errors*: on each past day with
actuals, ``(actual total − forecast total) / (sum of account interval widths)``. Those
daily ratios carry the day's cross-account correlation as it happened; their 5% and 95%
quantiles, times today's summed widths, bound today's total; their mean corrects the
sum of account forecasts (conditional medians) into the expected total.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class NoErrorHistoryError(ValueError):
    """No past day with actuals to calibrate the firm-level interval on."""


def daily_total_errors(outcomes: pd.DataFrame) -> pd.Series:
    """Per past day: total error over the summed account interval widths.

    Args:
        outcomes: One model's account rows with ``cutoff_date``, ``actual``,
            ``forecast``, ``lower_90`` and ``upper_90``.
    """
    days = (
        outcomes.assign(width=outcomes["upper_90"] - outcomes["lower_90"])
        .groupby("cutoff_date")
        .agg(
            actual=("actual", "sum"),
            forecast=("forecast", "sum"),
            width=("width", "sum"),
        )
    )
    return (days["actual"] - days["forecast"]) / days["width"]


def firm_interval(
    today: pd.DataFrame, errors: pd.Series, coverage: float = 0.9
) -> dict[str, float]:
    """Total forecast and its interval for today's accounts (one model).

    Args:
        today: Today's rows with ``forecast``, ``lower_90``, ``upper_90``.
        errors: :func:`daily_total_errors` of past days.
        coverage: Interval coverage.

    Raises:
        NoErrorHistoryError: ``errors`` is empty.
    """
    if errors.empty:
        raise NoErrorHistoryError(
            "No past day with actuals: train a model first (its test window seeds "
            "the firm-level interval)"
        )
    tail = (1 - coverage) / 2
    total = float(today["forecast"].sum())
    width = float((today["upper_90"] - today["lower_90"]).sum())
    low, high = np.quantile(errors.to_numpy(), [tail, 1 - tail])
    # what independent accounts would give: half-widths add in quadrature
    half = (today["upper_90"] - today["lower_90"]) / 2
    independent = float(np.sqrt((half**2).sum()))
    return {
        "accounts": len(today),
        "forecast_total": total,
        "expected_total": total + float(errors.mean()) * width,
        "lower_90": total + low * width,
        "upper_90": total + high * width,
        "independent_lower_90": total - independent,
        "independent_upper_90": total + independent,
        "error_days": len(errors),
    }

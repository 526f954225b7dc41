"""Forecasts against actuals: daily metrics per model, and Diebold–Mariano comparisons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from daily_profit_model.training.metrics import forecast_metrics


def daily_metrics(outcomes: pd.DataFrame) -> pd.DataFrame:
    """MAE, pinball losses and coverage per target day and model version.

    Args:
        outcomes: Forecast rows with actuals: ``target_date``, ``model_version``,
            ``role``, ``actual``, ``forecast``, ``lower_90``, ``upper_90``.
    """
    rows = []
    for (day, version), group in outcomes.groupby(["target_date", "model_version"]):
        figures = forecast_metrics(
            group.rename(columns={"lower_90": "lower", "upper_90": "upper"})
        )
        rows.append(
            {
                "target_date": day,
                "model_version": int(version),
                "role": group["role"].iloc[0],
                "accounts": len(group),
                **{
                    k: figures[k]
                    for k in ("mae", "pinball_05", "pinball_95", "coverage_90")
                },
            }
        )
    return pd.DataFrame(rows)


def diebold_mariano(
    loss_difference: np.ndarray, horizon: int = 1
) -> tuple[float, float]:
    """DM statistic and two-sided p-value for mean(loss_difference) = 0.

    ``loss_difference`` is one value per day (champion loss − challenger loss, e.g.
    the day's MAE difference). The long-run variance uses ``horizon − 1`` autocovariance
    lags (none for one-day-ahead forecasts), with the Harvey–Leybourne–Newbold small
    sample correction; the p-value is from Student's t with n − 1 degrees of freedom.

    Returns:
        (statistic, p_value); NaN when fewer than three days or no variation.
    """
    d = np.asarray(loss_difference, dtype=float)
    n = len(d)
    if n < 3:  # noqa: PLR2004
        return float("nan"), float("nan")
    centred = d - d.mean()
    variance = np.dot(centred, centred) / n
    for lag in range(1, horizon):
        variance += 2 * np.dot(centred[lag:], centred[:-lag]) / n
    if variance <= 0:
        return float("nan"), float("nan")
    statistic = d.mean() / math.sqrt(variance / n)
    correction = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic *= correction
    from scipy import stats  # noqa: PLC0415

    p_value = 2 * stats.t.sf(abs(statistic), df=n - 1)
    return float(statistic), float(p_value)

"""Is the champion still the model it was when it was trained? Is either book's band
still holding?

Each morning, once actuals exist:

- account level: the champion's rolling realised coverage of the 90% interval and its
  5% / 95% pinball losses over the last ``window_days`` days with actuals, against its
  own test-window figures. Days are the units (accounts of one day move together): a
  one-sided t-test of the daily values against the test figure, and a practical margin,
  so that neither a lucky week nor a trivial change with many days raises an alarm;
- book level: the firm's and the funded book's exceptions over the last
  ``book_days`` days, per tail, and their Basel traffic light;
- the day's severe drift.

Each check is a row (``performance_checks``); a failing one is an alert.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from daily_profit_model.params import DegradationParams
from daily_profit_model.scoring.backtest import RED, TAIL, backtest_history


def _one_sided(values: np.ndarray, reference: float, worse: str) -> float:
    """p-value of "the daily values are no worse than ``reference``"."""
    n = len(values)
    if n < 3 or np.std(values, ddof=1) == 0:  # noqa: PLR2004
        return float("nan")
    t = (values.mean() - reference) / (np.std(values, ddof=1) / np.sqrt(n))
    return float(stats.t.cdf(t, n - 1) if worse == "lower" else stats.t.sf(t, n - 1))


def account_checks(
    daily: pd.DataFrame, reference: dict[str, float], settings: DegradationParams
) -> list[dict]:
    """Rolling coverage and pinball losses of one model against its test window.

    Args:
        daily: The model's ``prediction_evaluation`` rows (one per target day).
        reference: Its training run's metrics (``test_coverage_90``,
            ``test_pinball_05``, ``test_pinball_95``).
        settings: Windows and thresholds.
    """
    recent = daily.sort_values("target_date").tail(settings.window_days)
    rows = []
    for metric, worse, margin in (
        ("coverage_90", "lower", settings.coverage_margin),
        ("pinball_05", "higher", settings.pinball_margin),
        ("pinball_95", "higher", settings.pinball_margin),
    ):
        expected = reference.get(f"test_{metric}")
        if expected is None or recent.empty:
            continue
        values = recent[metric].to_numpy(float)
        p_value = _one_sided(values, expected, worse)
        value = float(values.mean())
        beyond = (
            value < expected - margin
            if worse == "lower"
            else value > expected * (1 + margin)
        )
        failing = bool(beyond and p_value < settings.significance)
        rows.append(
            {
                "check_name": f"rolling_{metric}",
                "value": value,
                "reference": float(expected),
                "p_value": p_value,
                "days": len(values),
                "status": "degraded" if failing else "ok",
                "alert": failing,
                "detail": f"{metric} {value:.4g} over {len(values)} days against "
                f"{expected:.4g} in the test window (p {p_value:.3g})",
            }
        )
    return rows


def book_checks(history: pd.DataFrame, settings: DegradationParams) -> list[dict]:
    """Exceptions per tail and the traffic light of each book's recent days.

    Args:
        history: The champion's book forecasts with ``actual_total`` (``book``,
            ``target_date``, ``lower_90``, ``upper_90``).
        settings: ``book_days``.
    """
    rows = []
    for book, days in history.dropna(subset=["actual_total"]).groupby("book"):
        recent = days.sort_values("target_date").tail(settings.book_days)
        figures = backtest_history(recent)
        n = int(figures["cutoffs"])
        for tail in ("low", "high"):
            exceptions = int(figures[f"exceptions_{tail}"])
            light = str(figures[f"traffic_light_{tail}"])
            rows.append(
                {
                    "check_name": f"{book}_exceptions_{tail}",
                    "value": float(exceptions),
                    "reference": TAIL * n,
                    "p_value": figures[f"kupiec_p_{tail}"],
                    "days": n,
                    "status": light,
                    "alert": light == RED,
                    "detail": f"{book} book: {exceptions} {tail} exceptions in {n} "
                    f"days (a correct band: {TAIL * n:.1f}); traffic light {light}",
                }
            )
    return rows


def drift_check(drift_metrics: dict[str, float]) -> list[dict]:
    """The day's severe drift (counted by the drift node)."""
    if not drift_metrics:
        return []
    severe = float(drift_metrics.get("drift_features_severe", 0))
    return [
        {
            "check_name": "severe_drift",
            "value": severe,
            "reference": 0.0,
            "p_value": float("nan"),
            "days": 1,
            "status": "severe" if severe else "ok",
            "alert": bool(severe),
            "detail": f"{severe:.0f} features with severe drift",
        }
    ]

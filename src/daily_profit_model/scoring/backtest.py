"""Backtests of a book's tails, as a VaR model is backtested.

Each tail of the 90% interval is a 5% quantile forecast: its exceptions (actual below
the 5% bound, above the 95% bound) should come 5% of the days (Kupiec's
proportion-of-failures test) and not in clusters (Christoffersen's independence test).
The traffic light is Basel's rule on the binomial distribution of exceptions: green
while their count is within the 95% quantile of what a correct model gives, yellow up to
99.99%, red beyond (for a 1% VaR over 250 days: green 0-4, yellow 5-9, red 10+).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

TAIL = 0.05
GREEN, YELLOW, RED = "green", "yellow", "red"


def _log_likelihood(count: float, total: float, p: float) -> float:
    """``count log p + (total - count) log (1 - p)``, with ``0 log 0 = 0``."""
    out = 0.0
    if count > 0:
        out += count * math.log(p)
    if total - count > 0:
        out += (total - count) * math.log(1 - p)
    return out


def kupiec_p_value(exceptions: np.ndarray, p: float = TAIL) -> float:
    """Kupiec's proportion-of-failures test: the p-value of ``rate = p``."""
    hits = np.asarray(exceptions, dtype=bool)
    n, x = len(hits), int(hits.sum())
    if n == 0:
        return float("nan")
    statistic = -2 * (_log_likelihood(x, n, p) - _log_likelihood(x, n, x / n))
    return float(stats.chi2.sf(max(statistic, 0.0), df=1))


def christoffersen_p_value(exceptions: np.ndarray) -> float:
    """Christoffersen's independence test: the p-value of "an exception today does not
    change tomorrow's chance of one" (a first-order Markov chain against i.i.d.)."""
    hits = np.asarray(exceptions, dtype=int)
    if len(hits) < 2:  # noqa: PLR2004
        return float("nan")
    before, after = hits[:-1], hits[1:]
    n00 = int(np.sum((before == 0) & (after == 0)))
    n01 = int(np.sum((before == 0) & (after == 1)))
    n10 = int(np.sum((before == 1) & (after == 0)))
    n11 = int(np.sum((before == 1) & (after == 1)))
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    restricted = (
        _log_likelihood(n01 + n11, n00 + n01 + n10 + n11, pi) if 0 < pi < 1 else 0.0
    )
    free = (_log_likelihood(n01, n00 + n01, pi0) if 0 < pi0 < 1 else 0.0) + (
        _log_likelihood(n11, n10 + n11, pi1) if 0 < pi1 < 1 else 0.0
    )
    statistic = -2 * (restricted - free)
    return float(stats.chi2.sf(max(statistic, 0.0), df=1))


def traffic_light(exceptions: int, days: int, p: float = TAIL) -> str:
    """Basel's zone for ``exceptions`` in ``days`` of a ``p`` tail."""
    if days == 0:
        return GREEN
    # Basel: a count x is green while P(X <= x) < 95% for a correct model, yellow
    # while it is < 99.99%, red beyond.
    at_or_below = float(stats.binom.cdf(exceptions, days, p))
    if at_or_below < 0.95:  # noqa: PLR2004
        return GREEN
    if at_or_below < 0.9999:  # noqa: PLR2004
        return YELLOW
    return RED


def worst_light(*lights: str) -> str:
    """The most severe of several zones."""
    order = (GREEN, YELLOW, RED)
    return max(lights, key=order.index)


def pinball(actual: np.ndarray, quantile: np.ndarray, alpha: float) -> float:
    """Mean pinball loss of ``quantile`` as the ``alpha`` quantile."""
    diff = np.asarray(actual, dtype=float) - np.asarray(quantile, dtype=float)
    return float(np.mean(np.maximum(alpha * diff, (alpha - 1) * diff)))


def backtest_book(frame: pd.DataFrame) -> dict[str, float | int | str]:
    """Exceptions, coverage, tests, traffic light and pinball of one book's forecasts.

    Args:
        frame: One row per cutoff, in time order: ``actual``, ``q05``, ``q95``, and
            optionally the oracle's ``oracle_q05`` and ``oracle_q95``.

    Returns:
        ``cutoffs``, ``coverage_90``, ``exceptions_low``/``_high``,
        ``kupiec_p_low``/``_high``, ``christoffersen_p_low``/``_high``,
        ``traffic_light`` (the worse tail's), ``pinball_05``/``_95`` and, with the
        oracle, ``pinball_ratio_to_oracle`` (both tails' losses over the oracle's).
    """
    actual = frame["actual"].to_numpy(float)
    low = actual < frame["q05"].to_numpy(float)
    high = actual > frame["q95"].to_numpy(float)
    n = len(frame)
    figures: dict[str, float | int | str] = {
        "cutoffs": n,
        "coverage_90": float(1 - (low | high).mean()) if n else float("nan"),
        "exceptions_low": int(low.sum()),
        "exceptions_high": int(high.sum()),
        "kupiec_p_low": kupiec_p_value(low),
        "kupiec_p_high": kupiec_p_value(high),
        "christoffersen_p_low": christoffersen_p_value(low),
        "christoffersen_p_high": christoffersen_p_value(high),
        "traffic_light_low": traffic_light(int(low.sum()), n),
        "traffic_light_high": traffic_light(int(high.sum()), n),
        "pinball_05": pinball(actual, frame["q05"], TAIL) if n else float("nan"),
        "pinball_95": pinball(actual, frame["q95"], 1 - TAIL) if n else float("nan"),
    }
    figures["traffic_light"] = worst_light(
        str(figures["traffic_light_low"]), str(figures["traffic_light_high"])
    )
    if {"oracle_q05", "oracle_q95"} <= set(frame.columns):
        figures |= _against_oracle(frame.dropna(subset=["oracle_q05", "oracle_q95"]))
    return figures


def backtest_history(history: pd.DataFrame) -> dict[str, float | int | str]:
    """``backtest_book`` of one book's stored forecasts (``firm_history`` rows: the
    days with an ``actual_total``, against their ``lower_90`` and ``upper_90``)."""
    known = history.dropna(subset=["actual_total"]).sort_values("target_date")
    return backtest_book(
        known.rename(
            columns={"actual_total": "actual", "lower_90": "q05", "upper_90": "q95"}
        )
    )


def _against_oracle(frame: pd.DataFrame) -> dict[str, float]:
    """Pinball losses of the forecasts and of the oracle on the days it knows."""
    actual = frame["actual"].to_numpy(float)
    losses = {
        name: pinball(actual, frame[column], alpha)
        for name, column, alpha in (
            ("pinball_05", "q05", TAIL),
            ("pinball_95", "q95", 1 - TAIL),
            ("oracle_pinball_05", "oracle_q05", TAIL),
            ("oracle_pinball_95", "oracle_q95", 1 - TAIL),
        )
    }
    oracle = losses["oracle_pinball_05"] + losses["oracle_pinball_95"]
    inside = (actual >= frame["oracle_q05"].to_numpy(float)) & (
        actual <= frame["oracle_q95"].to_numpy(float)
    )
    return {
        "oracle_days": float(len(frame)),
        "oracle_pinball_05": losses["oracle_pinball_05"],
        "oracle_pinball_95": losses["oracle_pinball_95"],
        "oracle_coverage_90": float(inside.mean()) if len(frame) else float("nan"),
        "pinball_ratio_to_oracle": (
            (losses["pinball_05"] + losses["pinball_95"]) / oracle
            if oracle > 0
            else float("nan")
        ),
    }

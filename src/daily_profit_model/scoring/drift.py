"""Drift of features and forecasts against the reference sample stored with the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index over the reference's quantile bins (NaN is a bin)."""
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    edges = np.unique(np.nanquantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:  # noqa: PLR2004 (a constant feature)
        edges = np.array([-np.inf, np.inf])
    edges[0], edges[-1] = -np.inf, np.inf

    def shares(values: np.ndarray) -> np.ndarray:
        counts = np.histogram(values[~np.isnan(values)], bins=edges)[0]
        counts = np.append(counts, np.isnan(values).sum())
        return np.clip(counts / max(len(values), 1), 1e-4, None)

    expected, actual = shares(reference), shares(current)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    thresholds: dict[str, float],
) -> pd.DataFrame:
    """PSI and the two-sample Kolmogorov–Smirnov test of each column.

    Severity: ``severe`` when PSI ≥ ``psi_severe``; ``warn`` when PSI ≥ ``psi_warn`` or
    the KS statistic ≥ ``ks_warn`` (with its p-value below ``ks_pvalue``); else ``ok``.

    A column with one value today (market and calendar fields: the same for every
    account on a day) has no distribution to compare; it is ``warn`` when the value
    lies outside the reference's central 99%, else ``ok`` (PSI and KS left empty).
    A column that is NULL on every row today but was not in the reference is
    ``severe``: its source is broken (a plan export without its rules, say).
    """
    rows = []
    for column in columns:
        ref = pd.to_numeric(reference[column], errors="coerce").to_numpy(dtype=float)
        cur = pd.to_numeric(current[column], errors="coerce").to_numpy(dtype=float)
        if len(cur) and np.isnan(cur).all() and (~np.isnan(ref)).any():
            rows.append(_gone(column, ref, cur))
            continue
        if len(np.unique(cur[~np.isnan(cur)])) <= 1:
            rows.append(_day_level(column, ref, cur))
            continue
        value = psi(ref, cur)
        ref_ok, cur_ok = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
        if len(ref_ok) and len(cur_ok):
            ks = stats.ks_2samp(ref_ok, cur_ok)
            ks_stat, ks_p = float(ks.statistic), float(ks.pvalue)
        else:
            ks_stat, ks_p = float("nan"), float("nan")
        if value >= thresholds["psi_severe"]:
            severity = "severe"
        elif value >= thresholds["psi_warn"] or (
            ks_stat >= thresholds["ks_warn"] and ks_p < thresholds["ks_pvalue"]
        ):
            severity = "warn"
        else:
            severity = "ok"
        rows.append(
            {
                "feature": column,
                "psi": value,
                "ks_statistic": ks_stat,
                "ks_pvalue": ks_p,
                "severity": severity,
            }
        )
    return pd.DataFrame(rows)


def _gone(column: str, reference: np.ndarray, current: np.ndarray) -> dict:
    """A feature that became NULL everywhere: severe, with its PSI (the NULL bin)."""
    return {
        "feature": column,
        "psi": psi(reference, current),
        "ks_statistic": float("nan"),
        "ks_pvalue": float("nan"),
        "severity": "severe",
    }


def _day_level(column: str, reference: np.ndarray, current: np.ndarray) -> dict:
    """Drift of a field with one value per day: is today's value a usual one?"""
    known = current[~np.isnan(current)]
    outside = False
    if len(known) and (~np.isnan(reference)).any():
        low, high = np.nanquantile(reference, [0.005, 0.995])
        outside = bool(known[0] < low or known[0] > high)
    return {
        "feature": column,
        "psi": float("nan"),
        "ks_statistic": float("nan"),
        "ks_pvalue": float("nan"),
        "severity": "warn" if outside else "ok",
    }

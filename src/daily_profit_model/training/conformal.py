"""Conformalised quantile regression (CQR): intervals whose coverage holds by phase.

The 5% and 95% models give a raw interval; on the calibration window each bound gets
its own correction (asymmetric CQR), per phase (a Mondrian split), so that each tail
holds about 5% of outcomes in every phase, not only on average.

Scores are normalised by the raw interval's width: a correction of 0.2 widens a
5,000 USD account's interval by a fifth of its own width, not by the same dollars as a
200,000 USD account's. Additive (USD) scores let the large accounts set the correction
of all, over-covering small ones (measured on the default world: 94% on 5k accounts).

A phase's correction is shrunk toward the pooled one by its number of rows ``n``:
``n / (n + shrinkage_rows)`` of its own plus the rest of the pooled. A phase with a
hundred calibration rows is too noisy to trust alone (its 95th percentile moves by
several points of coverage from one window to the next) and too different to ignore
(pooled corrections covered the funded phase 3 at 85% in the default world).

The corrections are applied by
:func:`daily_profit_model.training.pyfunc_model.conformal_bounds`, the same code the
registered model runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from daily_profit_model.training.pyfunc_model import (
    above_floor,
    conformal_bounds,
    mean_forecast,
    raw_width,
)


def _correction(scores: np.ndarray, tail: float) -> float:
    """The finite-sample (1 - tail) quantile of conformity scores."""
    n = len(scores)
    level = min(1.0, np.ceil((n + 1) * (1 - tail)) / n)
    return float(np.quantile(scores, level, method="higher"))


def calibrate(
    frame: pd.DataFrame, coverage: float, min_rows: int, shrinkage_rows: float = 0.0
) -> dict[str, Any]:
    """Corrections of the lower and upper bounds, pooled and per phase.

    Args:
        frame: Calibration rows with ``actual``, ``raw_lower``, ``raw_upper``, ``phase``
            (optionally ``forecast``, for the mean's offsets, ``unit``, their unit,
            and ``floor``, each row's breach floor, under which no bound goes).
        coverage: Target coverage of the interval (0.9).
        min_rows: Fewest rows a phase needs for corrections of its own.
        shrinkage_rows: Weight of the pooled correction in a phase's, in rows.

    Returns:
        ``{"coverage", "score": "width", "pooled": {"lower", "upper", "rows"},
        "by_phase": {phase: {"lower", "upper", "rows", "own_lower", "own_upper"}}}``;
        corrections are in units of the raw width.
    """
    tail = (1 - coverage) / 2

    def corrections(rows: pd.DataFrame) -> dict[str, float]:
        # scores from the bounds as served (held at the breach floor) in units of the
        # raw width before it (see conformal_bounds)
        width = raw_width(rows["raw_lower"], rows["raw_upper"])
        floor = rows["floor"].to_numpy() if "floor" in rows else None
        raw_lower = above_floor(rows["raw_lower"].to_numpy(), floor)
        raw_upper = above_floor(rows["raw_upper"].to_numpy(), floor)
        lower = (raw_lower - rows["actual"].to_numpy()) / width
        upper = (rows["actual"].to_numpy() - raw_upper) / width
        return {
            "lower": _correction(lower, tail),
            "upper": _correction(upper, tail),
            "rows": len(rows),
        }

    pooled = corrections(frame)
    by_phase = {}
    for phase, rows in frame.groupby("phase"):
        if len(rows) < min_rows:
            continue
        own = corrections(rows)
        weight = len(rows) / (len(rows) + shrinkage_rows)
        by_phase[str(int(phase))] = {
            "lower": weight * own["lower"] + (1 - weight) * pooled["lower"],
            "upper": weight * own["upper"] + (1 - weight) * pooled["upper"],
            "rows": len(rows),
            "own_lower": own["lower"],
            "own_upper": own["upper"],
        }
    calibration = {
        "coverage": coverage,
        "score": "width",
        "pooled": pooled,
        "by_phase": by_phase,
    }
    if "forecast" in frame:
        calibration["mean_offset"] = _mean_offsets(frame, calibration, shrinkage_rows)
    return calibration


def _mean_offsets(
    frame: pd.DataFrame, calibration: dict[str, Any], shrinkage_rows: float
) -> dict[str, Any]:
    """The mean residual of the Pearson-Tukey mean on the calibration rows, in units
    of each row's ``unit`` (its raw interval before the breach floor; without one, the
    calibrated interval's width): pooled, and per phase shrunk toward it."""
    lower, upper = conformal_bounds(
        frame["raw_lower"],
        frame["raw_upper"],
        frame["phase"],
        calibration,
        frame["floor"].to_numpy() if "floor" in frame else None,
    )
    three_point = mean_forecast(lower, frame["forecast"], upper, frame["phase"], {})
    unit = (
        frame["unit"].to_numpy() if "unit" in frame else np.maximum(upper - lower, 1.0)
    )
    residual = (frame["actual"].to_numpy() - three_point) / unit
    pooled = float(residual.mean())
    by_phase = {}
    for phase, rows in pd.Series(residual).groupby(frame["phase"].to_numpy()):
        weight = len(rows) / (len(rows) + shrinkage_rows)
        by_phase[str(int(phase))] = weight * float(rows.mean()) + (1 - weight) * pooled
    return {"pooled": pooled, "by_phase": by_phase}

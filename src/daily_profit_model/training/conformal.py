"""Conformalised quantile regression (CQR): intervals whose coverage holds by phase.

The 5% and 95% models give a raw interval; on the calibration window each bound gets
its own correction (asymmetric CQR), per phase (a Mondrian split), so that each tail
holds about 5% of outcomes in every phase, not only on average. A phase with too few
calibration rows uses the pooled correction. The corrections are applied by
:func:`daily_profit_model.training.pyfunc_model.conformal_bounds`, the same code the
registered model runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _correction(scores: np.ndarray, tail: float) -> float:
    """The finite-sample (1 - tail) quantile of conformity scores."""
    n = len(scores)
    level = min(1.0, np.ceil((n + 1) * (1 - tail)) / n)
    return float(np.quantile(scores, level, method="higher"))


def calibrate(
    frame: pd.DataFrame, coverage: float, min_rows: int, floor_rows: int = 0
) -> dict[str, Any]:
    """Corrections of the lower and upper bounds, pooled and per phase.

    Args:
        frame: Calibration rows with ``actual``, ``raw_lower``, ``raw_upper``, ``phase``.
        coverage: Target coverage of the interval (0.9).
        min_rows: Fewest rows a phase needs for its own corrections.
        floor_rows: Below this many rows, a phase's corrections never go under the
            pooled ones: the 95th percentile of a hundred scores is too noisy to narrow
            an interval on (it widens it only).

    Returns:
        ``{"coverage", "pooled": {"lower", "upper", "rows"}, "by_phase": {phase: ...}}``.
    """
    tail = (1 - coverage) / 2

    def corrections(rows: pd.DataFrame) -> dict[str, float]:
        return {
            "lower": _correction((rows["raw_lower"] - rows["actual"]).to_numpy(), tail),
            "upper": _correction((rows["actual"] - rows["raw_upper"]).to_numpy(), tail),
            "rows": len(rows),
        }

    pooled = corrections(frame)
    by_phase = {}
    for phase, rows in frame.groupby("phase"):
        if len(rows) < min_rows:
            continue
        own = corrections(rows)
        if len(rows) < floor_rows:
            own["lower"] = max(own["lower"], pooled["lower"])
            own["upper"] = max(own["upper"], pooled["upper"])
        by_phase[str(int(phase))] = own
    return {"coverage": coverage, "pooled": pooled, "by_phase": by_phase}

"""Time-ordered train / validation / calibration / test windows, with gaps."""

from __future__ import annotations

from typing import Any

import pandas as pd

from daily_profit_model.params import WindowParams

WINDOW_NAMES = ("train", "validation", "calibration", "test")


class WindowError(ValueError):
    """The data has too few cutoff days for the configured windows."""


def assign_windows(cutoffs: pd.Series, settings: WindowParams) -> pd.Series:
    """The window of each row, by its cutoff day: newest days are the test window.

    Windows are counted in cutoff days, newest first: test, gap, calibration, gap,
    validation, gap, train (everything older). Rows in a gap belong to no window (NA).

    Args:
        cutoffs: Each row's cutoff date.
        settings: ``training.windows``: ``test_days``, ``calibration_days``,
            ``validation_days``, ``gap_days``.

    Raises:
        WindowError: Fewer cutoff days than the windows need (train gets fewer than 10).
    """
    days = sorted(pd.to_datetime(cutoffs).unique())
    gap = settings.gap_days
    sizes = [
        ("test", settings.test_days),
        ("calibration", settings.calibration_days),
        ("validation", settings.validation_days),
    ]
    needed = sum(n for _, n in sizes) + gap * len(sizes) + 10
    if len(days) < needed:
        raise WindowError(
            f"{len(days)} cutoff days; the windows {dict(sizes)} with gaps of {gap} "
            f"need at least {needed} (10 for training): shorten training.windows"
        )
    labels: dict[pd.Timestamp, str] = {}
    end = len(days)
    for name, size in sizes:
        for day in days[end - size : end]:
            labels[day] = name
        end -= size + gap
    for day in days[:end]:
        labels[day] = "train"
    return pd.to_datetime(cutoffs).map(labels).astype("string")


def window_ranges(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """First and last cutoff and the row count of each window (for the run's record)."""
    ranges = {}
    for name, rows in frame.groupby("window", observed=True):
        ranges[str(name)] = {
            "first": str(rows["cutoff_date"].min().date()),
            "last": str(rows["cutoff_date"].max().date()),
            "rows": len(rows),
        }
    return ranges

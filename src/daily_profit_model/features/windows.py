"""Which cutoff days a run builds: from the ingestion state and the parameters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

# The endpoints a day's features read; the day is buildable when all are complete.
FEATURE_ENDPOINTS = (
    "v2/metrics/daily",
    "v2/trades/closed",
    "v2/trades/open",
    "v2/regimes/daily",
)


class NothingToBuildError(ValueError):
    """No day is complete in the ingestion state, so no feature can be built."""


@dataclass(frozen=True)
class BuildWindow:
    """The cutoff days to build, and where a build of an empty table starts.

    Attributes:
        start: First cutoff to build (inclusive).
        end: Last cutoff to build (inclusive): the newest complete day.
        first_day: The first complete day: a table built from nothing starts here.
    """

    start: dt.date
    end: dt.date
    first_day: dt.date

    def widened(self, days: int) -> BuildWindow:
        """The window started ``days`` calendar days earlier (never before first_day)."""
        return BuildWindow(
            max(self.first_day, self.start - dt.timedelta(days=days)),
            self.end,
            self.first_day,
        )


def complete_days(ingestion_state: pd.DataFrame) -> list[dt.date]:
    """Days on which every endpoint the features read was loaded completely."""
    if ingestion_state.empty:
        return []
    complete = ingestion_state[ingestion_state["status"] == "complete"]
    per_endpoint = [
        set(pd.to_datetime(complete.loc[complete["endpoint"] == e, "day"]).dt.date)
        for e in FEATURE_ENDPOINTS
    ]
    return sorted(set.intersection(*per_endpoint))


def _date(value: Any) -> dt.date | None:
    return None if value in (None, "") else pd.Timestamp(value).date()


def plan_window(
    ingestion_state: pd.DataFrame, stored_last: dt.date | None, settings: dict[str, Any]
) -> BuildWindow:
    """The window of a run: a requested range, or the new days plus the newest few.

    Args:
        ingestion_state: The state table after the run's ingestion.
        stored_last: The newest day already built (None: nothing is built).
        settings: ``features`` parameters: ``start_date``, ``end_date``, ``rebuild_days``.

    Raises:
        NothingToBuildError: No complete day, or the requested range has none.
    """
    days = complete_days(ingestion_state)
    if not days:
        raise NothingToBuildError(
            "No day is completely ingested (metrics, trades, regimes); "
            "run `kedro run --pipelines ingestion` first"
        )
    requested_start = _date(settings.get("start_date"))
    requested_end = _date(settings.get("end_date"))
    end = min(requested_end or days[-1], days[-1])
    if requested_start is not None:
        start = requested_start
    elif stored_last is None:
        start = days[0]
    else:
        # Late corrections and re-checked days land in the newest days: rebuild them.
        rebuild = int(settings.get("rebuild_days", 3))
        start = min(
            next((d for d in days if d > stored_last), end),
            days[max(len(days) - 1 - rebuild, 0)],
        )
    start = max(start, days[0])
    if start > end:
        raise NothingToBuildError(
            f"features.start_date {start} is after the newest complete day {end}"
        )
    return BuildWindow(start, end, days[0])

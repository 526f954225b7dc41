"""Which cutoff days a run builds: from the ingestion state and the parameters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from daily_profit_model.ingestion.requests import LOADED_STATUSES
from daily_profit_model.params import FeatureParams

# The endpoints a day's features cannot do without; the day is buildable when both are
# loaded. (Open positions are a snapshot, read for any day; the regime document is
# optional: its features are NULL where a source has none.)
FEATURE_ENDPOINTS = ("v2/metrics/daily", "v2/trades/closed")
# What a day's features read: a reload of any of them rebuilds from that day.
_READ_ENDPOINTS = (*FEATURE_ENDPOINTS, "v2/regimes/daily", "v2/trades/open")


class NothingToBuildError(ValueError):
    """No day is complete in the ingestion state, so no feature can be built."""


@dataclass(frozen=True)
class BuildWindow:
    """The cutoff days to build, and where a build of an empty table starts.

    Attributes:
        start: First cutoff to build (inclusive).
        end: Last cutoff to build (inclusive): the newest complete day.
        first_day: The first complete day: a table built from nothing starts here.
        covers_reloads: Whether the window takes in every day loaded since the last
            build (a planned window does; a requested range may not), so the build may
            stamp the table as up to date.
        reloaded_from: The earliest day already built that ingestion loaded again since
            the last build (the window starts there or earlier); None if none.
    """

    start: dt.date
    end: dt.date
    first_day: dt.date
    covers_reloads: bool = True
    reloaded_from: dt.date | None = None

    def to_json(self) -> dict[str, Any]:
        """The window as JSON-able data (dates as ISO text)."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "first_day": self.first_day.isoformat(),
            "covers_reloads": self.covers_reloads,
            "reloaded_from": self.reloaded_from.isoformat()
            if self.reloaded_from
            else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildWindow:
        """The window :meth:`to_json` wrote."""
        day = dt.date.fromisoformat
        return cls(
            start=day(data["start"]),
            end=day(data["end"]),
            first_day=day(data["first_day"]),
            covers_reloads=bool(data["covers_reloads"]),
            reloaded_from=day(data["reloaded_from"]) if data["reloaded_from"] else None,
        )

    def widened(self, days: int) -> BuildWindow:
        """The window started ``days`` calendar days earlier (never before first_day)."""
        return replace(
            self, start=max(self.first_day, self.start - dt.timedelta(days=days))
        )


def complete_days(ingestion_state: pd.DataFrame) -> list[dt.date]:
    """Days on which every endpoint the features read was loaded completely (verified
    or, inside the late-data horizon, provisional)."""
    if ingestion_state.empty:
        return []
    complete = ingestion_state[ingestion_state["status"].isin(LOADED_STATUSES)]
    per_endpoint = [
        set(pd.to_datetime(complete.loc[complete["endpoint"] == e, "day"]).dt.date)
        for e in FEATURE_ENDPOINTS
    ]
    return sorted(set.intersection(*per_endpoint))


def reloaded_days(
    ingestion_state: pd.DataFrame, since: dt.datetime | None
) -> list[dt.date]:
    """Days whose data the features read was (re)loaded after ``since``.

    A day that ingestion fetched again because its source count changed (a late
    correction, however old) shows here, so the build starts from it.
    """
    if since is None or ingestion_state.empty:
        return []
    state = ingestion_state[ingestion_state["endpoint"].isin(_READ_ENDPOINTS)]
    loaded = pd.to_datetime(state["loaded_at"], utc=True)
    changed = state.loc[loaded > pd.Timestamp(since).tz_convert("UTC"), "day"]
    return sorted(set(pd.to_datetime(changed).dt.date))


def plan_window(
    ingestion_state: pd.DataFrame,
    stored_last: dt.date | None,
    settings: FeatureParams,
    built_at: dt.datetime | None = None,
    cutoff: dt.date | None = None,
) -> BuildWindow:
    """The window of a run: a requested range, or what changed plus the newest few.

    Without dates, the window starts at the earliest of: the first day not built yet,
    the newest ``rebuild_days`` (targets that became known), and the first day whose
    data was loaded again since the last build (``built_at``).

    Args:
        ingestion_state: The state table after the run's ingestion.
        stored_last: The newest day already built (None: nothing is built).
        settings: ``features`` parameters: ``start_date``, ``end_date``, ``rebuild_days``.
        built_at: When the last complete build of the staged table started (database
            time; None: unknown).
        cutoff: The run's cutoff: no later day is built (None: the newest loaded).

    Raises:
        NothingToBuildError: No complete day, or the requested range has none.
    """
    days = [d for d in complete_days(ingestion_state) if cutoff is None or d <= cutoff]
    if not days:
        raise NothingToBuildError(
            "No day is completely ingested (metrics, trades, regimes); "
            "run `kedro run --pipelines ingestion` first"
        )
    requested_start, requested_end = settings.start_date, settings.end_date
    end = min(requested_end or days[-1], days[-1])
    reloaded_from = None
    if requested_start is not None:
        start = requested_start
    elif stored_last is None:
        start = days[0]
    else:
        # Late corrections and re-checked days land in the newest days: rebuild them.
        rebuild = settings.rebuild_days
        reloaded = reloaded_days(ingestion_state, built_at)
        reloaded_from = reloaded[0] if reloaded and reloaded[0] <= stored_last else None
        start = min(
            next((d for d in days if d > stored_last), end),
            days[max(len(days) - 1 - rebuild, 0)],
            *reloaded[:1],
        )
    start = max(start, days[0])
    if start > end:
        raise NothingToBuildError(
            f"features.start_date {start} is after the newest complete day {end}"
        )
    covers = requested_start is None and end == days[-1]
    return BuildWindow(
        start, end, days[0], covers_reloads=covers, reloaded_from=reloaded_from
    )

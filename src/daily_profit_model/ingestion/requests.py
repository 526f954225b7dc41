"""What an ingestion run fetches: the endpoints and days, decided from the state table.

Per-day endpoints are fetched day by day; snapshot endpoints (``accounts`` and
``v2/metrics/alltime``) once per run, dated by the newest day. Without dates a run
fetches every source day that is not loaded in ``ingestion_state`` and checks again
every day not verified yet (their count at the source is compared with the stored one,
and a day that differs is fetched again). With ``start_date`` (and optionally
``end_date``) it backfills exactly that range.

A day is *complete* only once verified. The newest ``recheck_days`` source days are the
late-data horizon: rows may still arrive for them, so a day loaded inside it is
*provisional*, and a day the source served no row for is *empty*; later runs check both
again until a check made past the horizon agrees (then they are complete). Complete
days inside the horizon are checked again too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from daily_profit_model.params import IngestionParams

DAILY_ENDPOINTS = (
    "v2/trades/closed",
    "v2/trades/open",
    "v2/metrics/daily",
    "v2/metrics/hourly",
    "v2/regimes/daily",
)
SNAPSHOT_ENDPOINTS = ("accounts", "v2/metrics/alltime")
# Days whose rows are stored (the features may read them), verified or not.
LOADED_STATUSES = ("complete", "provisional", "empty")
# Loaded, but checked again by every run until a check past the horizon agrees.
UNVERIFIED_STATUSES = ("provisional", "empty")


@dataclass(frozen=True)
class FetchRequest:
    """One endpoint and day to fetch; ``stored_count`` set when it only needs a check.

    ``in_horizon``: the day is among the newest ``recheck_days`` source days, so what
    is loaded for it now stays provisional.
    """

    endpoint: str
    day: dt.date
    stored_count: int | None = None
    in_horizon: bool = False


@dataclass(frozen=True)
class IngestionPlan:
    """The requests of one run, where to send them, and the run's id."""

    requests: tuple[FetchRequest, ...]
    source: dict[str, Any]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __len__(self) -> int:
        return len(self.requests)


def plan_requests(
    state: pd.DataFrame,
    source_days: list[dt.date],
    settings: IngestionParams,
    source: dict[str, Any],
) -> IngestionPlan:
    """Decide the run's requests.

    Args:
        state: ``ingestion_state`` rows (endpoint, day, status, stored_count).
        source_days: The days the source has, oldest first.
        settings: ``ingestion`` parameters: ``endpoints`` (default all),
            ``start_date``/``end_date`` (a backfill), ``recheck_days``.
        source: Where the requests go (see ``RiskApiDataset``).

    Raises:
        ValueError: ``start_date`` is after ``end_date`` or outside the source's days.
    """
    endpoints = list(settings.endpoints or (*DAILY_ENDPOINTS, *SNAPSHOT_ENDPOINTS))
    start, end = settings.start_date, settings.end_date
    days = [
        d for d in source_days if (not start or d >= start) and (not end or d <= end)
    ]
    if start and not days:
        raise ValueError(
            f"No source day between {start} and {end or 'the newest'}; the source has "
            f"{source_days[0] if source_days else None} to {source_days[-1] if source_days else None}."
        )
    loaded = (
        {
            (r.endpoint, r.day): (r.status, int(r.stored_count))
            for r in state.itertuples()
            if r.status in LOADED_STATUSES
        }
        if len(state)
        else {}
    )
    backfill = start is not None
    # The horizon is the source's newest days, whatever range this run covers.
    recheck_days = settings.recheck_days
    horizon = set(source_days[-recheck_days:]) if recheck_days > 0 else set()
    requests = []
    for endpoint in endpoints:
        targets = (
            [days[-1]]
            if endpoint in SNAPSHOT_ENDPOINTS and days
            else ([] if endpoint in SNAPSHOT_ENDPOINTS else days)
        )
        for day in targets:
            status, stored = loaded.get((endpoint, day), (None, None))
            in_horizon = day in horizon and endpoint not in SNAPSHOT_ENDPOINTS
            if backfill or status is None or endpoint in SNAPSHOT_ENDPOINTS:
                requests.append(FetchRequest(endpoint, day, in_horizon=in_horizon))
            elif in_horizon or status in UNVERIFIED_STATUSES:
                requests.append(
                    FetchRequest(
                        endpoint, day, stored_count=stored, in_horizon=in_horizon
                    )
                )
    requests.sort(key=lambda r: (r.day, r.endpoint))
    return IngestionPlan(requests=tuple(requests), source=source)

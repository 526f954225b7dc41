"""What an ingestion run fetches: the endpoints and days, decided from the state table.

Per-day endpoints are fetched day by day; snapshot endpoints (``accounts`` and
``v2/metrics/alltime``) once per run, dated by the newest day. Without dates a run
fetches every source day that is not complete in ``ingestion_state`` and checks the
last ``recheck_days`` complete ones again (their count at the source is compared
with the stored one, and a day that differs is fetched again). With ``start_date``
(and optionally ``end_date``) it backfills exactly that range.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

DAILY_ENDPOINTS = (
    "v2/trades/closed",
    "v2/trades/open",
    "v2/metrics/daily",
    "v2/metrics/hourly",
    "v2/regimes/daily",
)
SNAPSHOT_ENDPOINTS = ("accounts", "v2/metrics/alltime")


@dataclass(frozen=True)
class FetchRequest:
    """One endpoint and day to fetch; ``stored_count`` set when it only needs a check."""

    endpoint: str
    day: dt.date
    stored_count: int | None = None


@dataclass(frozen=True)
class IngestionPlan:
    """The requests of one run, where to send them, and the run's id."""

    requests: tuple[FetchRequest, ...]
    source: dict[str, Any]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __len__(self) -> int:
        return len(self.requests)


def _as_date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    return pd.Timestamp(str(value)).date()


def plan_requests(
    state: pd.DataFrame,
    source_days: list[dt.date],
    settings: dict[str, Any],
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
    endpoints = list(
        settings.get("endpoints") or (*DAILY_ENDPOINTS, *SNAPSHOT_ENDPOINTS)
    )
    start, end = (
        _as_date(settings.get("start_date")),
        _as_date(settings.get("end_date")),
    )
    if start and end and start > end:
        raise ValueError(
            f"ingestion.start_date {start} is after ingestion.end_date {end}"
        )
    days = [
        d for d in source_days if (not start or d >= start) and (not end or d <= end)
    ]
    if start and not days:
        raise ValueError(
            f"No source day between {start} and {end or 'the newest'}; the source has "
            f"{source_days[0] if source_days else None} to {source_days[-1] if source_days else None}."
        )
    complete = (
        {
            (r.endpoint, r.day): int(r.stored_count)
            for r in state.itertuples()
            if r.status == "complete"
        }
        if len(state)
        else {}
    )
    backfill = start is not None
    recheck = set(days[-int(settings.get("recheck_days", 2)) :]) if days else set()
    requests = []
    for endpoint in endpoints:
        targets = (
            [days[-1]]
            if endpoint in SNAPSHOT_ENDPOINTS and days
            else ([] if endpoint in SNAPSHOT_ENDPOINTS else days)
        )
        for day in targets:
            done = complete.get((endpoint, day))
            if backfill or done is None or endpoint in SNAPSHOT_ENDPOINTS:
                requests.append(FetchRequest(endpoint, day))
            elif day in recheck:
                requests.append(FetchRequest(endpoint, day, stored_count=done))
    requests.sort(key=lambda r: (r.day, r.endpoint))
    return IngestionPlan(requests=tuple(requests), source=source)

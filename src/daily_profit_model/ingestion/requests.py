"""What an ingestion run fetches: the endpoints and days, decided from the state table.

The days are the trading calendar of the clock: every weekday from
``ingestion.history_start`` to the run's cutoff (the last complete trading day the
source's clock shows, or ``run_date``). Per-day endpoints are fetched day by day;
snapshot endpoints (``accounts``, ``v2/metrics/alltime`` and ``v2/trades/open``, "as of
now" in the contract) once per run, recorded against the cutoff day. Without dates a
run fetches every day that is not loaded in ``ingestion_state`` and checks again every
day not verified yet (their count at the source is compared with the stored one, and a
day that differs is fetched again). With ``start_date`` (and optionally ``end_date``)
it backfills exactly that range.

A day is *complete* only once verified. The newest ``recheck_days`` days are the
late-data horizon: rows may still arrive for them, so a day loaded inside it is
*provisional*, and a day the source served no row for is *empty*; later runs check both
again until a check made past the horizon agrees (then they are complete). Complete
days inside the horizon are checked again too.

The plan is data (JSON), so that the node that fetches it can run in another process
(``kedro run --from-nodes``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from daily_profit_model.params import IngestionParams

DAILY_ENDPOINTS = (
    "v2/trades/closed",
    "v2/metrics/daily",
    "v2/metrics/hourly",
    "v2/regimes/daily",
)
SNAPSHOT_ENDPOINTS = ("accounts", "v2/metrics/alltime", "v2/trades/open")
# Days whose rows are stored (the features may read them), verified or not.
LOADED_STATUSES = ("complete", "provisional", "empty")
# Loaded, but checked again by every run until a check past the horizon agrees.
UNVERIFIED_STATUSES = ("provisional", "empty")


@dataclass(frozen=True)
class FetchRequest:
    """One endpoint and day to fetch; ``stored_count`` set when it only needs a check.

    ``in_horizon``: the day is among the newest ``recheck_days`` days, so what is
    loaded for it now stays provisional.
    """

    endpoint: str
    day: dt.date
    stored_count: int | None = None
    in_horizon: bool = False


@dataclass(frozen=True)
class IngestionPlan:
    """The requests of one run, the cutoff they lead to, and the run's id."""

    requests: tuple[FetchRequest, ...]
    cutoff: dt.date
    source: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __len__(self) -> int:
        return len(self.requests)

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON-able data (dates as ISO text)."""
        return {
            "run_id": self.run_id,
            "cutoff": self.cutoff.isoformat(),
            "source": self.source,
            "requests": [
                {**asdict(r), "day": r.day.isoformat()} for r in self.requests
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IngestionPlan:
        """The plan :meth:`to_json` wrote."""
        return cls(
            requests=tuple(
                FetchRequest(**{**r, "day": dt.date.fromisoformat(r["day"])})
                for r in data["requests"]
            ),
            cutoff=dt.date.fromisoformat(data["cutoff"]),
            source=data["source"],
            run_id=data["run_id"],
        )


def trading_days(first: dt.date, last: dt.date) -> list[dt.date]:
    """The weekdays from ``first`` to ``last``, both included."""
    return [d.date() for d in pd.bdate_range(first, last)]


def plan_requests(
    state: pd.DataFrame,
    cutoff: dt.date,
    settings: IngestionParams,
    source: str,
) -> IngestionPlan:
    """Decide the run's requests.

    Args:
        state: ``ingestion_state`` rows (endpoint, day, status, stored_count).
        cutoff: The run's cutoff: the newest day to fetch.
        settings: ``ingestion`` parameters: ``history_start``, ``endpoints`` (default
            all), ``start_date``/``end_date`` (a backfill), ``recheck_days``.
        source: The identity of the source (recorded with the plan).

    Raises:
        ValueError: A backfill range holds no day of the calendar.
    """
    calendar = trading_days(settings.history_start, cutoff)
    endpoints = list(settings.endpoints or (*DAILY_ENDPOINTS, *SNAPSHOT_ENDPOINTS))
    start, end = settings.start_date, settings.end_date
    days = [d for d in calendar if (not start or d >= start) and (not end or d <= end)]
    if start and not days:
        raise ValueError(
            f"No trading day between ingestion.start_date {start} and "
            f"{end or 'the cutoff'} within {settings.history_start} to {cutoff}."
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
    # The horizon is the calendar's newest days, whatever range this run covers.
    horizon = (
        set(calendar[-settings.recheck_days :]) if settings.recheck_days else set()
    )
    requests = []
    for endpoint in endpoints:
        if endpoint in SNAPSHOT_ENDPOINTS:
            requests.append(FetchRequest(endpoint, cutoff))
            continue
        for day in days:
            status, stored = loaded.get((endpoint, day), (None, None))
            in_horizon = day in horizon
            if backfill or status is None:
                requests.append(FetchRequest(endpoint, day, in_horizon=in_horizon))
            elif in_horizon or status in UNVERIFIED_STATUSES:
                requests.append(
                    FetchRequest(
                        endpoint, day, stored_count=stored, in_horizon=in_horizon
                    )
                )
    requests.sort(key=lambda r: (r.day, r.endpoint))
    return IngestionPlan(requests=tuple(requests), cutoff=cutoff, source=source)

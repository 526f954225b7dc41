"""What a run fetches: unverified days are checked again until a check past the
late-data horizon agrees; verified days are left alone."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from daily_profit_model.ingestion.batches import IngestionBatch
from daily_profit_model.ingestion.requests import IngestionPlan, plan_requests
from daily_profit_model.params import IngestionParams
from tests.params import params

DAYS = [d.date() for d in pd.bdate_range("2025-03-03", periods=10)]
SOURCE = "test source"


def _state(rows: list[tuple[str, dt.date, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["endpoint", "day", "status", "stored_count"])


def _plan(state: pd.DataFrame, **settings):
    plan = plan_requests(
        state,
        DAYS[-1],
        params(
            IngestionParams,
            "ingestion",
            history_start=DAYS[0],
            endpoints=["v2/regimes/daily"],
            recheck_days=2,
            **settings,
        ),
        SOURCE,
    )
    return {r.day: r for r in plan.requests}


def test_an_empty_day_is_checked_again_however_old():
    old = DAYS[1]
    state = _state(
        [("v2/regimes/daily", d, "complete", 1) for d in DAYS if d != old]
        + [("v2/regimes/daily", old, "empty", 0)]
    )
    requests = _plan(state)
    assert requests[old].stored_count == 0 and not requests[old].in_horizon
    # verified days outside the horizon are not asked for again
    assert set(requests) == {old, DAYS[-2], DAYS[-1]}


def test_provisional_days_are_checked_until_verified_and_new_days_fetched():
    state = _state(
        [("v2/regimes/daily", d, "complete", 1) for d in DAYS[:6]]
        + [("v2/regimes/daily", d, "provisional", 1) for d in DAYS[6:8]]
    )
    requests = _plan(state)
    # the two provisional days are now past the horizon: checked, not fetched
    assert [requests[d].stored_count for d in DAYS[6:8]] == [1, 1]
    assert not any(requests[d].in_horizon for d in DAYS[6:8])
    # the two newest are new: fetched in full, inside the horizon
    assert [requests[d].stored_count for d in DAYS[8:]] == [None, None]
    assert all(requests[d].in_horizon for d in DAYS[8:])


def test_the_horizon_is_the_sources_newest_days_even_in_a_backfill():
    requests = _plan(_state([]), start_date=str(DAYS[0]), end_date=str(DAYS[4]))
    assert set(requests) == set(DAYS[:5])
    assert not any(r.in_horizon for r in requests.values())


def _batch(received: int, total: int, **kwargs) -> IngestionBatch:
    rows = pd.DataFrame({"date": [DAYS[0]] * received})
    return IngestionBatch(
        endpoint="v2/regimes/daily",
        day=DAYS[0],
        table="raw_regimes_daily",
        rows=rows,
        rejected=pd.DataFrame(),
        received=received,
        duplicates=0,
        source_total=total,
        pages=1,
        requests=1,
        seconds=0.0,
        run_id="r",
        day_column="date",
        **kwargs,
    )


@pytest.mark.parametrize(
    ("batch", "status"),
    [
        (_batch(1, 1), "complete"),
        (_batch(1, 1, in_horizon=True), "provisional"),
        (_batch(0, 0), "empty"),  # served nothing: not verified by one read
        (_batch(0, 0, in_horizon=True), "empty"),
        (_batch(1, 2), "partial"),
        # a re-check whose count agreed: verified once past the horizon
        (_batch(0, 0, unchanged=True), "complete"),
        (_batch(0, 0, unchanged=True, in_horizon=True), "empty"),
        (_batch(0, 5, unchanged=True, in_horizon=True), "provisional"),
    ],
)
def test_a_day_is_complete_only_once_verified(batch, status):
    assert batch.status == status


def test_the_calendar_runs_from_history_start_to_the_cutoff_on_weekdays():
    plan = plan_requests(
        _state([]),
        dt.date(2025, 3, 10),  # a Monday
        params(
            IngestionParams,
            "ingestion",
            history_start=dt.date(2025, 3, 6),
            endpoints=["v2/trades/closed", "v2/trades/open"],
        ),
        SOURCE,
    )
    days = {r.day for r in plan.requests if r.endpoint == "v2/trades/closed"}
    assert days == {dt.date(2025, 3, 6), dt.date(2025, 3, 7), dt.date(2025, 3, 10)}
    # a snapshot "as of now" is fetched once, recorded against the cutoff
    snapshots = [r for r in plan.requests if r.endpoint == "v2/trades/open"]
    assert [r.day for r in snapshots] == [dt.date(2025, 3, 10)]
    again = IngestionPlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again == plan


def test_the_cutoff_is_the_last_complete_trading_day_of_the_clock():
    from daily_profit_model.pipelines.ingestion.nodes import (  # noqa: PLC0415
        last_complete_trading_day,
    )

    utc = dt.UTC
    # Tuesday 06:00 UTC: Monday is complete, Tuesday is not
    assert last_complete_trading_day(
        dt.datetime(2025, 3, 11, 6, tzinfo=utc), "UTC"
    ) == dt.date(2025, 3, 10)
    # Monday morning: Friday (the weekend has no trading day)
    assert last_complete_trading_day(
        dt.datetime(2025, 3, 10, 5, tzinfo=utc), "UTC"
    ) == dt.date(2025, 3, 7)
    # 03:00 UTC on Tuesday is still Monday evening in New York: Monday is not over
    assert last_complete_trading_day(
        dt.datetime(2025, 3, 11, 3, tzinfo=utc), "America/New_York"
    ) == dt.date(2025, 3, 7)

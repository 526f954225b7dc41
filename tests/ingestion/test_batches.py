"""From an API day to a batch: every row accounted for, the newest valid version kept."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from daily_profit_model.contract import TRADE_FIELDS
from daily_profit_model.datasets.risk_api import ApiDay
from daily_profit_model.ingestion.batches import to_batch

DAY = dt.date(2025, 1, 10)


def _trade(position: str, profit: float, login=5) -> dict:
    return {
        "tradeDate": "2025-01-10",
        "broker": "B",
        "platform": "MT5",
        "position": position,
        "login": login,
        "side": "buy",
        "profit": profit,
    }


def _full_trade(position: str, profit: float) -> dict:
    """Every field of a closed trade, each of its wire type (a typed page's row)."""
    values = {"text": "x", "bigint": 5, "double precision": 1.5}
    row = {f.wire: values.get(f.pg_type) for f in TRADE_FIELDS}
    instant = "2025-01-10T10:00:00Z"
    return row | _trade(position, profit) | {"openTime": instant, "closeTime": instant}


def _day(endpoint: str, rows: list[dict], duplicates: int = 0) -> ApiDay:
    return ApiDay(endpoint, DAY, rows, len(rows), duplicates, 1, 1, 0.0, "run")


def test_two_valid_versions_of_a_key_keep_the_later_one():
    rows = [
        _trade("1", 1.0),
        _trade("2", 2.0),
        _trade("1", 10.0),
        _trade("3", 3.0, "x"),
    ]
    batch = to_batch(_day("v2/trades/closed", rows, duplicates=2), max_reject_share=1.0)
    assert batch.received == 6
    assert (batch.stored, batch.quarantined, batch.duplicates) == (2, 1, 3)
    assert batch.received == batch.stored + batch.quarantined + batch.duplicates
    assert sorted(batch.rows["profit"]) == [2.0, 10.0]


def test_regime_documents_follow_the_same_rule():
    rows = [
        {"date": "2025-01-10", "summary": {"v": 1}},
        {"date": "2025-01-10", "summary": {"v": 2}},
        {"date": "not-a-date", "summary": {}},
    ]
    batch = to_batch(_day("v2/regimes/daily", rows), max_reject_share=1.0)
    assert (batch.stored, batch.quarantined, batch.duplicates) == (1, 1, 1)
    assert batch.rows.iloc[0]["document"] == {"summary": {"v": 2}}


def test_a_table_of_two_versions_keeps_the_later_one():
    rows = pa.Table.from_pylist(
        [_full_trade("1", 1.0), _full_trade("2", 2.0), _full_trade("1", 10.0)]
    )
    api_day = ApiDay("v2/trades/closed", DAY, rows, 2, 0, 1, 1, 0.0, "run")
    batch = to_batch(api_day, max_reject_share=0.0)
    assert isinstance(batch.rows, pa.Table)
    assert (batch.stored, batch.duplicates) == (2, 1)
    assert sorted(batch.rows["profit"].to_pylist()) == [2.0, 10.0]

"""From an API day to a batch: every row accounted for, the newest valid version kept."""

from __future__ import annotations

import datetime as dt

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

"""The API client against the sandbox served over real HTTP, with faults."""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from urllib.parse import parse_qsl

import httpx
import pandas as pd
import pyarrow as pa
import pytest

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.ingestion.client import (
    ApiError,
    CircuitOpenError,
    ClientSettings,
    RiskApiClient,
)
from daily_profit_model.ingestion.wire import PageDecoder
from daily_profit_model.sandbox.faults import KINDS, FaultSettings
from daily_profit_model.sandbox.server import serve
from tests.conftest import API_KEY

TRADE_KEY = ["login", "platform", "broker", "position", "tradeDate"]


@contextmanager
def served(world, faults=None):
    server = serve(world.app(API_KEY, faults), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/risk-analytics/tft/external/"
    finally:
        server.shutdown()
        server.server_close()


def _settings(base_url: str, **overrides) -> ClientSettings:
    values = {
        "timeout_s": 2.0,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "rate_limit_per_s": 500.0,
        "page_size": 50,
    } | overrides
    return ClientSettings(base_url=base_url, **values)


def _busiest_day(tables) -> str:
    return (
        tables["trades_closed"]["trade_date"].value_counts().index[0].strftime("%Y%m%d")
    )


def _expected_keys(tables, day: str) -> set:
    trades = tables["trades_closed"]
    trades = trades[trades["trade_date"] == pd.Timestamp(day).date()]
    return set(
        zip(
            trades["login"],
            trades["platform"],
            trades["broker"],
            trades["position"],
            trades["trade_date"].astype(str),
        )
    )


def _decoder(typed: bool) -> PageDecoder | None:
    return PageDecoder(ENDPOINTS["v2/trades/closed"]) if typed else None


def _dicts(rows) -> list[dict]:
    return rows.to_pylist() if isinstance(rows, pa.Table) else rows


@pytest.mark.parametrize("typed", [False, True], ids=["dicts", "typed"])
def test_fetch_all_without_faults_returns_each_row_once(small_world, tables, typed):
    day = _busiest_day(tables)
    with served(small_world) as url, RiskApiClient(_settings(url), API_KEY) as client:
        result = client.fetch_all(
            "v2/trades/closed", {"trade-date": day}, TRADE_KEY, _decoder(typed)
        )
    assert isinstance(result.rows, pa.Table) == typed  # every page was clean
    keys = {tuple(r[k] for k in TRADE_KEY) for r in _dicts(result.rows)}
    assert keys == _expected_keys(tables, day)
    assert len(result.rows) == result.source_total
    assert result.duplicates == 0 and result.retries == 0
    assert result.keys_unique == typed  # counted on the table, once


def _pages_with_a_second_version(world, day: str):
    """A WSGI app: three of the sandbox's clean rows and a changed copy of the first
    (the same key, another profit), each later page empty; total 3 distinct rows."""
    with httpx.Client(
        transport=httpx.WSGITransport(app=world.app(API_KEY)),
        base_url="http://sandbox/risk-analytics/tft/external/",
        headers={"apiKey": API_KEY},
    ) as sandbox:
        envelope = sandbox.get(
            "v2/trades/closed",
            params={"trade-date": day, "limit": 3, "skip": 0, "include-total": 1},
        ).json()
    rows = envelope["Data"]["data"][:3]
    rows.append({**rows[0], "profit": rows[0]["profit"] + 1.0})

    def app(environ, start_response):
        skip = int(dict(parse_qsl(environ["QUERY_STRING"]))["skip"])
        page = rows if skip == 0 else []
        body = json.dumps(
            {**envelope, "Data": {"data": page, "total": 3, "count": len(page)}}
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


def test_a_key_that_came_back_twice_is_not_called_unique(small_world, tables):
    day = _busiest_day(tables)
    app = _pages_with_a_second_version(small_world, day)
    with RiskApiClient(
        _settings("http://api/risk-analytics/tft/external/"),
        API_KEY,
        transport=httpx.WSGITransport(app=app),
    ) as client:
        result = client.fetch_all(
            "v2/trades/closed", {"trade-date": day}, TRADE_KEY, _decoder(True)
        )
    assert isinstance(result.rows, pa.Table) and result.rows.num_rows == 4
    assert not result.keys_unique  # both versions kept for validation to choose


@pytest.mark.parametrize("typed", [False, True], ids=["dicts", "typed"])
def test_every_fault_kind_at_once_still_yields_each_row_once(
    small_world, tables, caplog, typed
):
    day = _busiest_day(tables)
    faults = FaultSettings(
        seed=9, rates={k: 0.07 for k in KINDS}, slow_seconds=2.5, retry_after_seconds=0
    )
    caplog.set_level(logging.DEBUG)
    with (
        served(small_world, faults) as url,
        RiskApiClient(_settings(url, timeout_s=1.0, max_retries=12), API_KEY) as client,
    ):
        result = client.fetch_all(
            "v2/trades/closed", {"trade-date": day}, TRADE_KEY, _decoder(typed)
        )
    # the client pages; telling junk from rows is validation's job (tested there): the
    # sandbox's malformed rows are the ones carrying its extra field
    rows = _dicts(result.rows)
    valid = [r for r in rows if "unexpectedField" not in r]
    assert len(valid) < len(rows)  # the malformed fault did fire
    keys = {tuple(r[k] for k in TRADE_KEY) for r in valid}
    assert keys == _expected_keys(tables, day)
    assert len(valid) == len(keys)
    assert result.retries > 0
    assert API_KEY not in caplog.text


def test_retry_after_is_honoured(small_world):
    waits = []
    faults = FaultSettings(
        seed=1, rates={"rate_limit_retry_after": 0.5}, retry_after_seconds=3
    )
    with served(small_world, faults) as url:
        client = RiskApiClient(_settings(url), API_KEY, sleep=waits.append)
        for i in range(12):
            client.get("accounts", {"logins": str(100001 + i)})
        client.close()
    assert waits and all(w >= 3 for w in waits)


def test_circuit_opens_on_a_failing_server_and_stops_calling(small_world):
    faults = FaultSettings(rates={"server_error": 1.0})
    with served(small_world, faults) as url:
        client = RiskApiClient(
            _settings(url, circuit_failures=5, max_retries=3),
            API_KEY,
            sleep=lambda s: None,
        )
        with pytest.raises(ApiError):
            client.get("accounts", {})
        with pytest.raises(CircuitOpenError, match="circuit is open") as info:
            client.get("accounts", {})
        sent = client.requests_sent
        with pytest.raises(CircuitOpenError):
            client.get("accounts", {})
        assert client.requests_sent == sent  # nothing more reached the server
        client.close()
    assert API_KEY not in str(info.value)


def test_a_wrong_key_fails_at_once_without_showing_the_key(small_world):
    with served(small_world) as url:
        client = RiskApiClient(_settings(url), "wrong-secret-key")
        with pytest.raises(ApiError, match="HTTP 401") as info:
            client.get("accounts", {})
        assert client.requests_sent == 1
        client.close()
    assert "wrong-secret-key" not in str(info.value)


def test_rate_limit_spaces_requests(small_world):
    with (
        served(small_world) as url,
        RiskApiClient(_settings(url, rate_limit_per_s=20.0), API_KEY) as client,
    ):
        started = time.monotonic()
        for _ in range(11):
            client.get("v2/regimes/daily", {"limit": 1})
        elapsed = time.monotonic() - started
    assert elapsed >= 0.5 - 0.02  # 10 gaps of 50 ms


def test_an_api_that_does_not_answer_is_named_with_what_to_check():
    import socket  # noqa: PLC0415

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ClientSettings(
        base_url=f"http://risk:hunter2@127.0.0.1:{port}/risk-analytics/tft/external/",
        max_retries=1,
        backoff_base_s=0.0,
        rate_limit_per_s=0,
    )
    with RiskApiClient(settings, "key") as client, pytest.raises(ApiError) as info:
        client.get("accounts", {})
    message = str(info.value)
    assert f"The API at http://risk:***@127.0.0.1:{port}/" in message
    assert "did not answer: check that it is running and reachable" in message
    assert "hunter2" not in message


def test_retry_after_is_read_in_both_of_its_forms():
    import datetime as dt  # noqa: PLC0415

    from daily_profit_model.ingestion.client import retry_after_seconds  # noqa: PLC0415

    now = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("3", now) == 3.0
    assert retry_after_seconds("Tue, 01 Dec 2026 12:00:07 GMT", now) == 7.0
    assert retry_after_seconds("Tue, 01 Dec 2026 11:59:00 GMT", now) == 0.0  # past
    assert retry_after_seconds("soon", now) == 0.0
    assert retry_after_seconds(None, now) == 0.0

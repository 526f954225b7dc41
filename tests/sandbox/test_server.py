"""The sandbox API: the contract, exact paging, faults at their rates, a real socket."""

from __future__ import annotations

import threading

import httpx
import pandas as pd
import pytest

from daily_profit_model.sandbox.faults import KINDS, FaultSettings
from daily_profit_model.sandbox.server import serve
from tests.conftest import API_KEY

HEADERS = {"apiKey": API_KEY}


def _busiest_day(tables) -> str:
    counts = tables["trades_closed"]["trade_date"].value_counts()
    return counts.index[0].strftime("%Y%m%d")


def test_requests_without_the_key_are_refused(small_world):
    with small_world.client(API_KEY) as client:
        assert client.get("accounts").status_code == 401
        assert client.get("accounts", headers={"apiKey": "wrong"}).status_code == 401
        assert client.get("accounts", headers=HEADERS).json()["Status"] == "ok"


def test_bad_parameters_are_400_with_a_message(small_world):
    with small_world.client(API_KEY) as client:
        response = client.get(
            "v2/trades/closed", headers=HEADERS, params={"limit": 5000}
        )
        assert response.status_code == 400 and "limit" in response.json()["Message"]
        response = client.get(
            "v2/metrics/daily", headers=HEADERS, params={"dates": "2025-01-06"}
        )
        assert response.status_code == 400 and "YYYYMMDD" in response.json()["Message"]


def test_paging_returns_each_row_exactly_once(small_world, tables):
    day = _busiest_day(tables)
    rows, skip, total = [], 0, None
    with small_world.client(API_KEY) as client:
        while total is None or skip < total:
            body = client.get(
                "v2/trades/closed",
                headers=HEADERS,
                params={
                    "trade-date": day,
                    "limit": 97,
                    "skip": skip,
                    "include-total": 1,
                },
            ).json()
            assert body["Status"] == "ok"
            total = body["Data"]["total"]
            rows += body["Data"]["data"]
            skip += body["Data"]["limit"]
    served = pd.DataFrame(rows)
    expected = tables["trades_closed"]
    expected = expected[
        expected["trade_date"].astype(str) == pd.Timestamp(day).date().isoformat()
    ]
    key = ["login", "platform", "broker", "position"]
    assert len(served) == total == len(expected)
    assert not served.duplicated(key).any()
    assert set(map(tuple, served[key].to_numpy())) == set(
        map(tuple, expected[key].to_numpy())
    )


def test_filters_and_wire_names(small_world, tables):
    login = int(tables["accounts"]["login"].iloc[0])
    with small_world.client(API_KEY) as client:
        body = client.get(
            "v2/metrics/daily",
            headers=HEADERS,
            params={"logins": str(login), "limit": 1000},
        ).json()
    rows = body["Data"]["data"]
    assert rows and {r["login"] for r in rows} == {login}
    assert {"netProfit", "currentBalance", "mt_version", "accountId", "date"} <= set(
        rows[0]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_occurs_at_its_rate(small_world, kind):
    rate, requests = 0.2, 300
    settings = FaultSettings(seed=3, rates={kind: rate}, slow_seconds=0.0)
    app = small_world.app(API_KEY, settings)
    for i in range(requests):  # first reads of first pages (late rows hit only those)
        fault = app.faults.draw("v2/trades/closed", f"trade-date=day{i}&skip=0")
        assert fault in (None, kind)
    observed = app.faults.injected[kind] / requests
    tolerance = 3 * (rate * (1 - rate) / requests) ** 0.5
    assert abs(observed - rate) < tolerance


def test_faults_are_deterministic_for_a_seed(small_world):
    settings = FaultSettings(seed=5, rates={k: 0.1 for k in KINDS}, slow_seconds=0.0)
    draws = []
    for _ in range(2):
        app = small_world.app(API_KEY, settings)
        draws.append([app.faults.draw("accounts", f"q={i % 7}") for i in range(100)])
    assert draws[0] == draws[1]


def test_fault_responses_reach_a_client(small_world):
    with small_world.client(
        API_KEY, FaultSettings(rates={"rate_limit_retry_after": 1.0})
    ) as c:
        response = c.get("accounts", headers=HEADERS)
        assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    with small_world.client(API_KEY, FaultSettings(rates={"fail_envelope": 1.0})) as c:
        assert c.get("accounts", headers=HEADERS).json()["Status"] == "fail"
    with small_world.client(API_KEY, FaultSettings(rates={"malformed": 1.0})) as c:
        body = c.get("v2/trades/closed", headers=HEADERS, params={"limit": 5}).json()
        junk = body["Data"]["data"][5:]
        assert body["Data"]["count"] == 8
        assert (
            junk[0]["position"] == {"not": "a scalar"} and junk[1]["position"] is None
        )


def test_real_server_on_loopback_and_a_cut_connection(small_world):
    app = small_world.app(API_KEY, FaultSettings(rates={"cut": 0.5}, seed=1))
    server = serve(app, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/risk-analytics/tft/external/"
    outcomes = {"ok": 0, "cut": 0}
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            for i in range(30):
                try:
                    body = client.get(
                        "v2/trades/closed",
                        headers=HEADERS,
                        params={"limit": 200, "skip": i},
                    ).json()
                    assert body["Status"] == "ok"
                    outcomes["ok"] += 1
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    outcomes["cut"] += 1
    finally:
        server.shutdown()
        server.server_close()
    assert outcomes["ok"] > 5 and outcomes["cut"] > 5

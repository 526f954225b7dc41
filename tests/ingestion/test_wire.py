"""Typed pages: msgspec decodes clean pages into wire columns that validate, gather and
store as the dict path does; anything odd is refused and takes the dict path."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.ingestion.client import _RowSet
from daily_profit_model.ingestion.validation import validate_rows
from daily_profit_model.ingestion.wire import PageDecoder
from tests.ingestion.test_validation import SERVED, _complete, _known_only, _wire_page

TRADES = "v2/trades/closed"
TRADE_KEY = ["login", "platform", "broker", "position", "tradeDate"]


def _body(rows: list[dict], status: str = "ok", listed: bool = False) -> bytes:
    envelope = {
        "Status": status,
        "Time": "2025-02-03T05:00:00Z",
        "Data": rows  # accounts: a plain list
        if listed
        else {
            "skip": 0,
            "limit": 1000,
            "count": len(rows),
            "data": rows,
            "total": len(rows),
        },
    }
    return json.dumps(envelope).encode()  # stdlib: it writes any integer


def _decoder(endpoint: str) -> PageDecoder:
    return PageDecoder(ENDPOINTS[endpoint], listed=endpoint == "accounts")


def _clean(small_world, endpoint: str, n: int = 300) -> list[dict]:
    return _complete(
        endpoint, _known_only(endpoint, _wire_page(small_world, endpoint, n))
    )


@pytest.mark.parametrize("endpoint", SERVED)
def test_a_typed_page_validates_to_the_rows_of_the_general_path(small_world, endpoint):
    rows = _clean(small_world, endpoint)
    page = _decoder(endpoint).decode(_body(rows, listed=endpoint == "accounts"))
    assert page is not None and page.total == len(rows) and page.time
    assert page.rows.to_pylist() == rows  # the wire, column by column
    typed = validate_rows(ENDPOINTS[endpoint], page.rows, "run")
    general = validate_rows(ENDPOINTS[endpoint], rows, "run")
    assert isinstance(typed.rows, pa.Table) and typed.rejected.empty
    assert typed.rows["extra"].to_pylist() == ["{}"] * len(rows)  # JSON text
    pd.testing.assert_frame_equal(
        typed.rows.drop_columns(["extra"]).to_pandas(
            types_mapper={pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype()}.get
        ),
        general.rows.drop(columns=["extra"]),
        check_dtype=False,
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(venue="LD4"),  # a field the contract does not list
        lambda r: r.pop("login"),  # a key field missing
        lambda r: r.update(lots="1.5"),  # a number as text
        lambda r: r.update(lots=True),  # a boolean is not a number
        lambda r: r.update(login=None),  # a NULL key
        lambda r: r.update(login=2**70),  # beyond any integer column
    ],
)
def test_an_odd_row_makes_the_page_untyped(small_world, change):
    rows = _clean(small_world, TRADES, 50)
    change(rows[7])
    assert PageDecoder(ENDPOINTS[TRADES]).decode(_body(rows)) is None


@pytest.mark.parametrize("endpoint", [TRADES, "v2/metrics/alltime"])
def test_a_non_key_field_left_out_is_null_on_both_paths(small_world, endpoint):
    """A source that sends fewer fields than the contract lists (the sandbox's lifetime
    metrics lack most of them) still takes the typed path, with the same rows."""
    rows = _clean(small_world, endpoint, 40)
    key = {
        f.wire
        for f in ENDPOINTS[endpoint].fields
        if f.column in ENDPOINTS[endpoint].key
    }
    left_out = [f.wire for f in ENDPOINTS[endpoint].fields if f.wire not in key][:3]
    for row in rows:
        for name in left_out:
            row.pop(name)
    page = _decoder(endpoint).decode(_body(rows))
    assert page is not None
    assert all(page.rows[name].null_count == len(rows) for name in left_out)
    typed = validate_rows(ENDPOINTS[endpoint], page.rows, "run")
    general = validate_rows(ENDPOINTS[endpoint], rows, "run")
    assert typed.rejected.empty and general.rejected.empty

    def nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:  # NaT, NaN, <NA>: None
        return frame.astype(object).where(frame.notna(), None)

    pd.testing.assert_frame_equal(
        nulls_as_none(typed.rows.drop_columns(["extra"]).to_pandas()),
        nulls_as_none(general.rows.drop(columns=["extra"])),
        check_dtype=False,
    )


def test_an_integer_travelling_as_a_float_must_be_whole(small_world):
    metrics = "v2/metrics/daily"
    decoder = PageDecoder(ENDPOINTS[metrics])
    rows = _clean(small_world, metrics, 50)
    rows[4]["numTradedSymbols"] = 3.0
    page = decoder.decode(_body(rows))
    assert page is not None and page.rows["numTradedSymbols"][4].as_py() == 3
    rows[4]["numTradedSymbols"] = 2.5  # pyarrow alone would store 2
    assert decoder.decode(_body(rows)) is None


def test_a_page_that_is_not_ok_or_not_json_is_untyped(small_world):
    decoder = PageDecoder(ENDPOINTS[TRADES])
    rows = _clean(small_world, TRADES, 20)
    assert decoder.decode(_body(rows, status="error")) is None
    assert decoder.decode(_body(rows)[:-40]) is None  # a body cut short


def test_a_typed_page_whose_text_is_no_date_goes_to_quarantine(small_world):
    rows = _clean(small_world, TRADES, 60)
    rows[3]["tradeDate"] = "06/01/2025"  # still a string: msgspec takes it
    page = PageDecoder(ENDPOINTS[TRADES]).decode(_body(rows))
    validated = validate_rows(ENDPOINTS[TRADES], page.rows, "run")
    assert len(validated.rows) == 59
    assert (
        validated.rejected["reason"].str.startswith("tradeDate: not a valid date").all()
    )


def test_typed_pages_gather_each_row_once_and_keep_each_version(small_world):
    rows = _clean(small_world, TRADES, 40)
    decoder = PageDecoder(ENDPOINTS[TRADES])
    changed = {**rows[25], "profit": rows[25]["profit"] + 1.0}
    first = decoder.decode(_body(rows[:30])).rows
    second = decoder.decode(_body([*rows[20:], changed])).rows  # 10 rows again
    gathered = _RowSet(TRADE_KEY)
    gathered.add(first)
    gathered.add(second)
    assert gathered.distinct_keys == 40
    result = gathered.rows()
    assert isinstance(result, pa.Table) and result.num_rows == 41
    assert gathered.duplicates == 10
    assert gathered.rows().num_rows == 41 and gathered.duplicates == 10  # asked again
    versions = [
        r
        for r in result.to_pylist()
        if r["position"] == rows[25]["position"]
        and r["login"] == rows[25]["login"]
        and r["broker"] == rows[25]["broker"]
    ]
    assert [v["profit"] for v in versions] == [rows[25]["profit"], changed["profit"]]


def test_a_page_of_dicts_among_typed_ones_turns_everything_into_dicts(small_world):
    rows = _clean(small_world, TRADES, 30)
    gathered = _RowSet(TRADE_KEY)
    gathered.add(PageDecoder(ENDPOINTS[TRADES]).decode(_body(rows[:20])).rows)
    gathered.add([*rows[15:], {"login": None}])  # 5 repeats and a keyless row
    result = gathered.rows()
    assert isinstance(result, list) and len(result) == 31
    assert gathered.distinct_keys == 30 and gathered.duplicates == 5

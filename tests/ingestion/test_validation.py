"""Validation: the clean-page path agrees with the general one, and hands off what it must."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.ingestion import validation
from daily_profit_model.ingestion.validation import validate_rows

SERVED = ("v2/trades/closed", "v2/trades/open", "v2/metrics/daily", "accounts")


def _wire_page(small_world, endpoint: str, n: int = 300) -> list[dict]:
    app = small_world.app("key")
    table = app.rows(endpoint, {})  # every row of the endpoint, in natural-key order
    return app.to_wire(endpoint, table.slice(0, n))


def _known_only(endpoint: str, rows: list[dict]) -> list[dict]:
    """Rows with only the contract's fields (the sandbox serves a few more for some)."""
    known = {f.wire for f in ENDPOINTS[endpoint].fields}
    return [{k: v for k, v in row.items() if k in known} for row in rows]


def _complete(endpoint: str, rows: list[dict]) -> list[dict]:
    fields = ENDPOINTS[endpoint].fields
    return [{f.wire: row.get(f.wire) for f in fields} for row in rows]


@pytest.mark.parametrize("endpoint", SERVED)
def test_clean_pages_take_the_fast_path_and_match_the_general_one(
    small_world, endpoint
):
    rows = _complete(endpoint, _known_only(endpoint, _wire_page(small_world, endpoint)))
    spec = ENDPOINTS[endpoint]
    fast = validation._validate_clean(spec, rows, "run")
    general = validation._validate_general(spec, rows, "run")
    assert fast is not None, "a page of the sandbox's own rows is clean"
    assert len(fast.rows) == len(rows) and fast.rejected.empty
    pd.testing.assert_frame_equal(fast.rows, general.rows)
    assert list(fast.rejected.columns) == list(general.rejected.columns)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: r.update(login=None), "key field login is missing or NULL"),
        (lambda r: r.update(lots="1.5"), "lots: not a valid double precision"),
        (lambda r: r.update(lots=True), "lots: not a valid double precision"),
        (lambda r: r.update(login=12.5), "login: not a valid bigint"),
        (lambda r: r.update(side="hold"), "side: not buy or sell"),
        (lambda r: r.update(tradeDate="06/01/2025"), "tradeDate: not a valid date"),
        (lambda r: r.update(openTime="yesterday"), "openTime: not a valid timestamptz"),
    ],
)
def test_one_bad_value_sends_the_page_to_the_general_path(small_world, change, reason):
    endpoint = "v2/trades/closed"
    rows = _complete(endpoint, _known_only(endpoint, _wire_page(small_world, endpoint)))
    spec = ENDPOINTS[endpoint]
    clean = validation._validate_clean(spec, rows, "run")
    broken = copy.deepcopy(rows)
    change(broken[7])
    assert validation._validate_clean(spec, broken, "run") is None
    result = validate_rows(spec, broken, "run")
    assert len(result.rows) == len(rows) - 1
    assert result.rejected["reason"].str.startswith(reason).tolist() == [True]
    assert result.rejected["payload"].iloc[0] == broken[7]
    expected = clean.rows.drop(index=7).reset_index(drop=True)
    pd.testing.assert_frame_equal(result.rows, expected)


def test_unknown_or_missing_fields_keep_the_general_path(small_world):
    endpoint = "v2/trades/closed"
    rows = _complete(endpoint, _known_only(endpoint, _wire_page(small_world, endpoint)))
    spec = ENDPOINTS[endpoint]
    extra = copy.deepcopy(rows)
    extra[3]["venue"] = "LD4"
    assert validation._validate_clean(spec, extra, "run") is None
    kept = validate_rows(spec, extra, "run")
    assert kept.rows["extra"].iloc[3] == {"venue": "LD4"} and kept.rejected.empty
    missing = copy.deepcopy(rows)
    del missing[5]["comment"]
    assert validation._validate_clean(spec, missing, "run") is None
    assert validate_rows(spec, missing, "run").rows["comment"].iloc[5] is None

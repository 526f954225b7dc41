"""A month filed straight from an export is the month ingestion stores and archives:
the same file (columns, types, rows), the same ledger days, the same cold summaries."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from kedro.io import DatasetError

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.datasets.cold_tier import next_month
from daily_profit_model.datasets.raw_ingestion import RawIngestionDataset
from daily_profit_model.sandbox.server import WORLD_TABLES
from tests.ingestion.helpers import run_ingestion, use_schema

JANUARY = dt.date(2025, 1, 1)
TIERED = {
    e.path: e
    for e in ENDPOINTS.values()
    if e.table in ("raw_metrics_daily", "raw_metrics_hourly", "raw_trades_closed")
}
ENDPOINTS_BY_TABLE = {e.table: e for e in TIERED.values()}
STAMPS = ["run_id", "ingested_at"]  # who stored a row and when: differ by design


def _tiers(root) -> dict:
    return {
        e.table: {"path": str(root / e.table), "hot_days": 3} for e in TIERED.values()
    }


def _month_rows(world, endpoint, month=JANUARY):
    day = ds.field(ENDPOINTS[endpoint].date_column)
    dataset = ds.dataset(world.folder / WORLD_TABLES[endpoint], format="parquet")
    return dataset.to_table(filter=(day >= month) & (day < next_month(month)))


@pytest.fixture(scope="module")
def archived(pgdata, small_world, tmp_path_factory):
    """January as ingestion stores it: a day at a time, moved cold (hot_days 3)."""
    root = tmp_path_factory.mktemp("archived")
    database = use_schema(pgdata, "filing_archived")
    run_ingestion(small_world, cold_tiers=_tiers(root))
    return database, root


@pytest.fixture(scope="module")
def filed(pgdata, small_world, tmp_path_factory, archived):
    """January filed from the world's files in one step per table."""
    root = tmp_path_factory.mktemp("filed")
    database = use_schema(pgdata, "filing_filed")
    store = RawIngestionDataset(cold_tiers=_tiers(root))
    for endpoint in TIERED:
        store.file_month(endpoint, JANUARY, _month_rows(small_world, endpoint), "filed")
    return database, root, store


def _file(root, table) -> pd.DataFrame:
    frame = pq.read_table(root / table / f"{JANUARY:%Y-%m}.parquet").to_pandas()
    key = [*ENDPOINTS_BY_TABLE[table].stored_key]
    return frame.drop(columns=STAMPS).sort_values(key, ignore_index=True)


@pytest.mark.parametrize("table", sorted(ENDPOINTS_BY_TABLE))
def test_the_filed_month_is_the_archived_file(archived, filed, table):
    (_, archived_root), (_, filed_root, _) = archived, filed
    name = f"{JANUARY:%Y-%m}.parquet"
    assert pq.read_schema(filed_root / table / name).remove_metadata() == (
        pq.read_schema(archived_root / table / name).remove_metadata()
    )
    expected = _file(archived_root, table)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(_file(filed_root, table), expected)


def _ledger(database) -> pd.DataFrame:
    with database.connect() as conn:
        rows = conn.execute(
            "SELECT endpoint, day, source_count, stored_count, quarantined_count,"
            " received_count, status FROM "
            f"{database.schema}.ingestion_state"  # noqa: S608 (test constants)
            " WHERE endpoint = ANY(%s) AND day < %s ORDER BY endpoint, day",
            [list(TIERED), next_month(JANUARY)],
        ).fetchall()
    return pd.DataFrame(rows)


def test_the_ledger_holds_the_same_days(archived, filed):
    expected = _ledger(archived[0])
    assert set(expected[6]) == {"complete"}
    pd.testing.assert_frame_equal(_ledger(filed[0]), expected)


def _exits(database) -> set[tuple]:
    with database.connect() as conn:
        return set(
            conn.execute(
                "SELECT month, account_id, exit_day FROM "
                f"{database.schema}.raw_metrics_daily_cold_exits"  # noqa: S608
            ).fetchall()
        )


def test_the_month_leaves_the_same_summaries(archived, filed):
    expected = _exits(archived[0])
    assert expected
    assert _exits(filed[0]) == expected


def test_a_month_stored_already_is_refused(filed, small_world):
    _, _, store = filed
    endpoint = "v2/trades/closed"
    with pytest.raises(DatasetError, match="the ledger holds .* days of 2025-01"):
        store.file_month(endpoint, JANUARY, _month_rows(small_world, endpoint), "again")


def test_rows_outside_the_month_are_refused(filed, small_world):
    _, _, store = filed
    endpoint = "v2/metrics/hourly"
    february = next_month(JANUARY)
    rows = _month_rows(small_world, endpoint, february)
    with pytest.raises(DatasetError, match="days outside that month"):
        store.file_month(endpoint, dt.date(2025, 3, 1), rows, "wrong month")

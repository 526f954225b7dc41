"""Raw trades and daily metrics with cold months in parquet: staging, features and
targets built over them are the rows built over a database that kept every month, and
the morning's incremental build loads nothing back."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from daily_profit_model.datasets.cold_tier import partitions, raw_table_tier
from daily_profit_model.datasets.postgres_table import PostgresTableDataset
from tests.features.helpers import (
    RAW_TIERED,
    build_features,
    raw_cold_tiers,
    sandbox_plans,
    staging_tier_path,
    stored_rows,
)
from tests.ingestion.helpers import run_ingestion, use_schema

JANUARY = dt.date(2025, 1, 1)


@pytest.fixture(scope="module")
def schemas(pgdata, small_world, tmp_path_factory):
    """The small world ingested and built twice: every month in PostgreSQL, and with the
    raw tables and staging keeping only February (hot_days 3); full builds on two
    connections."""
    plans = sandbox_plans(tmp_path_factory.mktemp("plans"))
    hot = use_schema(pgdata, f"raw_hot_{uuid.uuid4().hex[:8]}")
    run_ingestion(small_world, plans_dir=plans)
    build_features(workers=2)
    cold = use_schema(pgdata, f"raw_cold_{uuid.uuid4().hex[:8]}")
    run_ingestion(small_world, plans_dir=plans, cold_tiers=raw_cold_tiers(cold, 3))
    build_features(workers=2, staging_hot_days=3)
    return hot, cold


def _held(database, table: str) -> set[dt.date]:
    with database.connect() as conn:
        return set(partitions(conn, database.schema, table))


def _tidy(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    tier = raw_table_tier(table, {"path": "unused"})
    frame = frame.drop(columns=["run_id", "ingested_at"])
    frame[tier.date_column] = pd.to_datetime(frame[tier.date_column])
    frame = frame.sort_values(list(tier.key_columns), ignore_index=True)
    return frame.astype(object).where(frame.notna(), None)  # one kind of missing


def _raw_through_catalog(database, table: str) -> pd.DataFrame:
    """Every row of a raw table through its catalog reader (both tiers; ``database`` is
    the process's current one)."""
    tier = raw_cold_tiers(database, 3)[table]
    dataset = PostgresTableDataset(
        table=table,
        load_args={"date_column": raw_table_tier(table, tier).date_column},
        cold_tier={"path": tier["path"]},
    )
    return _tidy(dataset.load(), table)


def _raw_in_postgres(database, table: str) -> pd.DataFrame:
    with database.connect() as conn:
        cursor = conn.execute(f"SELECT * FROM {database.schema}.{table}")  # noqa: S608
        columns = [d.name for d in cursor.description]
        return _tidy(pd.DataFrame(cursor.fetchall(), columns=columns), table)


def test_cold_raw_months_are_files_and_every_row_is_read(schemas):
    hot, cold = schemas
    for table in RAW_TIERED:
        tier = raw_table_tier(table, raw_cold_tiers(cold, 3)[table])
        assert tier.months() == [JANUARY], table
        assert JANUARY not in _held(cold, table)
        assert JANUARY in _held(hot, table)
        expected = _raw_in_postgres(hot, table)
        assert len(expected) > 0
        assert_frame_equal(
            _raw_through_catalog(cold, table), expected, check_dtype=False
        )


def test_a_cold_month_leaves_its_exits_in_postgresql(schemas):
    """Each account's first non-active January day stays in PostgreSQL, so that staging
    knows who left without loading January back."""
    hot, cold = schemas
    with hot.connect() as conn:
        expected = conn.execute(
            f"SELECT account_id, min(date) FROM {hot.schema}.raw_metrics_daily"  # noqa: S608
            " WHERE status <> 1 AND date < '2025-02-01' GROUP BY account_id"
            " ORDER BY account_id"
        ).fetchall()
    with cold.connect() as conn:
        kept = conn.execute(
            f"SELECT account_id, exit_day FROM {cold.schema}.raw_metrics_daily_cold_exits"  # noqa: S608
            " WHERE month = '2025-01-01' ORDER BY account_id"
        ).fetchall()
    assert len(expected) > 0
    assert kept == expected


def _staging(database, day: dt.date | None = None) -> pd.DataFrame:
    """Staging's rows of both tiers (``database`` is the process's current one), as a
    notebook reads them: the catalog's entry, narrowed to a day."""
    entry = PostgresTableDataset(
        table="stg_account_day",
        load_args={"date_column": "date"},
        cold_tier={"path": str(staging_tier_path(database))},
    )
    if day:
        entry = entry.narrowed(start=day.isoformat(), end=day.isoformat())
    return _plain(entry.load())


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in key order with plain values, whichever reader gave them."""
    frame = frame.assign(date=pd.to_datetime(frame["date"]))
    frame = frame.sort_values(["account_id", "date"], ignore_index=True).astype(object)
    return frame.where(frame.notna(), None)


def test_builds_over_cold_months_equal_builds_over_every_month(schemas):
    """The full builds borrowed January for their workers and gave it back; staging's
    own January went cold after its build."""
    hot, cold = schemas
    for table in ("target_account_day", "feature_account_day"):
        expected = stored_rows(hot, table)
        assert len(expected) > 0
        assert_frame_equal(stored_rows(cold, table), expected, obj=table)
    assert_frame_equal(_staging(cold), _plain(stored_rows(hot, "stg_account_day")))
    for table in (*RAW_TIERED, "stg_account_day"):
        assert JANUARY not in _held(cold, table), table


def test_a_full_build_in_duckdb_reads_the_files_and_stores_the_same_rows(
    schemas, caplog
):
    """The three full builds again, in DuckDB, in three buckets of accounts (the trades
    split by bucket once), two cold months filed at once: January of the raw tables read from their
    files (nothing loaded back), staging's January written straight to its file, and
    every row as PostgreSQL built it over a database that kept every month."""
    hot, cold = schemas
    with cold.connect() as conn:
        for table in ("stg_account_day", "feature_account_day", "target_account_day"):
            conn.execute(f"DROP TABLE {cold.schema}.{table}")
    with caplog.at_level(logging.INFO):
        build_features(
            workers=2,
            staging_hot_days=3,
            engine="duckdb",
            full_build={"buckets": 3, "filing_threads": 2},
        )
    for table, relation in (
        ("stg_account_day", "raw_trades_closed"),
        ("feature_account_day", "stg_account_day"),
    ):
        split = re.search(
            rf"{table}: DuckDB split {relation} \((\d+) of its (\d+) columns\)"
            " into 3 buckets",
            caplog.text,
        )
        assert split, f"{table} did not split {relation}"
        if relation == "raw_trades_closed":  # run_id, ingested_at: no query reads them
            assert int(split[1]) < int(split[2])
    with cold.connect() as conn:
        for table in ("stg_account_day", "feature_account_day", "target_account_day"):
            assert f"{table}: DuckDB full build" in caplog.text
            comment = conn.execute(
                "SELECT obj_description(%s::regclass, 'pg_class')",
                [f"{cold.schema}.{table}"],
            ).fetchone()[0]
            assert comment.startswith("daily-profit-model: built from data loaded")
    for table in RAW_TIERED:
        assert f"DuckDB reads {table}: " in caplog.text
        assert f"{table}: 1 cold months" not in caplog.text  # nothing loaded back
    assert "(1 cold month files)" in caplog.text
    for table in ("target_account_day", "feature_account_day"):
        assert_frame_equal(
            stored_rows(cold, table), stored_rows(hot, table), obj=table, rtol=1e-6
        )
    assert JANUARY not in _held(cold, "stg_account_day")
    assert_frame_equal(
        _staging(cold), _plain(stored_rows(hot, "stg_account_day")), rtol=1e-9
    )


def test_a_rebuilt_cold_day_borrows_its_month_and_gives_it_back(schemas, caplog):
    hot, cold = schemas
    day = dt.date(2025, 1, 20)
    with caplog.at_level(logging.INFO):
        build_features(
            start_date=day.isoformat(), end_date=day.isoformat(), staging_hot_days=3
        )
    assert "loaded back to be read" in caplog.text
    for table in (*RAW_TIERED, "stg_account_day"):
        assert JANUARY not in _held(cold, table), table
    assert_frame_equal(
        stored_rows(cold, "target_account_day", day),
        stored_rows(hot, "target_account_day", day),
    )
    assert_frame_equal(
        _staging(cold, day), _plain(stored_rows(hot, "stg_account_day", day))
    )


def test_the_morning_build_loads_no_raw_month(schemas, caplog):
    """A new day's staging reads raw rows from its own start: no raw month comes back
    (the features' 60 days of history borrow staging's January here, as staging's
    hot_days is 3; the project's 75 keep those days hot)."""
    _, cold = schemas
    newest = stored_rows(cold, "stg_account_day")["date"].max().isoformat()
    with caplog.at_level(logging.INFO):
        build_features(start_date=newest, end_date=newest, staging_hot_days=3)
    for table in RAW_TIERED:
        assert f"{table}: 1 cold months" not in caplog.text
    assert "stg_account_day: 1 cold months" in caplog.text


def test_a_correction_in_a_cold_month_replaces_its_exits(schemas):
    """A month loaded back to take a write drops its summary; going cold writes it anew."""
    _, cold = schemas
    table = "raw_metrics_daily"
    tier = raw_table_tier(table, raw_cold_tiers(cold, 3)[table])
    summary = f"{cold.schema}.raw_metrics_daily_cold_exits"
    with cold.connect() as conn:
        before = conn.execute(f"SELECT count(*) FROM {summary}").fetchone()[0]  # noqa: S608
        with conn.transaction():
            tier.thaw(conn, cold.schema, table, JANUARY, JANUARY)
            assert conn.execute(f"SELECT count(*) FROM {summary}").fetchone()[0] == 0  # noqa: S608
            conn.execute(
                f"UPDATE {cold.schema}.{table} SET status = 1"  # noqa: S608
                " WHERE status <> 1 AND account_id = (SELECT min(account_id) FROM"
                f" {cold.schema}.{table} WHERE status <> 1 AND date < '2025-02-01')"
            )
        tier.archive(conn, cold.schema, table)
        after = conn.execute(f"SELECT count(*) FROM {summary}").fetchone()[0]  # noqa: S608
    assert after == before - 1


def test_a_duckdb_build_out_of_memory_says_which_setting_to_raise(schemas):
    """Last in this module: the failed build leaves staging to be built again."""
    _, cold = schemas
    with cold.connect() as conn:
        conn.execute(f"DROP TABLE {cold.schema}.stg_account_day")
    with pytest.raises(Exception, match="raise full_build.buckets") as raised:
        build_features(
            workers=2,
            staging_hot_days=3,
            engine="duckdb",
            full_build={"memory_limit": "1MB", "buckets": 1},
        )
    assert "stg_account_day: the DuckDB full build ran out of its memory_limit 1MB" in (
        str(raised.value)
    )

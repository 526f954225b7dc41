"""A raw table's cold months in parquet: nothing the API sent is lost, and a day fetched
again into a cold month is reconciled against every row stored, then goes cold again."""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import pytest

from daily_profit_model.datasets.cold_tier import ColdTier
from daily_profit_model.datasets.postgres_table import PostgresTableDataset
from tests.ingestion.helpers import run_ingestion, use_schema

TABLE = "raw_metrics_hourly"
JANUARY = dt.date(2025, 1, 1)
KEY = ("account_id", "date", "hour")


@pytest.fixture(scope="module")
def tiered(pgdata, small_world, tmp_path_factory):
    """A schema whose hourly metrics kept only February in PostgreSQL (hot_days 3)."""
    database = use_schema(pgdata, "ingest_cold")
    folder = tmp_path_factory.mktemp("cold") / TABLE
    tiers = {TABLE: {"path": str(folder), "hot_days": 3}}
    run_ingestion(small_world, cold_tiers=tiers)
    return database, tiers, ColdTier(folder, "date", KEY, 3)


def _hourly(tier: ColdTier, **load_args) -> pd.DataFrame:
    return PostgresTableDataset(
        table=TABLE,
        load_args={"date_column": "date", **load_args},
        cold_tier={"path": str(tier.path)},
    ).load()


def _months_in_postgres(database) -> set[dt.date]:
    with database.connect() as conn:
        rows = conn.execute(
            "SELECT DISTINCT date_trunc('month', date)::date FROM "
            f"{database.schema}.{TABLE}"  # noqa: S608 (test constants)
        ).fetchall()
    return {r[0] for r in rows}


def test_every_row_the_source_sent_is_kept(tiered, small_world):
    database, _, tier = tiered
    assert tier.months() == [JANUARY]
    assert JANUARY not in _months_in_postgres(database)
    stored = _hourly(tier)
    sent = pd.read_parquet(small_world.folder / "metrics_hourly")
    assert len(stored) == len(sent)
    assert set(zip(stored["account_id"], stored["hour"])) == set(
        zip(sent["account_id"], sent["hour"])
    )


def test_a_day_fetched_again_into_a_cold_month_is_reconciled(
    tiered, small_world, caplog
):
    """A row the source no longer serves, stored in a cold month, moves to
    raw_removed_rows when its day is fetched again; the month goes cold again."""
    database, tiers, tier = tiered
    day = dt.date(2025, 1, 20)
    before = _hourly(tier)
    with database.connect() as conn:
        with conn.transaction():
            tier.thaw(conn, database.schema, TABLE, day, day)
            conn.execute(
                f"INSERT INTO {database.schema}.{TABLE} (account_id, date, hour, net_profit)"  # noqa: S608
                " SELECT 'gone-' || account_id, date, hour, 99.5 FROM "
                f"{database.schema}.{TABLE} WHERE date = %s LIMIT 1",
                [day],
            )
        tier.archive(conn, database.schema, TABLE)
    assert len(_hourly(tier)) == len(before) + 1
    with caplog.at_level(logging.INFO):
        run_ingestion(
            small_world,
            {
                "start_date": str(day),
                "end_date": str(day),
                "endpoints": ["v2/metrics/hourly"],
            },
            cold_tiers=tiers,
        )
    assert "loaded back" in caplog.text
    assert JANUARY not in _months_in_postgres(database)
    after = _hourly(tier)
    assert len(after) == len(before)
    assert not after["account_id"].str.startswith("gone-").any()
    with database.connect() as conn:
        moved = conn.execute(
            f"SELECT row_data ->> 'account_id' FROM {database.schema}.raw_removed_rows"  # noqa: S608
            " WHERE source_table = %s AND day = %s",
            [TABLE, day],
        ).fetchall()
    assert len(moved) == 1 and moved[0][0].startswith("gone-")

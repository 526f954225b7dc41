"""The feature store's cold tier: months moved to parquet read back as if they had never
left PostgreSQL, through every reader, and a build that touches one loads it back."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError
from pandas.testing import assert_frame_equal

from daily_profit_model.datasets.cold_tier import ColdTier, partitions
from daily_profit_model.datasets.model_input import ModelInputDataset, ModelInputExport
from daily_profit_model.datasets.postgres_table import PostgresTableDataset
from daily_profit_model.datasets.sql_build import SqlBuild, SqlTableBuildDataset
from tests.features.helpers import (
    build_features,
    cold_tier_path,
    sandbox_plans,
    stored_rows,
    target_tier_path,
)
from tests.ingestion.helpers import run_ingestion, use_schema

JANUARY = dt.date(2025, 1, 1)
KEY = ["cutoff_date", "account_id"]


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in key order with every number as float32 (the precision both tiers keep:
    PostgreSQL's ``real`` prints its shortest decimal, parquet widens the float32)."""
    frame = frame.copy()
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"])
    frame["target_date"] = pd.to_datetime(frame["target_date"])
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            frame[column] = values.astype(bool)
        elif pd.api.types.is_numeric_dtype(values) or (
            values.dtype == object
            and values.map(lambda v: v is None or isinstance(v, int | float)).all()
        ):
            frame[column] = pd.to_numeric(values.astype(object)).astype("float32")
    return frame.sort_values(KEY, ignore_index=True)


def _tier(database, table: str = "feature_account_day") -> ColdTier:
    path = (target_tier_path if table == "target_account_day" else cold_tier_path)(
        database
    )
    return ColdTier(path, "cutoff_date", ("account_id", "cutoff_date"), 3)


TIERED = ("feature_account_day", "target_account_day")


def _features_dataset(database, **load_args) -> PostgresTableDataset:
    return PostgresTableDataset(
        table="feature_account_day",
        load_args={"date_column": "cutoff_date", **load_args},
        cold_tier={"path": str(cold_tier_path(database))},
    )


def _targets_dataset(database) -> PostgresTableDataset:
    return PostgresTableDataset(
        table="target_account_day",
        load_args={"date_column": "cutoff_date"},
        cold_tier={"path": str(target_tier_path(database))},
    )


def _partitions(database, table: str = "feature_account_day") -> set[dt.date]:
    with database.connect() as conn:
        return set(partitions(conn, database.schema, table))


def _thaw_everything(database) -> None:
    with database.connect() as conn, conn.transaction():
        for table in TIERED:
            _tier(database, table).thaw(
                conn,
                database.schema,
                table,
                dt.date(2000, 1, 1),
                dt.date(2100, 1, 1),
            )


def _archive_again(database) -> None:
    with database.connect() as conn:
        for table in TIERED:
            _tier(database, table).archive(conn, database.schema, table)


def _joined_in_postgres(database) -> pd.DataFrame:
    """The model input as the SQL join of both tables (every month in PostgreSQL)."""
    with database.connect() as conn:
        cursor = conn.execute(
            f"SELECT f.*, t.target_net_profit FROM {database.schema}.feature_account_day"  # noqa: S608
            f" AS f JOIN {database.schema}.target_account_day AS t"
            " USING (account_id, cutoff_date) WHERE t.target_net_profit IS NOT NULL"
        )
        columns = [d.name for d in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=columns)


@pytest.fixture(scope="module")
def tiered(pgdata, small_world, tmp_path_factory):
    """A schema whose feature and target tables kept only February in PostgreSQL
    (hot_days 3)."""
    plans = sandbox_plans(tmp_path_factory.mktemp("plans"))
    database = use_schema(pgdata, f"cold_{uuid.uuid4().hex[:8]}")
    run_ingestion(small_world, plans_dir=plans)
    model_input = build_features(hot_days=3)
    return database, model_input


def test_cold_months_leave_postgresql_for_parquet(tiered):
    database, _ = tiered
    for table in TIERED:
        assert _tier(database, table).months() == [JANUARY], table
        assert JANUARY not in _partitions(database, table), table
        assert stored_rows(database, table)["cutoff_date"].min() >= dt.date(2025, 2, 1)


def test_every_reader_sees_both_tiers_as_one_table(tiered):
    """The catalog's readers over both tiers give the rows PostgreSQL gives once every
    month is back in it; so does the model input (features joined to targets)."""
    database, model_input = tiered
    loaded = _features_dataset(database).load()
    targets = _targets_dataset(database).load()
    january = _features_dataset(database, start="2025-01-20", end="2025-01-20").load()
    assert set(pd.to_datetime(january["cutoff_date"])) == {pd.Timestamp("2025-01-20")}
    _thaw_everything(database)
    try:
        every_row = stored_rows(database, "feature_account_day")
        assert len(loaded) == len(every_row) > 0
        assert_frame_equal(_comparable(loaded), _comparable(every_row))
        every_target = stored_rows(database, "target_account_day")
        assert len(targets) == len(every_target) > 0
        assert_frame_equal(_comparable(targets), _comparable(every_target))
        assert_frame_equal(
            _comparable(model_input), _comparable(_joined_in_postgres(database))
        )
    finally:
        _archive_again(database)
    for table in TIERED:
        assert JANUARY not in _partitions(database, table), table


def test_model_input_can_start_at_a_recent_cutoff(tiered, tmp_path):
    database, model_input = tiered
    dataset = ModelInputDataset(
        filepath=str(tmp_path / "recent.parquet"),
        features="feature_account_day",
        targets="target_account_day",
        cold_tier={"path": str(cold_tier_path(database))},
        targets_cold_tier={"path": str(target_tier_path(database))},
    )
    dataset.save(ModelInputExport(since=dt.date(2025, 1, 27)))
    recent = dataset.load()
    expected = model_input[pd.to_datetime(model_input["cutoff_date"]) >= "2025-01-27"]
    assert len(recent) == len(expected) > 0
    assert_frame_equal(_comparable(recent), _comparable(expected))


def test_a_build_of_a_cold_day_loads_its_month_back_first(tiered, caplog):
    """A late correction to a January day rebuilds that day from PostgreSQL's rows of
    the whole month (loaded back), and January goes cold again with the same rows."""
    database, _ = tiered
    before = _comparable(_features_dataset(database).load())
    targets_before = _comparable(_targets_dataset(database).load())
    with caplog.at_level(logging.INFO):
        build_features(start_date="2025-01-20", end_date="2025-01-20", hot_days=3)
    assert "cold months" in caplog.text and "loaded back" in caplog.text
    for table in TIERED:
        assert JANUARY not in _partitions(database, table), table
        assert _tier(database, table).months() == [JANUARY], table
    after = _comparable(_features_dataset(database).load())
    assert_frame_equal(after, before)
    assert np.isfinite(after["balance"]).all()
    assert_frame_equal(_comparable(_targets_dataset(database).load()), targets_before)


def test_a_file_beside_a_month_postgresql_holds_is_not_read(tiered):
    """A run killed after writing a month's file but before dropping its partition
    leaves both: PostgreSQL's rows are the ones read."""
    database, _ = tiered
    tier = _tier(database)
    before = _comparable(_features_dataset(database).load())
    february = tier.file(dt.date(2025, 2, 1))
    february.write_bytes(tier.file(JANUARY).read_bytes())  # wrong rows, on purpose
    try:
        assert_frame_equal(_comparable(_features_dataset(database).load()), before)
    finally:
        february.unlink()


def test_a_folder_of_another_schema_is_refused(tiered):
    database, _ = tiered
    with (
        database.connect() as conn,
        pytest.raises(DatasetError, match="give each database, schema and table"),
    ):
        _tier(database).held_months(conn, "another_schema", "feature_account_day")


def test_outcomes_of_a_cold_month_borrow_its_targets(tiered):
    """A backfill evaluating January's forecasts joins them to January's targets, which
    live in parquet: the outcomes build borrows the month and gives it back."""
    database, _ = tiered
    day = "2025-01-20"
    targets = _targets_dataset(database).narrowed(start=day, end=day).load()
    known = targets[targets["target_net_profit"].notna()]
    assert len(known) > 0
    PostgresTableDataset(table="predictions", save_args={"mode": "append"}).save(
        known[["account_id", "cutoff_date", "target_date"]].assign(
            model_name="daily_pnl",
            model_version=1,
            role="champion",
            served=True,
            forecast=0.0,
            mean=0.0,
            lower_90=-1.0,
            upper_90=1.0,
            scored_at=pd.Timestamp.now(tz="UTC"),
            run_id="cold-targets-test",
        )
    )
    target_day = pd.Timestamp(known["target_date"].iloc[0]).date()
    SqlTableBuildDataset(
        table="prediction_outcomes",
        query="prediction_outcomes.sql",
        date_column="target_date",
        key_columns=["account_id", "target_date", "model_version"],
        cold_inputs={
            "target_account_day": {
                "path": str(target_tier_path(database)),
                "date_column": "cutoff_date",
                "key_columns": ["account_id", "cutoff_date"],
            }
        },
        reads_from="prediction_outcomes_reads.sql",
    ).save(SqlBuild(target_day, target_day))
    outcomes = stored_rows(database, "prediction_outcomes")
    assert sorted(outcomes["actual"]) == sorted(known["target_net_profit"])
    assert JANUARY not in _partitions(database, "target_account_day")

"""PostgresTableDataset: exact round trips, upserts, date ranges, and clear errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from daily_profit_model.datasets import PostgresTableDataset
from daily_profit_model.db.frames import FrameValidationError

TRICKY_TEXT = [
    "quote \" and ' apostrophe",
    "tab\there, newline\nthere, CR\r, backslash \\N",
    None,
    "ünïcødé ✓ and emoji 🚀",
]


@pytest.fixture
def typed_table(database, scratch_schema) -> str:
    with database.connect() as conn:
        conn.execute(
            f"""CREATE TABLE {scratch_schema}.typed (
                id bigint PRIMARY KEY,
                small smallint,
                amount double precision,
                price numeric(12, 4),
                flag boolean,
                note text,
                happened_at timestamptz,
                day date,
                payload jsonb
            )"""
        )
    return scratch_schema


def _typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "small": pd.array([1, None, -32768, 32767], dtype="Int64"),
            # NaN is a value, <NA> is NULL: both must come back as they went in.
            "amount": pd.arrays.FloatingArray(
                np.array([1.5, np.nan, 0.0, -2.25]),
                np.array([False, False, True, False]),
            ),
            "price": [Decimal("12345678.1234"), None, Decimal("-0.0001"), Decimal("0")],
            "flag": pd.array([True, False, None, True], dtype="boolean"),
            "note": TRICKY_TEXT,
            "happened_at": pd.to_datetime(
                [
                    "2024-03-10 01:59:59.123456-05:00",
                    "2024-03-10 03:00:00-04:00",
                    None,
                    "2024-12-31 23:59:59.999999+00:00",
                ],
                utc=True,
                format="ISO8601",
            ).tz_convert("America/New_York"),
            "day": [
                dt.date(2024, 1, 1),
                dt.date(1999, 12, 31),
                None,
                dt.date(2030, 6, 15),
            ],
            "payload": [
                {"a": [1, 2, {"b": None}]},
                None,
                {"q": 'say "hi"\n'},
                [1.5, "x"],
            ],
        }
    )


def _count(database, table: str) -> int:
    with database.connect() as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_every_type_round_trips_exactly(typed_table):
    dataset = PostgresTableDataset(table="typed", schema=typed_table)
    frame = _typed_frame()
    dataset.save(frame)
    loaded = dataset.load()

    assert loaded["id"].tolist() == [1, 2, 3, 4]
    assert loaded["small"].dtype == "Int64"
    assert loaded["small"].tolist() == [1, pd.NA, -32768, 32767]
    amount = loaded["amount"]
    assert amount.dtype == "Float64"
    assert amount[0] == 1.5 and amount[3] == -2.25
    assert (
        np.isnan(amount.array._data[1]) and not amount.array._mask[1]
    )  # NaN, not NULL
    assert amount.array._mask[2]  # NULL
    assert loaded["price"].tolist() == [
        Decimal("12345678.1234"),
        None,
        Decimal("-0.0001"),
        Decimal("0.0000"),
    ]
    assert loaded["flag"].tolist() == [True, False, pd.NA, True]
    assert loaded["note"].tolist() == TRICKY_TEXT
    expected_times = frame["happened_at"].dt.tz_convert("UTC")
    pd.testing.assert_series_equal(
        loaded["happened_at"], expected_times, check_dtype=False, check_names=False
    )
    assert str(loaded["happened_at"].dt.tz) == "UTC"
    assert loaded["day"].tolist() == frame["day"].tolist()
    assert loaded["payload"].tolist() == frame["payload"].tolist()


def test_plain_float_nan_is_stored_as_null(typed_table):
    dataset = PostgresTableDataset(
        table="typed", schema=typed_table, load_args={"dtype_backend": "numpy"}
    )
    dataset.save(pd.DataFrame({"id": [1, 2], "amount": [np.nan, 3.0]}))
    loaded = dataset.load()
    assert loaded["amount"].dtype == np.float64
    with dataset_connection(typed_table) as conn:
        nulls = conn.execute(
            f"SELECT count(*) FROM {typed_table}.typed WHERE amount IS NULL"
        )
        assert nulls.fetchone()[0] == 1


def dataset_connection(_schema):
    from daily_profit_model.db import get_database  # noqa: PLC0415

    return get_database().connect()


def test_upsert_updates_existing_keys_and_inserts_new_ones(typed_table, database):
    dataset = PostgresTableDataset(table="typed", schema=typed_table)
    dataset.save(pd.DataFrame({"id": [1, 2], "note": ["one", "two"]}))
    dataset.save(pd.DataFrame({"id": [2, 3], "note": ["TWO", "three"]}))
    loaded = dataset.load()
    assert loaded["id"].tolist() == [1, 2, 3]
    assert loaded["note"].tolist() == ["one", "TWO", "three"]


def test_replace_mode_replaces_all_rows(typed_table):
    dataset = PostgresTableDataset(
        table="typed", schema=typed_table, save_args={"mode": "replace"}
    )
    dataset.save(pd.DataFrame({"id": [1, 2, 3]}))
    dataset.save(pd.DataFrame({"id": [7]}))
    assert dataset.load()["id"].tolist() == [7]


@pytest.fixture
def partitioned_table(database, scratch_schema) -> str:
    with database.connect() as conn:
        conn.execute(
            f"""CREATE TABLE {scratch_schema}.events (
                event_id bigint NOT NULL, event_date date NOT NULL, value double precision,
                PRIMARY KEY (event_id, event_date)
            ) PARTITION BY RANGE (event_date)"""
        )
    return scratch_schema


def test_partitions_are_created_for_the_months_saved(partitioned_table, database):
    dataset = PostgresTableDataset(table="events", schema=partitioned_table)
    days = pd.to_datetime(["2024-01-31", "2024-02-01", "2024-04-15"])
    dataset.save(
        pd.DataFrame({"event_id": [1, 2, 3], "event_date": days, "value": 1.0})
    )
    with database.connect() as conn:
        names = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass ORDER BY 1",
            [f"{partitioned_table}.events"],
        ).fetchall()
    assert [n[0] for n in names] == [
        "events_p202401",
        "events_p202402",
        "events_p202404",
    ]


def _daily_events(schema: str, first: str, last: str) -> PostgresTableDataset:
    """The ``events`` table holding one event per day from ``first`` to ``last``."""
    dataset = PostgresTableDataset(table="events", schema=schema)
    days = pd.date_range(first, last, freq="D")
    dataset.save(
        pd.DataFrame({"event_id": range(len(days)), "event_date": days, "value": 1.0})
    )
    return dataset


def test_date_range_load_reads_only_the_range(partitioned_table):
    _daily_events(partitioned_table, "2024-01-01", "2024-06-30")
    ranged = PostgresTableDataset(
        table="events",
        schema=partitioned_table,
        load_args={
            "columns": ["event_id", "event_date"],
            "date_column": "event_date",
            "start": "2024-03-05",
            "end": "2024-03-07",
        },
    )
    loaded = ranged.load()
    assert list(loaded.columns) == ["event_id", "event_date"]
    assert loaded["event_date"].tolist() == [
        dt.date(2024, 3, 5),
        dt.date(2024, 3, 6),
        dt.date(2024, 3, 7),
    ]
    plan = ranged.explain()
    assert "events_p202403" in plan
    assert "events_p202401" not in plan and "events_p202406" not in plan


def test_unknown_column_is_named_and_table_unchanged(typed_table, database):
    dataset = PostgresTableDataset(table="typed", schema=typed_table)
    dataset.save(pd.DataFrame({"id": [1]}))
    with pytest.raises(
        FrameValidationError, match=r"typed has no column\(s\) 'colour'"
    ):
        dataset.save(pd.DataFrame({"id": [2], "colour": ["red"]}))
    assert _count(database, f"{typed_table}.typed") == 1


def test_null_key_names_the_column_and_first_row(partitioned_table, database):
    dataset = PostgresTableDataset(table="events", schema=partitioned_table)
    frame = pd.DataFrame(
        {
            "event_id": pd.array([1, 2, None, None], dtype="Int64"),
            "event_date": pd.to_datetime(["2024-01-01"] * 4),
        }
    )
    with pytest.raises(FrameValidationError) as info:
        dataset.save(frame)
    message = str(info.value)
    assert "events" in message and "'event_id'" in message and "row 2" in message
    assert "2 row(s)" in message
    assert _count(database, f"{partitioned_table}.events") == 0


def test_duplicate_keys_in_a_frame_are_refused(typed_table):
    dataset = PostgresTableDataset(table="typed", schema=typed_table)
    with pytest.raises(
        FrameValidationError, match=r"more than once, first repeated at row 2"
    ):
        dataset.save(pd.DataFrame({"id": [5, 6, 5]}))


def test_integer_overflow_names_column_and_row(typed_table, database):
    dataset = PostgresTableDataset(table="typed", schema=typed_table)
    dataset.save(pd.DataFrame({"id": [1], "small": [1]}))
    with pytest.raises(FrameValidationError) as info:
        dataset.save(pd.DataFrame({"id": [10, 11, 12], "small": [5, 40000, 7]}))
    message = str(info.value)
    assert (
        "'small' (smallint)" in message
        and "row 1 (id=11)" in message
        and "40000" in message
    )
    assert _count(database, f"{typed_table}.typed") == 1


def test_value_the_database_rejects_is_traced_to_its_row(typed_table, database):
    dataset = PostgresTableDataset(table="typed", schema=typed_table)
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "price": [Decimal("1.5"), Decimal("1"), Decimal("123456789012.5")],
        }
    )
    with pytest.raises(FrameValidationError) as info:
        dataset.save(frame)
    message = str(info.value)
    assert "'price' (numeric(12,4))" in message and "row 2 (id=3)" in message
    assert "numeric field overflow" in message
    assert _count(database, f"{typed_table}.typed") == 0


def test_wrong_type_in_text_column_is_named(typed_table):
    dataset = PostgresTableDataset(table="typed", schema=typed_table)
    with pytest.raises(
        FrameValidationError, match=r"'note' \(text\): row 1 \(id=2\) has value 42"
    ):
        dataset.save(pd.DataFrame({"id": [1, 2], "note": ["fine", 42]}))


def test_preview_returns_a_few_rows(typed_table):
    dataset = PostgresTableDataset(table="typed", schema=typed_table)
    dataset.save(_typed_frame())
    preview = dataset.preview(nrows=2)
    assert preview["columns"][0] == "id"
    assert len(preview["data"]) == 2


def test_fast_path_falls_back_to_upsert_when_keys_appear(typed_table, monkeypatch):
    """A writer that stored keys after the existence check must not make the save fail."""
    from daily_profit_model.db import writer  # noqa: PLC0415

    dataset = PostgresTableDataset(table="typed", schema=typed_table)
    dataset.save(pd.DataFrame({"id": [1, 2], "note": ["one", "two"]}))
    monkeypatch.setattr(writer, "_any_key_stored", lambda *args: False)
    dataset.save(pd.DataFrame({"id": [2, 3], "note": ["TWO", "three"]}))
    assert dataset.load()["note"].tolist() == ["one", "TWO", "three"]


def test_rejected_copy_names_row_and_column(typed_table, database):
    """PostgreSQL refuses NUL bytes in text; the error must still point at the row."""
    dataset = PostgresTableDataset(table="typed", schema=typed_table)
    with pytest.raises(FrameValidationError) as info:
        dataset.save(
            pd.DataFrame({"id": [3, 1, 2], "note": ["bad\x00byte", "ok", "fine"]})
        )
    message = str(info.value)
    # Rows are copied in key order; the message must still name the frame's row.
    assert "'note' (text)" in message and "row 0 (id=3)" in message
    assert _count(database, f"{typed_table}.typed") == 0


def test_direct_copy_and_staged_upsert_store_the_same_rows(partitioned_table):
    dataset = PostgresTableDataset(table="events", schema=partitioned_table)
    days = pd.to_datetime(["2024-05-01", "2024-05-02", "2024-05-03"])
    frame = pd.DataFrame(
        {"event_id": [1, 2, 3], "event_date": days, "value": [1.0, 2.0, 3.0]}
    )
    dataset.save(frame)  # empty range: copied straight in
    assert "copy_to_table" in dataset.last_save_stats
    dataset.save(frame.assign(value=[10.0, 20.0, 30.0]))  # stored range: staged upsert
    assert "copy_to_stage" in dataset.last_save_stats
    assert dataset.load()["value"].tolist() == [10.0, 20.0, 30.0]


def test_filters_load_only_the_named_values_and_bind_them(partitioned_table):
    dataset = _daily_events(partitioned_table, "2024-01-01", "2024-01-06")

    def load(filters):
        return (
            PostgresTableDataset(
                table="events", schema=partitioned_table, load_args={"filters": filters}
            )
            .load()["event_id"]
            .tolist()
        )

    assert load({"event_id": 4}) == [4]
    assert load({"event_id": [1, 3], "value": 1.0}) == [1, 3]
    # a value is a bound parameter, never SQL: the database refuses it as a value
    with pytest.raises(DatasetError, match="invalid input syntax for type bigint"):
        load({"event_id": ["1); DROP TABLE events; --"]})
    assert len(dataset.load()) == 6
    with pytest.raises(DatasetError, match="names a column it does not have: nope"):
        load({"nope": 1})


def test_last_days_loads_a_window_ending_at_the_newest_day(partitioned_table):
    _daily_events(partitioned_table, "2024-01-01", "2024-03-31")
    recent = PostgresTableDataset(
        table="events",
        schema=partitioned_table,
        load_args={"date_column": "event_date", "last_days": 3},
    ).load()
    assert recent["event_date"].tolist() == [
        dt.date(2024, 3, 29),
        dt.date(2024, 3, 30),
        dt.date(2024, 3, 31),
    ]


def test_an_arrow_key_column_that_fails_its_cast_names_the_row(
    database, scratch_schema
):
    """Arrow tables (typed pages, thawed months) are cast column by column; a key
    value that does not fit is named with its row, and nothing is stored."""
    import pyarrow as pa  # noqa: PLC0415

    from daily_profit_model.db.writer import TableWriter  # noqa: PLC0415

    with database.connect() as conn:
        conn.execute(
            f"CREATE TABLE {scratch_schema}.codes (code integer PRIMARY KEY, note text)"
        )
    wide = pa.table({"code": pa.array([1, 2, 2**40, 4]), "note": ["a", "b", "c", "d"]})
    text = pa.table({"code": pa.array(["10", "11", "1x"]), "note": ["a", "b", "c"]})
    for rows, row, value in ((wide, 2, str(2**40)), (text, 2, "'1x'")):
        with database.connect() as conn:
            with pytest.raises(FrameValidationError) as info, conn.transaction():
                TableWriter("upsert").write(conn, rows, scratch_schema, "codes")
        message = str(info.value)
        assert "codes" in message and "'code' (integer)" in message, message
        assert f"row {row} (code={value})" in message, message
    assert _count(database, f"{scratch_schema}.codes") == 0

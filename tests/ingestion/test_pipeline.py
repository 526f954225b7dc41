"""The ingestion pipeline: complete, idempotent, incremental, and the same under faults."""

from __future__ import annotations

import pandas as pd
import pytest

from daily_profit_model.ingestion.batches import RAW_TABLES, TooManyRejectsError
from daily_profit_model.sandbox.faults import KINDS
from tests.ingestion.helpers import checksums, run_ingestion, use_schema

EVERY_FAULT = {
    "seed": 4,
    "rates": {k: 0.05 for k in KINDS},
    "slow_seconds": 1.2,
    "retry_after_seconds": 0,
}


def _state(database) -> pd.DataFrame:
    with database.connect() as conn:
        rows = conn.execute(f"SELECT * FROM {database.schema}.ingestion_state")
        return pd.DataFrame(rows.fetchall(), columns=[d.name for d in rows.description])


@pytest.fixture(scope="module")
def clean_run(pgdata, small_world, database):
    db = use_schema(pgdata, "ingest_clean")
    run_ingestion(small_world)
    return db, checksums(db)


def test_every_source_row_is_stored(clean_run, small_world, tables):
    db, sums = clean_run
    assert sums["raw_trades_closed"][0] == len(tables["trades_closed"])
    # open positions are a snapshot "as of now": those open at the server's clock
    open_now = tables["trades_open"]
    open_now = open_now[open_now["trade_date"] == open_now["trade_date"].max()]
    assert sums["raw_open_positions"][0] == len(open_now) > 0
    assert sums["raw_metrics_daily"][0] == len(tables["metrics_daily"])
    assert sums["raw_accounts"][0] == len(tables["accounts"])
    state = _state(db)
    # Verified, except the newest `recheck_days` days (the late-data horizon).
    newest = sorted(state["day"].unique())[-2:]
    daily = ~state["endpoint"].isin(
        ["accounts", "v2/metrics/alltime", "v2/trades/open"]
    )
    in_horizon = state["day"].isin(newest) & daily
    assert (state.loc[in_horizon, "status"] == "provisional").all()
    assert (state.loc[~in_horizon, "status"] == "complete").all()
    assert (
        state["received_count"]
        == state["stored_count"] + state["quarantined_count"] + state["duplicate_count"]
    ).all()


def test_a_second_run_only_rechecks_and_changes_nothing(clean_run, small_world, pgdata):
    db, sums = clean_run
    use_schema(pgdata, "ingest_clean")
    run_ingestion(small_world)
    assert checksums(db) == sums


def test_every_fault_kind_ends_in_the_fault_free_tables(clean_run, small_world, pgdata):
    _, clean = clean_run
    faulty = use_schema(pgdata, "ingest_faulty")
    run_ingestion(small_world, faults=EVERY_FAULT)
    assert checksums(faulty) == clean
    state = _state(faulty)
    assert state["quarantined_count"].sum() > 0  # malformed rows went to quarantine
    assert state["duplicate_count"].sum() > 0
    with faulty.connect() as conn:
        quarantined = conn.execute(
            "SELECT count(*) FROM ingest_faulty.quarantine WHERE source <> 'plan_exports'"
        ).fetchone()[0]
    assert quarantined == state["quarantined_count"].sum()


@pytest.mark.parametrize(
    ("endpoints", "rates"),
    [
        # Days of one row (regimes) or a few (hourly metrics): a late first page
        # reports a total of 0 and no row.
        (["v2/regimes/daily", "v2/metrics/hourly"], {"late_rows": 0.3}),
        (["v2/regimes/daily", "v2/metrics/hourly"], {"late_rows": 1.0}),
        # every kind at once, at high rates
        (
            ["v2/regimes/daily", "v2/trades/closed", "v2/metrics/daily"],
            {**{k: 0.1 for k in KINDS}, "slow": 0.02, "late_rows": 0.2},
        ),
    ],
    ids=["late-0.3", "late-1.0", "every-kind-high"],
)
def test_faults_at_high_rates_on_tiny_days_end_in_the_fault_free_tables(
    clean_run, small_world, pgdata, endpoints, rates
):
    _, clean = clean_run
    faulty = use_schema(pgdata, f"ingest_high_{abs(hash(str(rates))) % 10**6}")
    run_ingestion(
        small_world,
        {"endpoints": endpoints},
        faults={**EVERY_FAULT, "seed": 9, "rates": rates},
    )
    sums = checksums(faulty)
    for endpoint in endpoints:
        table = RAW_TABLES[endpoint]
        assert sums[table] == clean[table], table
    state = _state(faulty)
    assert not (state["stored_count"] == 0).any()  # no day stored empty


def test_a_refetched_day_keeps_only_what_the_source_serves(
    clean_run, small_world, pgdata
):
    db, sums = clean_run
    use_schema(pgdata, "ingest_clean")
    with db.connect() as conn:
        conn.execute("SET search_path TO ingest_clean")
        day = conn.execute(
            "SELECT max(day) FROM ingestion_state WHERE endpoint = 'v2/trades/closed'"
        ).fetchone()[0]
        # A row the source does not serve (deleted there since it was loaded).
        conn.execute(
            "INSERT INTO raw_trades_closed (trade_date, broker, platform, position, "
            "login, profit) SELECT trade_date, broker, platform, 'gone-' || position, "
            "login, 123.45 FROM raw_trades_closed WHERE trade_date = %s LIMIT 1",
            [day],
        )
        conn.execute(
            "UPDATE ingestion_state SET stored_count = stored_count + 1 "
            "WHERE endpoint = 'v2/trades/closed' AND day = %s",
            [day],
        )
    run_ingestion(small_world)
    assert checksums(db) == sums
    with db.connect() as conn:
        conn.execute("SET search_path TO ingest_clean")
        moved = conn.execute(
            "SELECT row_data ->> 'position', row_data ->> 'profit' "
            "FROM raw_removed_rows WHERE source_table = 'raw_trades_closed' AND day = %s",
            [day],
        ).fetchall()
        removed = conn.execute(
            "SELECT removed_count FROM ingestion_state "
            "WHERE endpoint = 'v2/trades/closed' AND day = %s",
            [day],
        ).fetchone()[0]
    assert len(moved) == 1 and moved[0][0].startswith("gone-")
    assert float(moved[0][1]) == 123.45 and removed == 1


def test_a_backfill_range_loads_only_that_range(small_world, pgdata, tables):
    db = use_schema(pgdata, "ingest_range")
    days = sorted(tables["trades_closed"]["trade_date"].unique())
    start, end = days[3], days[5]
    run_ingestion(
        small_world,
        {
            "start_date": str(start),
            "end_date": str(end),
            "endpoints": ["v2/trades/closed"],
        },
    )
    with db.connect() as conn:
        stored = conn.execute(
            "SELECT min(trade_date), max(trade_date), count(*) FROM ingest_range.raw_trades_closed"
        ).fetchone()
    trades = tables["trades_closed"]
    expected = ((trades["trade_date"] >= start) & (trades["trade_date"] <= end)).sum()
    assert stored == (start, end, expected)


def test_a_day_whose_count_changed_is_fetched_again(clean_run, small_world, pgdata):
    db, sums = clean_run
    use_schema(pgdata, "ingest_clean")
    with db.connect() as conn:
        newest = conn.execute(
            "SELECT max(day) FROM ingest_clean.ingestion_state WHERE endpoint = 'v2/trades/closed'"
        ).fetchone()[0]
        conn.execute(
            "DELETE FROM ingest_clean.raw_trades_closed WHERE trade_date = %s"
            " AND position IN (SELECT position FROM ingest_clean.raw_trades_closed"
            " WHERE trade_date = %s LIMIT 5)",
            [newest, newest],
        )
        conn.execute(
            "UPDATE ingest_clean.ingestion_state SET stored_count = stored_count - 5"
            " WHERE endpoint = 'v2/trades/closed' AND day = %s",
            [newest],
        )
    run_ingestion(small_world)
    assert checksums(db) == sums


def test_too_many_rejects_fail_the_run(small_world, pgdata):
    use_schema(pgdata, "ingest_rejects")
    faults = {"seed": 1, "rates": {"malformed": 1.0}}
    with pytest.raises(Exception) as info:
        run_ingestion(
            small_world,
            {
                "max_reject_share": 0.001,
                "reject_share_min_rows": 1,
                "endpoints": ["v2/trades/closed"],
            },
            faults,
        )
    assert isinstance(info.value, TooManyRejectsError) or "max_reject_share" in str(
        info.value
    )

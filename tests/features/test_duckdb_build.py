"""The DuckDB full build's configuration and dialect (its rows: test_cold_raw.py)."""

from __future__ import annotations

import duckdb
import pytest
from kedro.io import DatasetError

from daily_profit_model.datasets.duckdb_build import FullBuildEngine, duckdb_dialect
from daily_profit_model.datasets.sql_build import read_query


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"engine": "sqlite"}, "full_build.engine is 'sqlite'"),
        ({"engine": "duckdb", "buckets": 0}, "buckets must be at least 1"),
        ({"engine": "duckdb", "workers": 2}, "got ['workers']"),
    ],
)
def test_a_bad_full_build_entry_names_the_table_and_the_key(config, message):
    with pytest.raises(DatasetError, match=r"^feature_account_day: ") as raised:
        FullBuildEngine.from_config(config, "feature_account_day")
    assert message in str(raised.value)


def test_no_entry_builds_in_postgresql():
    assert not FullBuildEngine.from_config(None, "stg_account_day").in_duckdb


def test_the_dialect_keeps_the_values_bound_and_reads_json_paths():
    query = duckdb_dialect(
        "SELECT x %% %(buckets)s, d #>> '{summary,key_metrics,level}',"
        " sum(v) OVER (ORDER BY day RANGE BETWEEN '19 days' PRECEDING AND CURRENT ROW)"
        " FROM jsonb_each(d #> '{instruments,data}')"
    )
    assert query == (
        "SELECT x % $buckets, json_extract_string(d, '$.summary.key_metrics.level'),"
        " sum(v) OVER (ORDER BY day RANGE BETWEEN 19 PRECEDING AND CURRENT ROW)"
        " FROM json_each(json_extract(d, '$.instruments.data'))"
    )


@pytest.mark.parametrize(
    "name",
    ["stg_account_day.sql.j2", "feature_account_day.sql.j2", "target_account_day.sql"],
)
@pytest.mark.parametrize("build_days", [1, 400])
def test_every_build_query_parses_in_duckdb(name, build_days):
    """DuckDB's parser takes each query as the dialect leaves it, for a short build
    and a long one (binding needs the tables: the rows are compared where they
    exist, in test_cold_raw.py)."""
    query = read_query(name, build_days=build_days, engine="duckdb")
    statements = duckdb.extract_statements(duckdb_dialect(query))
    assert len(statements) == 1


def test_staging_orders_its_sums_in_postgresql_only():
    """PostgreSQL adds each sum in a key's order (the same bits whatever the plan);
    DuckDB's full build leaves them unordered (its ordered aggregates cost 55% more)."""
    ordered = read_query("stg_account_day.sql.j2", build_days=1)
    unordered = read_query("stg_account_day.sql.j2", build_days=400, engine="duckdb")
    assert "sum(lots ORDER BY position) AS lots" in ordered
    assert "sum(volume ORDER BY std_symbol) AS volume_usd" in ordered
    assert "sum(lots) AS lots" in unordered
    assert "ORDER BY position" not in unordered
    assert "ORDER BY std_symbol)" not in unordered

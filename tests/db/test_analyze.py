"""A build analyzes the tables that hold rows but were never analyzed."""

from __future__ import annotations

from daily_profit_model.datasets.sql_build import analyze_unanalyzed


def _reltuples(conn, schema: str, table: str) -> float:
    return conn.execute(
        "SELECT c.reltuples FROM pg_class AS c JOIN pg_namespace AS n "
        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        [schema, table],
    ).fetchone()[0]


def test_tables_loaded_but_never_analyzed_are_analyzed_once(database, scratch_schema):
    with database.connect() as conn:
        for table in ("loaded", "empty"):
            conn.execute(
                f"CREATE TABLE {scratch_schema}.{table} (id int, x float8) "
                "WITH (autovacuum_enabled = off)"
            )
        conn.execute(
            f"INSERT INTO {scratch_schema}.loaded SELECT g, g * 0.5 "
            "FROM generate_series(1, 5000) AS g"
        )
        assert _reltuples(conn, scratch_schema, "loaded") < 0  # planned as a guess
        assert analyze_unanalyzed(conn, scratch_schema) == ["loaded"]
        assert _reltuples(conn, scratch_schema, "loaded") == 5000
        assert analyze_unanalyzed(conn, scratch_schema) == []  # once

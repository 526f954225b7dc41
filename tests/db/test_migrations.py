"""Migrations: applied once, refused when edited, and the raw layer they create."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.db.migrations import (
    MigrationError,
    apply_migrations,
    discover_migrations,
    schema_version,
)
from daily_profit_model.db.tables import describe_table


def test_migrations_are_idempotent(database):
    with database.connect() as conn:
        assert apply_migrations(conn, database.schema) == []
        assert (
            schema_version(conn, database.schema) == discover_migrations()[-1].version
        )


def test_migrations_apply_to_a_fresh_schema(database, scratch_schema):
    with database.connect() as conn:
        conn.execute(f"DROP SCHEMA {scratch_schema}")
        applied = apply_migrations(conn, scratch_schema)
        assert applied == [m.version for m in discover_migrations()]
        assert apply_migrations(conn, scratch_schema) == []


def test_an_edited_migration_is_refused(database, scratch_schema):
    with database.connect() as conn:
        conn.execute(f"DROP SCHEMA {scratch_schema}")
        apply_migrations(conn, scratch_schema)
        conn.execute(f"UPDATE {scratch_schema}.schema_migrations SET checksum = 'x'")
        conn.commit()
        with pytest.raises(MigrationError, match="changed after it was applied"):
            apply_migrations(conn, scratch_schema)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS.values()), ids=lambda e: e.table)
def test_raw_tables_mirror_the_contract(database, endpoint):
    with database.connect() as conn:
        info = describe_table(conn, database.schema, endpoint.table)
    assert info.primary_key == endpoint.stored_key
    assert info.partition_column == endpoint.date_column
    for field in endpoint.fields:
        assert field.column in info.columns
    assert info.columns["extra"].pg_type == "jsonb"


def test_trade_key_keeps_two_brokers_reusing_a_position(database):
    """Two brokers may number a position alike: the table keeps both, and refuses the
    same trade twice."""
    table = f"{database.schema}.raw_trades_closed"
    day = dt.date(2031, 7, 1)
    insert = (
        f"INSERT INTO {table} (login, platform, broker, position, trade_date)"  # noqa: S608
        " VALUES (%s, %s, %s, %s, %s)"
    )
    with database.connect() as conn:
        conn.execute(
            f"SELECT {database.schema}.ensure_month_partition(%s::regclass, %s)",
            [table, day],
        )
        for broker in ("broker-a", "broker-b"):
            conn.execute(insert, [100001, "mt5", broker, "5000001", day])
        stored = conn.execute(
            f"SELECT count(*) FROM {table} WHERE trade_date = %s",  # noqa: S608
            [day],
        ).fetchone()[0]
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, [100001, "mt5", "broker-a", "5000001", day])
        conn.rollback()
    assert stored == 2  # noqa: PLR2004


def test_month_partitions_are_created_on_demand_once(database):
    table = f"{database.schema}.raw_trades_closed"
    with database.connect() as conn:
        for day in (dt.date(2031, 5, 3), dt.date(2031, 5, 28)):
            conn.execute(
                f"SELECT {database.schema}.ensure_month_partition(%s::regclass, %s)",
                [table, day],
            )
        partitions = conn.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass"
            " AND c.relname LIKE '%%2031%%'",
            [table],
        ).fetchall()
        conn.rollback()
    assert partitions == [
        (
            "raw_trades_closed_p203105",
            "FOR VALUES FROM ('2031-05-01') TO ('2031-06-01')",
        )
    ]

"""What the database says about a table: its columns, key and partitioning."""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

from daily_profit_model.db.identifiers import validate_identifier

_SAFE_TYPE = re.compile(r"^[a-z0-9 _(),\[\]]+$")


class TableNotFoundError(LookupError):
    """The configured table does not exist in the schema."""


@dataclass(frozen=True)
class ColumnInfo:
    """One column: its type as PostgreSQL prints it, nullability and default."""

    name: str
    pg_type: str
    not_null: bool
    has_default: bool


@dataclass(frozen=True)
class TableInfo:
    """A table's columns in order, its primary key and its range-partition column."""

    schema: str
    name: str
    columns: dict[str, ColumnInfo]
    primary_key: tuple[str, ...]
    partition_column: str | None

    @property
    def qualified(self) -> str:
        """``schema.table`` for messages."""
        return f"{self.schema}.{self.name}"


def describe_table(conn: psycopg.Connection, schema: str, table: str) -> TableInfo:
    """Read a table's columns, primary key and partition column from the catalog.

    Raises:
        TableNotFoundError: ``schema.table`` does not exist.
    """
    validate_identifier(schema, "schema")
    validate_identifier(table, "table")
    oid_row = conn.execute(
        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
        [schema, table],
    ).fetchone()
    if oid_row is None:
        raise TableNotFoundError(
            f"Table {schema}.{table} does not exist. Check the dataset's 'table' and "
            f"that migrations ran (`uv run kedro db migrate`)."
        )
    oid = oid_row[0]
    columns = {}
    # Identity and generated columns fill themselves, like columns with a default.
    for name, pg_type, not_null, has_default in conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull,"
        " atthasdef OR attidentity <> '' OR attgenerated <> ''"
        " FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped"
        " ORDER BY attnum",
        [oid],
    ):
        if not _SAFE_TYPE.match(pg_type):
            raise TypeError(f"Unsupported column type {pg_type!r} in {schema}.{table}")
        columns[name] = ColumnInfo(name, pg_type, not_null, has_default)
    key_rows = conn.execute(
        "SELECT a.attname FROM pg_index i"
        " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = %s AND i.indisprimary ORDER BY k.ord",
        [oid],
    ).fetchall()
    part_row = conn.execute(
        "SELECT a.attname FROM pg_partitioned_table p"
        " JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]"
        " WHERE p.partrelid = %s AND p.partstrat = 'r'",
        [oid],
    ).fetchone()
    return TableInfo(
        schema=schema,
        name=table,
        columns=columns,
        primary_key=tuple(r[0] for r in key_rows),
        partition_column=part_row[0] if part_row else None,
    )

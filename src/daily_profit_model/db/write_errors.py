"""Why PostgreSQL refused a frame: the row, the column and the value, named.

A refused ``COPY`` names a line and a column in its context; a refused ``INSERT`` from
the staging table names neither, so the staged rows are asked which value the column's
type does not accept (``pg_input_is_valid``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import sql

from daily_profit_model.db.frames import describe_row, python_value
from daily_profit_model.db.tables import TableInfo


def copy_error(
    data: pd.DataFrame,
    info: TableInfo,
    key: tuple[str, ...],
    error: psycopg.Error,
    row_order: pa.Array | None,
) -> str:
    """Name the row and column of a COPY that PostgreSQL rejected (from its context).

    ``row_order`` maps the COPY's rows back to the frame's when they were sorted.
    """
    detail = str(error).strip().splitlines()[0]
    context = getattr(error.diag, "context", None) or ""
    match = re.search(r"line (\d+)(?:, column (\w+))?", context)
    if not match:
        return f"Table {info.qualified} rejected the frame: {detail}"
    position = int(match.group(1)) - 1
    if row_order is not None:
        position = row_order[position].as_py()
    column = match.group(2)
    if column is None or column not in data.columns:
        return f"Table {info.qualified}: {describe_row(data, position, key)}: {detail}"
    return rejection_message(data, info, key, Rejection(column, position, detail))


@dataclass(frozen=True)
class Rejection:
    """PostgreSQL refused the value of ``column`` in the frame's row ``position``."""

    column: str
    position: int
    detail: str


def rejection_message(
    data: pd.DataFrame, info: TableInfo, key: tuple[str, ...], rejection: Rejection
) -> str:
    column = rejection.column
    value = python_value(data[column].iloc[rejection.position])
    return (
        f"Table {info.qualified}, column {column!r} ({info.columns[column].pg_type}): "
        f"{describe_row(data, rejection.position, key)} has value {value!r}: "
        f"{rejection.detail}"
    )


def diagnose(  # noqa: PLR0913 - the write and its staging table
    conn: psycopg.Connection,
    data: pd.DataFrame,
    info: TableInfo,
    key: tuple[str, ...],
    error: psycopg.Error,
    stage: str,
    ordinal: str,
) -> str:
    """Find the first row of the staging table ``stage`` (rows numbered by its column
    ``ordinal``) and the column that the target table rejects."""
    detail = str(error).strip().splitlines()[0]
    if isinstance(error, psycopg.errors.UniqueViolation):
        return f"Table {info.qualified}: {detail} (save_args.mode is append)."
    for column in data.columns:
        pg_type = info.columns[column].pg_type
        row = conn.execute(
            sql.SQL(
                "SELECT {} FROM {} WHERE {} IS NOT NULL"
                " AND NOT pg_input_is_valid({}::text, %s) ORDER BY {} LIMIT 1"
            ).format(
                sql.Identifier(ordinal),
                sql.Identifier(stage),
                sql.Identifier(column),
                sql.Identifier(column),
                sql.Identifier(ordinal),
            ),
            [pg_type],
        ).fetchone()
        if row is not None:
            return rejection_message(
                data, info, key, Rejection(column, int(row[0]), detail)
            )
    return f"Table {info.qualified} rejected the frame: {detail}"

"""Make a stored day equal the source's day: rows the source no longer serves move out.

When ingestion fetches a day again in full, the batch it stores is everything the
source serves for that day. A row the raw table holds for the day whose key is not in
the batch was removed (or re-keyed) at the source; it is moved, whole, into
``raw_removed_rows`` in the caller's transaction, so the raw table equals the source
and nothing it once held is lost.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import sql

from daily_profit_model.db.frames import copy_arrow, copy_encoder, frame_to_arrow
from daily_profit_model.db.tables import TableInfo

_KEEP_TABLE = "_dpm_served_keys"


def archive_rows_not_served(  # noqa: PLR0913 - one statement's parts
    conn: psycopg.Connection,
    info: TableInfo,
    day_column: str,
    day: dt.date,
    served: pd.DataFrame | pa.Table,
    run_id: str,
) -> int:
    """Move the day's stored rows whose key is not in ``served`` to ``raw_removed_rows``.

    Args:
        conn: A connection inside the transaction that stores the day.
        info: The raw table.
        day_column: Its day column (part of its key).
        day: The day fetched in full.
        served: Every valid row the source served for the day (the key columns at
            least).
        run_id: The ingestion run.

    Returns:
        The number of rows moved.
    """
    key = [c for c in info.primary_key if c != day_column]
    if key:
        _stage_keys(
            conn,
            info,
            served.select(key) if isinstance(served, pa.Table) else served[key],
        )
        not_served = sql.SQL("NOT EXISTS (SELECT 1 FROM {} AS k WHERE {})").format(
            sql.Identifier(_KEEP_TABLE),
            sql.SQL(" AND ").join(
                sql.SQL("k.{c} = t.{c}").format(c=sql.Identifier(c)) for c in key
            ),
        )
    else:  # one row per day (regimes): it goes only when the day came back empty
        not_served = sql.Literal(served.empty)
    statement = sql.SQL(
        "WITH removed AS ("
        " DELETE FROM {target} AS t WHERE t.{day} = %(day)s AND {not_served}"
        " RETURNING t.*)"
        " INSERT INTO {archive} (source_table, day, row_data, run_id)"
        " SELECT %(table)s, %(day)s, to_jsonb(removed), %(run_id)s FROM removed"
    ).format(
        target=sql.Identifier(info.schema, info.name),
        day=sql.Identifier(day_column),
        not_served=not_served,
        archive=sql.Identifier(info.schema, "raw_removed_rows"),
    )
    return conn.execute(
        statement, {"day": day, "table": info.name, "run_id": run_id}
    ).rowcount


def _stage_keys(
    conn: psycopg.Connection, info: TableInfo, keys: pd.DataFrame | pa.Table
) -> None:
    """Copy the served keys into a temporary table (dropped at commit)."""
    names = keys.column_names if isinstance(keys, pa.Table) else list(keys.columns)
    types = {c: info.columns[c].pg_type for c in names}
    arrow = frame_to_arrow(keys, types, info.qualified, names)
    encoder, _ = copy_encoder(arrow, types)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(_KEEP_TABLE)))
    ddl = encoder.schema().ddl(_KEEP_TABLE).rstrip().rstrip(";")
    conn.execute(ddl + " ON COMMIT DROP")
    copy_arrow(conn, sql.Identifier(_KEEP_TABLE), arrow, encoder)

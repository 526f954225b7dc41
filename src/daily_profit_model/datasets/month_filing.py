"""A whole month of a dated raw table filed straight to its cold tier from an export.

A firm's history arrives once, in bulk: years of closed trades and metrics that the API
would page through for days. Ingestion stores a day at a time in PostgreSQL and moves a
month to its parquet file once it is cold, so every old row is written twice and read
back once. Filing a month from a trusted export (the sandbox's world, a vendor's dump)
writes the file the archive would have written, in the same shape (the table's own
column types, rows in day and key order), with the same ledger rows (one per day,
``complete``) and the same summaries a cold month leaves in PostgreSQL, in one
transaction. Readers cannot tell the two apart (``tests/ingestion/test_month_filing.py``
checks it against the archive), and a later correction to one of its days thaws the
month as for any archived month.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from kedro.io import DatasetError
from psycopg import sql

from daily_profit_model.contract import Endpoint
from daily_profit_model.datasets.cold_tier import (
    SUMMARIES,
    ColdTier,
    leave_summaries,
    next_month,
)
from daily_profit_model.datasets.ingestion_ledger import record_state, state_row
from daily_profit_model.db.export import result_schema
from daily_profit_model.db.frames import distinct_count
from daily_profit_model.db.tables import describe_table
from daily_profit_model.db.writer import TableWriter, prepare_transaction
from daily_profit_model.ingestion.batches import IngestionBatch

logger = logging.getLogger(__name__)

_WRITE_BATCH_ROWS = 1 << 20


def file_month(  # noqa: PLR0913 - the month, its rows and where they go
    conn: psycopg.Connection,
    schema: str,
    tier: ColdTier,
    endpoint: Endpoint,
    month: dt.date,
    rows: pa.Table,
    run_id: str,
) -> int:
    """File ``rows``, all of ``endpoint``'s rows for ``month``, as its cold month.

    Run on an autocommit connection; the ledger rows and summaries commit with the
    file written (a file left by a filing that failed before its commit holds no
    ledger day and is written again by the next attempt).

    Returns:
        The rows filed.

    Raises:
        DatasetError: The month is stored already (PostgreSQL holds it or the ledger
            has one of its days), a row falls outside the month, the rows lack a
            required column or hold a NULL or repeated key, or a column does not
            convert to the table's type (each message names the table and column).
    """
    table, day_column = endpoint.table, endpoint.date_column
    end = next_month(month)
    with conn.transaction():
        prepare_transaction(conn)
        _refuse_stored_month(conn, schema, tier, endpoint, month)
        now = conn.execute("SELECT now()").fetchone()[0]
        shaped = _shape(conn, schema, table, rows, run_id, now)
        days = shaped.column(day_column)
        if pc.any(pc.or_(pc.less(days, month), pc.greater_equal(days, end))).as_py():
            raise DatasetError(
                f"{table}: rows to file as {month:%Y-%m} hold days outside that month"
            )
        order = [day_column, *(k for k in tier.key_columns if k != day_column)]
        shaped = shaped.sort_by([(c, "ascending") for c in order])
        _record_days(conn, schema, endpoint, shaped, run_id, now)
        if table in SUMMARIES:
            _file_summaries(conn, schema, table, month, shaped)
        filed = tier.write_month(
            month, shaped.schema, shaped.to_batches(max_chunksize=_WRITE_BATCH_ROWS)
        )
    logger.info("%s %s: %d rows filed to %s", table, f"{month:%Y-%m}", filed, tier.path)
    return filed


def _refuse_stored_month(
    conn: psycopg.Connection,
    schema: str,
    tier: ColdTier,
    endpoint: Endpoint,
    month: dt.date,
) -> None:
    """Filing replaces nothing: a month PostgreSQL or the ledger holds is refused."""
    if month in tier.held_months(conn, schema, endpoint.table):
        raise DatasetError(
            f"{endpoint.table}: {month:%Y-%m} is stored in PostgreSQL; a filing adds "
            "only months nothing holds yet"
        )
    ledger = conn.execute(
        sql.SQL(
            "SELECT count(*) FROM {} WHERE endpoint = %s AND day >= %s AND day < %s"
        ).format(sql.Identifier(schema, "ingestion_state")),
        [endpoint.path, month, next_month(month)],
    ).fetchone()[0]
    if ledger:
        raise DatasetError(
            f"{endpoint.table}: the ledger holds {ledger} days of {month:%Y-%m}; a "
            "filing adds only months nothing holds yet (ingest a day to correct it)"
        )


def _shape(  # noqa: PLR0913 - the rows and what fills the columns they lack
    conn: psycopg.Connection,
    schema: str,
    table: str,
    rows: pa.Table,
    run_id: str,
    now: dt.datetime,
) -> pa.Table:
    """``rows`` as the archive writes the table: its columns, in its order and types.

    Columns the rows lack are NULL, but for the ingestion's own (``run_id``, the
    time stored, an empty ``extra``); a required one that is missing is an error.
    """
    info = describe_table(conn, schema, table)
    target = result_schema(
        conn,
        sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table)),
    )
    filled = {"run_id": run_id, "ingested_at": now, "extra": "{}"}
    unknown = sorted(set(rows.column_names) - set(target.names))
    if unknown:
        raise DatasetError(f"{table} has no column(s) {unknown}")
    columns = []
    for field in target:
        if field.name in rows.column_names:
            try:
                column = rows.column(field.name).cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise DatasetError(
                    f"{table}.{field.name}: the rows' {rows.schema.field(field.name).type}"
                    f" does not convert to {field.type}: {error}"
                ) from error
        elif field.name in filled:
            column = pa.repeat(pa.scalar(filled[field.name], field.type), rows.num_rows)
        elif info.columns[field.name].not_null:
            raise DatasetError(f"{table} requires column {field.name!r}")
        else:
            column = pa.nulls(rows.num_rows, field.type)
        columns.append(column)
    shaped = pa.table(columns, schema=target)
    key = info.primary_key
    nulls = [c for c in key if shaped.column(c).null_count]
    if nulls:
        raise DatasetError(f"{table}: the rows hold NULL in key column(s) {nulls}")
    if distinct_count(shaped, key) != shaped.num_rows:
        raise DatasetError(f"{table}: the rows repeat a key {key}")
    return shaped


def _record_days(  # noqa: PLR0913 - the month's rows and their stamps
    conn: psycopg.Connection,
    schema: str,
    endpoint: Endpoint,
    rows: pa.Table,
    run_id: str,
    now: dt.datetime,
) -> None:
    """One ``complete`` ledger row a day, as ingestion writes for a day stored whole
    (the export is the source: its count is the source's count)."""
    counts = (
        rows.group_by(endpoint.date_column)
        .aggregate([([], "count_all")])
        .sort_by(endpoint.date_column)
    )
    offset = 0  # ``rows`` are in day order: a day's rows are the next ``count``
    for day, count in zip(
        counts.column(endpoint.date_column).to_pylist(),
        counts.column("count_all").to_pylist(),
        strict=True,
    ):
        batch = IngestionBatch(
            endpoint=endpoint.path,
            day=day,
            table=endpoint.table,
            rows=rows.slice(offset, count),
            rejected=pd.DataFrame(),
            received=count,
            duplicates=0,
            source_total=count,
            pages=0,
            requests=0,
            seconds=0.0,
            run_id=run_id,
            day_column=endpoint.date_column,
        )
        record_state(conn, schema, state_row(batch, 0, now))
        offset += count


def _file_summaries(
    conn: psycopg.Connection, schema: str, table: str, month: dt.date, rows: pa.Table
) -> None:
    """What the month leaves in PostgreSQL when it goes cold (``SUMMARIES``), by the
    archive's own statement, over the columns it reads copied to a scratch table."""
    columns = list(SUMMARIES[table][2])
    scratch = f"{table}_filing"
    target = sql.Identifier(schema, scratch)
    conn.execute(
        sql.SQL("CREATE UNLOGGED TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
            target,
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.Identifier(schema, table),
        )
    )
    TableWriter("replace").write(conn, rows.select(columns), schema, scratch)
    leave_summaries(conn, schema, table, month, target)
    conn.execute(sql.SQL("DROP TABLE {}").format(target))

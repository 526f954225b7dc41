"""``PostgresTableDataset``: a PostgreSQL table as a Kedro dataset.

Saving goes through :class:`~daily_profit_model.db.writer.TableWriter`: binary COPY
(Arrow encoded by pgpq), an upsert on the table's key, one transaction: either every
row lands or the table is unchanged. Month partitions of range-partitioned tables are created for the
dates the frame holds. Loading reads the configured columns and, when asked, only a date
range (the ``WHERE`` clause lets PostgreSQL prune partitions).

Example catalog entry::

    raw_trades_closed:
      type: daily_profit_model.datasets.PostgresTableDataset
      table: raw_trades_closed
      load_args:
        columns: [login, platform, broker, trade_date, profit]
        date_column: trade_date
        start: "2024-01-01"
        end: "2024-01-31"        # inclusive
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import time
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview
from psycopg import sql

from daily_profit_model.datasets.cold_tier import ColdTier
from daily_profit_model.db import Database, database_for
from daily_profit_model.db.frames import column_from_values
from daily_profit_model.db.identifiers import validate_identifier
from daily_profit_model.db.tables import TableInfo, describe_table
from daily_profit_model.db.writer import SAVE_MODES, TableWriter, prepare_session

logger = logging.getLogger(__name__)

_DTYPE_BACKENDS = ("numpy_nullable", "numpy")
_FETCH_ROWS = 50_000


def _as_date(value: Any, what: str) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        return pd.Timestamp(value).date()
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"load_args.{what} is not a date: {value!r}") from exc


def table_preview(frame: pd.DataFrame) -> TablePreview:
    """A frame as kedro-viz shows a table: ``split``-oriented, NULLs as ``None``."""
    return TablePreview(
        frame.astype(object).where(frame.notna(), None).to_dict(orient="split")
    )


class PostgresTableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A table in the project's PostgreSQL schema, saved by COPY + upsert.

    Args:
        table: Table name in the project's schema.
        schema: Schema; defaults to the configured database's (``prop_trading_model``).
        key_columns: Upsert key; defaults to the table's primary key.
        load_args: ``columns`` (list), ``date_column``, ``start`` and ``end`` (inclusive
            dates), ``filters`` (``{column: value or [values]}``, bound parameters),
            ``latest`` (only the newest day of ``date_column`` when no
            start/end is set), ``last_days`` (the days of ``date_column`` within that
            many days of the newest, when no start/end is set), ``order_by`` (list, defaults to the key), ``dtype_backend``
            (``numpy_nullable``, the default, keeps NULL and NaN apart; ``numpy``).
        save_args: ``mode``: ``upsert`` (default), ``append`` (a key conflict is an
            error) or ``replace`` (the table's rows are replaced by the frame);
            ``replace_days_of``: a date column; the stored rows of the frame's days
            are deleted in the same transaction (a re-run of a day replaces it);
            ``session_memory``: ``temp_buffers`` and ``work_mem`` of the writing
            session (default ``256MB``), which hold the staging table and key sort.
        cold_tier: ``{path}`` of the table's cold months (a
            :class:`~daily_profit_model.datasets.sql_build.SqlTableBuildDataset` with a
            cold tier moves them there): loads read the months PostgreSQL no longer
            holds from their parquet files, within the same date range and filters.
            Needs ``load_args.date_column``.
        credentials: The catalog's ``postgres`` credentials entry (``url`` or
            host fields); resolved like the environment's ``database.yml`` (see
            :func:`daily_profit_model.db.database_for`). None: the environment's database.
        metadata: Free-form metadata (kedro-viz layer and preview settings).
    """

    def __init__(  # noqa: PLR0913
        self,
        *,
        table: str,
        schema: str | None = None,
        key_columns: list[str] | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        cold_tier: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._table = validate_identifier(table, "table")
        self._credentials = credentials
        self._schema = validate_identifier(schema, "schema") if schema else None
        self._key_columns = tuple(key_columns) if key_columns else None
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        self.metadata = metadata
        self._mode = self._save_args.get("mode", "upsert")
        self._memory = str(self._save_args.get("session_memory", "256MB"))
        if self._mode not in SAVE_MODES:
            raise DatasetError(
                f"save_args.mode for table {table!r} is {self._mode!r}; use one of "
                f"{', '.join(SAVE_MODES)}."
            )
        backend = self._load_args.get("dtype_backend", "numpy_nullable")
        if backend not in _DTYPE_BACKENDS:
            raise DatasetError(
                f"load_args.dtype_backend for table {table!r} is {backend!r}; use one of "
                f"{', '.join(_DTYPE_BACKENDS)}."
            )
        named = [
            *(self._load_args.get("columns") or []),
            *(self._load_args.get("order_by") or []),
            *(self._key_columns or ()),
        ]
        if self._load_args.get("date_column"):
            named.append(self._load_args["date_column"])
        for column in named:
            validate_identifier(column, "column")
        self.last_save_stats: dict[str, float] = {}
        self._writer = TableWriter(self._mode)
        self._tier = None
        if cold_tier:
            if not self._load_args.get("date_column"):
                raise DatasetError(
                    f"{table}: cold_tier needs load_args.date_column (the months' day)"
                )
            self._tier = ColdTier.from_config(
                cold_tier, self._load_args["date_column"], self._key_columns or ()
            )

    def narrowed(self, **load_args: Any) -> PostgresTableDataset:
        """The same entry (table, tiers, credentials) with ``load_args`` added: a
        notebook reading one account or a few days of a catalog entry, from both tiers,
        without knowing where they live."""
        narrowed = copy.copy(self)
        narrowed._load_args = {**self._load_args, **load_args}
        for column in load_args.get("filters") or {}:
            validate_identifier(column, "column")
        return narrowed

    @property
    def schema(self) -> str:
        """The schema of the table (the configured database's unless set)."""
        return self._schema or self.database.schema

    @property
    def database(self) -> Database:
        """The database the dataset's credentials name."""
        return database_for(self._credentials)

    @property
    def qualified_name(self) -> str:
        """``schema.table``."""
        return f"{self.schema}.{self._table}"

    def _describe(self) -> dict[str, Any]:
        return {
            "table": self._table,
            "schema": self._schema,
            "key_columns": self._key_columns,
            "load_args": self._load_args,
            "save_args": self._save_args,
            "cold_tier": str(self._tier.path) if self._tier else None,
        }

    def _exists(self) -> bool:
        with self.database.connect() as conn:
            row = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL",
                [f'"{self.schema}"."{self._table}"'],
            ).fetchone()
        return bool(row and row[0])

    # --- loading -----------------------------------------------------------------

    def _select(
        self, info: TableInfo, limit: int | None = None
    ) -> tuple[sql.Composed, list]:
        columns = self._load_args.get("columns") or list(info.columns)
        unknown = [c for c in columns if c not in info.columns]
        if unknown:
            raise DatasetError(
                f"load_args.columns of {info.qualified} names columns it does not have: "
                f"{', '.join(unknown)}"
            )
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.Identifier(info.schema, info.name),
        )
        params: list[Any] = []
        date_column = self._load_args.get("date_column")
        start = _as_date(self._load_args.get("start"), "start")
        end = _as_date(self._load_args.get("end"), "end")
        if (start or end) and not date_column:
            raise DatasetError(
                f"load_args of {info.qualified} set start/end without date_column."
            )
        conditions = []
        if start:
            conditions.append(sql.SQL("{} >= %s").format(sql.Identifier(date_column)))
            params.append(start)
        if end:
            conditions.append(sql.SQL("{} <= %s").format(sql.Identifier(date_column)))
            params.append(end)
        for column, values in (self._load_args.get("filters") or {}).items():
            if column not in info.columns:
                raise DatasetError(
                    f"load_args.filters of {info.qualified} names a column it does "
                    f"not have: {column}"
                )
            conditions.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(column)))
            params.append(
                list(values) if isinstance(values, list | tuple) else [values]
            )
        last_days = self._load_args.get("last_days")
        if last_days and date_column and not (start or end):
            # a window ending at the newest day stored (the history a run needs)
            conditions.append(
                sql.SQL("{d} > (SELECT max({d}) FROM {t}) - %s::integer").format(
                    d=sql.Identifier(date_column),
                    t=sql.Identifier(info.schema, info.name),
                )
            )
            params.append(int(last_days))
        if self._load_args.get("latest") and date_column and not (start or end):
            # only the newest day stored (the morning job's cutoff when no date is given)
            conditions.append(
                sql.SQL("{d} = (SELECT max({d}) FROM {t})").format(
                    d=sql.Identifier(date_column),
                    t=sql.Identifier(info.schema, info.name),
                )
            )
        if conditions:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
        order_by = self._load_args.get("order_by") or list(info.primary_key)
        if order_by:
            query += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(
                map(sql.Identifier, order_by)
            )
        if limit is not None:
            query += sql.SQL(" LIMIT %s")
            params.append(limit)
        return query, params

    def _read(self, limit: int | None = None) -> pd.DataFrame:
        nullable = (
            self._load_args.get("dtype_backend", "numpy_nullable") == "numpy_nullable"
        )
        cold = None
        with self.database.connect() as conn:
            info = describe_table(conn, self.schema, self._table)
            query, params = self._select(info, limit)
            with conn.cursor(name="dpm_load") as cursor:
                cursor.itersize = _FETCH_ROWS
                cursor.execute(query, params)
                names = [d.name for d in cursor.description]
                rows = cursor.fetchall()
            if self._tier is not None and limit is None:
                cold = self._read_cold(conn, info)
        by_column = list(zip(*rows)) if rows else [() for _ in names]
        frame = pd.DataFrame(
            {
                name: column_from_values(
                    list(values), info.columns[name].pg_type, nullable
                )
                for name, values in zip(names, by_column)
            },
            columns=names,
        )
        if cold is None or not cold.num_rows:
            return frame
        # the same conversion as PostgreSQL's rows, so both tiers give the same dtypes
        cold_frame = pd.DataFrame(
            {
                name: column_from_values(
                    _cold_values(cold[name], info.columns[name].pg_type),
                    info.columns[name].pg_type,
                    nullable,
                )
                for name in names
            },
            columns=names,
        )
        order_by = self._load_args.get("order_by") or list(info.primary_key)
        return pd.concat([cold_frame, frame], ignore_index=True).sort_values(
            order_by, kind="stable", ignore_index=True
        )

    def _read_cold(self, conn, info: TableInfo) -> pa.Table | None:
        """The rows of the cold months the load asks for (None: it asks for none)."""
        date_column = self._load_args["date_column"]
        start = _as_date(self._load_args.get("start"), "start")
        end = _as_date(self._load_args.get("end"), "end")
        if not (start or end):
            if self._load_args.get("latest"):
                return None  # the newest day is always hot
            if self._load_args.get("last_days"):
                newest = conn.execute(
                    sql.SQL("SELECT max({}) FROM {}").format(
                        sql.Identifier(date_column),
                        sql.Identifier(info.schema, info.name),
                    )
                ).fetchone()[0]
                if newest is None:
                    return None
                start = newest - dt.timedelta(
                    days=int(self._load_args["last_days"]) - 1
                )
        held = self._tier.held_months(conn, info.schema, info.name)
        cold = self._tier.read(held, start, end, self._load_args.get("columns"))
        for column, values in (self._load_args.get("filters") or {}).items():
            if cold is None:
                break
            wanted = list(values) if isinstance(values, list | tuple) else [values]
            cold = cold.filter(
                pc.is_in(cold[column], pa.array(wanted).cast(cold[column].type))
            )
        return cold

    def explain(self) -> str:
        """PostgreSQL's plan for this dataset's load query (shows partition pruning)."""
        with self.database.connect() as conn:
            info = describe_table(conn, self.schema, self._table)
            query, params = self._select(info)
            rows = conn.execute(sql.SQL("EXPLAIN ") + query, params).fetchall()
        return "\n".join(r[0] for r in rows)

    def load(self) -> pd.DataFrame:
        """Read the table (columns and date range per ``load_args``)."""
        started = time.perf_counter()
        frame = self._read()
        logger.info(
            "Loaded %d rows from %s in %.2f s",
            len(frame),
            self.qualified_name,
            time.perf_counter() - started,
        )
        return frame

    def preview(self, nrows: int = 5) -> TablePreview:
        """The first ``nrows`` rows for kedro-viz, as a ``split``-oriented dict."""
        return table_preview(self._read(limit=nrows))

    # --- saving ------------------------------------------------------------------

    def _delete_replaced_days(self, conn, data: pd.DataFrame) -> int:
        """With ``save_args.replace_days_of``, delete the stored rows of the frame's days."""
        column = self._save_args.get("replace_days_of")
        if not column or data.empty:
            return 0
        validate_identifier(column, "replace_days_of")
        days = sorted({pd.Timestamp(d).date() for d in data[column].dropna().unique()})
        return conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                sql.Identifier(self.schema, self._table), sql.Identifier(column)
            ),
            [days],
        ).rowcount

    def save(self, data: pd.DataFrame) -> None:
        """Write ``data`` into the table in one transaction (COPY, then upsert).

        Raises:
            FrameValidationError: The frame's columns do not fit the table, a key
                column holds NULLs or duplicates, or a value does not fit its column.
                The message names the table, the column and the first offending row;
                the table is unchanged.
        """
        if isinstance(data, pd.DataFrame) and data.empty:
            logger.info("Nothing to save to %s (no rows)", self.qualified_name)
            return
        started = time.perf_counter()
        with self.database.connect() as conn:
            prepare_session(conn, self._memory)
            replaced = self._delete_replaced_days(conn, data)
            rows = self._writer.write(
                conn, data, self.schema, self._table, self._key_columns
            )
        elapsed = time.perf_counter() - started
        self.last_save_stats = {
            "rows": len(data),
            "seconds": elapsed,
            **self._writer.clock.laps,
        }
        logger.info(
            "Saved %d rows to %s (%s%s) in %.2f s (%.0f rows/s)",
            rows,
            self.qualified_name,
            self._mode,
            f", {replaced} rows of its days replaced" if replaced else "",
            elapsed,
            rows / elapsed if elapsed else 0.0,
        )


def _cold_values(column: pa.ChunkedArray, pg_type: str) -> list[Any]:
    """A cold column's values as psycopg would return PostgreSQL's: parquet keeps
    ``json`` and ``jsonb`` as their text, psycopg returns them parsed."""
    values = column.to_pylist()
    if pg_type in ("json", "jsonb"):
        return [json.loads(v) if isinstance(v, str) else v for v in values]
    return values

"""A derived table's cold months as parquet files: the offline half of the feature store.

The firm's history is years of account days, but only the newest weeks are read by the
morning job (scoring, drift, incremental builds). A month-partitioned table with a cold
tier keeps its hot months in PostgreSQL and moves every month whose last day is more
than ``hot_days`` before the newest stored day to ``<path>/<YYYY-MM>.parquet`` (zstd,
one file per month, rows in date and key order), then drops the partition. Nothing is
lost and every reader sees one table:

- a month is read from PostgreSQL when its partition exists, else from its file (so a
  month moved halfway, file written but partition not yet dropped, reads the same);
- a build that touches a cold month first loads its file back into a new partition in
  the build's own transaction (*thaw*), so a late correction to an old day rebuilds that
  day exactly as if it had never left PostgreSQL; the month goes cold again after the
  build;
- a full build (a new or recreated table) removes the files first: they hold rows of an
  older build or shape;
- a build that *reads* another table's cold months (staging reads raw trades) borrows
  them: loads them back for its query and drops them again after, files untouched;
- a month that goes cold can leave a summary in PostgreSQL (``SUMMARIES``): what builds
  read over the whole history, so that they need not borrow every month for it.

Feast calls this split offline and online store; here both halves stay behind the same
catalog entries (``feature_account_day@sql``, ``@pandas``, ``@scoring``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from kedro.io import DatasetError
from psycopg import sql

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.db.export import arrow_batches, write_parquet_atomically
from daily_profit_model.db.writer import (
    TableWriter,
    ensure_month_partitions,
    prepare_transaction,
)

logger = logging.getLogger(__name__)

_MONTH_FILE = re.compile(r"^(\d{4})-(\d{2})\.parquet$")
_PARTITION = re.compile(r"_p(\d{4})(\d{2})$")
_THAW_BATCH_ROWS = 200_000
_OWNER_FILE = "_owner.json"


# What a table's month leaves in PostgreSQL when it goes cold: rows builds read over the
# whole history. Daily metrics leave each account's first non-active day of the month
# (staging's exits). ``{summary}`` and ``{partition}`` are identifiers; a month loaded
# back to take a write drops its summary rows (a correction may change them), and
# writes them again when it goes cold again.
# {table: (summary table, insert, the columns the insert reads)}
SUMMARIES = {
    "raw_metrics_daily": (
        "raw_metrics_daily_cold_exits",
        "INSERT INTO {summary} (month, account_id, exit_day)"
        " SELECT %(month)s, account_id, min(date) FROM {partition}"
        " WHERE status <> 1 GROUP BY account_id",
        ("account_id", "date", "status"),
    ),
}


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class ColdTier:
    """Where a table's cold months live and when a month turns cold.

    Attributes:
        path: The folder of the month files.
        date_column: The table's day column (its partition key).
        key_columns: The table's key (the files' row order after the day).
        hot_days: A month stays in PostgreSQL while its last day is within this many
            days of the newest day stored (None: a reader's view, which moves nothing).
        compression: The parquet codec.
    """

    path: Path
    date_column: str
    key_columns: tuple[str, ...]
    hot_days: int | None = None
    compression: str = "zstd"

    @classmethod
    def from_config(
        cls,
        config: dict,
        date_column: str,
        key_columns: Iterable[str],
        moves_months: bool = False,
    ) -> ColdTier:
        """A tier from a catalog entry's ``cold_tier: {path, hot_days}``.

        ``moves_months``: the entry moves months between the tiers (a build, an
        ingestion), so ``hot_days`` is required; readers need only ``path``.

        Raises:
            DatasetError: ``path`` is missing, or ``hot_days`` is missing where months
                are moved, or is not a whole number >= 0.
        """
        unknown = set(config) - {"path", "hot_days", "compression"}
        if unknown or "path" not in config:
            raise DatasetError(
                f"cold_tier takes path, hot_days and compression; got {sorted(config)}"
            )
        hot_days = config.get("hot_days")
        if moves_months and hot_days is None:
            raise DatasetError(f"cold_tier of {config['path']} needs hot_days")
        if hot_days is not None and (not isinstance(hot_days, int) or hot_days < 0):
            raise DatasetError(
                f"cold_tier.hot_days must be an integer >= 0: {hot_days!r}"
            )
        return cls(
            Path(config["path"]),
            date_column,
            tuple(key_columns),
            hot_days,
            config.get("compression", "zstd"),
        )

    # --- the files -----------------------------------------------------------------

    def file(self, month: dt.date) -> Path:
        """The file of ``month`` (its first day)."""
        return self.path / f"{month:%Y-%m}.parquet"

    def months(self) -> list[dt.date]:
        """The months that have a file, oldest first."""
        if not self.path.is_dir():
            return []
        found = (_MONTH_FILE.match(p.name) for p in self.path.iterdir())
        return sorted(dt.date(int(m[1]), int(m[2]), 1) for m in found if m)

    def held_months(
        self, conn: psycopg.Connection, schema: str, table: str
    ) -> set[dt.date]:
        """The months PostgreSQL holds (their files, if any, are not read), once the
        folder is known to be this table's.

        Raises:
            DatasetError: The folder holds another database's, schema's or table's
                months (two environments pointed at one path).
        """
        self._claim(conn, schema, table)
        return set(partitions(conn, schema, table))

    def cold_months(
        self, conn: psycopg.Connection, schema: str, table: str
    ) -> set[dt.date]:
        """The months only their files hold (PostgreSQL holds none of their days)."""
        return set(self.months()) - self.held_months(conn, schema, table)

    def _claim(self, conn: psycopg.Connection, schema: str, table: str) -> None:
        """Mark the folder as this table's, or check that it is."""
        database = conn.execute("SELECT current_database()").fetchone()[0]
        owner = {"database": database, "schema": schema, "table": table}
        marker = self.path / _OWNER_FILE
        if marker.exists():
            stored = json.loads(marker.read_text(encoding="utf-8"))
            if stored != owner:
                raise DatasetError(
                    f"The cold tier {self.path} holds the months of {stored}, not of "
                    f"{owner}: give each database, schema and table its own cold_tier "
                    "path"
                )
            return
        self.path.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(owner), encoding="utf-8")

    def clear(self, conn: psycopg.Connection, schema: str, table: str) -> int:
        """Remove every month file (before a full build); how many there were."""
        self._claim(conn, schema, table)
        months = self.months()
        for month in months:
            self.file(month).unlink()
        return len(months)

    def coverage(
        self, skip: set[dt.date]
    ) -> tuple[dt.date | None, dt.date | None, int]:
        """First day, last day and rows of the files, leaving out the months ``skip``
        (those PostgreSQL holds), from the files' metadata alone."""
        first = last = None
        rows = 0
        for month in self.months():
            if month in skip:
                continue
            metadata = pq.ParquetFile(self.file(month)).metadata
            rows += metadata.num_rows
            index = metadata.schema.to_arrow_schema().get_field_index(self.date_column)
            for group in range(metadata.num_row_groups):
                stats = metadata.row_group(group).column(index).statistics
                if stats is None or not stats.has_min_max:
                    continue
                first = stats.min if first is None else min(first, stats.min)
                last = stats.max if last is None else max(last, stats.max)
        return first, last, rows

    def _filed_months(
        self, start: dt.date | None, end: dt.date | None
    ) -> list[dt.date]:
        """The months with a file that hold a day from ``start`` to ``end`` (None: open)."""
        return [
            m
            for m in self.months()
            if (start is None or next_month(m) > start) and (end is None or m <= end)
        ]

    def read(
        self,
        skip: set[dt.date],
        start: dt.date | None = None,
        end: dt.date | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table | None:
        """The files' rows from ``start`` to ``end`` (inclusive), leaving out the months
        ``skip``; None when no file holds any."""
        wanted = [m for m in self._filed_months(start, end) if m not in skip]
        parts = [self.read_month(m, start, end, columns) for m in wanted]
        parts = [p for p in parts if p.num_rows]
        return pa.concat_tables(parts) if parts else None

    def read_month(
        self,
        month: dt.date,
        start: dt.date | None = None,
        end: dt.date | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """One month file's rows from ``start`` to ``end`` (inclusive)."""
        day = pc.field(self.date_column)
        condition = None
        if start is not None:
            condition = day >= pa.scalar(start, pa.date32())
        if end is not None:
            upper = day <= pa.scalar(end, pa.date32())
            condition = upper if condition is None else condition & upper
        return pq.read_table(self.file(month), columns=columns, filters=condition)

    # --- moving months between the tiers ---------------------------------------------

    def is_cold(self, month: dt.date, newest: dt.date) -> bool:
        """Whether ``month`` belongs in its file when the table's newest day is
        ``newest``: its last day is more than ``hot_days`` before it."""
        if self.hot_days is None:
            raise DatasetError(
                f"The cold tier {self.path} has no hot_days: it moves nothing"
            )
        threshold = newest - dt.timedelta(days=self.hot_days)
        return next_month(month) - dt.timedelta(days=1) < threshold

    def archive(
        self,
        conn: psycopg.Connection,
        schema: str,
        table: str,
        newest: dt.date | None = None,
    ) -> int:
        """Move the table's cold months to their files; the rows moved.

        ``newest`` is the table's newest day (None: read from its newest month). Each month
        is written to its file, then its partition dropped and committed, so a run
        killed in between leaves both (PostgreSQL's copy is read, and moved again next
        time). Run outside a transaction.
        """
        if self.hot_days is None:
            raise DatasetError(
                f"The cold tier {self.path} has no hot_days: it moves nothing"
            )
        started = time.perf_counter()
        with conn.transaction():
            if newest is None:
                newest = self._newest_day(conn, schema, table)
            if newest is None:
                return 0
            self._claim(conn, schema, table)
            cold = {
                month: partition
                for month, partition in partitions(conn, schema, table).items()
                if self.is_cold(month, newest)
            }
        moved = sum(
            self._archive_month(conn, schema, table, partition, month)
            for month, partition in cold.items()
        )
        months = len(cold)
        if months:
            logger.info(
                "%s: %d cold months (%d rows) moved to %s in %.1f s",
                table,
                months,
                moved,
                self.path,
                time.perf_counter() - started,
            )
        return moved

    def _newest_day(
        self, conn: psycopg.Connection, schema: str, table: str
    ) -> dt.date | None:
        """The table's newest day, from its newest month that holds a row (no index
        leads with the day, so a max() over the table would scan every hot month)."""
        for partition in reversed(partitions(conn, schema, table).values()):
            newest = conn.execute(
                sql.SQL("SELECT max({}) FROM {}").format(
                    sql.Identifier(self.date_column), sql.Identifier(schema, partition)
                )
            ).fetchone()[0]
            if newest is not None:
                return newest
        return None

    def _archive_month(  # noqa: PLR0913 - the month's names
        self,
        conn: psycopg.Connection,
        schema: str,
        table: str,
        partition: str,
        month: dt.date,
    ) -> int:
        target = sql.Identifier(schema, partition)
        order = sql.SQL(", ").join(
            map(
                sql.Identifier,
                [
                    self.date_column,
                    *(k for k in self.key_columns if k != self.date_column),
                ],
            )
        )
        query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(target, order)
        with conn.transaction():
            prepare_transaction(conn)
            with arrow_batches(conn, query) as (arrow_schema, every_batch):
                rows = self.write_month(month, arrow_schema, every_batch)
            self.drop_filed_partition(conn, schema, table, partition, month)
        return rows

    def write_month(
        self, month: dt.date, arrow_schema: pa.Schema, batches: Iterable[pa.RecordBatch]
    ) -> int:
        """Write ``batches`` (the month's rows, in key order) as ``month``'s file,
        atomically; a month without rows leaves no file (a month whose rows a build
        removed: no stale file may stay). The rows written."""
        batches = (b for b in batches if b.num_rows)
        first = next(batches, None)
        if first is None:
            self.file(month).unlink(missing_ok=True)
            return 0
        return write_parquet_atomically(
            self.file(month),
            arrow_schema,
            itertools.chain([first], batches),
            self.compression,
        )

    def drop_filed_partition(
        self,
        conn: psycopg.Connection,
        schema: str,
        table: str,
        partition: str,
        month: dt.date,
    ) -> None:
        """Drop ``month``'s partition ``partition``: its file holds the month now (a
        raw table keeps the month's summaries from the partition first)."""
        target = sql.Identifier(schema, partition)
        leave_summaries(conn, schema, table, month, target)
        conn.execute(sql.SQL("DROP TABLE {}").format(target))

    def thaw(
        self,
        conn: psycopg.Connection,
        schema: str,
        table: str,
        start: dt.date,
        end: dt.date,
    ) -> int:
        """Load the files of the months from ``start`` to ``end`` that PostgreSQL does not
        hold back into their partitions (in the caller's transaction), to be written to;
        the rows loaded. The months' summaries go (the write may change them)."""
        months, loaded = self._load_back(conn, schema, table, start, end)
        if months:
            _forget_summaries(conn, schema, table, months)
            self._log_loaded(table, months, loaded, f"for a build of {start}..{end}")
        return loaded

    def borrow(
        self,
        conn: psycopg.Connection,
        schema: str,
        table: str,
        start: dt.date | None,
        end: dt.date,
    ) -> list[dt.date]:
        """Load the cold months from ``start`` (None: the first) to ``end`` back for a
        query that only reads them; the months loaded, for :meth:`give_back`."""
        months, loaded = self._load_back(conn, schema, table, start, end)
        if months:
            self._log_loaded(
                table, months, loaded, f"to be read from {start or 'the first day'}"
            )
        return months

    def give_back(
        self,
        conn: psycopg.Connection,
        schema: str,
        table: str,
        months: Iterable[dt.date],
    ) -> None:
        """Drop the partitions of ``months`` that :meth:`borrow` loaded (their files
        hold the same rows)."""
        held = partitions(conn, schema, table)
        for month in months:
            if month in held and self.file(month).is_file():
                conn.execute(
                    sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, held[month]))
                )

    def _load_back(
        self,
        conn: psycopg.Connection,
        schema: str,
        table: str,
        start: dt.date | None,
        end: dt.date,
    ) -> tuple[list[dt.date], int]:
        """Load the filed months from ``start`` to ``end`` that PostgreSQL does not hold;
        the months and the rows."""
        filed = self._filed_months(start, end)
        if not filed:  # the common case (a hot day): no query, no owner check
            return [], 0
        held = self.held_months(conn, schema, table)
        cold = [m for m in filed if m not in held]
        writer = TableWriter("append")
        loaded = 0
        for month in cold:
            ensure_month_partitions(conn, schema, table, pa.array([month], pa.date32()))
            source = pq.ParquetFile(self.file(month))
            for batch in source.iter_batches(batch_size=_THAW_BATCH_ROWS):
                loaded += writer.write(
                    conn, pa.Table.from_batches([batch]), schema, table
                )
        return cold, loaded

    @staticmethod
    def _log_loaded(table: str, months: list[dt.date], rows: int, purpose: str) -> None:
        logger.info(
            "%s: %d cold months (%d rows) loaded back %s",
            table,
            len(months),
            rows,
            purpose,
        )


def leave_summaries(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    month: dt.date,
    rows: sql.Composable,
) -> None:
    """Write what ``month`` of ``table`` leaves in PostgreSQL when it goes cold
    (``SUMMARIES``; a table without one: nothing), from the relation ``rows`` that
    holds the month's rows, in place of any summary of that month before."""
    if table not in SUMMARIES:
        return
    _forget_summaries(conn, schema, table, [month])
    summary, insert, _ = SUMMARIES[table]
    conn.execute(
        sql.SQL(insert).format(summary=sql.Identifier(schema, summary), partition=rows),
        {"month": month},
    )


def _forget_summaries(
    conn: psycopg.Connection, schema: str, table: str, months: list[dt.date]
) -> None:
    """Drop the summary rows of ``months`` of ``table`` (a table without one: nothing)."""
    if table in SUMMARIES:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE month = ANY(%s)").format(
                sql.Identifier(schema, SUMMARIES[table][0])
            ),
            [months],
        )


def raw_table_tier(
    table: str, config: dict[str, Any], moves_months: bool = False
) -> ColdTier:
    """The cold tier of a raw table with a day column (its key and day from the contract).

    Raises:
        DatasetError: ``table`` is no endpoint's day-partitioned raw table.
    """
    endpoint = next((e for e in ENDPOINTS.values() if e.table == table), None)
    if endpoint is None or endpoint.date_column is None:
        raise DatasetError(
            f"{table!r} has no cold tier: not a raw table with a day column "
            f"({', '.join(e.table for e in ENDPOINTS.values() if e.date_column)})"
        )
    return ColdTier.from_config(
        config, endpoint.date_column, endpoint.key, moves_months=moves_months
    )


def partitions(conn: psycopg.Connection, schema: str, table: str) -> dict[dt.date, str]:
    """The table's month partitions (``<table>_pYYYYMM``) by their first day.

    Raises:
        DatasetError: A partition is not named by ``ensure_month_partition``.
    """
    names = conn.execute(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass(%s)",
        [f'"{schema}"."{table}"'],
    ).fetchall()
    months = {}
    for (name,) in names:
        found = _PARTITION.search(name)
        if not found:
            raise DatasetError(f"{schema}.{name}: not a month partition of {table}")
        months[dt.date(int(found[1]), int(found[2]), 1)] = name
    return dict(sorted(months.items()))

"""``RawIngestionDataset``: stores one endpoint-day batch, its rejects and its state at once."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
from kedro.io import AbstractDataset, DatasetError
from psycopg import sql

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.datasets.cold_tier import ColdTier, raw_table_tier
from daily_profit_model.datasets.ingestion_ledger import record_state, state_row
from daily_profit_model.datasets.month_filing import file_month
from daily_profit_model.datasets.postgres_table import PostgresTableDataset
from daily_profit_model.db import Database, database_for
from daily_profit_model.db.reconcile import archive_rows_not_served
from daily_profit_model.db.tables import TableInfo, describe_table
from daily_profit_model.db.writer import TableWriter, prepare_session
from daily_profit_model.ingestion.batches import IngestionBatch

logger = logging.getLogger(__name__)

_QUARANTINE_KEY = ("source", "payload_sha256")


class RawIngestionDataset(AbstractDataset[IngestionBatch, pd.DataFrame]):
    """Each save is one transaction: raw rows upserted, rejects quarantined, state set.

    A process killed at any moment leaves either all of a day or none of it, and the
    state table says which, so the next run picks up exactly where this one stopped.
    Loading returns what the saves recorded: the ``ingestion_state`` ledger (one row
    per endpoint-day: the source's count, rows stored, quarantined, when), written in
    the same transaction as each day's rows. The rows themselves are read through
    their own ``PostgresTableDataset`` entries. (The ledger has its own entry too,
    ``ingestion_state``, which the planner reads *before* ingesting; this entry is the
    same table *after* it, so the lineage orders preprocessing after ingestion
    without a cycle.)

    Args:
        cold_tiers: ``{raw table: {path, hot_days}}``: the table's months older than
            ``hot_days`` before its newest day move to parquet as the days that make
            them cold are stored (:mod:`daily_profit_model.datasets.cold_tier`), so a
            backfill never holds more than the hot months; a day fetched again into a
            cold month loads the month back first, in the day's transaction, so a
            correction is reconciled against every row stored. Only for tables no SQL
            build reads (the builds cannot see the files).
        credentials: The catalog's ``postgres`` credentials entry.
        metadata: Free-form metadata (kedro-viz layer).
    """

    def __init__(
        self,
        cold_tiers: dict[str, dict[str, Any]] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._credentials = credentials
        self._tiers = {
            table: raw_table_tier(table, config, moves_months=True)
            for table, config in (cold_tiers or {}).items()
        }
        self.metadata = metadata
        self._upsert = TableWriter("upsert")
        self._conn: psycopg.Connection | None = None
        self._conn_database: Database | None = None
        self._tables: dict[tuple[str, str], TableInfo] = {}
        self._removed: dict[str, int] = {}
        self._horizons: dict[str, dt.date] = {}

    def _connection(self, database: Database) -> psycopg.Connection:
        """One connection for all the saves of a run (a day is one transaction on it)."""
        if (
            self._conn is None
            or self._conn.closed
            or self._conn_database is not database
        ):
            if self._conn is not None:
                self._conn.close()
            self._conn = database.connect(autocommit=True)
            self._conn_database = database
            prepare_session(self._conn)
        return self._conn

    def release(self) -> None:
        """Close the connection (Kedro calls this after the run); sum up removals."""
        if self._removed:
            logger.warning(
                "Ingestion moved %d stored rows the source no longer serves to "
                "raw_removed_rows: %s",
                sum(self._removed.values()),
                self._removed,
            )
            self._removed = {}
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _describe(self) -> dict[str, Any]:
        return {"cold_tiers": {t: str(tier.path) for t, tier in self._tiers.items()}}

    def save(self, data: IngestionBatch) -> None:
        """Store ``data``: its rows, rejects and state (or the state alone, for a day
        whose re-check found the source's count unchanged)."""
        database = database_for(self._credentials)
        started = time.perf_counter()
        conn = self._connection(database)
        with conn.transaction():
            # The database's clock, which derived tables stamp their builds with too.
            now = conn.execute("SELECT now()").fetchone()[0]
            if data.unchanged:
                self._record_check(conn, database.schema, data, now)
                return
            info = self._table_info(conn, database.schema, data.table)
            tier = self._tiers.get(data.table)
            if tier is not None and data.day_column is not None:
                tier.thaw(conn, database.schema, data.table, data.day, data.day)
            # A day fetched again replaces what was stored: rows no longer served go.
            refetched = data.day_column is not None and _day_is_stored(
                conn, info, data.day_column, data.day
            )
            if len(data.rows):
                self._upsert.write(conn, data.rows, database.schema, data.table)
            removed = 0
            if refetched:
                removed = archive_rows_not_served(
                    conn, info, data.day_column, data.day, data.rows, data.run_id
                )
            if len(data.rejected):
                self._upsert.write(
                    conn, data.rejected, database.schema, "quarantine", _QUARANTINE_KEY
                )
            record_state(conn, database.schema, state_row(data, removed, now))
        self._archive_cold_months(conn, database.schema, data)
        if removed:
            self._removed[data.endpoint] = self._removed.get(data.endpoint, 0) + removed
        rate = data.received / max(data.seconds + time.perf_counter() - started, 1e-9)
        log = logger.warning if removed else logger.info
        log(
            "%s %s: received %d = stored %d + quarantined %d + duplicates %d "
            "(source total %d, %d pages, %.0f rows/s); %s%s",
            data.endpoint,
            data.day,
            data.received,
            data.stored,
            data.quarantined,
            data.duplicates,
            data.source_total,
            data.pages,
            rate,
            data.status,
            f"; {removed} stored rows the source no longer serves moved to "
            "raw_removed_rows"
            if removed
            else "",
        )

    def cold_tier(self, table: str) -> ColdTier | None:
        """``table``'s cold tier in this entry (None: it keeps every month in
        PostgreSQL)."""
        return self._tiers.get(table)

    def file_month(
        self, endpoint: str, month: dt.date, rows: pa.Table, run_id: str
    ) -> int:
        """File ``rows``, all of ``endpoint``'s rows for ``month`` from a trusted bulk
        export, straight to the table's cold tier, with the month's ledger days
        (:mod:`daily_profit_model.datasets.month_filing`). The rows filed.

        Raises:
            DatasetError: ``endpoint`` has no cold tier here, or the filing refused the
                rows (see ``month_filing.file_month``).
        """
        contract = ENDPOINTS[endpoint]
        tier = self._tiers.get(contract.table)
        if tier is None:
            raise DatasetError(
                f"{contract.table} has no cold tier in this entry's cold_tiers "
                f"({', '.join(self._tiers) or 'none'}): nothing to file a month to"
            )
        database = database_for(self._credentials)
        conn = self._connection(database)
        return file_month(conn, database.schema, tier, contract, month, rows, run_id)

    def _archive_cold_months(
        self, conn: psycopg.Connection, schema: str, data: IngestionBatch
    ) -> None:
        """Move the table's months that this day made cold to its tier.

        The newest day comes from the state ledger (indexed), and the partitions are
        looked at only when the cold horizon enters a new month, so a backfill keeps
        PostgreSQL at the hot months while it runs, for one small query per day.
        """
        tier = self._tiers.get(data.table)
        if tier is None or data.day_column is None:
            return
        newest = conn.execute(
            sql.SQL("SELECT max(day) FROM {} WHERE endpoint = %s").format(
                sql.Identifier(schema, "ingestion_state")
            ),
            [data.endpoint],
        ).fetchone()[0]
        horizon = (newest - dt.timedelta(days=tier.hot_days)).replace(day=1)
        if self._horizons.get(data.table) != horizon:
            self._horizons[data.table] = horizon
            tier.archive(conn, schema, data.table, newest)

    def _table_info(
        self, conn: psycopg.Connection, schema: str, table: str
    ) -> TableInfo:
        if (schema, table) not in self._tables:
            self._tables[(schema, table)] = describe_table(conn, schema, table)
        return self._tables[(schema, table)]

    @staticmethod
    def _record_check(
        conn: psycopg.Connection, schema: str, data: IngestionBatch, now: dt.datetime
    ) -> None:
        """A re-check agreed with the stored count: the day's status may now be verified."""
        conn.execute(
            sql.SQL(
                "UPDATE {} SET status = %s, checked_at = %s, run_id = %s "
                "WHERE endpoint = %s AND day = %s"
            ).format(sql.Identifier(schema, "ingestion_state")),
            [data.status, now, data.run_id, data.endpoint, data.day],
        )
        logger.info(
            "%s %s: %d rows, unchanged at the source; %s",
            data.endpoint,
            data.day,
            data.source_total,
            data.status,
        )

    def load(self) -> pd.DataFrame:
        """The ``ingestion_state`` table."""
        state = PostgresTableDataset(
            table="ingestion_state",
            load_args={"order_by": ["day", "endpoint"]},
            credentials=self._credentials,
        )
        return state.load()


def _day_is_stored(
    conn: psycopg.Connection, info: TableInfo, day_column: str, day: dt.date
) -> bool:
    row = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} = %s)").format(
            sql.Identifier(info.schema, info.name), sql.Identifier(day_column)
        ),
        [day],
    ).fetchone()
    return bool(row[0])

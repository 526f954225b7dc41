"""``RawIngestionDataset``: stores one endpoint-day batch, its rejects and its state at once."""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd
import psycopg
from kedro.io import AbstractDataset

from daily_profit_model.datasets.postgres_table import PostgresTableDataset
from daily_profit_model.db import Database, get_database
from daily_profit_model.db.writer import TableWriter, prepare_session
from daily_profit_model.ingestion.batches import IngestionBatch

logger = logging.getLogger(__name__)

_QUARANTINE_KEY = ("source", "payload_sha256")


class RawIngestionDataset(AbstractDataset[IngestionBatch, pd.DataFrame]):
    """Each save is one transaction: raw rows upserted, rejects quarantined, state set.

    A process killed at any moment leaves either all of a day or none of it, and the
    state table says which, so the next run picks up exactly where this one stopped.
    Loading returns the ``ingestion_state`` table.
    """

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata
        self._upsert = TableWriter("upsert")
        self._conn: psycopg.Connection | None = None
        self._conn_database: Database | None = None

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
        """Close the connection (Kedro calls this after the run)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _describe(self) -> dict[str, Any]:
        return {}

    def save(self, data: IngestionBatch) -> None:
        """Store ``data`` (a no-op for a day whose re-check found nothing new)."""
        if data.unchanged:
            logger.info(
                "%s %s: %d rows, unchanged at the source",
                data.endpoint,
                data.day,
                data.source_total,
            )
            return
        database = get_database()
        started = time.perf_counter()
        conn = self._connection(database)
        with conn.transaction():
            # The database's clock, which derived tables stamp their builds with too.
            loaded_at = conn.execute("SELECT now()").fetchone()[0]
            if len(data.rows):
                self._upsert.write(conn, data.rows, database.schema, data.table)
            if len(data.rejected):
                self._upsert.write(
                    conn, data.rejected, database.schema, "quarantine", _QUARANTINE_KEY
                )
            status = (
                "complete"
                if data.stored + data.quarantined >= data.source_total
                else "partial"
            )
            state = pd.DataFrame(
                {
                    "endpoint": [data.endpoint],
                    "day": [data.day],
                    "source_count": [data.source_total],
                    "stored_count": [data.stored],
                    "quarantined_count": [data.quarantined],
                    "duplicate_count": [data.duplicates],
                    "received_count": [data.received],
                    "pages": [data.pages],
                    "requests": [data.requests],
                    "seconds": [data.seconds],
                    "status": [status],
                    "run_id": [data.run_id],
                    "loaded_at": [loaded_at],
                }
            )
            self._upsert.write(conn, state, database.schema, "ingestion_state")
        rate = data.received / max(data.seconds + time.perf_counter() - started, 1e-9)
        logger.info(
            "%s %s: received %d = stored %d + quarantined %d + duplicates %d "
            "(source total %d, %d pages, %.0f rows/s)",
            data.endpoint,
            data.day,
            data.received,
            data.stored,
            data.quarantined,
            data.duplicates,
            data.source_total,
            data.pages,
            rate,
        )

    def load(self) -> pd.DataFrame:
        """The ``ingestion_state`` table."""
        state = PostgresTableDataset(
            table="ingestion_state", load_args={"order_by": ["day", "endpoint"]}
        )
        return state.load()

"""The ``ingestion_state`` ledger: one row per endpoint and day stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg import sql

from daily_profit_model.ingestion.batches import IngestionBatch

_STATE_KEY = ("endpoint", "day")


def state_row(data: IngestionBatch, removed: int, now: dt.datetime) -> dict[str, Any]:
    """The day's ``ingestion_state`` row."""
    return {
        "endpoint": data.endpoint,
        "day": data.day,
        "source_count": data.source_total,
        "stored_count": data.stored,
        "quarantined_count": data.quarantined,
        "duplicate_count": data.duplicates,
        "received_count": data.received,
        "removed_count": removed,
        "pages": data.pages,
        "requests": data.requests,
        "seconds": data.seconds,
        "status": data.status,
        "run_id": data.run_id,
        "loaded_at": now,
        "checked_at": now,
    }


def record_state(conn: psycopg.Connection, schema: str, row: dict[str, Any]) -> None:
    """Upsert the day's state row: one statement with bound values (the frame writer's
    staging costs more than a whole day of rows at a small firm)."""
    columns = list(row)
    updates = [c for c in columns if c not in _STATE_KEY]
    conn.execute(
        sql.SQL(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}"
        ).format(
            sql.Identifier(schema, "ingestion_state"),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
            sql.SQL(", ").join(map(sql.Identifier, _STATE_KEY)),
            sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in updates
            ),
        ),
        row,
    )

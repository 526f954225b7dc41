"""Nodes of the ``database_check`` pipeline."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


class DatabaseCheckError(RuntimeError):
    """The heartbeat written to the database did not come back."""


def make_heartbeat(database_status: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Turn the server's status into this run's heartbeat row.

    Args:
        database_status: One row with ``server_version``, ``database_name``,
            ``schema_version`` and ``raw_tables``.

    Returns:
        The heartbeat frame (one row keyed by a new ``run_id``) and that ``run_id``.
    """
    run_id = uuid.uuid4().hex
    heartbeat = database_status.assign(
        run_id=run_id, checked_at=pd.Timestamp.now(tz="UTC")
    )[
        [
            "run_id",
            "checked_at",
            "server_version",
            "database_name",
            "schema_version",
            "raw_tables",
        ]
    ]
    return heartbeat, run_id


def verify_heartbeat(
    ops_heartbeat: pd.DataFrame, heartbeat_run_id: str
) -> dict[str, Any]:
    """Check that the heartbeat just written is in the table read back.

    Returns:
        A report: the run id, server version, schema version and heartbeats stored.

    Raises:
        DatabaseCheckError: The heartbeat of ``heartbeat_run_id`` is missing.
    """
    mine = ops_heartbeat[ops_heartbeat["run_id"] == heartbeat_run_id]
    if len(mine) != 1:
        raise DatabaseCheckError(
            f"Heartbeat {heartbeat_run_id} was written but {len(mine)} copies came back."
        )
    row = mine.iloc[0]
    report = {
        "run_id": heartbeat_run_id,
        "server_version": str(row["server_version"]),
        "schema_version": int(row["schema_version"]),
        "raw_tables": int(row["raw_tables"]),
        "heartbeats_stored": len(ops_heartbeat),
    }
    logger.info(
        "Database check passed: PostgreSQL %s, schema version %d, %d raw tables, "
        "%d heartbeats stored",
        report["server_version"],
        report["schema_version"],
        report["raw_tables"],
        report["heartbeats_stored"],
    )
    return report

"""``DatabaseStatusDataset``: facts about the configured PostgreSQL, read-only."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from daily_profit_model.db import database_for
from daily_profit_model.db.migrations import schema_version


class DatabaseStatusDataset(AbstractDataset[None, pd.DataFrame]):
    """One row: server version, database, schema version and raw-table count."""

    def __init__(
        self,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._credentials = credentials
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {}

    def load(self) -> pd.DataFrame:
        """Query the server (starting the embedded one if needed)."""
        database = database_for(self._credentials)
        with database.connect() as conn:
            server_version, database_name = conn.execute(
                "SELECT current_setting('server_version'), current_database()"
            ).fetchone()
            raw_tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = %s"
                " AND tablename LIKE 'raw\\_%%' AND tablename NOT LIKE '%%\\_p______'",
                [database.schema],
            ).fetchone()[0]
            version = schema_version(conn, database.schema)
        return pd.DataFrame(
            {
                "server_version": [server_version],
                "database_name": [database_name],
                "schema_version": [version],
                "raw_tables": [raw_tables],
            }
        )

    def save(self, data: None) -> None:
        """Refuse: the status is read from the server."""
        raise DatasetError("DatabaseStatusDataset is read-only.")

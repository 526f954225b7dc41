"""Kedro datasets of the project."""

from daily_profit_model.datasets.database_status import DatabaseStatusDataset
from daily_profit_model.datasets.postgres_table import PostgresTableDataset

__all__ = ["DatabaseStatusDataset", "PostgresTableDataset"]

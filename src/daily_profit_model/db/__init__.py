"""PostgreSQL access: the embedded server, connection settings, migrations and COPY I/O."""

from daily_profit_model.db.connection import (
    Database,
    DatabaseConfigError,
    configure_database,
    database_for,
    get_database,
)

__all__ = [
    "Database",
    "DatabaseConfigError",
    "configure_database",
    "database_for",
    "get_database",
]

"""MLflow's tracking store and Optuna's study storage: databases of the project's server.

MLflow 3 refuses a file store (and kedro-mlflow needs a database URI), so runs, the
model registry and Optuna studies live in PostgreSQL too: databases ``mlflow`` and
``optuna`` (configurable) beside the project's, on the same server. ``MLFLOW_TRACKING_URI``
in the environment overrides the MLflow one (for a shared tracking server).
"""

from __future__ import annotations

import logging
import os

import mlflow
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL

from daily_profit_model.db.connection import Database
from daily_profit_model.db.identifiers import validate_identifier

logger = logging.getLogger(__name__)

TRACKING_URI_ENV_VAR = "MLFLOW_TRACKING_URI"


def sqlalchemy_url(database: Database, dbname: str) -> str:
    """A SQLAlchemy URL (psycopg 3 driver) for database ``dbname`` of the project's server.

    The database is created when it does not exist yet.
    """
    validate_identifier(dbname, "database name")
    # The server's address only: the project's schema and its migrations are not
    # MLflow's concern (and `kedro db migrate` must get here before they are applied).
    conninfo = database.server_conninfo()
    params = conninfo_to_dict(conninfo)
    _ensure_database(conninfo, dbname)
    query = (
        {"host": params["host"]} if str(params.get("host", "")).startswith("/") else {}
    )
    url = URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        host=None if query else params.get("host"),
        port=int(params["port"]) if params.get("port") else None,
        database=dbname,
        query=query,
    )
    return url.render_as_string(hide_password=False)


def _ensure_database(conninfo: str, dbname: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [dbname]
        ).fetchone()
        if not exists:
            try:
                conn.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
                )
                logger.info("Created database %s for tracking", dbname)
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it meanwhile


_configured_uri: str | None = None


def configure_mlflow_tracking(database: Database, dbname: str = "mlflow") -> None:
    """Point MLflow at the project's server unless ``MLFLOW_TRACKING_URI`` is set.

    A URI this function set earlier in the process (another session, another database)
    is replaced; one set by the user is kept.
    """
    global _configured_uri  # noqa: PLW0603
    current = os.environ.get(TRACKING_URI_ENV_VAR)
    if current and current != _configured_uri:
        logger.info("MLflow tracking: %s from the environment", TRACKING_URI_ENV_VAR)
        return
    _configured_uri = sqlalchemy_url(database, dbname)
    os.environ[TRACKING_URI_ENV_VAR] = _configured_uri
    # kedro-mlflow reads mlflow.get_tracking_uri(), which prefers a URI set in-process.
    mlflow.set_tracking_uri(_configured_uri)
    logger.info("MLflow tracking: database %r of %s", dbname, database.describe())

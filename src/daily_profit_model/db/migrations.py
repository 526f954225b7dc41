"""Versioned, idempotent schema migrations.

Migrations are the SQL files ``migrations/NNNN_<name>.sql`` shipped in this package. Each
runs once, in order, inside one transaction together with its row in
``<schema>.schema_migrations``; a file changed after it was applied is refused (its
checksum no longer matches), because the database would no longer match the code.
A transaction-scoped advisory lock lets several processes start at once safely.

Run them alone with ``uv run kedro db migrate``; every connection of a process applies
pending ones first.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from daily_profit_model.db.identifiers import validate_identifier

logger = logging.getLogger(__name__)

# An arbitrary constant that names "schema migration" among the project's advisory locks.
_MIGRATION_LOCK_ID = 7_042_001
_FILE_PATTERN = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """A migration failed, or an applied migration no longer matches its file."""


@dataclass(frozen=True)
class Migration:
    """One migration file: its version, name, SQL text and checksum."""

    version: int
    name: str
    sql_text: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL text."""
        return hashlib.sha256(self.sql_text.encode()).hexdigest()


def discover_migrations() -> list[Migration]:
    """Return the package's migrations in version order.

    Raises:
        MigrationError: Two files share a version number.
    """
    folder = resources.files("daily_profit_model.db") / "migrations"
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE_PATTERN.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"Two migrations have version {version:04d}")
        found[version] = Migration(version, match.group(2), entry.read_text())
    return [found[v] for v in sorted(found)]


def _applied(conn: psycopg.Connection, schema: str) -> dict[int, str]:
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(schema))
    )
    rows = conn.execute(
        sql.SQL("SELECT version, checksum FROM {}.schema_migrations").format(
            sql.Identifier(schema)
        )
    ).fetchall()
    return dict(rows)


def apply_migrations(conn: psycopg.Connection, schema: str) -> list[int]:
    """Apply the migrations that ``schema`` lacks, in one transaction.

    Args:
        conn: An open connection; committed on success, rolled back on failure.
        schema: The project's schema; created if missing.

    Returns:
        The versions applied now (empty when the schema was up to date).

    Raises:
        MigrationError: A migration's SQL failed (nothing is applied), or an applied
            migration's checksum differs from its file.
    """
    validate_identifier(schema, "schema")
    migrations = discover_migrations()
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK_ID])
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
        )
        applied = _applied(conn, schema)
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"Migration {migration.version:04d}_{migration.name} was changed "
                        f"after it was applied to schema {schema!r}. Add a new migration "
                        f"instead of editing an applied one."
                    )
                continue
            conn.execute(
                sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema))
            )
            try:
                conn.execute(migration.sql_text)
            except psycopg.Error as exc:
                raise MigrationError(
                    f"Migration {migration.version:04d}_{migration.name} failed on "
                    f"schema {schema!r}: {exc}"
                ) from exc
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.schema_migrations (version, name, checksum)"
                    " VALUES (%s, %s, %s)"
                ).format(sql.Identifier(schema)),
                [migration.version, migration.name, migration.checksum],
            )
            applied_now.append(migration.version)
            logger.info("Applied migration %04d_%s", migration.version, migration.name)
    if applied_now:
        logger.info("Schema %s migrated to version %d", schema, migrations[-1].version)
    return applied_now


def schema_version(conn: psycopg.Connection, schema: str) -> int:
    """Return the highest migration version applied to ``schema`` (0 if none)."""
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(version), 0) FROM {}.schema_migrations").format(
            sql.Identifier(validate_identifier(schema, "schema"))
        )
    ).fetchone()
    return int(row[0]) if row else 0

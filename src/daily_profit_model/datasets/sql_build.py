"""``SqlTableBuildDataset``: a derived table built inside PostgreSQL from a SQL file.

Heavy relational work (densified account days, rolling windows, targets) runs where the
data lives. A node returns a :class:`SqlBuild` (which query, which days, which
parameters); saving it replaces exactly those days of the table, in one transaction:
``DELETE`` of the days, then ``INSERT … SELECT`` of the query with bound parameters. A
full build may instead split the accounts among several connections (see
:class:`SqlTableBuildDataset`).
Building one day alone therefore gives the same rows as a full rebuild, as long as the
query computes each day from data dated on or before it.

The table is created from the query's own shape (month-partitioned on the date column,
primary key on the key columns), so the SQL file is the one definition of its columns.
When the query's columns change, the table is recreated empty and the next build fills it.

Loading returns what is stored, ``{"table", "first", "last", "rows"}``: cheap, so a
downstream build can check its input covers the days it needs. The rows themselves are
read through a transcoded :class:`PostgresTableDataset` entry of the same table
(``feature_account_day@sql`` builds, ``feature_account_day@pandas`` reads), which keeps
one dataset in the lineage.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import jinja2
import pandas as pd
import psycopg
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview
from psycopg import sql

from daily_profit_model.datasets.cold_tier import ColdTier, raw_table_tier
from daily_profit_model.datasets.duckdb_build import DuckDBBuild, FullBuildEngine
from daily_profit_model.datasets.postgres_table import PostgresTableDataset
from daily_profit_model.db import Database, database_for
from daily_profit_model.db.identifiers import validate_identifier
from daily_profit_model.db.tables import TableNotFoundError, describe_table
from daily_profit_model.db.writer import ensure_month_partitions, prepare_transaction

logger = logging.getLogger(__name__)

_QUERY_PACKAGE = "daily_profit_model.sql"
_WORK_MEM = "256MB"  # sort and hash memory of a build transaction
# How far back a build thaws its own cold months before its start (the previous trading
# day's rows a query carries on from; a longer gap in the calendar only makes staging
# compute the account over its whole history, which gives the same rows).
_CARRIED_DAYS = dt.timedelta(days=7)


@dataclass(frozen=True)
class SqlBuild:
    """Which days of a derived table to build (the query is the dataset's own).

    Attributes:
        start: First day to build (inclusive).
        end: Last day to build (inclusive).
        params: Further bound parameters of the query (``start`` and ``end`` are added).
        first_day: Where a build of an empty (new or recreated) table starts; defaults
            to ``start``.
        stamp: Record the build's start time as the table's ``built_at`` (False for a
            requested range, which may leave out days loaded since the last build).
    """

    start: dt.date
    end: dt.date
    params: dict[str, Any] = field(default_factory=dict)
    first_day: dt.date | None = None
    stamp: bool = True

    def bound_parameters(self, bucket: int = 0, buckets: int = 1) -> dict[str, Any]:
        """The parameters bound to the query.

        ``bucket`` of ``buckets`` selects the accounts one worker of a parallel build
        computes (the query keeps those whose hashed ``account_id`` falls in it).
        """
        return {
            **self.params,
            "start": self.start,
            "end": self.end,
            "bucket": bucket,
            "buckets": buckets,
        }

    @property
    def days(self) -> int:
        """How many calendar days the build covers."""
        return (self.end - self.start).days + 1

    def from_first_day(self) -> SqlBuild:
        """The same build, starting at ``first_day``."""
        return replace(self, start=min(self.first_day or self.start, self.start))


def read_query(name: str, **context: Any) -> str:
    """The text of a query file shipped in ``daily_profit_model/sql``.

    A ``.sql.j2`` file is a Jinja template (as dbt's models are), rendered with
    ``StrictUndefined`` from its own ``{% set %}`` lists; it may ``{% include %}`` another
    file of the package (a part two queries share). ``context`` describes the build, not
    its values (``build_days``: how many days it covers, so a template may take another
    plan for a short build; ``engine``: ``postgresql`` or ``duckdb``, which runs it).
    Values never go through Jinja: they stay bound parameters (``%(start)s``).

    Raises:
        DatasetError: No such query file, or a template that does not render.
    """
    text = _query_text(name)
    if not name.endswith(".j2"):
        return text
    environment = jinja2.Environment(
        loader=jinja2.FunctionLoader(_query_text),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    try:
        return environment.from_string(text).render(**context)
    except (jinja2.TemplateError, DatasetError) as exc:
        raise DatasetError(f"Query template {name!r} does not render: {exc}") from exc


def _query_text(name: str) -> str:
    path = resources.files(_QUERY_PACKAGE).joinpath(name)
    if not name.endswith((".sql", ".sql.j2")) or not path.is_file():
        raise DatasetError(f"No query file {name!r} in {_QUERY_PACKAGE}")
    return path.read_text(encoding="utf-8")


class SqlTableBuildDataset(AbstractDataset[SqlBuild, dict[str, Any]]):
    """A table of the project's schema that a SQL file builds, day range by day range.

    A full build (the table is new, empty, or left incomplete by an interrupted full
    build) can run on ``full_build_workers`` connections at once, each computing the
    accounts of one hash bucket (the query's ``%(bucket)s`` and ``%(buckets)s``), each
    committing its own rows. The table is marked as being built (its comment) until
    every worker is done, so a build killed half way is started again from scratch by
    the next run, never continued from a partial table. Incremental builds are one
    transaction on one connection. A finished build stamps the table's comment with the
    database time it started at; loading returns it as ``built_at``, so the planner
    can tell which loaded data came after it (``features.build_window_plan.reloaded_days``).

    Args:
        table: The derived table.
        date_column: The day column: the build window and the month partitions.
        key_columns: Primary key (must include ``date_column``).
        query: The SQL file (``daily_profit_model/sql``) that builds it; None for an
            entry that reads the table's coverage only.
        full_build_workers: Connections a full build in PostgreSQL uses (backends,
            each busy on one core); 1 builds in one transaction.
        full_build: ``{engine, memory_limit, threads, buckets, scratch}``: where a full
            build runs (:class:`~daily_profit_model.datasets.duckdb_build.FullBuildEngine`;
            default PostgreSQL). With ``engine: duckdb`` the query runs in DuckDB over
            the cold inputs' files and the hot rows, and the result's cold months are
            written straight to their files; incremental builds stay in PostgreSQL.
        float_storage: How the query's double precision columns are stored: ``real``
            halves them where the values are model features (7 significant digits;
            the model sees float32 either way, see ``training.pyfunc_model``).
        cold_tier: ``{path, hot_days}``: months older than ``hot_days`` before the
            newest day move to zstd parquet files under ``path`` after each build, and
            come back for a build that touches them (see
            :mod:`daily_profit_model.datasets.cold_tier`). None: every month stays in
            PostgreSQL.
        cold_inputs: ``{table: {path}}``: tables the query reads whose old months
            another entry keeps as parquet (ingestion's ``cold_tiers`` of a raw table;
            another build's ``cold_tier``, then with its ``date_column`` and
            ``key_columns``). Before the query runs, the cold months it reads are loaded
            back (borrowed), and dropped again once it has run; the files are not
            touched.
        reads_from: A query file giving the first day the query reads from
            ``cold_inputs`` for a build of ``start``..``end`` (the same parameters);
            None: ``start``. A full build reads every month.
        bucketed_inputs: ``{relation: [key columns]}``: relations the query reads
            only through its bucket filter on that key
            (``hashtext(concat_ws('|', key…)) & 2147483647 % buckets = bucket``). A
            full build in DuckDB with several buckets splits each by bucket once, so
            that a bucket's query reads its own rows instead of hashing them all.
        credentials: The catalog's ``postgres`` credentials entry (see
            :func:`daily_profit_model.db.database_for`). None: the environment's database.
        metadata: Free-form metadata (kedro-viz layer).
    """

    def __init__(  # noqa: PLR0913 - keyword-only catalog arguments
        self,
        *,
        table: str,
        date_column: str,
        key_columns: list[str],
        query: str | None = None,
        full_build_workers: int = 1,
        full_build: dict[str, Any] | None = None,
        float_storage: str = "double precision",
        cold_tier: dict[str, Any] | None = None,
        cold_inputs: dict[str, dict[str, Any]] | None = None,
        reads_from: str | None = None,
        bucketed_inputs: dict[str, list[str]] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._table = validate_identifier(table, "table")
        self._bucketed_inputs = {
            validate_identifier(name, "bucketed input"): tuple(
                validate_identifier(c, "bucket key column") for c in key
            )
            for name, key in (bucketed_inputs or {}).items()
        }
        self._inputs = {
            validate_identifier(name, "cold input"): _input_tier(name, config)
            for name, config in (cold_inputs or {}).items()
        }
        self._reads_from = reads_from
        self._credentials = credentials
        self._query = query
        self._date_column = validate_identifier(date_column, "date_column")
        self._key_columns = [validate_identifier(c, "key column") for c in key_columns]
        if self._date_column not in self._key_columns:
            raise DatasetError(
                f"{table}: key_columns must include the date column {date_column!r}"
            )
        if int(full_build_workers) < 1:
            raise DatasetError(f"{table}: full_build_workers must be at least 1")
        self._workers = int(full_build_workers)
        self._engine = FullBuildEngine.from_config(full_build, table)
        if float_storage not in _FLOAT_STORAGE:
            raise DatasetError(
                f"{table}: float_storage is {float_storage!r}; use one of "
                f"{', '.join(_FLOAT_STORAGE)}"
            )
        self._float_storage = float_storage
        self._tier = (
            ColdTier.from_config(
                cold_tier, self._date_column, self._key_columns, moves_months=True
            )
            if cold_tier
            else None
        )
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {
            "table": self._table,
            "query": self._query,
            "date_column": self._date_column,
            "full_build_workers": self._workers,
            "full_build_engine": self._engine.engine,
            "float_storage": self._float_storage,
            "cold_tier": str(self._tier.path) if self._tier else None,
            "cold_inputs": {t: str(tier.path) for t, tier in self._inputs.items()},
        }

    def _load(self) -> dict[str, Any]:
        """What is stored: ``{"table", "first", "last", "rows", "built_at"}``.

        ``built_at`` is the database time at which the last complete build started
        (None: never built, or a full build is unfinished); data loaded after it may
        not be in the table yet.
        """
        database = database_for(self._credentials)
        target = sql.Identifier(database.schema, self._table)
        with database.connect() as conn:
            if not _table_columns(conn, database.schema, self._table):
                return {
                    "table": self._table,
                    "first": None,
                    "last": None,
                    "rows": 0,
                    "built_at": None,
                }
            first, last, rows = conn.execute(
                sql.SQL("SELECT min({d}), max({d}), count(*) FROM {t}").format(
                    d=sql.Identifier(self._date_column), t=target
                )
            ).fetchone()
            built_at = _built_at(_comment(conn, target))
            if self._tier:
                held = self._tier.held_months(conn, database.schema, self._table)
                cold_first, cold_last, cold_rows = self._tier.coverage(held)
                first = _bound(min, first, cold_first)
                last = _bound(max, last, cold_last)
                rows += cold_rows
        return {
            "table": self._table,
            "first": first,
            "last": last,
            "rows": rows,
            "built_at": built_at,
        }

    def preview(self, nrows: int = 5) -> TablePreview:
        """The built table's first ``nrows`` rows, for kedro-viz."""
        return PostgresTableDataset(
            table=self._table, credentials=self._credentials
        ).preview(nrows)

    def _save(self, data: SqlBuild) -> None:
        if data.start > data.end:
            raise DatasetError(
                f"{self._table}: empty build window {data.start}..{data.end}"
            )
        if self._query is None:
            raise DatasetError(
                f"{self._table}: this catalog entry has no `query:` and cannot build "
                "(it reads the table's coverage only)"
            )
        query = read_query(self._query)
        database = database_for(self._credentials)
        target = sql.Identifier(database.schema, self._table)
        started = time.perf_counter()
        with database.connect() as conn:
            with conn.transaction():
                prepare_transaction(conn, database.schema, _WORK_MEM)
                analyze_unanalyzed(conn, database.schema)
                began = conn.execute("SELECT now()").fetchone()[0]
                columns, empty = self._ensure_table(conn, database.schema, query, data)
                interrupted = _comment(conn, target) == _BUILDING
                if empty or interrupted:
                    data = data.from_first_day()
                    if interrupted:
                        logger.warning(
                            "%s: a full build was interrupted; building it again",
                            self._table,
                        )
                        conn.execute(sql.SQL("TRUNCATE {}").format(target))
                    if self._tier and self._tier.clear(
                        conn, database.schema, self._table
                    ):
                        logger.info(
                            "%s: cold months removed for a full build", self._table
                        )
                elif self._tier:
                    # and the week before: a query may carry state on from its own
                    # stored rows of the previous trading day (staging's seed)
                    self._tier.thaw(
                        conn,
                        database.schema,
                        self._table,
                        data.start - _CARRIED_DAYS,
                        data.end,
                    )
                self._ensure_partitions(conn, database.schema, data)
                full = empty or interrupted
                # a full build in DuckDB or on several connections commits as it
                # goes, outside this transaction (the table marked as being built)
                outside = full and (self._workers > 1 or self._engine.in_duckdb)
                # rendered for the range it builds and the engine that runs it (a
                # template may plan a short build another way: the features' morning
                # day; staging orders its sums in PostgreSQL only)
                query = read_query(
                    self._query,
                    build_days=data.days,
                    engine=self._engine.engine if outside else "postgresql",
                )
                # (a full build's first read day: the first day, for a build over the
                # whole history; the outcomes' first forecast's cutoff)
                reads_from = None if outside else self._first_day_read(conn, data)
                if outside:
                    _set_comment(conn, target, _BUILDING)
                    deleted = 0
                else:
                    with self._inputs_borrowed(conn, database.schema, reads_from, data):
                        deleted = conn.execute(
                            sql.SQL(
                                "DELETE FROM {t} WHERE {d} BETWEEN %(start)s AND %(end)s"
                            ).format(t=target, d=sql.Identifier(self._date_column)),
                            {"start": data.start, "end": data.end},
                        ).rowcount
                        inserted = conn.execute(
                            _insert(target, columns, query), data.bound_parameters()
                        ).rowcount
                    if data.stamp or full:
                        _set_comment(conn, target, _BUILT + began.isoformat())
            if outside:
                inserted = self._outside_the_transaction(
                    conn, database, columns, query, data
                )
                with conn.transaction():
                    _set_comment(conn, target, _BUILT + began.isoformat())
            if self._tier:
                self._tier.archive(conn, database.schema, self._table)
        logger.info(
            "%s: built %s..%s: %d rows (%d replaced) in %.1f s%s",
            self._table,
            data.start,
            data.end,
            inserted,
            deleted,
            time.perf_counter() - started,
            _engine_note(outside, self._engine, self._workers),
        )

    def _outside_the_transaction(
        self,
        conn: psycopg.Connection,
        database: Database,
        columns: list[str],
        query: str,
        data: SqlBuild,
    ) -> int:
        """A full build that commits as it goes (the table is marked as being built):
        in DuckDB, or on several connections; the rows stored."""
        if self._engine.in_duckdb:
            build = DuckDBBuild(
                schema=database.schema,
                table=self._table,
                date_column=self._date_column,
                key_columns=tuple(self._key_columns),
                inputs=self._inputs,
                tier=self._tier,
                bucketed_inputs=self._bucketed_inputs,
            )
            return build.run(conn, query, data.bound_parameters(), self._engine)
        # the workers' connections must see the borrowed months: committed
        with self._inputs_borrowed(
            conn, database.schema, None, data, own_transactions=True
        ):
            return self._parallel_insert(
                database,
                sql.Identifier(database.schema, self._table),
                columns,
                query,
                data,
            )

    def _first_day_read(self, conn: psycopg.Connection, data: SqlBuild) -> dt.date:
        """The first day an incremental build of ``data`` reads from its cold inputs."""
        if not self._inputs or self._reads_from is None:
            return data.start
        first = conn.execute(
            sql.SQL(read_query(self._reads_from)), data.bound_parameters()
        ).fetchone()[0]
        return min(first or data.start, data.start)

    @contextlib.contextmanager
    def _inputs_borrowed(
        self,
        conn: psycopg.Connection,
        schema: str,
        start: dt.date | None,
        data: SqlBuild,
        own_transactions: bool = False,
    ) -> Iterator[None]:
        """The cold inputs' months from ``start`` (None: every month) to the build's end
        loaded back while the block runs, dropped again after it.

        In the caller's transaction (a failure rolls the loads back with the build), or,
        with ``own_transactions``, committed before the block and dropped after it
        whatever happens (a parallel build's workers read them on other connections).
        """
        if not self._inputs:
            yield
            return
        own = conn.transaction if own_transactions else contextlib.nullcontext
        with own():
            borrowed = {
                table: tier.borrow(conn, schema, table, start, data.end)
                for table, tier in self._inputs.items()
            }
        finished = False
        try:
            yield
            finished = True
        finally:
            if finished or own_transactions:
                with own():
                    for table, months in borrowed.items():
                        self._inputs[table].give_back(conn, schema, table, months)

    def _ensure_partitions(
        self, conn: psycopg.Connection, schema: str, data: SqlBuild
    ) -> None:
        ensure_month_partitions(
            conn,
            schema,
            self._table,
            pd.Series(
                pd.date_range(data.start, data.end, freq="MS").union(
                    [pd.Timestamp(data.start)]
                )
            ),
        )

    def _parallel_insert(
        self,
        database: Database,
        target: sql.Identifier,
        columns: list[str],
        query: str,
        data: SqlBuild,
    ) -> int:
        """Each worker inserts the accounts of its bucket and commits; the row total."""

        def build_bucket(bucket: int) -> int:
            with database.connect() as conn, conn.transaction():
                prepare_transaction(conn, database.schema, _WORK_MEM)
                return conn.execute(
                    _insert(target, columns, query),
                    data.bound_parameters(bucket, self._workers),
                ).rowcount

        with ThreadPoolExecutor(self._workers, thread_name_prefix="sql-build") as pool:
            futures = [pool.submit(build_bucket, b) for b in range(self._workers)]
            failures = [f.exception() for f in futures if f.exception() is not None]
        if failures:
            raise DatasetError(
                f"{self._table}: {len(failures)} of {self._workers} workers of the full "
                f"build failed (the next run builds the table again): {failures[0]}"
            ) from failures[0]
        return sum(f.result() for f in futures)

    def _ensure_table(
        self, conn: psycopg.Connection, schema: str, query: str, build: SqlBuild
    ) -> tuple[list[str], bool]:
        """Create (or recreate, if its columns changed) the table.

        Returns:
            The table's columns, and whether it holds no row (so needs a full build).
        """
        cursor = conn.execute(
            sql.SQL("SELECT * FROM ({}) AS shape LIMIT 0").format(sql.SQL(query)),
            build.bound_parameters(),
        )
        wanted = [(d.name, d.type_code) for d in cursor.description]
        names = [name for name, _ in wanted]
        types = dict(
            conn.execute(
                "SELECT oid::int, format_type(oid, NULL) FROM pg_type WHERE oid = ANY(%s)",
                [[oid for _, oid in wanted]],
            ).fetchall()
        )
        definition = [
            (
                name,
                self._float_storage if types[oid] == "double precision" else types[oid],
            )
            for name, oid in wanted
        ]
        missing = sorted(set(self._key_columns) - set(names))
        if missing:
            raise DatasetError(f"{self._query} does not return key columns {missing}")
        stored = _table_columns(conn, schema, self._table)
        if stored == definition:
            empty = not conn.execute(
                sql.SQL("SELECT EXISTS (SELECT FROM {})").format(
                    sql.Identifier(schema, self._table)
                )
            ).fetchone()[0]
            return names, empty
        target = sql.Identifier(schema, self._table)
        if stored:
            logger.warning(
                "%s: the query's columns changed; the table is recreated and rebuilt",
                self._table,
            )
            conn.execute(sql.SQL("DROP TABLE {}").format(target))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {t} ({cols}, PRIMARY KEY ({key})) PARTITION BY RANGE ({d})"
            ).format(
                t=target,
                cols=sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(pg_type))
                    for n, pg_type in definition
                ),
                key=sql.SQL(", ").join(map(sql.Identifier, self._key_columns)),
                d=sql.Identifier(self._date_column),
            )
        )
        return names, True


_FLOAT_STORAGE = ("double precision", "real")
_BUILDING = "daily-profit-model: full build in progress"
_BUILT = "daily-profit-model: built from data loaded before "


def _input_tier(table: str, config: dict[str, Any]) -> ColdTier:
    """The tier of a cold input: a raw table's from the contract, another's from its
    ``date_column`` and ``key_columns``."""
    if "date_column" not in config:
        return raw_table_tier(table, config)
    tier = {k: v for k, v in config.items() if k not in ("date_column", "key_columns")}
    return ColdTier.from_config(
        tier,
        validate_identifier(config["date_column"], "date_column"),
        [validate_identifier(c, "key column") for c in config.get("key_columns", [])],
    )


def _engine_note(outside: bool, engine: FullBuildEngine, workers: int) -> str:
    """How a build ran (``outside``: outside the transaction), for its log line."""
    if not outside:
        return ""
    if engine.in_duckdb:
        return f" in DuckDB ({engine.buckets} buckets)"
    return f" on {workers} connections"


def _bound(pick, *days: dt.date | None) -> dt.date | None:
    """``pick`` (min or max) of the days that are known; None when none is."""
    known = [d for d in days if d is not None]
    return pick(known) if known else None


def _built_at(comment: str | None) -> dt.datetime | None:
    """When the build that the table's comment records started, if it finished."""
    if not comment or not comment.startswith(_BUILT):
        return None
    return dt.datetime.fromisoformat(comment.removeprefix(_BUILT))


def _insert(target: sql.Identifier, columns: list[str], query: str) -> sql.Composed:
    return sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM ({q}) AS built").format(
        t=target,
        c=sql.SQL(", ").join(map(sql.Identifier, columns)),
        q=sql.SQL(query),  # a file of the package, never user input
    )


def analyze_unanalyzed(conn: psycopg.Connection, schema: str) -> list[str]:
    """ANALYZE the tables of ``schema`` that hold rows but were never analyzed nor
    vacuumed.

    Such a table (``reltuples`` -1: rows just loaded, autovacuum not yet round) is
    planned as a few pages, and a build joining it can pick a plan that never ends: a
    staging build in the test suite ran for over 11 minutes on two connections when
    the raw months it read were loaded a minute before autovacuum analyzed them (the
    same build takes seconds once they are). Analyzing samples at most 30,000 rows a
    table, so a build checks first, every time. Returns the tables analyzed.
    """
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r' "
            "AND c.reltuples < 0 AND pg_relation_size(c.oid) > 0 ORDER BY 1",
            [schema],
        ).fetchall()
    ]
    for table in tables:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
    if tables:
        logger.info("Analyzed %d tables never analyzed before: %s", len(tables), tables)
    return tables


def _comment(conn: psycopg.Connection, target: sql.Identifier) -> str | None:
    """The table's comment (the mark of a full build in progress)."""
    row = conn.execute(
        sql.SQL("SELECT obj_description({}::regclass, 'pg_class')").format(
            sql.Literal(target.as_string(conn))
        )
    ).fetchone()
    return row[0] if row else None


def _set_comment(
    conn: psycopg.Connection, target: sql.Identifier, text: str | None
) -> None:
    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(target, sql.Literal(text)))


def _table_columns(
    conn: psycopg.Connection, schema: str, table: str
) -> list[tuple[str, str]]:
    """The table's (column, type) in order; empty when the table does not exist."""
    try:
        info = describe_table(conn, schema, table)
    except TableNotFoundError:
        return []
    return [(c.name, c.pg_type) for c in info.columns.values()]

"""A derived table's full build in DuckDB: files and hot rows in, month files and hot rows out.

A full build of staging, features and targets in PostgreSQL loads every cold month of
its inputs back into tables to read them, and writes every month of its output into
partitions only to move the cold ones out again (at the 10.5 M-trade world, 470 of the
920 s moved months between the tiers). DuckDB reads the cold months' parquet files where
they lie, computes the same query with a vectorised engine on every core, and writes
each cold month of the result straight to its file: only the hot months' rows enter
PostgreSQL (binary COPY), and only the hot rows of the inputs leave it.

The query is the same package file PostgreSQL runs (one definition of every column):
:func:`duckdb_dialect` rewrites the few PostgreSQL spellings DuckDB reads otherwise,
and the two functions of the schema the queries call (``ewm_weights``,
``stg_account_day_seed``) are macros here. A full build has no seed: it computes every
account from its first day. Incremental builds stay in PostgreSQL, on the same query.

Memory: DuckDB is capped (``memory_limit``) and spills to a scratch folder; ``buckets``
splits the accounts (the queries' ``%(bucket)s`` of ``%(buckets)s``) so that one
bucket's windows fit. Hand-written here rather than through DuckDB's ``postgres``
extension: that extension is downloaded at run time, which a firm's locked-down host
(and this machine) cannot do; the hot rows come over the project's own COPY instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from kedro.io import DatasetError
from psycopg import sql

from daily_profit_model.datasets.cold_tier import ColdTier, partitions
from daily_profit_model.db.export import (
    arrow_batches,
    result_schema,
)
from daily_profit_model.db.frames import copy_batches, copy_encoder
from daily_profit_model.db.writer import prepare_transaction

logger = logging.getLogger(__name__)

_BATCH_ROWS = 131_072
_ENGINES = ("postgresql", "duckdb")

# The schema's SQL functions the build queries call, as DuckDB macros (migration 0006).
_MACROS = (
    # PostgreSQL's hashtext is not DuckDB's hash: a bucket holds other accounts in each
    # engine, but every query filters trades and accounts by the same function.
    "CREATE MACRO hashtext(s) AS (hash(s) & 2147483647)::BIGINT",
    """CREATE MACRO ewm_weights(n, halflife) AS
        CASE WHEN coalesce(n, 0) = 0 THEN 0::DOUBLE
        ELSE exp(ln(2) / halflife) * (exp(n * ln(2) / halflife) - 1)
            / (exp(ln(2) / halflife) - 1) END""",
    # a full build has no stored day to carry on from: no seed row
    """CREATE MACRO stg_account_day_seed(seed_day) AS TABLE SELECT
        NULL::VARCHAR AS account_id, NULL::DATE AS seed_date,
        NULL::INTEGER AS trading_day_index, NULL::DOUBLE AS balance,
        NULL::DOUBLE AS equity, NULL::DOUBLE AS approved_payouts_to_date,
        NULL::INTEGER AS days_to_next_payout, NULL::DOUBLE AS high_water_mark,
        NULL::INTEGER AS days_traded, NULL::INTEGER AS trading_days_since_trade,
        NULL::INTEGER AS winning_streak, NULL::INTEGER AS losing_streak,
        NULL::DOUBLE AS lifetime_net_profit, NULL::INTEGER AS lifetime_winning_days,
        NULL::INTEGER AS lifetime_losing_days, NULL::DOUBLE AS lifetime_pnl_sq,
        NULL::DOUBLE AS lifetime_traded_pnl, NULL::DOUBLE AS lifetime_worst_day,
        NULL::DOUBLE AS lifetime_best_day, NULL::INTEGER AS lifetime_trades,
        NULL::DOUBLE AS lifetime_lots, NULL::DOUBLE AS ewm_pnl_short,
        NULL::DOUBLE AS ewm_pnl_long, NULL::DOUBLE AS net_profit
        LIMIT 0""",
)


def duckdb_dialect(query: str) -> str:
    """``query`` (PostgreSQL, as the package's files are written) as DuckDB reads it.

    Bound parameters ``%(name)s`` become ``$name``; ``%%`` a ``%``; a window frame's
    ``'19 days'`` a day count (the frames order by a date); ``x #>> '{a,b}'`` and ``x #> '{a,b}'``
    ``json_extract_string`` / ``json_extract`` paths; ``jsonb_each`` ``json_each``.
    Everything else (``FILTER``, ``AT TIME ZONE``, ``generate_series`` in a lateral
    join, ``->``/``->>``) both engines read alike; the test of this module compares
    the rows of all three build queries.
    """
    text = re.sub(r"%\((\w+)\)s", r"$\1", query).replace("%%", "%")
    # a day count, not an interval: DuckDB would order every row by its date cast to a
    # timestamp (measured 1.5x slower on the features' windows)
    text = re.sub(r"RANGE BETWEEN '(\d+) days?'", r"RANGE BETWEEN \1", text)

    def path(function: str):
        def rewrite(match: re.Match) -> str:
            keys = ".".join(k.strip() for k in match.group(2).split(","))
            return f"{function}({match.group(1)}, '$.{keys}')"

        return rewrite

    text = re.sub(r"([\w.]+)\s*#>>\s*'\{([^}]*)\}'", path("json_extract_string"), text)
    text = re.sub(r"([\w.]+)\s*#>\s*'\{([^}]*)\}'", path("json_extract"), text)
    return text.replace("jsonb_each(", "json_each(")


@dataclass(frozen=True)
class FullBuildEngine:
    """Where a derived table's full builds run (``full_build:`` of a catalog entry).

    Attributes:
        engine: ``postgresql`` (``INSERT … SELECT`` on ``full_build_workers``
            connections) or ``duckdb`` (this module).
        memory_limit: DuckDB's memory cap (it spills to ``scratch`` beyond it).
        threads: DuckDB's threads (None: one per core).
        buckets: Account buckets computed one after the other (bounds a window's
            memory); 1 computes every account at once.
        scratch: Folder of DuckDB's working database and spill files (None: the
            system's temporary folder); emptied after each build.
        filing_threads: Cold months of the result filed at once: with 2, one month's
            write (one core) overlaps the next one's sort. At the firm's size it saved
            49 s of a 1,767 s build and raised the peak from 4,492 to 5,549 MiB (the
            features' wide months, two in flight; README, Benchmarks), so 1 is the
            default under a 6 GiB budget.
    """

    engine: str = "postgresql"
    memory_limit: str = "2GB"
    threads: int | None = None
    buckets: int = 1
    scratch: str | None = None
    filing_threads: int = 1

    @classmethod
    def from_config(cls, config: dict[str, Any] | None, table: str) -> FullBuildEngine:
        """The engine of ``table``'s ``full_build:`` entry (None: PostgreSQL).

        Raises:
            DatasetError: An unknown key or engine, or buckets below 1.
        """
        config = dict(config or {})
        unknown = set(config) - set(cls.__dataclass_fields__)
        if unknown:
            raise DatasetError(
                f"{table}: full_build takes {', '.join(cls.__dataclass_fields__)}; "
                f"got {sorted(unknown)}"
            )
        engine = cls(**config)
        if engine.engine not in _ENGINES:
            raise DatasetError(
                f"{table}: full_build.engine is {engine.engine!r}; use one of "
                f"{', '.join(_ENGINES)}"
            )
        for setting in ("buckets", "filing_threads"):
            if int(getattr(engine, setting)) < 1:
                raise DatasetError(f"{table}: full_build.{setting} must be at least 1")
        return engine

    @property
    def in_duckdb(self) -> bool:
        return self.engine == "duckdb"


@dataclass(frozen=True)
class DuckDBBuild:
    """One full build of ``table`` in DuckDB.

    Attributes:
        schema: The project's schema (the query's bare table names).
        table: The derived table (created, empty, partitioned: the dataset's own).
        date_column: Its day column (months, cold tier).
        key_columns: Its key (the rows' order in a month file).
        inputs: The cold tiers of tables the query reads whose old months are files.
        tier: The table's own cold tier (None: every month goes to PostgreSQL).
        bucketed_inputs: Relations the query reads only through its bucket filter
            (``hashtext(concat_ws('|', <key>)) % buckets = bucket``), each with that
            key: with several buckets each is split by bucket once, and a bucket's
            query reads its share alone (see :meth:`_split_by_bucket`).
    """

    schema: str
    table: str
    date_column: str
    key_columns: tuple[str, ...]
    inputs: dict[str, ColdTier]
    tier: ColdTier | None
    bucketed_inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def run(
        self,
        conn: psycopg.Connection,
        query: str,
        params: dict[str, Any],
        engine: FullBuildEngine,
    ) -> int:
        """Compute ``query`` over every account and store its rows; the rows stored.

        Cold months of the result go to the table's files, the others to PostgreSQL,
        one transaction per month (the caller marks the table as being built).
        """
        import duckdb  # noqa: PLC0415 - only full builds in DuckDB need it

        scratch = Path(engine.scratch) if engine.scratch else None
        if scratch is not None:
            scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch, prefix="dpm-duckdb-") as work:
            duck = duckdb.connect(str(Path(work) / "build.duckdb"))
            try:
                _run(duck, "SET TimeZone = 'UTC'")  # as prepare_transaction
                _run(duck, "SET memory_limit = ?", [engine.memory_limit])
                _run(duck, "SET temp_directory = ?", [str(Path(work) / "spill")])
                _run(duck, "SET preserve_insertion_order = false")
                if engine.threads:
                    _run(duck, f"SET threads = {int(engine.threads)}")
                for macro in _MACROS:
                    _run(duck, macro)
                started = time.perf_counter()
                json_columns = self._attach_inputs(conn, duck, query)
                schema = self._result_schema(conn, duck, duckdb_dialect(query), params)
                shares = self._split_by_bucket(
                    duck,
                    engine.buckets,
                    Path(work) / "buckets",
                    json_columns,
                    _words(query),
                )
                inputs_s = time.perf_counter() - started
                parts = Path(work) / "parts"
                self._compute(
                    duck,
                    _typed_as(duckdb_dialect(query), schema),
                    params,
                    engine.buckets,
                    parts,
                    shares,
                )
                computed_s = time.perf_counter() - started - inputs_s
                stored = self._store(
                    conn, duck, parts, schema, int(engine.filing_threads)
                )
                logger.info(
                    "%s: DuckDB full build: inputs %.1f s, query %.1f s, stored %d rows"
                    " in %.1f s",
                    self.table,
                    inputs_s,
                    computed_s,
                    stored,
                    time.perf_counter() - started - inputs_s - computed_s,
                )
                return stored
            except duckdb.OutOfMemoryException as exc:
                # the window operators hold a bucket's rows: fewer rows a bucket
                raise DatasetError(
                    f"{self.table}: the DuckDB full build ran out of its memory_limit "
                    f"{engine.memory_limit} with {engine.buckets} buckets of accounts; "
                    "raise full_build.buckets (--params full_build_buckets=N for one "
                    f"run) or its memory_limit. {exc}"
                ) from exc
            finally:
                duck.close()

    # --- inputs ----------------------------------------------------------------------

    def _attach_inputs(
        self, conn: psycopg.Connection, duck, query: str
    ) -> dict[str, list[str]]:
        """A view per relation of the schema the query names: the hot rows (copied
        from PostgreSQL) and, for a tiered input, its cold months' files. Returns
        each relation's json columns."""
        relations = self._relations(conn, query)
        for relation, json_columns in relations.items():
            hot = f"_hot_{relation}"
            target = sql.Identifier(self.schema, relation)
            with conn.transaction():
                prepare_transaction(conn)
                with arrow_batches(
                    conn, sql.SQL("SELECT * FROM {}").format(target)
                ) as (schema, batches):
                    incoming = pa.RecordBatchReader.from_batches(schema, batches)
                    duck.register("_incoming", incoming)
                    _run(duck, f'CREATE TABLE "{hot}" AS SELECT * FROM _incoming')
                    duck.unregister("_incoming")
            source = f'SELECT * FROM "{hot}"'
            tier = self.inputs.get(relation)
            files = (
                [
                    str(tier.file(m))
                    for m in sorted(tier.cold_months(conn, self.schema, relation))
                ]
                if tier
                else []
            )
            if files:
                source = (
                    f"{source} UNION ALL BY NAME "
                    f"SELECT * FROM read_parquet({_list_literal(files)})"
                )
            _run(
                duck,
                f'CREATE VIEW "{relation}" AS SELECT {_as_json(json_columns)}'
                f" FROM ({source})",
            )
            [(rows,)] = _run(duck, f'SELECT count(*) FROM "{relation}"')
            logger.info(
                "%s: DuckDB reads %s: %d rows (%d cold month files)",
                self.table,
                relation,
                rows,
                len(files),
            )
        return relations

    def _split_by_bucket(  # noqa: PLR0913 - the inputs, where and what the query reads
        self,
        duck,
        buckets: int,
        folder: Path,
        json_columns: dict[str, list[str]],
        words: set[str],
    ) -> dict[str, tuple[Path, list[str]]]:
        """Each bucketed input written once as parquet, one folder per bucket; by
        relation, its folder and json columns (none with one bucket).

        Without it every bucket's query read the whole relation and hashed every row
        to keep its share: at the firm's size, 85.7 M trades read and hashed 24 times,
        about half of each staging bucket's time (README). A bucket's rows are the
        rows the query's own filter keeps (the same function of the same key), and
        that filter still runs on them.

        Only the columns the query's text names (``words``) are written: a column it
        does not name, it cannot read. A query that passed a column it does not name
        through to its result (``SELECT t.*``) would stop at its first bucket, DuckDB
        unable to bind the table's column: loud, never a wrong value.
        """
        if buckets <= 1:
            return {}
        folder.mkdir(parents=True, exist_ok=True)
        shares = {}
        for relation, key in self.bucketed_inputs.items():
            if relation not in json_columns:
                continue  # not read by this query
            started = time.perf_counter()
            every = [row[0] for row in _run(duck, f'DESCRIBE "{relation}"')]
            read = [c for c in every if c in words or c in key]
            hashed = ", ".join(f'"{c}"' for c in key)
            selected = ", ".join(f'"{c}"' for c in read)
            _run(
                duck,
                f"COPY (SELECT {selected}, (hashtext(concat_ws('|', {hashed})) & 2147483647)"
                f' % {int(buckets)} AS _bucket FROM "{relation}")'
                f" TO {_literal(str(folder / relation))}"
                " (FORMAT parquet, PARTITION_BY (_bucket))",
            )
            _run(duck, f'ALTER VIEW "{relation}" RENAME TO "_whole_{relation}"')
            shares[relation] = (
                folder / relation,
                [c for c in json_columns[relation] if c in read],
            )
            logger.info(
                "%s: DuckDB split %s (%d of its %d columns) into %d buckets in %.1f s",
                self.table,
                relation,
                len(read),
                len(every),
                buckets,
                time.perf_counter() - started,
            )
        return shares

    @staticmethod
    def _read_bucket(
        duck, shares: dict[str, tuple[Path, list[str]]], bucket: int
    ) -> None:
        """Each bucketed input's view: the rows of ``bucket`` alone."""
        for relation, (folder, json_columns) in shares.items():
            files = folder / f"_bucket={bucket}"
            source = (
                f"read_parquet({_literal(str(files / '*.parquet'))},"
                " hive_partitioning = false)"
                if files.is_dir()
                else f'(SELECT * FROM "_whole_{relation}" LIMIT 0)'
            )
            _run(
                duck,
                f'CREATE OR REPLACE VIEW "{relation}" AS SELECT {_as_json(json_columns)}'
                f" FROM {source}",
            )

    def _relations(self, conn: psycopg.Connection, query: str) -> dict[str, list[str]]:
        """The schema's tables and views ``query`` names (comments aside), each with
        its json columns."""
        words = _words(query)
        rows = conn.execute(
            "SELECT c.relname, array_remove(array_agg(a.attname ORDER BY a.attnum)"
            " FILTER (WHERE format_type(a.atttypid, NULL) IN ('json', 'jsonb')), NULL)"
            " FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0"
            " AND NOT a.attisdropped"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm')"
            " AND NOT c.relispartition GROUP BY c.relname",
            [self.schema],
        ).fetchall()
        return {
            name: list(json_columns or [])
            for name, json_columns in rows
            if name in words and name != self.table
        }

    # --- the query -------------------------------------------------------------------

    def _compute(  # noqa: PLR0913 - the query, its values and where things are
        self,
        duck,
        query: str,
        params: dict[str, Any],
        buckets: int,
        parts: Path,
        shares: dict[str, tuple[Path, list[str]]],
    ) -> None:
        """The query's rows as parquet under ``parts``, one folder per month,
        bucket by bucket (a working table of every row would take the result's size
        in the scratch folder again, uncompressed).

        The parts are read once, by :meth:`_store`: lz4, not zstd. Measured on one
        bucket of the firm's features (1.6 M rows, 182 columns): written in 4.5 s
        against 6.5 s, for 452 MiB against 373 MiB of scratch.
        """
        day = self.date_column
        for bucket in range(buckets):
            self._read_bucket(duck, shares, bucket)
            bound = _bound(query, params, bucket, buckets)
            started = time.perf_counter()
            _run(
                duck,
                f"COPY (SELECT *, strftime(\"{day}\", '%Y-%m') AS _month FROM ({query}))"
                f" TO {_literal(str(parts))} (FORMAT parquet, COMPRESSION lz4_raw,"
                f" PARTITION_BY (_month), FILENAME_PATTERN 'bucket{bucket}_{{i}}',"
                " OVERWRITE_OR_IGNORE true)",
                bound,
            )
            logger.info(
                "%s: DuckDB bucket %d/%d computed in %.1f s",
                self.table,
                bucket + 1,
                buckets,
                time.perf_counter() - started,
            )

    # --- the result ------------------------------------------------------------------

    def _result_schema(
        self, conn: psycopg.Connection, duck, query: str, params: dict[str, Any]
    ) -> pa.Schema:
        """The table's Arrow schema, once DuckDB is shown to name the query's columns
        as the table does (before any bucket is computed).

        Raises:
            DatasetError: A column DuckDB names otherwise than PostgreSQL.
        """
        target = sql.Identifier(self.schema, self.table)
        with conn.transaction():
            prepare_transaction(conn)
            schema = result_schema(conn, sql.SQL("SELECT * FROM {}").format(target))
        # DESCRIBE plans the query without running it
        described = _run(duck, f"DESCRIBE {query}", _bound(query, params, 0, 1))
        names = [row[0] for row in described]
        if names != schema.names:
            raise DatasetError(
                f"{self.table}: DuckDB names the query's columns "
                f"{[n for n in names if n not in schema.names]} where PostgreSQL names "
                f"them {[n for n in schema.names if n not in names]}: give those "
                "expressions an alias in the query"
            )
        return schema

    def _store(  # noqa: PLR0913 - where the rows are, what and how many at once
        self,
        conn: psycopg.Connection,
        duck,
        parts: Path,
        schema: pa.Schema,
        filing_threads: int = 1,
    ) -> int:
        """Each month of the result, in key order: to its file when cold, else into
        PostgreSQL.

        Cold months are filed ``filing_threads`` at a time, each on its own DuckDB
        cursor: a month is sorted by DuckDB (both cores), then written by one pyarrow
        thread, so with two one month's write overlaps the next one's sort. DuckDB's
        memory_limit holds for the sorts together (it spills beyond it); the writers'
        batches come on top of it (see ``FullBuildEngine.filing_threads``).
        """
        months = sorted(
            p.name.removeprefix("_month=") for p in parts.glob("_month=*") if p.is_dir()
        )
        if not months:
            return 0
        [(newest,)] = _run(
            duck, f'SELECT max("{self.date_column}") FROM {_parts(parts, "*")}'
        )

        cold = [
            m
            for m in months
            if self.tier is not None and self.tier.is_cold(_month_start(m), newest)
        ]
        stored = 0
        with ThreadPoolExecutor(max_workers=filing_threads) as pool:
            filing = {
                pool.submit(self._file_month, duck.cursor(), parts, m, schema): m
                for m in cold
            }
            try:
                for done in as_completed(filing):
                    stored += done.result()
            except BaseException:
                for future in filing:
                    future.cancel()
                raise
        held = partitions(conn, self.schema, self.table)
        for name in cold:
            # the build's empty partition of a cold month: its file holds the month
            # now (left there, the tier would archive it as emptied)
            if _month_start(name) in held:
                with conn.transaction():
                    self.tier.drop_filed_partition(
                        conn,
                        self.schema,
                        self.table,
                        held[_month_start(name)],
                        _month_start(name),
                    )
        target = sql.Identifier(self.schema, self.table)
        types = _column_types(conn, self.schema, self.table)
        for name in months:
            if name in cold:
                continue
            stored += _copy(
                conn, target, schema, self._sorted(duck, parts, name, schema), types
            )
            shutil.rmtree(parts / f"_month={name}")
        return stored

    def _sorted(
        self, duck, parts: Path, name: str, schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        """Month ``name`` of the parts in key order, as the table's types."""
        order = ", ".join(
            f'"{c}"'
            for c in (
                self.date_column,
                *(k for k in self.key_columns if k != self.date_column),
            )
        )
        # a relation's reader streams the sorted month (a cursor's reader made a copy
        # of every row first: the month twice in memory, beside DuckDB's own)
        month_rows = duck.sql(f"SELECT * FROM {_parts(parts, name)} ORDER BY {order}")
        return _cast(month_rows.to_arrow_reader(_BATCH_ROWS), schema)

    def _file_month(self, cursor, parts: Path, name: str, schema: pa.Schema) -> int:
        """Write cold month ``name`` to its file (on its own cursor); the rows."""
        try:
            rows = self.tier.write_month(
                _month_start(name), schema, self._sorted(cursor, parts, name, schema)
            )
            shutil.rmtree(parts / f"_month={name}")  # the scratch holds one copy
            return rows
        finally:
            cursor.close()


def _month_start(name: str) -> dt.date:
    """The first day of a parts folder's month (``YYYY-MM``)."""
    return dt.date(int(name[:4]), int(name[5:7]), 1)


def _parts(parts: Path, month: str) -> str:
    """The parts of ``month`` (``*``: every month) as a DuckDB table function."""
    pattern = _literal(str(parts / f"_month={month}" / "*.parquet"))
    return f"read_parquet({pattern}, hive_partitioning = false)"


def _run(duck, statement: str, params: Any = None) -> list[tuple]:
    """Run a statement to its end (DuckDB takes no other work on the connection until
    a result is consumed, even a DDL's)."""
    return duck.execute(statement, params).fetchall()


def _words(query: str) -> set[str]:
    """The lower-case words of ``query`` outside its comments: every relation and
    column it can name (a superset: keywords and aliases too)."""
    code = re.sub(r"--[^\n]*", "", query)
    return set(re.findall(r"\b[a-z_][a-z0-9_]*\b", code))


def _bound(
    query: str, params: dict[str, Any], bucket: int, buckets: int
) -> dict[str, Any]:
    """The values of the parameters ``query`` (DuckDB's dialect) names, for ``bucket``
    of ``buckets`` (DuckDB refuses a value the query does not name)."""
    used = set(re.findall(r"\$([a-z_]\w*)", query))
    values = {**params, "bucket": bucket, "buckets": buckets}
    return {k: v for k, v in values.items() if k in used}


def _typed_as(query: str, schema: pa.Schema) -> str:
    """``query`` with each floating-point column in the table's own width.

    DuckDB computes in DOUBLE; a table that stores ``real`` (the features) would have
    its month parts written, read back and sorted at twice the width, then narrowed
    row by row in Python. Narrowed here, the parts are the table's own values: the
    same rounding (to nearest) as the cast they replace, and as PostgreSQL's into a
    ``real`` column, which also refuses a value beyond its range.
    """
    widths = {pa.float32(): "FLOAT", pa.float64(): "DOUBLE"}
    columns = ", ".join(
        f'"{f.name}"::{widths[f.type]} AS "{f.name}"'
        if f.type in widths
        else f'"{f.name}"'
        for f in schema
    )
    return f"SELECT {columns} FROM ({query}) AS computed"


def _cast(reader: pa.RecordBatchReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        yield batch.cast(schema)


def _copy(  # noqa: PLR0913 - where, what and its shape
    conn: psycopg.Connection,
    target: sql.Identifier,
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    types: dict[str, str],
) -> int:
    """One binary COPY of ``batches`` (of ``schema``) into ``target``, in one
    transaction; the rows."""
    encoder, _ = copy_encoder(schema.empty_table(), types)
    with conn.transaction():
        return copy_batches(conn, target, schema.names, batches, encoder)


def _column_types(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    return dict(
        conn.execute(
            "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute AS a"
            " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            [sql.Identifier(schema, table).as_string(conn)],
        ).fetchall()
    )


def _as_json(json_columns: list[str]) -> str:
    """A select list of every column, the json ones as DuckDB's JSON (PostgreSQL's
    rows and parquet files hold them as text)."""
    casts = ", ".join(f'"{c}"::JSON AS "{c}"' for c in json_columns)
    return f"* REPLACE ({casts})" if casts else "*"


def _literal(text: str) -> str:
    """A DuckDB string literal (of a path: COPY and read_parquet take no parameter)."""
    return "'" + text.replace("'", "''") + "'"


def _list_literal(paths: list[str]) -> str:
    """A DuckDB list of string literals (the paths are the tiers' own file names)."""
    return "[" + ", ".join(map(_literal, paths)) + "]"

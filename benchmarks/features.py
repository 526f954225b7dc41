"""Benchmark: the preprocessing + features build, full and one incremental day.

Runs the project's own pipelines (``kedro run --pipelines preprocessing,features``) in a
Kedro session against the project's database, whatever world it holds. For the default
world, `uv run kedro run` first; for a larger one, ingest it first, for example
``uv run kedro run --pipelines sandbox,ingestion --params "sandbox.n_traders=100000"``.

1. Full build: the derived tables are dropped, then built from the first day.
2. Incremental day: the newest day alone (``features.start_date = end_date``).

Reports wall time of each, the database time of each derived table (from the build
log), and the peak resident memory of this Python process. ``--engine postgresql,duckdb``
runs the full build once in each engine (``full_build.engine``), dropping the tables
before each, in the order given; the incremental day follows the last. The peak RSS of
a DuckDB build is this process's (DuckDB runs in it), so give the engine you want the
peak of alone, or first.

``--day-only`` skips the full build: the newest day alone, over the tables a build left
(a large world built before: ``scale.py``'s ``day`` step).

Usage: uv run python benchmarks/features.py [--env ENV] [--workers N] [--engine E[,E]]
    [--buckets N] [--memory-limit 4GB]    (DuckDB's, for this run) [--day-only]
Last line: JSON with the figures (``full_build_s`` and its breakdown: the last engine's;
``full_builds``: each engine's).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import time
from pathlib import Path

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from psycopg import sql
from storage import closed_trades  # (benchmarks/ is this script's folder)

from daily_profit_model.db import get_database

PROJECT = Path(__file__).resolve().parents[1]
DERIVED = ("stg_account_day", "feature_account_day", "target_account_day")


class _BuildTimes(logging.Handler):
    """Collects ``<table>: built … in S s`` lines of the SQL build dataset."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}
        self.rows: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if ": built " in message:
            table = message.split(":")[0]
            self.seconds[table] = float(re.search(r" in ([\d.]+) s", message)[1])
            self.rows[table] = int(message.split(": ")[2].split(" rows")[0])


def _run(env: str, params: dict, times: _BuildTimes) -> float:
    started = time.perf_counter()
    build_logger = logging.getLogger("daily_profit_model.datasets.sql_build")
    with KedroSession.create(PROJECT, env=env, runtime_params=params) as session:
        build_logger.addHandler(times)
        try:
            session.run(pipeline_names=["preprocessing", "features"])
        finally:
            build_logger.removeHandler(times)
    return time.perf_counter() - started


def _database(env: str, drop: bool):
    """The database (a session configures it) and its closed trades; with ``drop``,
    after dropping the derived tables."""
    with KedroSession.create(PROJECT, env=env) as session:
        session.load_context()
        database = get_database()
        with database.connect() as conn:
            for table in DERIVED if drop else ():
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(
                        sql.Identifier(database.schema, table)
                    )
                )
            trades = closed_trades(conn, database.schema, PROJECT / "data")
    return database, trades


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Run the full build and one incremental day; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="connections of the full build (default: conf/base/globals.yml)",
    )
    parser.add_argument(
        "--engine",
        default=None,
        help="engines of the full build, comma-separated, each run in turn "
        "(postgresql, duckdb; default: conf/base/globals.yml)",
    )
    parser.add_argument("--buckets", type=int, default=None, help="DuckDB's buckets")
    parser.add_argument("--memory-limit", default=None, help="DuckDB's memory_limit")
    parser.add_argument(
        "--day-only",
        action="store_true",
        help="no full build: the newest day alone, over the tables already built",
    )
    args = parser.parse_args()
    workers = {} if args.workers is None else {"sql_full_build_workers": args.workers}
    if args.buckets:
        workers["full_build_buckets"] = args.buckets
    if args.memory_limit:
        workers["full_build_memory_limit"] = args.memory_limit
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(PROJECT)

    full_builds = {}
    full_s, full_times, full_rss = None, _BuildTimes(), 0.0
    engines = args.engine.split(",") if args.engine else [None]
    if args.day_only:
        database, trades = _database(args.env, drop=False)
    for engine in [] if args.day_only else engines:
        params = {**workers, **({"full_build_engine": engine} if engine else {})}
        database, trades = _database(args.env, drop=True)
        full_times = _BuildTimes()
        full_s = _run(args.env, params, full_times)
        full_rss = _peak_rss_mib()
        full_builds[engine or "globals.yml"] = {
            "full_build_s": round(full_s, 1),
            "full_build_db_s": {k: round(v, 1) for k, v in full_times.seconds.items()},
            "peak_rss_mib_so_far": round(full_rss),
        }
    with database.connect() as conn:
        last = conn.execute(
            sql.SQL("SELECT max(date) FROM {}").format(
                sql.Identifier(database.schema, "stg_account_day")
            )
        ).fetchone()[0]
    day_times = _BuildTimes()
    day_s = _run(
        args.env,
        {"features": {"start_date": str(last), "end_date": str(last)}},
        day_times,
    )
    figures = {
        "closed_trades": trades,
        "account_days": full_times.rows.get("stg_account_day"),
        "feature_rows": full_times.rows.get("feature_account_day"),
        "full_build_s": None if full_s is None else round(full_s, 1),
        "full_build_workers": args.workers or "globals.yml",
        "full_builds": full_builds,
        "full_build_db_s": {k: round(v, 1) for k, v in full_times.seconds.items()},
        "incremental_day": str(last),
        "incremental_day_s": round(day_s, 1),
        "incremental_day_db_s": {k: round(v, 2) for k, v in day_times.seconds.items()},
        "peak_rss_mib": round(max(full_rss, _peak_rss_mib()), 0),
        "targets": {
            "full_81m_trades_s": 900,
            "incremental_day_s": 30,
            "peak_rss_mib": 6144,
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

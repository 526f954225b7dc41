"""Load a large sandbox world into the raw tables for the scale benchmarks.

The feature build needs raw tables of tens of millions of trades; paging those through
the API takes most of an hour on 2 cores (see ``benchmarks/ingestion.py``). So this
script builds the world with the ``sandbox`` pipeline (no oracle), ingests every
endpoint the features read except closed trades through the ``ingestion`` pipeline as
usual, and writes the closed trades straight from the world's parquet into
``raw_trades_closed`` by binary COPY (the same dataset ingestion stores a day with).
Hourly metrics and alltime metrics are not loaded: no feature reads them.

Usage (a database of its own is advised):
    DPM_PGDATA=/tmp/pg26m uv run python benchmarks/bulk_load.py --n-traders 100000
    DPM_PGDATA=/tmp/pg26m uv run python benchmarks/features.py
Last line: JSON with the rows loaded per table and the seconds taken.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from daily_profit_model.datasets.raw_ingestion import RawIngestionDataset
from daily_profit_model.ingestion.batches import IngestionBatch

PROJECT = Path(__file__).resolve().parents[1]
VIA_PIPELINE = ["accounts", "v2/metrics/daily", "v2/trades/open", "v2/regimes/daily"]
logger = logging.getLogger("bulk_load")


def _copy_closed_trades(world: Path, store: RawIngestionDataset) -> int:
    """Closed trades from the world's parquet into raw_trades_closed, day by day.

    Each day is stored as ingestion stores it (``store``, the catalog's ``raw_api_loads``:
    binary COPY into the empty day and its ``ingestion_state`` row in one transaction,
    cold months moved to parquet as the days pass), so the feature planner sees the
    days as complete.
    """
    dataset = ds.dataset(world / "trades_closed", format="parquet")
    days = sorted(
        pq.read_table(world / "trades_closed", columns=["trade_date"])
        .column("trade_date")
        .unique()
        .to_pylist()
    )
    rows = 0
    started = time.perf_counter()
    for day in days:
        frame = dataset.to_table(filter=ds.field("trade_date") == day).to_pandas()
        frame["run_id"] = "bulk_load"
        store.save(
            IngestionBatch(
                endpoint="v2/trades/closed",
                day=day,
                table="raw_trades_closed",
                rows=frame,
                rejected=pd.DataFrame(),
                received=len(frame),
                duplicates=0,
                source_total=len(frame),
                pages=0,
                requests=0,
                seconds=0.0,
                run_id="bulk_load",
            )
        )
        rows += len(frame)
    store.release()
    logger.info(
        "raw_trades_closed: %d rows over %d days, %.0f rows/s",
        rows,
        len(days),
        rows / (time.perf_counter() - started),
    )
    return rows


def main() -> None:
    """Build the world, ingest what the features read, copy the closed trades."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traders", type=int, default=100_000)
    parser.add_argument("--n-days", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(PROJECT)
    world_params = {
        "seed": args.seed,
        "n_traders": args.n_traders,
        "n_days": args.n_days,
        "oracle_scenarios": 0,
    }
    started = time.perf_counter()
    params = {"sandbox": world_params, "ingestion": {"endpoints": VIA_PIPELINE}}
    with KedroSession.create(PROJECT, runtime_params=params) as session:
        session.run(pipeline_names=["database_check", "sandbox", "ingestion"])
    pipeline_s = time.perf_counter() - started
    sandbox = PROJECT / "data/01_raw/sandbox"
    world = sandbox / (sandbox / "current").read_text().strip()
    with KedroSession.create(PROJECT, runtime_params=params) as session:
        catalog = session.load_context().catalog  # (configures the database)
        copied = _copy_closed_trades(world, catalog.get("raw_api_loads"))
    print(
        json.dumps(
            {
                "world": str(world),
                "closed_trades_copied": copied,
                "pipelines_s": round(pipeline_s, 1),
                "total_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()

"""Load a large sandbox world into the raw tables for the scale benchmarks.

The feature build needs raw tables of tens of millions of trades; paging those through
the sandbox's own server takes hours on 2 cores (its server spends ~23 µs of CPU a
row; see ``benchmarks/ingestion.py`` for the client's cost against pre-encoded pages).
So this script builds the world with the ``sandbox`` pipeline (no oracle), ingests the
endpoints the server answers cheaply (accounts, open trades, regimes) through the
``ingestion`` pipeline as usual, and stores the three big dated endpoints (closed
trades, hourly and daily metrics) straight from the world's parquet through the catalog's
``raw_api_loads``, the dataset ingestion stores with:

- a month already cold at the newest day loaded is *filed*: written once as its
  cold-tier file, with its ledger days and summaries (``RawIngestionDataset.file_month``;
  ``tests/ingestion/test_month_filing.py`` shows it equals the month ingested a day at a
  time and archived);
- a hot day is stored as ingestion stores it (binary COPY, the day's
  ``ingestion_state`` row, months moved cold as the days pass).

Alltime metrics, a snapshot "as of now", are left to the morning job.

``--leave-days K`` loads nothing of the world's newest K trading days, so a morning job
afterwards (``benchmarks/daily_run.py --run-date``) ingests its day from the API.

Usage: through ``benchmarks/scale.py``, which runs it in a scratch clone of its own (the
cold tiers' folders under ``data/`` belong to one database, so a second database
beside the project's own, as ``DPM_PGDATA`` alone once gave, is refused there):
    uv run python benchmarks/scale.py --workdir /tmp/dpm-scale --n-traders 60000
Alone, in such a clone: uv run python benchmarks/bulk_load.py --n-traders N --leave-days 1
Last line: JSON with the rows loaded per table and the seconds taken.
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.datasets.cold_tier import next_month
from daily_profit_model.datasets.raw_ingestion import RawIngestionDataset
from daily_profit_model.ingestion.batches import IngestionBatch
from daily_profit_model.sandbox.handle import published
from daily_profit_model.sandbox.server import WORLD_TABLES

PROJECT = Path(__file__).resolve().parents[1]
# (open trades are a snapshot of the positions open now: one day, cheap to page)
VIA_PIPELINE = ["accounts", "v2/trades/open", "v2/regimes/daily"]
COPIED = ["v2/trades/closed", "v2/metrics/hourly", "v2/metrics/daily"]
RUN_ID = "bulk_load"
logger = logging.getLogger("bulk_load")
logger.setLevel(logging.INFO)  # (the project's logging.yml leaves the root at WARNING)


def _copy_days(
    world: Path, endpoint: str, through: str, store: RawIngestionDataset
) -> int:
    """One dated endpoint's rows from the world's parquet into its raw table.

    Months cold at ``through`` are filed whole to the table's cold tier, the other days
    stored one at a time as ingestion stores them (``store``, the catalog's
    ``raw_api_loads``), so the feature planner sees the days as complete. Days its
    ledger already holds are skipped: a load cut short (a session's end) resumes
    where it stopped, since a day's (or a filed month's) rows and its ledger rows
    commit together.
    """
    contract = ENDPOINTS[endpoint]
    day_column = contract.date_column
    folder = world / WORLD_TABLES[endpoint]
    dataset = ds.dataset(folder, format="parquet")
    # The contract's fields the world holds (the server sends no others; a missing
    # one is stored NULL, as ingestion stores an absent field).
    columns = [f.column for f in contract.fields if f.column in dataset.schema.names]
    last = dt.date.fromisoformat(through)
    days = sorted(
        d
        for d in pq.read_table(folder, columns=[day_column])
        .column(day_column)
        .unique()
        .to_pylist()
        if d <= last
    )
    ledger = store.load()
    stored = set(
        pd.to_datetime(ledger.loc[ledger["endpoint"] == endpoint, "day"]).dt.date
    )
    if stored:
        logger.info("%s: %d days stored before, skipped", contract.table, len(stored))
    days = [d for d in days if d not in stored]
    started = time.perf_counter()
    tier = store.cold_tier(contract.table)
    months = sorted({d.replace(day=1) for d in days})
    cold = [m for m in months if tier is not None and tier.is_cold(m, last)]
    rows = 0
    for number, month in enumerate(cold, start=1):
        day = ds.field(day_column)
        month_rows = dataset.to_table(
            filter=(day >= month) & (day < next_month(month)), columns=columns
        )
        rows += store.file_month(endpoint, month, month_rows, RUN_ID)
        logger.info(
            "%s: %d/%d cold months filed, %d rows, %.0f rows/s",
            contract.table,
            number,
            len(cold),
            rows,
            rows / (time.perf_counter() - started),
        )
    hot = [d for d in days if d.replace(day=1) not in cold]
    for number, day in enumerate(hot, start=1):
        frame = dataset.to_table(
            filter=ds.field(day_column) == day, columns=columns
        ).to_pandas()
        frame["run_id"] = RUN_ID
        store.save(
            IngestionBatch(
                endpoint=endpoint,
                day=day,
                table=contract.table,
                rows=frame,
                rejected=pd.DataFrame(),
                received=len(frame),
                duplicates=0,
                source_total=len(frame),
                pages=0,
                requests=0,
                seconds=0.0,
                run_id=RUN_ID,
                day_column=day_column,
            )
        )
        rows += len(frame)
        if number % 50 == 0:
            logger.info(
                "%s: %d/%d days, %d rows", contract.table, number, len(hot), rows
            )
    store.release()
    logger.info(
        "%s: %d rows over %d days (%d cold months filed), %.0f rows/s",
        contract.table,
        rows,
        len(days),
        len(cold),
        rows / max(time.perf_counter() - started, 1e-9),
    )
    return rows


def _world_days(world: Path) -> list[str]:
    """The world's trading days (every one has daily metrics), oldest first."""
    dates = pq.read_table(world / "metrics_daily", columns=["date"]).column("date")
    return sorted(str(d) for d in dates.unique().to_pylist())


def main() -> None:
    """Build the world, ingest the small endpoints, copy the two big ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traders", type=int, default=100_000)
    parser.add_argument("--n-days", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--leave-days",
        type=int,
        default=0,
        help="the world's newest trading days not loaded (for a morning job after)",
    )
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
    with KedroSession.create(
        PROJECT, runtime_params={"sandbox": world_params}
    ) as session:
        session.run(pipeline_names=["database_check", "sandbox"])
    world_s = time.perf_counter() - started
    world = published(PROJECT / "data/01_raw/sandbox")[0].folder
    days = _world_days(world)
    through = days[-1 - args.leave_days]
    params = {
        "sandbox": world_params,
        "ingestion": {"endpoints": VIA_PIPELINE},
        "run_date": through,
    }
    mark = time.perf_counter()
    with KedroSession.create(PROJECT, runtime_params=params) as session:
        session.run(pipeline_names=["sandbox", "ingestion"])
    ingestion_s = time.perf_counter() - mark
    copied: dict[str, int] = {}
    copy_s: dict[str, float] = {}
    with KedroSession.create(PROJECT, runtime_params=params) as session:
        catalog = session.load_context().catalog  # (configures the database)
        for endpoint in COPIED:
            mark = time.perf_counter()
            copied[ENDPOINTS[endpoint].table] = _copy_days(
                world, endpoint, through, catalog.get("raw_api_loads")
            )
            copy_s[ENDPOINTS[endpoint].table] = round(time.perf_counter() - mark, 1)
    logger.info("bulk load: %s through %s", copied, through)
    print(
        json.dumps(
            {
                "world": str(world),
                "trading_days": len(days),
                "loaded_through": through,
                "world_last_day": days[-1],
                "rows_copied": copied,
                "world_s": round(world_s, 1),
                "ingestion_pipeline_s": round(ingestion_s, 1),
                "copy_s": copy_s,
                "total_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()

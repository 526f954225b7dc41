"""Benchmark: sandbox world generation rate (closed trades/s) and peak memory.

Usage: uv run python benchmarks/sandbox.py [--n-traders N] [--n-days D] [--oracle K]
Defaults generate a world of about 5 million closed trades without the oracle. The
``full`` world (at least the real firm's 81 million closed trades) is
``--n-traders 312000 --n-days 750 --share-starting 0.02 --chunk-days 5``: measured
103 million closed trades in 30 minutes at a peak of 1.8 GiB.
Last line: JSON with trades, seconds, trades/s and peak resident memory (MiB).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import tempfile
import time
from pathlib import Path

from daily_profit_model.params import project_world
from daily_profit_model.sandbox.world import WorldBuilder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traders", type=int, default=25_000)
    parser.add_argument("--n-days", type=int, default=200)
    parser.add_argument(
        "--oracle", type=int, default=0, help="oracle scenarios (0: none)"
    )
    parser.add_argument("--chunk-days", type=int, default=10)
    parser.add_argument("--share-starting", type=float, default=0.35)
    parser.add_argument("--keep", type=Path, default=None, help="write the world here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = project_world(
        Path.cwd(),
        n_traders=args.n_traders,
        n_days=args.n_days,
        oracle_scenarios=args.oracle,
        chunk_days=args.chunk_days,
        share_starting=args.share_starting,
    )
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    started = time.perf_counter()
    summary = WorldBuilder(config).build(folder / config.fingerprint())
    seconds = time.perf_counter() - started
    trades = summary["rows"].get("trades_closed", 0)
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        json.dumps(
            {
                "n_traders": args.n_traders,
                "n_days": args.n_days,
                "oracle_scenarios": args.oracle,
                "accounts": summary["accounts"],
                "closed_trades": trades,
                "seconds": round(seconds, 1),
                "trades_per_s": round(trades / seconds),
                "peak_rss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                ),
            }
        )
    )


if __name__ == "__main__":
    main()

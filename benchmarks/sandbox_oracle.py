"""Benchmark: the sandbox oracle's honesty and skill, and the world's stylized facts.

Usage: uv run python benchmarks/sandbox_oracle.py [--seed S] [--n-traders N]
[--n-days D] [--world FOLDER]

Builds the world the project's parameters describe (with the changes given), or reads
``--world``, and measures, from the tables it serves and its truth tables:

- coverage of the oracle's 5-95% interval of next-day netProfit, per phase, and of its
  interval of the firm's total and of the funded book's total;
- its skill: MAE of its median, and 5% / 95% pinball losses, against predicting 0 and
  against pooled quantiles (each phase's quantiles of netProfit / starting balance
  over the whole world, times the account's starting balance: an in-sample baseline,
  so a fair bar for the oracle to clear);
- the stylized facts (``kedro sandbox facts``).

Last line: JSON of every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from daily_profit_model.params import project_world
from daily_profit_model.sandbox import facts
from daily_profit_model.sandbox.world import WorldBuilder

_PHASES = {1: "phase 1", 2: "phase 2", 3: "phase 3", 4: "funded"}
_FUNDED = 4


def _pinball(actual: np.ndarray, predicted: np.ndarray, q: float) -> float:
    diff = actual - predicted
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def _outcomes(folder: Path) -> pd.DataFrame:
    """Every oracle row with the account's phase, balance and actual next-day P&L."""
    oracle = pd.read_parquet(folder / "truth_oracle")
    daily = pd.read_parquet(
        folder / "metrics_daily", columns=["account_id", "date", "net_profit"]
    )
    accounts = pd.read_parquet(
        folder / "accounts", columns=["account_id", "phase", "starting_balance"]
    )
    rows = oracle.merge(
        daily,
        left_on=["account_id", "target_date"],
        right_on=["account_id", "date"],
        how="left",
    ).merge(accounts, on="account_id")
    rows["actual"] = rows["net_profit"].fillna(0.0)  # no event: no trade, no P&L
    return rows


def _skill(rows: pd.DataFrame) -> dict:
    rel = rows["actual"] / rows["starting_balance"]
    pooled = {
        q: rows["starting_balance"]
        * rel.groupby(rows["phase"]).transform("quantile", q)
        for q in (0.05, 0.5, 0.95)
    }
    actual = rows["actual"].to_numpy()
    figures = {}
    for name, (q05, q50, q95) in {
        "oracle": (rows["q05"], rows["q50"], rows["q95"]),
        "zero": (0.0 * actual, 0.0 * actual, 0.0 * actual),
        "pooled": (pooled[0.05], pooled[0.5], pooled[0.95]),
    }.items():
        figures[name] = {
            "mae": round(float(np.mean(np.abs(actual - np.asarray(q50)))), 2),
            "pinball_05": round(_pinball(actual, np.asarray(q05), 0.05), 3),
            "pinball_95": round(_pinball(actual, np.asarray(q95), 0.95), 3),
        }
    return figures


def _coverage(rows: pd.DataFrame) -> dict:
    inside = (rows["actual"] >= rows["q05"]) & (rows["actual"] <= rows["q95"])
    by_phase = inside.groupby(rows["phase"]).mean()
    return {
        "all": round(float(inside.mean()), 3),
        **{_PHASES[int(p)]: round(float(v), 3) for p, v in by_phase.items()},
    }


def _firm_coverage(folder: Path, rows: pd.DataFrame) -> dict:
    """Coverage of the firm's and the funded book's next-day total."""
    firm = pd.read_parquet(folder / "truth_firm")
    actual = {
        "firm": rows.groupby("cutoff_date")["actual"].sum(),
        "funded": rows[rows["phase"] == _FUNDED].groupby("cutoff_date")["actual"].sum(),
    }
    figures = {}
    for book, frame in firm.groupby("book"):
        total = actual[book].reindex(frame["cutoff_date"]).fillna(0.0).to_numpy()
        inside = (total >= frame["q05"].to_numpy()) & (total <= frame["q95"].to_numpy())
        figures[book] = {
            "cutoffs": len(frame),
            "coverage": round(float(inside.mean()), 3),
            "mean_width_over_sd": round(
                float((frame["q95"] - frame["q05"]).mean() / np.std(total)), 2
            ),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--n-traders", type=int, default=None)
    parser.add_argument("--n-days", type=int, default=None)
    parser.add_argument("--world", type=Path, default=None, help="an existing world")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    changes = {
        k: v
        for k, v in {
            "seed": args.seed,
            "n_traders": args.n_traders,
            "n_days": args.n_days,
        }.items()
        if v is not None
    }
    config = project_world(Path.cwd(), **changes)
    folder = args.world
    seconds = None
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="sandbox-oracle-")) / config.fingerprint()
        started = time.perf_counter()
        WorldBuilder(config).build(folder)
        seconds = round(time.perf_counter() - started, 1)
    rows = _outcomes(folder)
    measured = facts.measure(folder)
    print(facts.report(measured))
    print(
        json.dumps(
            {
                "world": folder.name,
                "config": changes,
                "seconds_with_oracle": seconds,
                "oracle_rows": len(rows),
                "coverage_5_95": _coverage(rows),
                "firm": _firm_coverage(folder, rows),
                "skill": _skill(rows),
                "facts": {f.name: round(f.value, 3) for f in measured},
                "facts_within": sum(f.within for f in measured),
            }
        )
    )


if __name__ == "__main__":
    main()

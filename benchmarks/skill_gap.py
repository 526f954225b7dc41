"""Benchmark: where the account models' gap to the sandbox oracle comes from.

Refits the forecaster exactly as the training pipeline does (``fit_forecaster``: the
tuned point model of ``data/06_models/tuned_point_params.json``, the spread and
quantile models, the conformal step) on the project's model input, several ways, and
scores each on the test window against the oracle (``skill_capture_*``,
``pinball_*_ratio_to_oracle``, coverage):

- ``served``: the configuration in ``conf/base``;
- ``no_spread``: the quantile models learn netProfit itself
  (``training.quantile_model.spread: null``);
- ``no_offset``: every model learns netProfit itself, not netProfit less the unrealised
  P&L of the positions open at the cutoff (``training.target_offset: null``);
- ``no_breach_floor``: forecasts and bounds may fall below the breach floor
  (``training.breach_slippage_quantile: null``);
- ``no_open_risk``: ``served`` without what the open positions can still move
  tomorrow (``open_daily_risk``, ``open_unprotected_risk``, ``open_uncapped_risk``,
  ``open_stop_room``, ``open_take_profit_room``);
- ``hidden_traits``: ``served`` plus the sandbox's hidden trader traits (skill, activity,
  sizes, crowd loading, news trading, ...) as features: what knowing each trader exactly
  would add (no real source serves them);
- ``half_accounts``: ``served`` trained on half of the training window's accounts: how
  much the figures depend on the amount of history.

Each variant also reports the pinball ratios of the funded accounts alone (phase 4:
the firm's own money) and, when ``served`` ran first, its absolute error less the
served model's, row by row on the same test rows (mean, standard error, test days).

Needs a ``uv run kedro run`` first (model input, tuned parameters, the sandbox world).

Usage: uv run python benchmarks/skill_gap.py [--variants served,no_spread,...]
Last line: JSON ``{"world", "test_rows", "variants": {name: figures}}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parents[1]
VARIANTS = (
    "served",
    "no_spread",
    "no_offset",
    "no_breach_floor",
    "no_open_risk",
    "hidden_traits",
    "half_accounts",
)
OPEN_RISK = (
    "open_daily_risk",
    "open_unprotected_risk",
    "open_uncapped_risk",
    "open_stop_room",
    "open_take_profit_room",
)
_FIGURES = (
    "skill_capture_pinball_05",
    "skill_capture_pinball_95",
    "skill_capture_mae",
    "pinball_05_ratio_to_oracle",
    "pinball_95_ratio_to_oracle",
    "test_coverage_90",
    "oracle_coverage_90",
)


def _hidden_traits(truth) -> pd.DataFrame:
    """Each account's trader's traits (numeric), from the sandbox's ground truth."""
    accounts = truth("accounts")[["account_id", "trader_index"]]
    traders = truth("traders").drop(columns=["kind"])
    traits = accounts.merge(traders, on="trader_index").drop(columns=["trader_index"])
    return traits.rename(
        columns={c: f"hidden_{c}" for c in traits if c != "account_id"}
    )


def _half_of_training_accounts(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    train = rows["window"] == "train"
    accounts = rows.loc[train, "account_id"].unique()
    kept = np.random.default_rng(seed).choice(
        accounts, len(accounts) // 2, replace=False
    )
    return rows[~train | rows["account_id"].isin(kept)]


def _paired_mae(frame: pd.DataFrame, served: pd.DataFrame) -> dict[str, float]:
    """This variant's absolute error less the served model's, row by row on the same
    test rows: its mean, its standard error, and the test days it is lower on."""
    if not frame.index.equals(served.index):
        raise ValueError("a variant scored other test rows than the served model")
    change = (frame["forecast"] - frame["actual"]).abs() - (
        served["forecast"] - served["actual"]
    ).abs()
    by_day = change.groupby(frame["target_date"]).mean()
    return {
        "mae_change_vs_served": round(float(change.mean()), 3),
        "mae_change_se": round(float(change.std() / np.sqrt(len(change))), 3),
        "days_lower_than_served": f"{int((by_day < 0).sum())} of {len(by_day)}",
    }


def main() -> None:
    """Refit each variant and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    logging.basicConfig(level=logging.WARNING)

    from daily_profit_model.datasets.tracking import (  # noqa: PLC0415
        SandboxTruthDataset,
    )
    from daily_profit_model.params import (  # noqa: PLC0415
        TrainingParams,
        merged,
        project_parameters,
    )
    from daily_profit_model.pipelines.training.nodes import (  # noqa: PLC0415
        _test_frame,
        fit_forecaster,
        split_by_time,
    )
    from daily_profit_model.scoring.firm import FUNDED_PHASE  # noqa: PLC0415
    from daily_profit_model.training.metrics import (  # noqa: PLC0415
        forecast_metrics,
        oracle_metrics,
        pooled_quantiles,
    )

    def truth(table: str) -> pd.DataFrame:
        return SandboxTruthDataset(str(PROJECT / "data/01_raw/sandbox"), table).load()

    oracle = truth("oracle")
    if oracle.empty:
        raise SystemExit(
            "No sandbox oracle under data/01_raw/sandbox: uv run kedro run"
        )
    world = json.loads(
        (PROJECT / "data/01_raw/sandbox/current.json").read_text("utf-8")
    )
    parameters = project_parameters(PROJECT)["training"]
    tuned = json.loads(
        (PROJECT / "data/06_models/tuned_point_params.json").read_text("utf-8")
    )
    model_input = pd.read_parquet(PROJECT / "data/05_model_input/model_input.parquet")
    served = TrainingParams.model_validate(parameters)
    rows, _, _ = split_by_time(model_input, served)
    pooled = pooled_quantiles(rows)
    results, frames = {}, {}
    for name in variants:
        started = time.perf_counter()
        training, fit_rows = served, rows
        if name == "no_spread":
            training = TrainingParams.model_validate(
                merged(parameters, {"quantile_model": {"spread": None}})
            )
        elif name == "no_offset":
            training = TrainingParams.model_validate(
                merged(parameters, {"target_offset": None})
            )
        elif name == "no_breach_floor":
            training = TrainingParams.model_validate(
                merged(parameters, {"breach_slippage_quantile": None})
            )
        elif name == "no_open_risk":
            fit_rows = rows.drop(columns=list(OPEN_RISK))
        elif name == "hidden_traits":
            fit_rows = rows.merge(_hidden_traits(truth), on="account_id", how="left")
            fit_rows.index = rows.index
        elif name == "half_accounts":
            fit_rows = _half_of_training_accounts(rows, served.seed)
        model = fit_forecaster(fit_rows, tuned, training)
        frame = frames[name] = _test_frame(fit_rows, model)
        figures = {
            **{f"test_{k}": v for k, v in forecast_metrics(frame).items()},
            **oracle_metrics(frame, oracle, pooled),
        }
        funded = oracle_metrics(frame[frame["phase"] == FUNDED_PHASE], oracle, pooled)
        results[name] = {
            "train_rows": int((fit_rows["window"] == "train").sum()),
            **{k: round(float(figures[k]), 4) for k in _FIGURES},
            **{
                f"funded_{k}": round(float(funded[k]), 4)
                for k in ("pinball_05_ratio_to_oracle", "pinball_95_ratio_to_oracle")
            },
            **(
                _paired_mae(frame, frames["served"])
                if name != "served" and "served" in frames
                else {}
            ),
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(name, results[name], flush=True)
    test_rows = int((rows["window"] == "test").sum())
    print(json.dumps({"world": world, "test_rows": test_rows, "variants": results}))


if __name__ == "__main__":
    main()

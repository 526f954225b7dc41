"""Benchmark: how far each phase's conformal corrections should lean on the pooled ones.

Walks forward on the world of a ``benchmarks/firm_backtest.py --workdir DIR`` run (its
model input and sandbox oracle; build it with that command first), refitting the
account models every ``--refit-every`` cutoffs exactly as the backtest does, and keeps
the raw 5% / 95% bounds of each refit's calibration rows and of the cutoffs it then
forecasts. Each refit is then calibrated once per ``training.phase_shrinkage_rows``
value in ``--values`` (``pooled``: the pooled corrections only; ``open``: the pooled
ones split by whether positions are open at the cutoff, at the served shrinkage) and
scored out of sample against the oracle: pinball / oracle at 5% and 95% for all
accounts and for the funded ones, and each phase's coverage beside the oracle's.

Usage: uv run python benchmarks/phase_shrinkage.py --workdir DIR
[--cutoffs 260] [--seed-days 40] [--refit-every 20] [--values 0,100,300,1000,pooled,open]
Last line: JSON ``{"world", "forecast_rows", "refits", "commit", "values": {value:
figures}}``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from walk_forward_cli import PROJECT, head_commit, start, walk_forward_parser

FUNDED_PHASE = 4
logger = logging.getLogger("phase_shrinkage")


def _raw_bounds(model, rows: pd.DataFrame, kind: str, fit: int) -> pd.DataFrame:
    """``rows`` with their raw 5% / 95% bounds, actual and whether positions are open."""
    from daily_profit_model.training.matrix import (  # noqa: PLC0415
        TARGET,
        feature_matrix,
    )

    matrix = feature_matrix(rows, model.spec["features"])
    lower, upper = model.raw_bounds(matrix, model.scale(rows), model.offset(rows))
    floor = model.floor(rows)  # calibrated bounds are held at it, as the model's are
    return rows[["account_id", "cutoff_date", "phase"]].assign(
        kind=kind,
        fit=fit,
        actual=rows[TARGET].to_numpy(),
        raw_lower=lower,
        raw_upper=upper,
        floor=floor if floor is not None else np.nan,
        open=(rows["open_daily_risk"].fillna(0) > 0).to_numpy(),
    )


def _walk(model_input: pd.DataFrame, args, training) -> pd.DataFrame:
    """Every refit's calibration rows and forecast rows, with their raw bounds."""
    from daily_profit_model.pipelines.training import walk_forward  # noqa: PLC0415

    days = sorted(
        model_input.dropna(subset=["target_net_profit"])["cutoff_date"].unique()
    )
    out = []
    for refit in walk_forward.refits(
        model_input[model_input["cutoff_date"].isin(days)],
        training,
        len(days) - args.cutoffs - args.seed_days,
        args.refit_every,
    ):
        labelled = refit.labelled
        calibration = labelled[labelled["window"] == "calibration"]
        out += [
            _raw_bounds(refit.model, calibration, "calibration", refit.fit),
            _raw_bounds(refit.model, refit.block, "forecast", refit.fit),
        ]
    return pd.concat(out, ignore_index=True)


def _calibrated(bounds: pd.DataFrame, value: str, training) -> pd.DataFrame:
    """The forecast rows with bounds calibrated by ``value``'s grouping and shrinkage."""
    from daily_profit_model.training.conformal import calibrate  # noqa: PLC0415
    from daily_profit_model.training.pyfunc_model import (  # noqa: PLC0415
        conformal_bounds,
    )

    def group(rows: pd.DataFrame) -> pd.Series:
        if value == "pooled":
            return pd.Series(0, index=rows.index)
        if value == "open":
            return rows["open"].astype(int)
        return rows["phase"]

    shrinkage = float(value) if value not in ("pooled", "open") else 0.0
    if value == "open":
        shrinkage = training.phase_shrinkage_rows
    parts = []
    forecast = bounds[bounds["kind"] == "forecast"]
    for fit, rows in forecast.groupby("fit"):
        calibration = bounds[(bounds["kind"] == "calibration") & (bounds["fit"] == fit)]
        corrections = calibrate(
            calibration.assign(phase=group(calibration)),
            training.interval_coverage,
            training.min_calibration_rows_per_phase,
            shrinkage,
        )
        lower, upper = conformal_bounds(
            rows["raw_lower"],
            rows["raw_upper"],
            group(rows),
            corrections,
            rows["floor"].to_numpy(),
        )
        parts.append(rows.assign(lower=lower, upper=upper))
    return pd.concat(parts)


def _figures(rows: pd.DataFrame) -> dict:
    """Pinball / oracle per tail (all and funded) and each phase's coverage."""
    from daily_profit_model.training.metrics import pinball  # noqa: PLC0415

    def ratios(part: pd.DataFrame) -> list[float]:
        return [
            round(
                pinball(part["actual"], part[ours], alpha)
                / pinball(part["actual"], part[theirs], alpha),
                4,
            )
            for ours, theirs, alpha in (("lower", "q05", 0.05), ("upper", "q95", 0.95))
        ]

    inside = (rows["actual"] >= rows["lower"]) & (rows["actual"] <= rows["upper"])
    oracle = (rows["actual"] >= rows["q05"]) & (rows["actual"] <= rows["q95"])
    return {
        "pinball_05_95_ratio_to_oracle": ratios(rows),
        "funded_pinball_05_95_ratio_to_oracle": ratios(
            rows[rows["phase"] == FUNDED_PHASE]
        ),
        "coverage_90": round(float(inside.mean()), 4),
        "coverage_by_phase": {
            str(phase): round(float(part.mean()), 4)
            for phase, part in inside.groupby(rows["phase"])
        },
        "oracle_coverage_by_phase": {
            str(phase): round(float(part.mean()), 4)
            for phase, part in oracle.groupby(rows["phase"])
        },
    }


def main() -> None:
    """Walk forward once, calibrate each way, print the figures; last line JSON."""
    parser = walk_forward_parser(__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--values", default="0,100,300,1000,pooled,open")
    args = parser.parse_args()
    start()

    from daily_profit_model.datasets.tracking import (  # noqa: PLC0415
        SandboxTruthDataset,
    )
    from daily_profit_model.params import (  # noqa: PLC0415
        TrainingParams,
        project_parameters,
    )

    sandbox = args.workdir / "project/data/01_raw/sandbox"
    model_input_path = args.workdir / "project/data/05_model_input/model_input.parquet"
    if not model_input_path.exists():
        raise SystemExit(
            f"No model input under {args.workdir}: run benchmarks/firm_backtest.py "
            f"--workdir {args.workdir} first"
        )
    model_input = pd.read_parquet(model_input_path)
    model_input["cutoff_date"] = pd.to_datetime(model_input["cutoff_date"])
    training = TrainingParams.model_validate(project_parameters(PROJECT)["training"])
    bounds = _walk(model_input, args, training)
    oracle = SandboxTruthDataset(str(sandbox), "oracle").load()
    oracle = oracle.assign(cutoff_date=pd.to_datetime(oracle["cutoff_date"]))[
        ["account_id", "cutoff_date", "q05", "q95"]
    ]
    results = {}
    for value in args.values.split(","):
        scored = _calibrated(bounds, value, training).merge(
            oracle, on=["account_id", "cutoff_date"], how="inner"
        )
        results[value] = _figures(scored)
        logger.info("%s: %s", value, results[value])
    world = json.loads((sandbox / "current.json").read_text("utf-8"))["fingerprint"]
    commit = head_commit()
    print(
        json.dumps(
            {
                "world": world,
                "forecast_rows": int((bounds["kind"] == "forecast").sum()),
                "refits": int(bounds["fit"].nunique()),
                "commit": commit,
                "values": results,
            }
        )
    )


if __name__ == "__main__":
    main()

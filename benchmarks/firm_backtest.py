"""Benchmark: the firm total and the funded book backtested like a VaR model.

Usage: uv run python benchmarks/firm_backtest.py [--n-days 420] [--n-traders 1500]
[--cutoffs 260] [--refit-every 20] [--seed-days 40] [--workdir DIR]

1. Builds a world of ``--n-days`` trading days (from the default market window: calm,
   then the stressed markets of August 2015 to February 2016) through the project's
   own pipelines (``sandbox``, ``ingestion``, ``preprocessing``, ``features`` and the
   model input export) in a scratch copy of the project, with its own embedded
   PostgreSQL (deleted at the end unless ``--workdir`` is given, which also lets a
   second run reuse the data and the walk-forward's forecasts).
2. Walks forward over the last ``--cutoffs`` cutoffs: every ``--refit-every`` cutoffs
   the account models are refitted as the training pipeline fits them (fixed point
   model settings: the walk-forward does not tune), on the cutoffs whose targets are
   known; ``--seed-days`` out-of-sample days before the first scored cutoff seed the
   books' history (the training test window's role in production).
3. Each book's 5%, 50%, 95% and mean, every method, from the days known at each cutoff;
   exceptions per tail, coverage, Kupiec and Christoffersen p-values, the Basel
   traffic light and the pinball losses against the sandbox's firm-level oracle
   (``truth_firm``); the funded book's payout liability against what the world paid.

Last line: JSON ``{"cutoffs", "firm_total": {...}, "funded_book": {...}, "methods",
"payout_liability", "world", "seconds"}``; the two blocks are the served method's.
"""

from __future__ import annotations

import json
import logging
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from walk_forward_cli import PROJECT, head_commit, start, walk_forward_parser

_KEYS = (
    "cutoffs",
    "coverage_90",
    "exceptions_low",
    "exceptions_high",
    "kupiec_p_low",
    "kupiec_p_high",
    "christoffersen_p_low",
    "christoffersen_p_high",
    "traffic_light",
    "pinball_ratio_to_oracle",
    "oracle_coverage_90",
    "mean_bias",
)
logger = logging.getLogger("firm_backtest")


def _scratch_project(folder: Path) -> Path:
    """The project's configuration in ``folder`` (its data and database live there)."""
    copy = folder / "project"
    if copy.exists():
        return copy
    copy.mkdir(parents=True)
    shutil.copy(PROJECT / "pyproject.toml", copy / "pyproject.toml")
    (copy / "src").mkdir()
    shutil.copytree(
        PROJECT / "conf",
        copy / "conf",
        ignore=lambda d, names: {"credentials.yml"} & set(names)
        if Path(d).name != "base"
        else set(),
    )
    for layer in (PROJECT / "data").glob("[0-9][0-9]_*"):
        (copy / "data" / layer.name).mkdir(parents=True)
    return copy


def _build(project: Path, n_days: int, n_traders: int) -> float:
    """World → API → database → features → model input, by the project's pipelines."""
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    started = time.perf_counter()
    bootstrap_project(project)
    params = {"sandbox": {"n_days": n_days, "n_traders": n_traders}}
    with KedroSession.create(project, runtime_params=params) as session:
        session.run(
            pipeline_names=["sandbox", "ingestion", "preprocessing", "features"]
        )
    with KedroSession.create(project, runtime_params=params) as session:
        session.run(
            pipeline_names=["training"], node_names=["training.export_model_input"]
        )
    import mlflow  # noqa: PLC0415

    while mlflow.active_run():  # kedro-mlflow leaves its run open in-process
        mlflow.end_run()
    return time.perf_counter() - started


def _world(project: Path) -> Path:
    root = project / "data/01_raw/sandbox"
    return root / json.loads((root / "current.json").read_text())["fingerprint"]


def _stress(world: Path, first: pd.Timestamp) -> dict:
    regimes = pd.read_parquet(world / "regimes")
    regimes = regimes[pd.to_datetime(regimes["date"]) >= first]
    vix = np.array(
        [
            json.loads(d)["summary"]["key_metrics"].get("vix_close", np.nan)
            for d in regimes["document"]
        ]
    )
    return {
        "scored_vix_max": round(float(np.nanmax(vix)), 1),
        "scored_days_vix_above_25": int(np.sum(vix > 25)),  # noqa: PLR2004
        "scored_days_vix_above_20": int(np.sum(vix > 20)),  # noqa: PLR2004
    }


def _payouts(
    forecasts: pd.DataFrame, books: pd.DataFrame, model_input: pd.DataFrame
) -> dict:
    """Forecast payout liability per cutoff against what the accounts were then paid."""
    from daily_profit_model.pipelines.training.walk_forward import (  # noqa: PLC0415
        realized_payouts,
    )
    from daily_profit_model.scoring.firm import (  # noqa: PLC0415
        FUNDED_PHASE,
        implied_correlation,
        payout_liability,
    )

    funded_fhs = books[(books["book"] == "funded") & (books["method"] == "fhs")]
    realized = realized_payouts(
        forecasts,
        model_input.assign(cutoff_date=pd.to_datetime(model_input["cutoff_date"])),
    )
    rows = []
    for _, day in funded_fhs.iterrows():
        accounts = forecasts[
            (forecasts["cutoff_date"] == day["cutoff_date"])
            & (forecasts["phase"] == FUNDED_PHASE)
        ]
        rho = implied_correlation(
            day["residual_sd"], day["scale_sum"], day["scale_quad"]
        )
        figures = payout_liability(accounts, rho)
        paid = realized[realized["cutoff_date"] == day["cutoff_date"]][
            "realized_payout"
        ]
        rows.append({**figures, "realized": float(paid.sum())})
    frame = pd.DataFrame(rows)
    # the last days' payouts fall after the world's end: score cutoffs whose whole
    # schedule (14 trading days + a week) is inside it
    frame = frame.iloc[: max(len(frame) - 20, 0)]
    inside = (frame["realized"] >= frame["payout_liability_lower_90"]) & (
        frame["realized"] <= frame["payout_liability_upper_90"]
    )
    return {
        "cutoffs": len(frame),
        "mean_forecast": round(float(frame["payout_liability"].mean()), 0),
        "mean_realized": round(float(frame["realized"].mean()), 0),
        "ratio_forecast_to_realized": round(
            float(frame["payout_liability"].sum() / frame["realized"].sum()), 3
        )
        if frame["realized"].sum() > 0
        else None,
        "coverage_90": round(float(inside.mean()), 3),
    }


def _rounded(figures: dict) -> dict:
    return {
        k: (round(v, 4) if isinstance(v, float) else v)
        for k, v in figures.items()
        if k in _KEYS
    }


def main() -> None:  # noqa: PLR0915 - one benchmark, step by step
    """Build, walk forward, backtest; print the figures as JSON."""
    parser = walk_forward_parser(__doc__.splitlines()[0])
    parser.add_argument("--n-days", type=int, default=420)
    parser.add_argument("--n-traders", type=int, default=1500)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    start()

    from daily_profit_model.db.embedded import stop_embedded_server  # noqa: PLC0415
    from daily_profit_model.params import (  # noqa: PLC0415
        FirmParams,
        TrainingParams,
        project_parameters,
    )
    from daily_profit_model.pipelines.training import walk_forward  # noqa: PLC0415

    folder = args.workdir or Path(tempfile.mkdtemp(prefix="firm_backtest_"))
    project = _scratch_project(folder)
    seconds = {}
    model_input_path = project / "data/05_model_input/model_input.parquet"
    try:
        if not model_input_path.exists():
            seconds["build"] = round(_build(project, args.n_days, args.n_traders), 1)
        model_input = pd.read_parquet(model_input_path)
        model_input["cutoff_date"] = pd.to_datetime(model_input["cutoff_date"])
        parameters = project_parameters(PROJECT)
        training = TrainingParams.model_validate(parameters["training"])
        firm = FirmParams.model_validate(parameters["scoring"]["firm"])
        days = sorted(
            model_input.dropna(subset=["target_net_profit"])["cutoff_date"].unique()
        )
        first_scored = len(days) - args.cutoffs
        first_forecast = first_scored - args.seed_days
        if first_forecast < 60:  # noqa: PLR2004
            raise SystemExit(
                f"{len(days)} cutoffs: too few for {args.cutoffs} scored and "
                f"{args.seed_days} seed days after 60 of training"
            )
        started = time.perf_counter()
        saved = folder / f"forecasts_{first_forecast}_{args.refit_every}.parquet"
        if args.workdir is not None and saved.exists():  # a second look at a kept run
            forecasts = pd.read_parquet(saved)
        else:
            forecasts = walk_forward.walk_forward(
                model_input[model_input["cutoff_date"].isin(days)],
                training,
                first_forecast,
                args.refit_every,
            )
            forecasts.to_parquet(saved)
            seconds["walk_forward"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        settings = firm
        books = walk_forward.book_forecasts(forecasts, days[first_scored], settings)
        oracle = pd.read_parquet(_world(project) / "truth_firm")
        figures = walk_forward.backtest(books, oracle)
        seconds["backtest"] = round(time.perf_counter() - started, 1)
        payouts = _payouts(forecasts, books, model_input)
        world = {
            "fingerprint": _world(project).name,
            "n_days": args.n_days,
            "n_traders": args.n_traders,
            "account_days": len(model_input),
            "first_scored": str(pd.Timestamp(days[first_scored]).date()),
            "last_scored": str(pd.Timestamp(days[-1]).date()),
            **_stress(_world(project), pd.Timestamp(days[first_scored])),
        }
        commit = head_commit()
        for book, methods in figures.items():
            for method, result in methods.items():
                logger.info("%s %s: %s", book, method, _rounded(result))
        result = {
            "cutoffs": int(figures["firm"][firm.method]["cutoffs"]),
            "method": firm.method,
            "firm_total": _rounded(figures["firm"][firm.method]),
            "funded_book": _rounded(figures["funded"][firm.method]),
            "methods": {
                book: {m: _rounded(r) for m, r in methods.items()}
                for book, methods in figures.items()
            },
            "payout_liability": payouts,
            "world": world,
            "refits": int(forecasts["fit"].nunique()),
            "seconds": seconds,
            "peak_rss_mib": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0
            ),
            "commit": commit,
        }
    finally:
        stop_embedded_server(project / "data/postgres")
        if args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

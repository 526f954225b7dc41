"""Benchmark: the training pipeline on the project's data (the default world after
``uv run kedro run``), with a fresh Optuna study so that every trial runs.

Reports training time and the issue's targets: MAE and pinball losses against the
sandbox oracle, 90% coverage overall and per phase.

``--history-days`` trains on the newest cutoffs only (``training.history_days``, the
recent window a large world trains on); ``--timeout-s`` is the study's time limit
(``training.tuning.timeout_s``, 600 s by default: at scale 30 trials need more).

Usage: uv run python benchmarks/training.py [--trials 30] [--history-days D] [--timeout-s S]
Last line: JSON with the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import time
import uuid
from pathlib import Path

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

PROJECT = Path(__file__).resolve().parents[1]


class _Trials(logging.Handler):
    """Counts the tuner's ``Trial n/N <state> ... after S s`` lines, by state, and
    keeps the last one's seconds (the study's time so far)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.states: dict[str, int] = {}
        self.seconds: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Trial "):
            state = message.split()[2].rstrip(":")
            self.states[state] = self.states.get(state, 0) + 1
            if elapsed := re.search(r"after (\d+) s$", message):
                self.seconds = float(elapsed[1])


def main() -> None:
    """Train once with a new study; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--history-days", type=int, default=None)
    parser.add_argument("--timeout-s", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(PROJECT)
    params = {
        "training": {
            "tuning": {
                "n_trials": args.trials,
                "study_name": f"benchmark-{uuid.uuid4().hex[:8]}",
                **({} if args.timeout_s is None else {"timeout_s": args.timeout_s}),
            },
            **(
                {} if args.history_days is None else {"history_days": args.history_days}
            ),
        }
    }
    trials = _Trials()
    tuning_logger = logging.getLogger("daily_profit_model.training.tuning")
    tuning_logger.addHandler(trials)
    started = time.perf_counter()
    with KedroSession.create(PROJECT, runtime_params=params) as session:
        session.run(pipeline_names=["training"])
    seconds = time.perf_counter() - started
    tuning_logger.removeHandler(trials)
    metrics = json.loads(
        (PROJECT / "data/08_reporting/training_metrics.json").read_text()
    )
    tuned = json.loads((PROJECT / "data/06_models/tuned_point_params.json").read_text())
    phases = {
        match[1]: v
        for k, v in metrics.items()
        if (match := re.fullmatch(r"test_coverage_90_phase_(\d+)", k))
    }

    def by_phase(name: str) -> dict[str, float]:
        return {
            p: round(metrics[name.format(p)], 4)
            for p in sorted(phases)
            if name.format(p) in metrics
        }

    oracle_phases = by_phase("oracle_coverage_90_phase_{}")
    figures = {
        "trials": args.trials,
        "trials_run": trials.states,
        "history_days": args.history_days,
        "tuning_s": trials.seconds,
        "tuning_train_rows": tuned.get("tuning_train_rows"),
        "training_s": round(seconds, 1),
        "peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ),
        "test_rows": metrics["test_rows"],
        "test_mae": round(metrics["test_mae"], 2),
        "oracle_mae": round(metrics.get("oracle_mae", float("nan")), 2),
        "mae_ratio_to_oracle": round(
            metrics.get("mae_ratio_to_oracle", float("nan")), 4
        ),
        "pinball_ratio_to_oracle": round(
            metrics.get("pinball_ratio_to_oracle", float("nan")), 4
        ),
        "pinball_05_ratio_to_oracle": round(
            metrics.get("pinball_05_ratio_to_oracle", float("nan")), 4
        ),
        "pinball_95_ratio_to_oracle": round(
            metrics.get("pinball_95_ratio_to_oracle", float("nan")), 4
        ),
        "baseline_best_mae": round(metrics["baseline_best_mae"], 2),
        "test_coverage_90": round(metrics["test_coverage_90"], 4),
        "coverage_by_phase": {k: round(v, 4) for k, v in sorted(phases.items())},
        # 95% intervals that resample accounts: how well each phase's test window
        # can measure coverage at all; and the oracle's coverage of the same rows.
        "coverage_by_phase_low": by_phase("test_coverage_90_phase_{}_low"),
        "coverage_by_phase_high": by_phase("test_coverage_90_phase_{}_high"),
        "test_accounts_by_phase": by_phase("test_accounts_phase_{}"),
        "oracle_coverage_by_phase": oracle_phases,
        "targets_met": {
            "mae_within_10pct_of_oracle": metrics.get("mae_ratio_to_oracle", 9) <= 1.1,
            "pinball_within_10pct_of_oracle": metrics.get("pinball_ratio_to_oracle", 9)
            <= 1.1,
            "coverage_88_92": 0.88 <= metrics["test_coverage_90"] <= 0.92,
            "every_phase_within_5_points": all(
                abs(v - 0.9) <= 0.05 for v in phases.values()
            ),
            "every_phase_within_5_points_of_oracle": bool(oracle_phases)
            and all(abs(phases[p] - v) <= 0.05 for p, v in oracle_phases.items()),
            "under_15_minutes": seconds < 900,
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""Benchmark: the training nodes' memory per model-input row, and what it projects to.

Issue 18 asks for training on a recent window of the firm's history within 24 GiB. The
81 M-trade world's six months are about 8.5 M model-input rows; this benchmark takes the
project's model input (``data/05_model_input/model_input.parquet``, after ``uv run
kedro run``), stacks ``--copies`` copies of it (each copy's accounts renamed, so it is
a firm ``--copies`` times as large on the same days), and runs the training nodes on it
in this process, in the pipeline's order: the catalog's pandera validation on load,
``split_by_time``, ``tune_point_model``
(``--trials`` trials, in-memory study), ``fit_forecaster``, ``evaluate_on_test`` and
``explain_with_shap``. A thread samples the process's resident set every 20 ms, so
each node's own peak is known (not only the process's).

Usage: uv run python benchmarks/training_memory.py [--copies 8] [--trials 2] [--threads 1]
Last line: JSON with the rows, each node's seconds and peak RSS (MiB), the bytes per row
of the largest peak above the frame's start, and that projected to 8.5 M rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import shutil
import tempfile
import threading
import time
from pathlib import Path

import optuna
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from daily_profit_model.features.schemas import MODEL_INPUT as MODEL_INPUT_SCHEMA
from daily_profit_model.params import TrainingParams, merged, project_parameters
from daily_profit_model.pipelines.training import nodes
from daily_profit_model.pipelines.training.nodes import (
    evaluate_on_test,
    explain_with_shap,
    fit_forecaster,
    split_by_time,
    tune_point_model,
)

PROJECT = Path(__file__).resolve().parents[1]
MODEL_INPUT = PROJECT / "data/05_model_input/model_input.parquet"
FIRM_ROWS = (
    8_500_000  # six months of the 81 M-trade world (7.7 x 1.1 M at 10.5 M trades)
)
MIB = 2**20


class _Peak(threading.Thread):
    """The process's largest resident set since the last ``take``, sampled."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self._process = psutil.Process()
        self._peak = 0
        self._lock = threading.Lock()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.02):
            rss = self._process.memory_info().rss
            with self._lock:
                self._peak = max(self._peak, rss)

    def take(self) -> int:
        """The peak since the last call (MiB); starts the next interval at now."""
        rss = self._process.memory_info().rss
        with self._lock:
            peak, self._peak = max(self._peak, rss), rss
        return round(peak / MIB)

    def stop(self) -> None:
        self._done.set()


def _write_stacked(copies: int, path: Path) -> None:
    """``copies`` copies of the model input's rows, each copy's accounts under new
    ids, to ``path`` (run in a child process: its garbage is not this one's)."""
    table = pq.read_table(MODEL_INPUT)
    ids = table.column("account_id").cast(pa.string())
    index = table.schema.get_field_index("account_id")
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for k in range(copies):
            renamed = pc.binary_join_element_wise(ids, f"~{k}", "")
            writer.write_table(table.set_column(index, "account_id", renamed))


def _fits(steps: dict, peak: _Peak) -> None:
    """Break ``fit_forecaster`` into its LightGBM fits: each fit's own peak."""
    count = {"n": 0}

    def timed(name: str, function):
        def wrapper(*args, **kwargs):
            peak.take()
            before = round(psutil.Process().memory_info().rss / MIB)
            started = time.perf_counter()
            result = function(*args, **kwargs)
            count["n"] += 1
            steps[f"  {count['n']:02d} {name}"] = {
                "seconds": round(time.perf_counter() - started, 1),
                "peak_rss_mib": peak.take(),
                "rss_before_mib": before,
            }
            return result

        return wrapper

    nodes.fit_booster = timed("fit_booster", nodes.fit_booster)
    nodes.fit_spread = timed("fit_spread (with its folds)", nodes.fit_spread)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="LightGBM's threads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not MODEL_INPUT.exists():
        raise SystemExit(f"{MODEL_INPUT} does not exist: run `uv run kedro run` first")
    training = TrainingParams.model_validate(
        merged(
            project_parameters(PROJECT)["training"],
            {
                "num_threads": args.threads,
                "tuning": {"n_trials": args.trials, "timeout_s": None},
            },
        )
    )
    peak = _Peak()
    peak.start()
    base = round(psutil.Process().memory_info().rss / MIB)
    stacked = Path(tempfile.mkdtemp(prefix="training-memory-")) / "model_input.parquet"
    process = multiprocessing.get_context("spawn").Process(
        target=_write_stacked, args=(args.copies, stacked)
    )
    process.start()
    process.join()
    peak.take()
    # held in a dict so that split_by_time's call drops the last reference, as the
    # runner releases a MemoryDataset no later node reads
    frames = {"model_input": pd.read_parquet(stacked)}  # as model_input@pandas
    frame_mib = round(frames["model_input"].memory_usage(deep=True).sum() / MIB)
    steps: dict[str, dict[str, float]] = {}

    def step(name: str, run):
        peak.take()
        started = time.perf_counter()
        result = run()
        steps[name] = {
            "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mib": peak.take(),
        }
        logging.warning("%s: %s", name, steps[name])
        return result

    loaded = peak.take()
    # the catalog's validator runs on load (``model_input@pandas``)
    frames["model_input"] = step(
        "validate_on_load", lambda: MODEL_INPUT_SCHEMA.validate(frames["model_input"])
    )
    rows, _, _ = step(
        "split_by_time", lambda: split_by_time(frames.pop("model_input"), training)
    )
    shutil.rmtree(stacked.parent, ignore_errors=True)
    storage = optuna.storages.InMemoryStorage()
    tuned = step("tune_point_model", lambda: tune_point_model(rows, storage, training))
    _fits(steps, peak)
    model = step("fit_forecaster", lambda: fit_forecaster(rows, tuned, training))
    step(
        "evaluate_on_test",
        lambda: evaluate_on_test(rows, model, pd.DataFrame(), training),
    )
    step("explain_with_shap", lambda: explain_with_shap(rows, model, training))
    peak.stop()
    top = max(s["peak_rss_mib"] for s in steps.values())
    per_row = (top - base) * MIB / len(rows)
    print(
        json.dumps(
            {
                "copies": args.copies,
                "rows": len(rows),
                "columns": rows.shape[1],
                "frame_mib": frame_mib,
                "process_start_mib": base,
                "after_load_mib": loaded,
                "nodes": steps,
                "peak_rss_mib": top,
                "bytes_per_row_above_start": round(per_row),
                "projected_peak_gib_at_8_5m_rows": round(
                    (base * MIB + per_row * FIRM_ROWS) / 2**30, 1
                ),
                "target_gib": 24,
            }
        )
    )


if __name__ == "__main__":
    main()

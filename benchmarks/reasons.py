"""Benchmark: the two ways of computing a forecast's reasons, on the champion.

The champion's point model explains the newest day's feature rows (every live
account) by its decision paths' contributions (``reasons_method: path``), all of them,
and by TreeSHAP (``treeshap``) on a sample (``--sample`` rows; its time for every row
is the sample's per row, scaled: a projection, named so). Then how often the two agree
on an account's top reasons, and that both add up to the same forecast.

Usage: uv run python benchmarks/reasons.py [--sample 2000] [--run-date YYYY-MM-DD]
Last line: JSON with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from daily_run import _model_size
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from daily_profit_model.datasets import PostgresTableDataset
from daily_profit_model.datasets.scoring import AliasedModelsDataset
from daily_profit_model.training.pyfunc_model import path_contributions, prepare_matrix

PROJECT = Path(__file__).resolve().parents[1]


def _mean_leaf_depth(booster) -> float:
    """The point model's average depth of a leaf (TreeSHAP's cost grows with its square)."""
    depths = []
    for tree in booster.dump_model()["tree_info"]:
        stack = [(tree["tree_structure"], 0)]
        while stack:
            node, depth = stack.pop()
            if "leaf_index" in node or "split_index" not in node:
                depths.append(depth)
            else:
                stack += [
                    (node["left_child"], depth + 1),
                    (node["right_child"], depth + 1),
                ]
    return float(np.mean(depths))


def _top(values: np.ndarray, k: int = 3) -> np.ndarray:
    return np.argsort(-np.abs(values), axis=1)[:, :k]


def main() -> None:
    """Time both methods; compare their top reasons; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--run-date", default=None, help="default: newest cutoff built")
    args = parser.parse_args()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(PROJECT)
    with KedroSession.create(PROJECT) as session:
        session.load_context()
        features = PostgresTableDataset(
            table="feature_account_day",
            load_args={
                "date_column": "cutoff_date",
                "latest": args.run_date is None,
                "start": args.run_date,
                "end": args.run_date,
            },
        ).load()
        champion = next(
            m
            for m in AliasedModelsDataset(model_name="daily_pnl").load()
            if m.role == "champion"
        )
    model = champion.model.unwrap_python_model()
    matrix = prepare_matrix(features, model.spec["features"], model.spec["categorical"])
    booster = model.point
    print(f"{len(matrix):,} rows; path contributions of every row ...", flush=True)
    started = time.perf_counter()
    path = path_contributions(booster, matrix)
    path_s = time.perf_counter() - started
    sample = np.random.default_rng(0).choice(
        len(matrix), min(args.sample, len(matrix)), replace=False
    )
    print(f"TreeSHAP of {len(sample):,} rows ...", flush=True)
    started = time.perf_counter()
    shap = booster.predict(
        matrix.iloc[sample],
        num_iteration=booster.best_iteration or None,
        pred_contrib=True,
        num_threads=2,
    )
    shap_s = time.perf_counter() - started
    exact, approx = _top(shap[:, :-1]), _top(path[sample])
    figures = {
        "champion_version": champion.version,
        "rows": len(matrix),
        **_model_size(champion.model),
        "point_mean_leaf_depth": round(_mean_leaf_depth(booster), 2),
        "path_s_all_rows": round(path_s, 2),
        "treeshap_sample_rows": len(sample),
        "treeshap_s_sample": round(shap_s, 2),
        "treeshap_ms_per_row": round(1000 * shap_s / len(sample), 3),
        "treeshap_s_all_rows_projected": round(shap_s / len(sample) * len(matrix), 1),
        "top1_same": round(float(np.mean(exact[:, 0] == approx[:, 0])), 4),
        "treeshap_top1_in_path_top3": round(
            float(np.mean((approx == exact[:, :1]).any(axis=1))), 4
        ),
        "top3_overlap": round(
            float(np.mean([len(set(a) & set(b)) / 3 for a, b in zip(exact, approx)])), 4
        ),
        "sums_max_abs_difference": float(
            np.max(np.abs(shap[:, :-1].sum(axis=1) - path[sample].sum(axis=1)))
        ),
    }
    print(
        f"Reasons of {len(matrix):,} rows: path {path_s:.1f} s; TreeSHAP "
        f"{figures['treeshap_ms_per_row']} ms a row ({figures['treeshap_s_all_rows_projected']} "
        f"s for all, projected); same top reason {figures['top1_same']:.0%}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

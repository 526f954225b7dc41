"""Benchmark: the morning job.

1. Default world: ``kedro run --pipelines daily --params run_date=<newest day>`` in a
   Kedro session (sandbox reuse, incremental ingestion, features, scoring with the
   champion and shadows, evaluation, drift): total time, and time per stage from the
   run log (pipeline_run_log).
2. 50,000 live accounts, scoring stage: the newest day's feature rows are replicated
   (with new account ids) to 50,000 accounts, then the scoring nodes run on them as the
   pipeline runs them (forecasts, intervals and SHAP reasons for every model, the firm
   view, drift, and the COPY of the predictions into PostgreSQL, in a scratch schema).
   Ingestion and features of a 50,000-account world are not part of this figure.

Requires a trained champion (``uv run kedro run`` first). ``--run-date`` runs the morning
of another day than the newest built one: after ``benchmarks/bulk_load.py
--leave-days 1``, the world's last day, which the morning job then ingests from the API.
``--accounts 0`` skips the second measurement (a large world has its own accounts).

Usage: uv run python benchmarks/daily_run.py [--accounts 50000] [--run-date YYYY-MM-DD]
Last line: JSON with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import uuid
from pathlib import Path

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from psycopg import sql

from daily_profit_model.datasets import PostgresTableDataset
from daily_profit_model.datasets.scoring import AliasedModelsDataset, RunContextDataset
from daily_profit_model.db import get_database
from daily_profit_model.db.connection import DatabaseSettings, configure_database
from daily_profit_model.params import RunDate, ScoringParams
from daily_profit_model.pipelines import features, ingestion, preprocessing, sandbox
from daily_profit_model.pipelines.scoring.nodes import (
    detect_drift,
    firm_view,
    score_accounts,
)

PROJECT = Path(__file__).resolve().parents[1]
# Each node's stage: the pipeline it belongs to (the rest of `daily` is scoring).
STAGES = {
    name: {n.name for n in module.create_pipeline().nodes}
    for name, module in (
        ("sandbox", sandbox),
        ("ingestion", ingestion),
        ("preprocessing", preprocessing),
        ("features", features),
    )
}


def _daily_run(last_day: str) -> tuple[float, dict[str, float], ScoringParams]:
    started = time.perf_counter()
    with KedroSession.create(PROJECT, runtime_params={"run_date": last_day}) as session:
        session.run(pipeline_names=["daily"])
        scoring_settings = ScoringParams.model_validate(
            session.load_context().params["scoring"]
        )
    total = time.perf_counter() - started
    database = get_database()
    with database.connect() as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT node, duration_s FROM {t} WHERE run_id = "
                "(SELECT run_id FROM {t} WHERE node IS NULL ORDER BY started_at DESC LIMIT 1) "
                "AND node IS NOT NULL"
            ).format(t=sql.Identifier(database.schema, "pipeline_run_log"))
        ).fetchall()
    stages: dict[str, float] = {}
    for node, seconds in rows:
        stage = next((s for s, nodes in STAGES.items() if node in nodes), "scoring")
        stages[stage] = round(stages.get(stage, 0.0) + seconds, 2)
    return total, stages, scoring_settings


def _scale_up(features: pd.DataFrame, accounts: int) -> pd.DataFrame:
    copies = -(-accounts // len(features))
    frames = [
        features.assign(account_id=features["account_id"] + f"-x{i}")
        for i in range(copies)
    ]
    return pd.concat(frames, ignore_index=True).head(accounts)


def _scoring_at_scale(
    accounts: int, last_day: str, scoring: ScoringParams
) -> dict[str, float]:
    features = PostgresTableDataset(
        table="feature_account_day",
        load_args={"date_column": "cutoff_date", "start": last_day, "end": last_day},
    ).load()
    test_predictions = pd.read_parquet(
        PROJECT / "data/07_model_output/test_predictions.parquet"
    )
    rows = _scale_up(features, accounts)
    models = AliasedModelsDataset(model_name="daily_pnl").load()
    run = RunContextDataset().load()
    laps: dict[str, float] = {}
    started = time.perf_counter()
    predictions = score_accounts(rows, models, run, RunDate(last_day), scoring)
    laps["forecasts_intervals_reasons_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    firm_view(predictions, pd.DataFrame(), test_predictions, rows, scoring)
    laps["firm_view_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    detect_drift(rows, predictions, models, scoring)
    laps["drift_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    base = get_database()
    scratch = configure_database(
        DatabaseSettings(
            embedded_dir=base.settings.embedded_dir,
            schema=schema,
            url=base.settings.url,
            mode=base.settings.mode,
        )
    )
    try:
        PostgresTableDataset(
            table="predictions",
            save_args={"mode": "append", "replace_days_of": "cutoff_date"},
        ).save(predictions)
        laps["store_predictions_s"] = time.perf_counter() - mark
    finally:
        with scratch.connect() as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))
            )
        configure_database(base)
    laps["total_s"] = sum(laps.values())
    return {
        "accounts": len(rows),
        "models": len(models),
        **_model_size(models[0].model),
        **{k: round(v, 2) for k, v in laps.items()},
    }


def _model_size(model) -> dict[str, int]:
    """The champion's point model: rounds used and leaves in all (scoring's cost)."""
    point = model.unwrap_python_model().point
    # a booster read back from its model file has no best iteration (-1): all trees
    rounds = point.best_iteration if point.best_iteration > 0 else point.num_trees()
    trees = point.dump_model()["tree_info"][:rounds]
    return {
        "point_rounds": int(rounds),
        "point_leaves_per_tree_max": int(max(t["num_leaves"] for t in trees)),
        "point_leaves_total": int(sum(t["num_leaves"] for t in trees)),
    }


def main() -> None:
    """Run both measurements; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--run-date", default=None, help="default: newest cutoff built")
    args = parser.parse_args()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(PROJECT)
    with KedroSession.create(PROJECT) as session:
        session.load_context()
        database = get_database()
        with database.connect() as conn:
            last = conn.execute(
                sql.SQL("SELECT max(cutoff_date) FROM {}").format(
                    sql.Identifier(database.schema, "feature_account_day")
                )
            ).fetchone()[0]
    run_date = args.run_date or str(last)
    total, stages, scoring = _daily_run(run_date)
    with database.connect() as conn:
        live = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE cutoff_date = %s").format(
                sql.Identifier(database.schema, "predictions")
            ),
            [run_date],
        ).fetchone()[0]
    scale = _scoring_at_scale(args.accounts, run_date, scoring) if args.accounts else {}
    figures = {
        "default_world": {
            "run_date": run_date,
            "total_s": round(total, 1),
            "stages_s": stages,
            "predictions": live,
            "peak_rss_mib": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ),
        },
        "scoring_at_scale": scale,
        "target": {"accounts": 50_000, "total_s": 60},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

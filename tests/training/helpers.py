"""Training the small world's model against a scratch MLflow tracking database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from daily_profit_model.datasets.tracking import (
    MlflowFiguresDataset,
    OptunaStorageDataset,
    RegisteredModelDataset,
    RegistryAliasesDataset,
)
from daily_profit_model.db import get_database
from daily_profit_model.db.tracking import sqlalchemy_url
from daily_profit_model.params import TrainingParams
from daily_profit_model.pipelines.training import create_pipeline
from tests.features.helpers import build_features, sandbox_plans
from tests.ingestion.helpers import run_ingestion, use_schema
from tests.params import params

SMALL_WINDOWS = {
    "test_days": 5,
    "calibration_days": 5,
    "validation_days": 4,
    "gap_days": 1,
}


def small_world_model_input(
    pgdata, world, plans_folder: Path, prefix: str
) -> pd.DataFrame:
    """A fresh schema with the world ingested and its features built; the model input."""
    use_schema(pgdata, f"{prefix}_{uuid.uuid4().hex[:8]}")
    run_ingestion(world, plans_dir=sandbox_plans(plans_folder))
    return build_features()


@contextmanager
def scratch_tracking() -> Iterator[str]:
    """MLflow pointed at a new database of the test server for the block."""
    uri = sqlalchemy_url(get_database(), f"mlflow_{uuid.uuid4().hex[:8]}")
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    try:
        yield uri
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous
        mlflow.set_tracking_uri(previous or "")


def train(
    model_input, oracle, tmp_path: Path, optuna_db: str
) -> tuple[str, pd.DataFrame]:
    """Run the training pipeline (3 trials) in an MLflow run.

    Returns:
        The run id and the test window's predictions.
    """
    settings = params(
        TrainingParams,
        "training",
        windows=SMALL_WINDOWS,
        tuning={"n_trials": 3, "timeout_s": 120},
    )
    catalog = DataCatalog(
        {
            "model_input@pandas": MemoryDataset(model_input),
            "params:training": MemoryDataset(settings),
            "optuna_storage": OptunaStorageDataset(database=optuna_db),
            "oracle_quantiles": MemoryDataset(oracle),
            "training_metrics": MlflowFiguresDataset(str(tmp_path / "metrics.json")),
            "training_run_params": MlflowFiguresDataset(
                str(tmp_path / "params.json"), kind="params"
            ),
            "test_predictions": MemoryDataset(),
            "daily_pnl_model@bundle": RegisteredModelDataset(model_name="daily_pnl"),
            "registered_aliases": RegistryAliasesDataset(model_name="daily_pnl"),
        }
    )
    mlflow.set_experiment("daily_pnl")
    with mlflow.start_run() as run:
        training = create_pipeline()
        SequentialRunner().run(
            training - training.only_nodes("training.export_model_input"), catalog
        )
    return run.info.run_id, catalog["test_predictions"].load()

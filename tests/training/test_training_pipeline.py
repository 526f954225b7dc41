"""The training pipeline end to end on the small world: a real MLflow tracking database
on the test PostgreSQL, Optuna's study in PostgreSQL, and the registered champion
loaded in a fresh process that does not import the project."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import mlflow
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from daily_profit_model.datasets.tracking import (
    MlflowFiguresDataset,
    OptunaStorageDataset,
    RegisteredModelDataset,
)
from daily_profit_model.db import get_database
from daily_profit_model.db.tracking import sqlalchemy_url
from daily_profit_model.pipelines.training import create_pipeline
from tests.features.helpers import CONF, build_features, sandbox_plans
from tests.ingestion.helpers import run_ingestion, use_schema

REQUIRED_METRICS = (
    "test_mae",
    "test_rmse",
    "test_pinball_05",
    "test_pinball_95",
    "test_coverage_90",
    "test_interval_width_90",
    "baseline_best_mae",
    "improvement_over_baseline",
    "oracle_mae",
    "mae_ratio_to_oracle",
    "pinball_ratio_to_oracle",
)


@pytest.fixture(scope="module")
def model_input(pgdata, small_world, tmp_path_factory):
    use_schema(pgdata, f"train_{uuid.uuid4().hex[:8]}")
    run_ingestion(
        small_world, plans_dir=sandbox_plans(tmp_path_factory.mktemp("plans"))
    )
    return build_features()


@pytest.fixture(scope="module")
def tracking(pgdata, model_input):
    """A fresh MLflow tracking database for this module."""
    uri = sqlalchemy_url(get_database(), f"mlflow_{uuid.uuid4().hex[:8]}")
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    yield uri
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous
    mlflow.set_tracking_uri(previous or "")


def _train(model_input, small_world, tmp_path, optuna_db):
    settings = yaml.safe_load((CONF / "parameters_training.yml").read_text())[
        "training"
    ]
    settings["windows"] = {
        "test_days": 5,
        "calibration_days": 5,
        "validation_days": 4,
        "gap_days": 1,
    }
    settings["tuning"] = {**settings["tuning"], "n_trials": 3, "timeout_s": 120}
    settings["min_calibration_rows_per_phase"] = 30
    catalog = DataCatalog(
        {
            "model_input": MemoryDataset(model_input),
            "params:training": MemoryDataset(settings),
            "optuna_storage": OptunaStorageDataset(database=optuna_db),
            "sandbox_oracle": MemoryDataset(small_world.truth("oracle")),
            "training_metrics": MlflowFiguresDataset(str(tmp_path / "metrics.json")),
            "training_run_params": MlflowFiguresDataset(
                str(tmp_path / "params.json"), kind="params"
            ),
            "daily_pnl_model@bundle": RegisteredModelDataset(model_name="daily_pnl"),
        }
    )
    mlflow.set_experiment("daily_pnl")
    with mlflow.start_run() as run:
        SequentialRunner().run(create_pipeline(), catalog)
    return run.info.run_id


def test_training_logs_registers_and_resumes(
    model_input, small_world, tracking, tmp_path, caplog
):
    optuna_db = f"optuna_{uuid.uuid4().hex[:8]}"
    caplog.set_level("INFO")
    first = _train(model_input, small_world, tmp_path, optuna_db)
    client = mlflow.MlflowClient()
    metrics = client.get_run(first).data.metrics
    assert set(REQUIRED_METRICS) <= set(metrics)
    assert 0 < metrics["test_coverage_90"] <= 1
    params = client.get_run(first).data.params
    assert params["data_rows"] == str(len(model_input))
    assert len(params["data_sha256"]) == 64
    champion = client.get_model_version_by_alias("daily_pnl", "champion")
    assert str(champion.version) == "1"
    assert "3 more" in caplog.text

    caplog.clear()
    _train(model_input, small_world, tmp_path, optuna_db)
    # the study is resumed from PostgreSQL: no trial runs again
    assert "3 trials stored, running 0 more" in caplog.text
    assert (
        str(client.get_model_version_by_alias("daily_pnl", "challenger").version) == "2"
    )
    assert (
        str(client.get_model_version_by_alias("daily_pnl", "champion").version) == "1"
    )


def test_champion_loads_in_a_fresh_process_without_the_project(
    model_input, tracking, tmp_path
):
    client = mlflow.MlflowClient()
    try:
        client.get_model_version_by_alias("daily_pnl", "champion")
    except mlflow.exceptions.MlflowException:
        pytest.skip("needs the registration test of this module first")
    rows = model_input.tail(20).drop(columns=["target_net_profit"])
    rows.to_parquet(tmp_path / "rows.parquet")
    script = textwrap.dedent(
        """
        import sys
        import mlflow
        import pandas as pd
        model = mlflow.pyfunc.load_model("models:/daily_pnl@champion")
        rows = pd.read_parquet(sys.argv[1])
        out = model.predict(rows, params={"reasons": 3})
        assert list(out.columns[:3]) == ["forecast", "lower_90", "upper_90"], out.columns
        assert (out["lower_90"] <= out["upper_90"]).all()
        assert out["reason_1"].notna().all()
        assert not any(m.startswith("daily_profit_model") for m in sys.modules), "project imported"
        print("rows", len(out))
        """
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "rows.parquet")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rows 20" in result.stdout

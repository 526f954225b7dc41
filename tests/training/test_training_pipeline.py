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
import numpy as np
import optuna
import pytest

from daily_profit_model.datasets.tracking import OptunaStorageDataset
from tests.training.helpers import scratch_tracking, small_world_model_input, train

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


# A tuner's choice for the point model, fixed: fits that do not tune.
QUICK_POINT = {
    "objective": "l1",
    "learning_rate": 0.2,
    "num_leaves": 7,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "lambda_l2": 1.0,
    "target_unit": 10_000.0,
}


@pytest.fixture(scope="module")
def model_input(pgdata, small_world, tmp_path_factory):
    return small_world_model_input(
        pgdata, small_world, tmp_path_factory.mktemp("plans"), "train"
    )


@pytest.fixture(scope="module")
def tracking(model_input):
    with scratch_tracking() as uri:
        yield uri


def test_training_logs_registers_and_resumes(
    model_input, small_world, tracking, tmp_path
):
    optuna_db = f"optuna_{uuid.uuid4().hex[:8]}"
    first, _ = train(model_input, small_world.truth("oracle"), tmp_path, optuna_db)
    client = mlflow.MlflowClient()
    metrics = client.get_run(first).data.metrics
    assert set(REQUIRED_METRICS) <= set(metrics)
    assert 0 < metrics["test_coverage_90"] <= 1
    params = client.get_run(first).data.params
    assert params["data_rows"] == str(len(model_input))
    assert len(params["data_sha256"]) == 64
    champion = client.get_model_version_by_alias("daily_pnl", "champion")
    assert str(champion.version) == "1"
    storage = OptunaStorageDataset(database=optuna_db).load()
    (summary,) = optuna.get_all_study_summaries(storage)

    def stored_trials() -> list:
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        return [(t.number, t.datetime_complete) for t in study.trials]

    trials = stored_trials()
    assert len(trials) == 3

    train(model_input, small_world.truth("oracle"), tmp_path, optuna_db)
    # the study is resumed from PostgreSQL: no trial runs again
    assert stored_trials() == trials
    assert (
        str(client.get_model_version_by_alias("daily_pnl", "challenger").version) == "2"
    )
    assert (
        str(client.get_model_version_by_alias("daily_pnl", "champion").version) == "1"
    )


def test_champion_loads_in_a_fresh_process_without_the_project(
    model_input, small_world, tracking, tmp_path
):
    client = mlflow.MlflowClient()
    try:
        client.get_model_version_by_alias("daily_pnl", "champion")
    except mlflow.exceptions.MlflowException:  # run alone: register one first
        optuna_db = f"optuna_{uuid.uuid4().hex[:8]}"
        train(model_input, small_world.truth("oracle"), tmp_path, optuna_db)
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
        assert list(out.columns[:4]) == ["forecast", "mean", "lower_90", "upper_90"], out.columns
        assert out["mean"].notna().all()
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


def test_each_final_tree_samples_at_most_rows_per_tree(model_input):
    """``training.rows_per_tree`` reaches every final model (point, spread, 5%, 95%)
    as LightGBM bagging; the point model keeps its tuned fraction when smaller."""
    from daily_profit_model.params import TrainingParams  # noqa: PLC0415
    from daily_profit_model.pipelines.training.nodes import (  # noqa: PLC0415
        fit_forecaster,
        split_by_time,
    )
    from tests.params import params  # noqa: PLC0415
    from tests.training.helpers import SMALL_WINDOWS  # noqa: PLC0415

    training = params(TrainingParams, "training", windows=SMALL_WINDOWS, num_threads=1)
    rows, _, _ = split_by_time(model_input.copy(), training)
    train_rows = int(rows["window"].eq("train").sum())
    capped = training.model_copy(update={"rows_per_tree": train_rows // 4})
    tuned = dict(QUICK_POINT)
    model = fit_forecaster(rows, tuned, capped)
    fraction = (train_rows // 4) / train_rows
    for booster in (model.point, model.spread, model.lower, model.upper):
        assert booster.params["bagging_fraction"] == pytest.approx(fraction)
        assert booster.params["bagging_freq"] == 1
    small = dict(tuned, bagging_fraction=0.1)
    assert fit_forecaster(rows, small, capped).point.params[
        "bagging_fraction"
    ] == pytest.approx(0.1)
    whole = fit_forecaster(rows, tuned, training)  # 1M rows per tree: all fit
    assert "bagging_fraction" not in whole.lower.params
    assert whole.point.params["bagging_fraction"] == pytest.approx(0.9)


def test_the_models_learn_what_the_offset_leaves_and_add_it_back(model_input):
    """``training.target_offset``: every model learns netProfit less the offset column,
    and the forecast, the bounds and the reasons add it back (a model that forgot it
    would forecast about 0 for a target that is mostly the offset)."""
    from daily_profit_model.params import TrainingParams  # noqa: PLC0415
    from daily_profit_model.pipelines.training.nodes import (  # noqa: PLC0415
        fit_forecaster,
        split_by_time,
    )
    from daily_profit_model.training.matrix import TARGET  # noqa: PLC0415
    from tests.params import params  # noqa: PLC0415
    from tests.training.helpers import SMALL_WINDOWS  # noqa: PLC0415

    training = params(
        TrainingParams,
        "training",
        windows=SMALL_WINDOWS,
        num_threads=1,
        target_offset="unrealised_pnl",
    )
    rows, _, _ = split_by_time(model_input.copy(), training)
    # a target that is the unrealised P&L and a little noise: trees fit it by steps
    unrealised = rows["unrealised_pnl"].fillna(0.0)
    assert (unrealised.abs() > 100).sum() > 50, "the small world has open positions"
    noise = np.random.default_rng(0).normal(0, 5, len(rows))
    rows[TARGET] = unrealised + noise
    tuned = dict(QUICK_POINT)
    test = rows[rows["window"] == "test"]
    errors, reasons = {}, {}
    for offset in ("unrealised_pnl", None):
        shaped = training.model_copy(update={"target_offset": offset})
        model = fit_forecaster(rows, tuned, shaped)
        assert model.spec["offset"] == offset
        out = model.predict(None, test, params={"reasons": 1, "reasons_method": "path"})
        errors[offset] = float((out["forecast"] - test[TARGET]).abs().mean())
        reasons[offset] = out["reason_1"]
        assert (out["lower_90"] <= out["upper_90"]).all()
    assert errors["unrealised_pnl"] < 0.5 * errors[None], errors
    big = test["unrealised_pnl"].abs().idxmax()
    assert reasons["unrealised_pnl"][big] == "unrealised_pnl"

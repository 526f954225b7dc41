"""Nodes of the ``training`` pipeline."""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from typing import Any

import lightgbm as lgb
import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd

from daily_profit_model.datasets.model_input import ModelInputExport
from daily_profit_model.datasets.tracking import CHALLENGER, CHAMPION, ForecasterBundle
from daily_profit_model.params import TrainingParams
from daily_profit_model.training import plots
from daily_profit_model.training.conformal import calibrate
from daily_profit_model.training.matrix import (
    CATEGORICAL,
    TARGET,
    accounts_sample,
    data_fingerprint,
    feature_matrix,
    feature_names,
    target_scale,
)
from daily_profit_model.training.metrics import (
    daily_errors,
    forecast_metrics,
    oracle_metrics,
    phase_coverage_intervals,
    pooled_quantiles,
    rolling_medians,
    segment_metrics,
)
from daily_profit_model.training.models import (
    Rows,
    SpreadFit,
    fit_booster,
    fit_spread,
    log_fit,
    point_params,
    predict,
    quantile_params,
    row_sampling,
)
from daily_profit_model.training.pyfunc_model import (
    FLOOR_COLUMNS,
    DailyPnlForecaster,
    above_floor,
    breach_slippage_share,
    contributions_usd,
    offset_of,
    raw_width,
    spread_unit,
    top_reasons,
    with_offset,
)
from daily_profit_model.training.time_split import assign_windows, window_ranges
from daily_profit_model.training.tuning import (
    SEARCH_SPACE_VERSION,
    max_rounds,
    run_study,
)

logger = logging.getLogger(__name__)

# What tune_point_model returns besides the best trial's parameters.
_STUDY_FIGURES = (
    "study_name",
    "trials",
    "best_validation_mae",
    "target_unit",
    "tuning_train_rows",
)

BASELINES = {
    "zero": None,
    "yesterday": "pnl_1d",
    "mean_5d": "pnl_mean_5d",
    "mean_20d": "pnl_mean_20d",
    "median_5d": "baseline_median_5d",
    "median_20d": "baseline_median_20d",
}


def _window(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    return rows[rows["window"] == name]


def _in_window(rows: pd.DataFrame, name: str) -> np.ndarray:
    return rows["window"].eq(name).to_numpy(dtype=bool, na_value=False)


def _xy(
    rows: pd.DataFrame,
    features: list[str],
    training: TrainingParams,
    mask: np.ndarray | None = None,
) -> Rows:
    """Features, the target (less its offset, scaled) and its weight, of the rows
    ``mask`` keeps (None: all): the matrix is read from ``rows`` directly, with no copy
    of the window's other columns on the way (at the firm's size a window's copy is
    gigabytes)."""
    scale_column, offset_column = training.target_scale, training.target_offset
    columns = [TARGET, *(c for c in (scale_column, offset_column) if c)]
    kept = rows[columns] if mask is None else rows[columns][mask]
    scale = target_scale(kept, scale_column)
    target = (kept[TARGET] - offset_of(kept, offset_column)) / scale
    return feature_matrix(rows, features, mask), target, scale


def _in_units(rows: Rows, spread: np.ndarray) -> Rows:
    """Rows whose target is in units of ``spread`` and weighted by it (the same loss:
    |y - q| = s * |y/s - q/s|)."""
    matrix, target, weight = rows
    return matrix, target / spread, weight * spread


def export_model_input(
    features: dict[str, Any], targets: dict[str, Any], training: TrainingParams
) -> ModelInputExport:
    """Every feature row with a known target within ``training.history_days`` of the
    newest cutoff (all of them when unset), joined month by month, streamed to parquet.

    Cutoffs whose next trading day has not happened yet have no target and are left
    out (scoring reads them from the feature table).

    Args:
        features: Coverage of ``feature_account_day`` (built before the export).
        targets: Coverage of ``target_account_day``.
        training: ``history_days``: how far back the model learns from.
    """
    since = None
    if training.history_days and features["last"] is not None:
        since = features["last"] - dt.timedelta(days=training.history_days - 1)
    logger.info(
        "Model input: %d feature rows (cutoffs %s..%s), %d target rows; from %s",
        features["rows"],
        features["first"],
        features["last"],
        targets["rows"],
        since or "the first cutoff",
    )
    return ModelInputExport(since=since)


def split_by_time(
    model_input: pd.DataFrame, training: TrainingParams
) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
    """Label each row with its time window and add the median baselines.

    The columns are added to ``model_input`` itself: it is loaded for this node alone
    (``model_input@pandas``), and at the firm's size a copy of it is gigabytes.

    Returns:
        The rows, the identity of the data (date range, rows, hash, windows) for the
        run's parameters, and the feature list (an artifact of the run).
    """
    rows = model_input
    with warnings.catch_warnings():
        # The validator coerced the loaded frame column by column, so pandas holds it
        # in many blocks and warns on each new column; consolidating it (its advice)
        # would copy the whole frame, which is what this node avoids.
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        rows["cutoff_date"] = pd.to_datetime(rows["cutoff_date"])
        rows["window"] = assign_windows(rows["cutoff_date"], training.windows)
        medians = rolling_medians(rows, (5, 20))
        for column in medians.columns:
            rows[column] = medians[column]
    ranges = window_ranges(rows)
    for name, spec in ranges.items():
        logger.info(
            "Window %-11s %s..%s: %d rows",
            name,
            spec["first"],
            spec["last"],
            spec["rows"],
        )
    identity = {
        "data_first_cutoff": str(rows["cutoff_date"].min().date()),
        "data_last_cutoff": str(rows["cutoff_date"].max().date()),
        "data_rows": len(rows),
        "data_sha256": data_fingerprint(rows),
        "feature_count": len(feature_names(rows)),
        **{
            f"window_{n}": f"{s['first']}..{s['last']} ({s['rows']} rows)"
            for n, s in ranges.items()
        },
    }
    return rows, identity, feature_names(rows)


def _target_unit(rows: pd.DataFrame, scale_column: str | None) -> float:
    """A typical account's size in the target's unit (see ``point_params``)."""
    return 1.0 if scale_column else float(rows["starting_balance"].mean())


def tune_point_model(
    rows: pd.DataFrame, storage: optuna.storages.BaseStorage, training: TrainingParams
) -> dict[str, Any]:
    """Search the point model's objective and tree parameters with Optuna (TPE, pruning).

    Returns:
        The best trial's parameters and the study's name and size.
    """
    features = feature_names(rows)
    settings = training.tuning
    train = accounts_sample(rows, settings.max_train_rows, _in_window(rows, "train"))
    validation = _in_window(rows, "validation")
    scale = training.target_scale or "usd"
    if training.target_offset:  # another target: another study
        scale = f"{scale}-less-{training.target_offset}"
    study_name = (
        f"{settings.study_name}-{SEARCH_SPACE_VERSION}-{scale}-"
        f"{data_fingerprint(rows, train | validation)[:12]}"
    )
    target_unit = _target_unit(rows, training.target_scale)
    study = run_study(
        _xy(rows, features, training, train),
        _xy(rows, features, training, validation),
        storage,
        study_name,
        settings,
        training.seed,
        target_unit,
        num_threads=training.num_threads,
    )
    return {
        **study.best_params,
        "target_unit": target_unit,
        "study_name": study_name,
        "trials": len(study.trials),
        "best_validation_mae": study.best_value,
        "tuning_train_rows": int(train.sum()),
    }


def _final_sampling(rows: int, training: TrainingParams) -> dict[str, Any]:
    """The final models' row sampling (``training.rows_per_tree``), logged."""
    sampling = row_sampling(rows, training.rows_per_tree)
    if sampling:
        logger.info(
            "Final models: each tree samples at most %d of the %d training rows",
            training.rows_per_tree,
            rows,
        )
    return sampling


def _fit_point(
    tuned: dict[str, Any],
    train: Rows,
    valid: Rows,
    training: TrainingParams,
    sampling: dict[str, Any],
) -> lgb.Booster:
    """The tuned point model on the training window."""
    trial = {k: v for k, v in tuned.items() if k not in _STUDY_FIGURES}
    settings = point_params(trial, training.seed, float(tuned["target_unit"]))
    if sampling:  # the tuned fraction (of the tuner's sample) if it is smaller
        settings["bagging_fraction"] = min(
            settings.get("bagging_fraction", 1.0), sampling["bagging_fraction"]
        )
    started = time.perf_counter()
    booster = fit_booster(
        settings,
        train,
        valid,
        max_rounds(settings["num_leaves"], training.tuning.max_tree_leaves),
        num_threads=training.num_threads,
    )
    return log_fit("point model", booster, started)


def _fit_interval_models(
    accounts: np.ndarray,
    train: Rows,
    valid: Rows,
    training: TrainingParams,
    sampling: dict[str, Any],
) -> tuple[lgb.Booster, lgb.Booster, SpreadFit | None]:
    """The 5% and 95% models, in units of the spread model when there is one (fitted
    here, its folds keeping ``accounts``, each training row's, whole)."""
    settings = training.quantile_model
    spread = None
    quantile_train, quantile_valid = train, valid
    if settings.spread is not None:
        spread = fit_spread(
            train,
            valid,
            accounts,
            settings.spread,
            training.seed,
            num_threads=training.num_threads,
            sampling=sampling,
        )
        quantile_train = _in_units(train, spread.train_spread)
        quantile_valid = _in_units(
            valid, spread_unit(spread.booster, valid[0], spread.floor)
        )
    bounds = []
    for q in (0.05, 0.95):
        started = time.perf_counter()
        booster = fit_booster(
            quantile_params(q, settings, training.seed) | sampling,
            quantile_train,
            quantile_valid,
            settings.max_rounds,
            num_threads=training.num_threads,
        )
        bounds.append(log_fit(f"{q:.0%} model", booster, started))
    lower, upper = bounds
    return lower, upper, spread


def _breach_slippage(
    rows: pd.DataFrame, in_train: np.ndarray, training: TrainingParams
) -> dict[str, float]:
    """The spec's ``breach_slippage_share``, learnt on the training window (nothing
    when ``training.breach_slippage_quantile`` is null)."""
    if training.breach_slippage_quantile is None:
        return {}
    share = breach_slippage_share(
        rows.loc[in_train, list(FLOOR_COLUMNS)],
        rows.loc[in_train, TARGET].to_numpy(),
        training.breach_slippage_quantile,
    )
    logger.info("Breach floor: slippage past it %.4f of the starting balance", share)
    return {"breach_slippage_share": share}


def fit_forecaster(
    rows: pd.DataFrame, tuned: dict[str, Any], training: TrainingParams
) -> DailyPnlForecaster:
    """Fit the point model (tuned) and the 5% / 95% models; conformalise on calibration.

    Early stopping always uses the validation window; the test window is not touched.
    """
    features = feature_names(rows)
    scale_column = training.target_scale
    in_train = _in_window(rows, "train")
    train = _xy(rows, features, training, in_train)
    valid = _xy(rows, features, training, _in_window(rows, "validation"))
    sampling = _final_sampling(len(train[1]), training)
    point = _fit_point(tuned, train, valid, training, sampling)
    lower, upper, spread = _fit_interval_models(
        rows["account_id"].to_numpy()[in_train], train, valid, training, sampling
    )
    spec = {
        "features": features,
        "categorical": list(CATEGORICAL),
        "scale": scale_column,
        "offset": training.target_offset,
        **({"spread_floor": spread.floor} if spread else {}),
        **_breach_slippage(rows, in_train, training),
    }
    model = DailyPnlForecaster.from_parts(
        point, lower, upper, spec, spread.booster if spread else None
    )
    calibration_rows = _window(rows, "calibration")
    matrix = feature_matrix(calibration_rows, features)
    scale = model.scale(calibration_rows)
    offset = model.offset(calibration_rows)
    floor = model.floor(calibration_rows)
    raw_lower, raw_upper = model.raw_bounds(matrix, scale, offset)
    scores = pd.DataFrame(
        {
            "actual": calibration_rows[TARGET].to_numpy(),
            "raw_lower": raw_lower,
            "raw_upper": raw_upper,
            "forecast": above_floor(offset + predict(point, matrix, scale), floor),
            "phase": calibration_rows["phase"].to_numpy(),
            **(
                {"floor": floor, "unit": raw_width(raw_lower, raw_upper)}
                if floor is not None
                else {}
            ),
        }
    )
    calibration = calibrate(
        scores,
        training.interval_coverage,
        training.min_calibration_rows_per_phase,
        training.phase_shrinkage_rows,
    )
    logger.info(
        "Fitted: point %d rounds, 5%% %d, 95%% %d; conformal corrections %s",
        point.best_iteration,
        lower.best_iteration,
        upper.best_iteration,
        {
            k: (round(v["lower"], 1), round(v["upper"], 1))
            for k, v in calibration["by_phase"].items()
        },
    )
    spec["calibration"] = calibration
    return model


def _test_frame(rows: pd.DataFrame, model: DailyPnlForecaster) -> pd.DataFrame:
    test = _window(rows, "test")
    predicted = model.predict(None, test)
    frame = test[
        ["account_id", "cutoff_date", "target_date", "phase", "starting_balance"]
    ].assign(
        actual=test[TARGET],
        forecast=predicted["forecast"],
        mean=predicted["mean"],
        lower=predicted["lower_90"],
        upper=predicted["upper_90"],
    )
    for name, column in BASELINES.items():
        frame[f"baseline_{name}"] = 0.0 if column is None else test[column].fillna(0.0)
    return frame


def evaluate_on_test(
    rows: pd.DataFrame,
    model: DailyPnlForecaster,
    oracle: pd.DataFrame,
    training: TrainingParams,
) -> tuple[
    dict[str, float], pd.DataFrame, pd.DataFrame, plt.Figure, plt.Figure, plt.Figure
]:
    """Score the test window once: model, baselines and (sandbox) oracle.

    Returns:
        Metrics (MLflow names), segment metrics, test predictions, and the figures:
        predicted vs actual, interval calibration by segment, errors by day.
    """
    frame = _test_frame(rows, model)
    overall = forecast_metrics(frame)
    metrics = {f"test_{k}": v for k, v in overall.items()}
    baseline_mae = {
        name: float((frame["actual"] - frame[f"baseline_{name}"]).abs().mean())
        for name in BASELINES
    }
    metrics |= {f"baseline_{k}_mae": v for k, v in baseline_mae.items()}
    best = min(baseline_mae, key=baseline_mae.get)
    metrics["baseline_best_mae"] = baseline_mae[best]
    metrics["improvement_over_baseline"] = 1 - overall["mae"] / baseline_mae[best]
    # the mean model's bias per account-day (its sums over accounts should be unbiased)
    metrics["test_mean_bias"] = float((frame["actual"] - frame["mean"]).mean())
    metrics |= oracle_metrics(frame, oracle, pooled_quantiles(rows))
    frame["size"] = frame["starting_balance"].round(0).astype("int64")
    segments = pd.concat(
        [
            segment_metrics(frame, by).rename(columns={by: "value"}).assign(segment=by)
            for by in ("phase", "size")
        ],
        ignore_index=True,
    )
    for _, segment in segments.iterrows():
        metrics[f"test_coverage_90_{segment['segment']}_{segment['value']}"] = segment[
            "coverage_90"
        ]
        metrics[f"test_mae_{segment['segment']}_{segment['value']}"] = segment["mae"]
    metrics |= phase_coverage_intervals(frame)
    daily = daily_errors(frame, best, oracle)
    logger.info(
        "Test: MAE %.2f (best baseline %s %.2f, oracle %s), coverage %.3f, pinball 5%% %.2f 95%% %.2f",
        overall["mae"],
        best,
        baseline_mae[best],
        f"{metrics['oracle_mae']:.2f}" if "oracle_mae" in metrics else "n/a",
        overall["coverage_90"],
        overall["pinball_05"],
        overall["pinball_95"],
    )
    return (
        metrics,
        segments,
        frame,
        plots.predicted_vs_actual(frame),
        plots.interval_calibration(segments, training.interval_coverage),
        plots.residuals_by_day(daily),
    )


def explain_with_shap(
    rows: pd.DataFrame, model: DailyPnlForecaster, training: TrainingParams
) -> tuple[pd.DataFrame, plt.Figure]:
    """SHAP (TreeSHAP from LightGBM) of the point model on a sample of test rows.

    Returns:
        Global importance (mean |contribution| in USD per feature), and the summary plot.
    """
    test = _window(rows, "test")
    sample = test.sample(min(len(test), training.shap_sample_rows), random_state=0)
    matrix = feature_matrix(sample, model.spec["features"])
    values = with_offset(
        contributions_usd(
            model.point,
            matrix,
            target_scale(sample, model.spec.get("scale")).to_numpy(),
        ),
        matrix,
        model.offset(sample),
        model.spec.get("offset"),
    )
    importance = pd.DataFrame(
        {"feature": matrix.columns, "mean_abs_shap_usd": np.abs(values).mean(axis=0)}
    ).sort_values("mean_abs_shap_usd", ascending=False, ignore_index=True)
    reasons = top_reasons(values[:5], matrix.head(5), training.top_reasons)
    logger.info("Top features: %s", ", ".join(importance["feature"].head(8)))
    logger.debug("Example reasons:\n%s", reasons)
    return importance, plots.shap_summary(values, matrix)


def alias_for_new_version(aliases: dict[str, int]) -> str:
    """The alias a newly trained version gets: ``champion`` when the model has none
    yet (the first model serves), else ``challenger`` (it earns promotion by evidence,
    ``kedro model promote``)."""
    return CHALLENGER if CHAMPION in aliases else CHAMPION


def package(
    rows: pd.DataFrame,
    model: DailyPnlForecaster,
    identity: dict[str, Any],
    alias: str,
) -> ForecasterBundle:
    """The registered model's parts: boosters, spec, an input example and its output,
    and a sample of training rows (with forecasts) as the reference for drift."""
    features = model.spec["features"]
    example = _window(rows, "test").head(5)[features].reset_index(drop=True)
    numeric = [f for f in features if f not in model.spec["categorical"]]
    example[numeric] = feature_matrix(example, features)[numeric]
    train = _window(rows, "train")
    reference = train.sample(min(len(train), 5000), random_state=0)[features]
    reference = reference.assign(_forecast=model.predict(None, reference)["forecast"])
    return ForecasterBundle(
        reference=reference.reset_index(drop=True),
        boosters={
            "point": model.point.model_to_string(),
            "lower": model.lower.model_to_string(),
            "upper": model.upper.model_to_string(),
            **({"spread": model.spread.model_to_string()} if model.spread else {}),
        },
        spec=model.spec,
        input_example=example,
        output_example=model.predict(None, example),
        tags={k: str(v) for k, v in identity.items()},
        alias=alias,
    )


def record_run_parameters(
    tuned: dict[str, Any], identity: dict[str, Any]
) -> dict[str, Any]:
    """What the run records as MLflow parameters: tuned choices and the data's identity."""
    return {**{f"tuned_{k}": v for k, v in tuned.items()}, **identity}

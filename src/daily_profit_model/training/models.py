"""LightGBM models: the tuned point forecast and the 5% / 95% quantile models."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from daily_profit_model.params import QuantileModelParams, SpreadModelParams

logger = logging.getLogger(__name__)

_EARLY_STOPPING_ROUNDS = 50


# Training rows: features, the target (in USD, or divided by a scale such as the
# starting balance) and the row's weight (the scale). A weighted loss on the scaled
# target is the USD loss divided by a constant (|y/s - q/s| * s = |y - q|): the same
# objective, with trees that may serve a 5k and a 400k account alike.
Rows = tuple[pd.DataFrame, pd.Series, pd.Series]


def _dataset(rows: Rows, reference=None, free_raw_data: bool = False) -> lgb.Dataset:
    matrix, target, weight = rows
    return lgb.Dataset(
        matrix,
        label=target.to_numpy(),
        weight=weight.to_numpy(),
        reference=reference,
        free_raw_data=free_raw_data,
    )


def fit_booster(  # noqa: PLR0913 - the data, the budget and how to run it
    params: dict[str, Any],
    train: Rows,
    valid: Rows,
    max_rounds: int,
    callbacks: list | None = None,
    num_threads: int = 2,
) -> lgb.Booster:
    """Train with early stopping on the validation window (never on test).

    Args:
        params: LightGBM parameters (objective, metric and tree parameters).
        train: Features, scaled target and weights of the training window.
        valid: The same of the validation window.
        max_rounds: Upper bound of boosting rounds.
        callbacks: Further LightGBM callbacks (Optuna pruning).
        num_threads: LightGBM's threads (``training.num_threads``): its OpenMP threads
            spin, so beside another CPU-bound process more threads than free cores
            slow it by an order of magnitude.
    """
    train_set = _dataset(train)
    valid_set = _dataset(valid, reference=train_set)
    return _train(params, train_set, valid_set, max_rounds, callbacks, num_threads)


def _train(  # noqa: PLR0913 - fit_booster's, on datasets already built
    params: dict[str, Any],
    train_set: lgb.Dataset,
    valid_set: lgb.Dataset,
    max_rounds: int,
    callbacks: list | None,
    num_threads: int,
) -> lgb.Booster:
    return lgb.train(
        {"verbosity": -1, **params, "num_threads": num_threads},
        train_set,
        num_boost_round=max_rounds,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[
            lgb.early_stopping(_EARLY_STOPPING_ROUNDS, verbose=False),
            *(callbacks or []),
        ],
    )


def log_fit(name: str, booster: lgb.Booster, started: float) -> lgb.Booster:
    """Log a final model's rounds and seconds: at the firm's size the final fit runs for
    half an hour, model after model."""
    logger.info(
        "Final fit: %s, %d rounds in %.1f s",
        name,
        booster.best_iteration or booster.current_iteration(),
        time.perf_counter() - started,
    )
    return booster


def point_params(
    trial_params: dict[str, Any], seed: int, target_unit: float
) -> dict[str, Any]:
    """LightGBM parameters of the point model from a tuning trial's choices.

    Huber's ``alpha`` and Fair's ``c`` are chosen as shares of a typical account;
    ``target_unit`` (a typical account's size in the target's unit: the mean starting
    balance for USD targets, 1 for targets in balance units) makes them absolute.
    """
    params = {
        key: value
        for key, value in trial_params.items()
        if key not in ("huber_alpha", "fair_c")
    }
    if params["objective"] == "huber":
        params["alpha"] = trial_params["huber_alpha"] * target_unit
    if params["objective"] == "fair":
        params["fair_c"] = trial_params["fair_c"] * target_unit
    return {**params, "metric": "l1", "bagging_freq": 1, "seed": seed}


def row_sampling(rows: int, rows_per_tree: int | None) -> dict[str, Any]:
    """LightGBM bagging so that each tree sees at most ``rows_per_tree`` of ``rows``
    training rows, drawn afresh for every tree; nothing when all of them fit (None:
    no bound), so a small firm's models do not change."""
    if rows_per_tree is None or rows <= rows_per_tree:
        return {}
    return {"bagging_fraction": rows_per_tree / rows, "bagging_freq": 1}


def quantile_params(
    alpha: float, settings: QuantileModelParams, seed: int
) -> dict[str, Any]:
    """LightGBM parameters of a quantile model."""
    return {
        "objective": "quantile",
        "alpha": alpha,
        "metric": "quantile",
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_data_in_leaf": settings.min_data_in_leaf,
        "feature_fraction": settings.feature_fraction,
        "seed": seed,
    }


@dataclass(frozen=True)
class SpreadFit:
    """The spread model, its floor, and the training rows' spreads from models fitted
    without their account (out of fold)."""

    booster: lgb.Booster
    floor: float
    train_spread: np.ndarray


def spread_params(settings: SpreadModelParams, seed: int) -> dict[str, Any]:
    """LightGBM parameters of the spread model (Tweedie on |target|)."""
    return {
        "objective": "tweedie",
        "tweedie_variance_power": settings.tweedie_variance_power,
        "metric": "tweedie",
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_data_in_leaf": settings.min_data_in_leaf,
        "feature_fraction": 0.8,
        "seed": seed,
    }


def fit_spread(  # noqa: PLR0913 - the data, its accounts and how to fit
    train: Rows,
    valid: Rows,
    accounts: np.ndarray,
    settings: SpreadModelParams,
    seed: int,
    num_threads: int = 2,
    sampling: dict[str, Any] | None = None,
) -> SpreadFit:
    """Fit each row's expected |target| (the quantile models' unit).

    A training row's spread comes from the fold model that did not see its account:
    in-sample spreads would follow the row's own luck, and quantile models fitted on
    them would learn intervals too narrow for tomorrow.

    Args:
        train: Features, scaled target and weights of the training window.
        valid: The same of the validation window (early stopping).
        accounts: The account of each training row (the folds keep accounts whole).
        settings: ``training.quantile_model.spread``.
        seed: Seeds the folds and the boosters.
        num_threads: LightGBM's threads.
        sampling: Row sampling of every tree (``row_sampling``; None: every row).
    """
    matrix, target, weight = train
    params = spread_params(settings, seed) | (sampling or {})
    # One binned dataset for the model and its folds: a fold is a subset of its rows
    # (LightGBM's own, with the full set's bin edges), not a copy of their matrix that
    # LightGBM would copy again to bin (at the firm's size, two copies of gigabytes).
    # Raw data is not kept by the datasets: `matrix` is this function's own.
    train_set = _dataset((matrix, target.abs(), weight), free_raw_data=True)
    valid_set = _dataset(
        (valid[0], valid[1].abs(), valid[2]), reference=train_set, free_raw_data=True
    )
    started = time.perf_counter()
    booster = _train(
        params, train_set, valid_set, settings.max_rounds, None, num_threads
    )
    log_fit("spread model", booster, started)
    codes, unique = pd.factorize(accounts)
    fold = np.random.default_rng(seed).integers(0, settings.folds, len(unique))[codes]
    out_of_fold = np.empty(len(fold))
    for k in range(settings.folds):
        held = fold == k
        if not held.any():
            continue
        started = time.perf_counter()
        model = _train(
            params,
            train_set.subset(np.flatnonzero(~held)),
            valid_set,
            settings.max_rounds,
            None,
            num_threads,
        )
        log_fit(f"spread fold {k + 1}/{settings.folds}", model, started)
        out_of_fold[held] = model.predict(
            matrix[held], num_iteration=model.best_iteration or None
        )
    moved = target.abs().to_numpy()
    floor = float(np.quantile(moved[moved > 0], settings.floor_quantile))
    logger.info(
        "Spread model: %d rounds, %d account folds, floor %.4g",
        booster.best_iteration,
        settings.folds,
        floor,
    )
    return SpreadFit(booster, floor, np.maximum(out_of_fold, floor))


def predict(
    booster: lgb.Booster, matrix: pd.DataFrame, scale: np.ndarray
) -> np.ndarray:
    """Predictions in USD at the booster's best iteration (``scale``: see ``Rows``)."""
    return booster.predict(matrix, num_iteration=booster.best_iteration or None) * scale

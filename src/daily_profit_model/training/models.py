"""LightGBM models: the tuned point forecast and the 5% / 95% quantile models."""

from __future__ import annotations

import logging
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from daily_profit_model.params import QuantileModelParams

logger = logging.getLogger(__name__)

_EARLY_STOPPING_ROUNDS = 50


# Training rows: features, the target (in USD, or divided by a scale such as the
# starting balance) and the row's weight (the scale). A weighted loss on the scaled
# target is the USD loss divided by a constant (|y/s - q/s| * s = |y - q|): the same
# objective, with trees that may serve a 5k and a 400k account alike.
Rows = tuple[pd.DataFrame, pd.Series, pd.Series]


def _dataset(rows: Rows, reference=None) -> lgb.Dataset:
    matrix, target, weight = rows
    return lgb.Dataset(
        matrix,
        label=target.to_numpy(),
        weight=weight.to_numpy(),
        reference=reference,
        free_raw_data=False,
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


def predict(
    booster: lgb.Booster, matrix: pd.DataFrame, scale: np.ndarray
) -> np.ndarray:
    """Predictions in USD at the booster's best iteration (``scale``: see ``Rows``)."""
    return booster.predict(matrix, num_iteration=booster.best_iteration or None) * scale

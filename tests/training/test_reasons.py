"""Reasons: the decision path's contributions against LightGBM's TreeSHAP."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from daily_profit_model.training import pyfunc_model
from daily_profit_model.training.pyfunc_model import (
    contributions_usd,
    path_contributions,
)


def _rows(n: int, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": rng.uniform(size=n),
            "kind": pd.Categorical(rng.choice(["x", "y", "z"], n)),
        }
    )
    frame.loc[rng.random(n) < 0.1, "b"] = np.nan  # missing values take a default side
    y = (
        3 * frame["a"]
        + np.where(frame["b"].isna(), 2.0, frame["b"] ** 2)
        + 4 * (frame["kind"] == "y")
        + rng.normal(scale=0.3, size=n)
    )
    return frame, y.to_numpy()


def _booster(frame: pd.DataFrame, y: np.ndarray, **params) -> lgb.Booster:
    settings = {
        "objective": "l1",  # leaf values renewed after the split search, as the point model's
        "verbosity": -1,
        "num_threads": 1,
        "min_data_in_leaf": 5,
        **params,
    }
    return lgb.train(settings, lgb.Dataset(frame, y), num_boost_round=40)


def test_on_single_splits_the_path_contributions_are_the_shapley_values():
    # one split per tree: each tree is a function of one feature, and both methods give
    # that feature the leaf's value minus the tree's expected one
    frame, y = _rows(3000)
    booster = _booster(frame, y, num_leaves=2)
    shap = booster.predict(frame, pred_contrib=True)[:, :-1]
    np.testing.assert_allclose(path_contributions(booster, frame), shap, atol=1e-9)


def test_the_path_contributions_add_up_to_each_forecast(monkeypatch):
    monkeypatch.setattr(pyfunc_model, "_PATH_CHUNK_ROWS", 700)  # several chunks
    frame, y = _rows(3000)
    booster = _booster(frame, y, num_leaves=15)
    shap = booster.predict(frame, pred_contrib=True)
    path = path_contributions(booster, frame)
    # the same expected value as TreeSHAP's; the same sum, row by row
    np.testing.assert_allclose(
        path.sum(axis=1) + shap[:, -1], booster.predict(frame), atol=1e-9
    )
    assert not np.allclose(path, shap[:, :-1])  # deeper trees: another attribution
    # in USD, per row's scale; early stopping's trees only
    scale = np.linspace(1, 2, len(frame))
    booster.best_iteration = 10
    usd = contributions_usd(booster, frame, scale, method="path")
    np.testing.assert_allclose(
        usd.sum(axis=1) / scale,
        booster.predict(frame, num_iteration=10)
        - booster.predict(frame, num_iteration=10, pred_contrib=True)[:, -1],
        atol=1e-9,
    )


def test_an_unknown_method_is_named():
    frame, y = _rows(200)
    booster = _booster(frame, y, num_leaves=4)
    with pytest.raises(ValueError, match="reasons_method must be one of"):
        contributions_usd(booster, frame, np.ones(len(frame)), method="saabas")

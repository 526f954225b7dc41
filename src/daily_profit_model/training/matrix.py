"""From model input rows to the matrix LightGBM sees, identically in training and scoring."""

from __future__ import annotations

import hashlib

import pandas as pd

from daily_profit_model.training.pyfunc_model import prepare_matrix

ID_COLUMNS = ("account_id", "cutoff_date", "target_date")
TARGET = "target_net_profit"
CATEGORICAL = ("platform", "broker")
_NOT_FEATURES = {*ID_COLUMNS, TARGET, "window", "target_day_status"}


def feature_names(frame: pd.DataFrame) -> list[str]:
    """Every column of the model input that is a feature (ids, target, labels are not)."""
    return [
        c
        for c in frame.columns
        if c not in _NOT_FEATURES and not c.startswith("baseline_")
    ]


def feature_matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The features as LightGBM takes them (the registered model's own preparation)."""
    return prepare_matrix(frame, features, list(CATEGORICAL))


def target_scale(rows: pd.DataFrame, column: str | None) -> pd.Series:
    """Each row's target scale: ``column`` (e.g. starting_balance), or 1 (USD)."""
    if not column:
        return pd.Series(1.0, index=rows.index)
    return rows[column].astype("float64")


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A hash of the rows' identity, target and feature list: the data a model saw."""
    keys = frame[["account_id", "cutoff_date", TARGET]].astype(str)
    digest = hashlib.sha256(",".join(feature_names(frame)).encode())
    digest.update(pd.util.hash_pandas_object(keys, index=False).to_numpy().tobytes())
    return digest.hexdigest()

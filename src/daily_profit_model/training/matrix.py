"""From model input rows to the matrix LightGBM sees, identically in training and scoring."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd

from daily_profit_model.training.pyfunc_model import prepare_matrix

ID_COLUMNS = ("account_id", "cutoff_date", "target_date")
TARGET = "target_net_profit"
CATEGORICAL = ("platform", "broker")
_NOT_FEATURES = {*ID_COLUMNS, TARGET, "window", "target_day_status"}

logger = logging.getLogger(__name__)


def feature_names(frame: pd.DataFrame) -> list[str]:
    """Every column of the model input that is a feature (ids, target, labels are not)."""
    return [
        c
        for c in frame.columns
        if c not in _NOT_FEATURES and not c.startswith("baseline_")
    ]


def feature_matrix(
    frame: pd.DataFrame, features: list[str], rows: np.ndarray | None = None
) -> pd.DataFrame:
    """The features as LightGBM takes them (the registered model's own preparation),
    of the rows the boolean mask ``rows`` keeps (None: all)."""
    return prepare_matrix(frame, features, list(CATEGORICAL), rows)


def target_scale(rows: pd.DataFrame, column: str | None) -> pd.Series:
    """Each row's target scale: ``column`` (e.g. starting_balance), or 1 (USD)."""
    if not column:
        return pd.Series(1.0, index=rows.index)
    return rows[column].astype("float64")


def data_fingerprint(frame: pd.DataFrame, rows: np.ndarray | None = None) -> str:
    """A hash of the rows' identity, target and feature list: the data a model saw
    (``rows``: a boolean mask of the rows meant; None: all)."""
    keys = frame[["account_id", "cutoff_date", TARGET]]
    keys = (keys if rows is None else keys[rows]).astype(str)
    digest = hashlib.sha256(",".join(feature_names(frame)).encode())
    digest.update(pd.util.hash_pandas_object(keys, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def accounts_sample(
    rows: pd.DataFrame, max_rows: int | None, among: np.ndarray
) -> np.ndarray:
    """About ``max_rows`` of the rows the boolean mask ``among`` keeps, as whole
    accounts (each keeps its every day), the same accounts on every run: those whose id
    hashes below the share kept; a mask of ``rows``. All of ``among`` when it holds no
    more than ``max_rows`` (or that is None)."""
    total = int(among.sum())
    if max_rows is None or total <= max_rows:
        return among
    share = max_rows / total
    # Each row's account as a code into its distinct ids, so that keeping an account is
    # one lookup per row (np.isin over object ids compares every row with every kept
    # id: hours at the firm's size, 4 M rows and 15,000 accounts).
    codes, ids = pd.factorize(rows["account_id"])
    ids = pd.Series(np.asarray(ids, dtype=object))
    kept = pd.util.hash_pandas_object(ids, index=False).to_numpy() < share * 2.0**64
    sample = among & kept[codes]
    accounts = np.unique(codes[among])
    logger.info(
        "Tuning sample: %d of %d training rows (%d of %d accounts); the final fit "
        "draws from every row (training.rows_per_tree a tree at most)",
        sample.sum(),
        total,
        kept[accounts].sum(),
        len(accounts),
    )
    return sample

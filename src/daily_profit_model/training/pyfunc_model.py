"""The registered model ``daily_pnl``: point forecast, conformal 90% interval, reasons.

MLflow "models from code": this file is logged with the model and runs on its own; it
imports nothing from the project, so ``mlflow.pyfunc.load_model("models:/daily_pnl@champion")``
works in any process with lightgbm, pandas and mlflow. The project's training and
scoring use the same functions, so what is registered is what was evaluated.

Artifacts: ``point``, ``lower`` and ``upper`` (LightGBM model files, forecasting
netProfit in USD or in units of the spec's ``scale`` column, less the spec's ``offset``
column when it names one), optionally ``spread`` (each row's expected |netProfit| less
the offset: ``lower`` and ``upper`` then forecast in units of it, at least the spec's
``spread_floor``), ``spec`` (JSON: feature list, categorical columns, scale and offset
columns, spread floor, conformal corrections by phase) and
``reference`` (parquet: a sample of training rows with their ``_forecast``, for drift).
"""

from __future__ import annotations

import json
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


def prepare_matrix(
    frame: pd.DataFrame,
    features: list[str],
    categorical: list[str],
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """The features as LightGBM takes them: float32, and categories for text columns.

    float32 because the feature store keeps them so (``float_storage: real``, cold
    parquet): a value read back from either tier, or computed fresh, is the same
    float32, so training and scoring see identical numbers.

    The numeric features are written column by column into one float32 block, which
    the frame then wraps without a copy: its memory is the block's, once (a frame
    built from a mapping of columns is consolidated into a second one).

    Args:
        frame: Rows holding at least ``features``.
        features: The model's features, in its order.
        categorical: Those of them that are categories.
        rows: A boolean mask of the rows to take (None: all), so a window of a large
            frame needs no copy of its other columns first.

    Raises:
        KeyError: A feature the model needs is missing from ``frame``.
    """
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise KeyError(f"Feature rows lack {missing}")
    index = frame.index if rows is None else frame.index[rows]
    numeric = [f for f in features if f not in categorical]
    block = np.empty((len(index), len(numeric)), dtype="float32", order="F")
    for position, column in enumerate(numeric):
        values = _float32(frame[column])
        block[:, position] = values if rows is None else values[rows]
    matrix = pd.DataFrame(block, index=index, columns=numeric, copy=False)
    for position, column in enumerate(features):
        if column in categorical:
            values = frame[column] if rows is None else frame[column][rows]
            # by position (a Categorical, not a Series aligned on a maybe repeated index)
            matrix.insert(position, column, values.astype("category").array)
    return matrix


def _float32(column: pd.Series) -> np.ndarray:
    """A numeric column as float32, its missing values (NaN, None, pd.NA) as NaN.

    Numeric and nullable columns convert in place of memory (46 times faster than
    through Python objects: 2.27 s against 0.05 for a million rows of 20 columns);
    only an object column (mixed Python values) goes through ``pd.to_numeric``.
    """
    if column.dtype == object:
        return pd.to_numeric(column.where(column.notna(), np.nan)).to_numpy("float32")
    return column.to_numpy(dtype="float32", na_value=np.nan)


def raw_width(raw_lower: np.ndarray, raw_upper: np.ndarray) -> np.ndarray:
    """The unit of conformity scores: the raw interval's width, at least 1 USD.

    (A raw interval of zero width would make every score infinite.)
    """
    return np.maximum(np.abs(np.asarray(raw_upper) - np.asarray(raw_lower)), 1.0)


def conformal_bounds(
    raw_lower: np.ndarray,
    raw_upper: np.ndarray,
    phase: pd.Series,
    calibration: dict,
    floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw quantile bounds, held at the row's breach ``floor`` (:func:`breach_floor`;
    None: no floor), widened by the calibration's corrections for the row's phase, and
    held at the floor again.

    Corrections are in units of the raw interval's width (at least 1 USD) when the
    calibration's ``score`` is ``"width"``, in USD otherwise.
    """
    pooled = calibration["pooled"]
    keys = pd.Series(phase).astype("Int64").astype(str).to_numpy()
    by_phase = calibration["by_phase"]
    lower_fix = np.array([by_phase.get(k, pooled)["lower"] for k in keys], dtype=float)
    upper_fix = np.array([by_phase.get(k, pooled)["upper"] for k in keys], dtype=float)
    raw_lower = np.asarray(raw_lower, dtype=float)
    raw_upper = np.asarray(raw_upper, dtype=float)
    if calibration.get("score") == "width":
        # the unit is the raw width before the floor: a raw interval the floor
        # narrowed to a dollar would make its row's conformity score (and, over a few
        # percent of rows, every row's correction) hundreds of widths
        width = raw_width(raw_lower, raw_upper)
        lower_fix, upper_fix = lower_fix * width, upper_fix * width
    lower = above_floor(raw_lower, floor) - lower_fix
    upper = above_floor(raw_upper, floor) + upper_fix
    lower, upper = np.minimum(lower, upper), np.maximum(lower, upper)
    return above_floor(lower, floor), above_floor(upper, floor)


# Where an account breaches. Its equity may not fall below its daily-loss floor or its
# drawdown floor: at the floor the account is closed (the firm's risk engine). If its
# open positions close tomorrow, its realised netProfit cannot fall below
# floor - balance = open_pnl - room (room = equity - floor: the features' distances to
# both floors); if they stay open at unchanged marks, not below -room. So the floor is
# min(open_pnl, 0) - room, less the fill's slippage past it (open_pnl - room alone held
# on every sandbox day, whose positions all close the next day, and would not where
# winners are held for days). The slippage, as a share of the starting balance, is
# learnt from the training window's breaches (``breach_slippage_share``): where the
# rule does not hold for a firm, its shortfalls are large and so is the slippage.
# Measured on the default world's test window (README, Training): the 5% bound lay
# below the floor on 7% of rows (the oracle's never did); held at it, 5% pinball /
# oracle 1.136 -> 1.099.
FLOOR_COLUMNS = (
    "open_pnl",
    "distance_to_daily_loss_floor",
    "distance_to_drawdown_floor",
    "starting_balance",
)


def breach_slippage_share(
    frame: pd.DataFrame, actual: np.ndarray, quantile: float
) -> float:
    """How far past its floor a breached account's day ended, as a share of its
    starting balance: the ``quantile`` of that shortfall over the rows of ``frame``
    whose ``actual`` netProfit fell below their floor (0 when none did)."""
    floor = breach_floor(frame, 0.0)
    shortfall = (floor - np.asarray(actual, dtype=float)) / _number(
        frame, "starting_balance"
    )
    breached = shortfall[np.isfinite(shortfall) & (shortfall > 0)]
    return float(np.quantile(breached, quantile)) if len(breached) else 0.0


def breach_floor(
    frame: pd.DataFrame, slippage_share: float | None
) -> np.ndarray | None:
    """The lowest netProfit each account can realise tomorrow (NaN where it has no
    floor); None without a slippage share (models before the rule have none)."""
    if slippage_share is None:
        return None
    room = np.fmin(
        _number(frame, "distance_to_daily_loss_floor"),
        _number(frame, "distance_to_drawdown_floor"),
    )
    open_pnl = np.nan_to_num(_number(frame, "open_pnl"), nan=0.0)
    return (
        np.minimum(open_pnl, 0.0)
        - room
        - slippage_share * _number(frame, "starting_balance")
    )


def above_floor(values: np.ndarray, floor: np.ndarray | None) -> np.ndarray:
    """``values``, none below ``floor`` (a NaN floor, or None, holds nothing)."""
    return values if floor is None else np.fmax(values, floor)


def _number(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column]).to_numpy(dtype=float)


# Pearson & Tukey's three-point approximation of a mean from the 5%, 50% and 95%
# quantiles (Biometrika 1965; Keefer & Bodily 1983 found it the most accurate of the
# common three-point rules). A dedicated squared-loss booster was tried first: on the
# default world its early stopping halted at 1-20 rounds (heavy-tailed validation
# losses) and its account mean was -64 USD against -37 actual and -41 for the oracle's
# mean; this rule gave -34.
PEARSON_TUKEY = (0.185, 0.63, 0.185)


def mean_forecast(  # noqa: PLR0913 - the three quantiles, the phase and calibration
    lower: np.ndarray,
    median: np.ndarray,
    upper: np.ndarray,
    phase: pd.Series,
    calibration: dict,
    unit: np.ndarray | None = None,
) -> np.ndarray:
    """Each account's expected netProfit: the Pearson-Tukey mean of its interval and
    point forecast, plus the calibration window's mean residual of that rule for the
    account's phase, in units of the account's raw interval before the breach floor
    (``unit``; None: the interval's width), so that the sums of means over accounts
    are unbiased on data the model was not fitted on. (In units of the floored
    interval, rows the floor narrowed to a few dollars carried residuals of hundreds
    of units into every mean: README, Training.)"""
    a, b, c = PEARSON_TUKEY
    lower, median, upper = (np.asarray(x, dtype=float) for x in (lower, median, upper))
    three_point = a * lower + b * median + c * upper
    offsets = calibration.get("mean_offset")
    if not offsets:
        return three_point
    keys = pd.Series(phase).astype("Int64").astype(str).to_numpy()
    fix = np.array(
        [offsets["by_phase"].get(k, offsets["pooled"]) for k in keys], dtype=float
    )
    return three_point + fix * (
        np.maximum(upper - lower, 1.0) if unit is None else unit
    )


def offset_of(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    """Each row's offset in USD: ``column``, missing values 0; zeros without one."""
    if not column:
        return np.zeros(len(frame))
    return pd.to_numeric(frame[column]).fillna(0.0).to_numpy(dtype=float)


def spread_unit(booster: lgb.Booster, matrix: pd.DataFrame, floor: float) -> np.ndarray:
    """Each row's spread (its expected |netProfit|), at least ``floor``: the unit the 5%
    and 95% models forecast in."""
    return np.maximum(
        booster.predict(matrix, num_iteration=booster.best_iteration or None), floor
    )


# How each feature's share of a forecast is computed (``params={"reasons_method": ...}``):
# - ``treeshap``: exact Shapley values (LightGBM's TreeSHAP). Its cost per row grows
#   with leaves x depth^2 of every tree: 4.6 ms a row on 2 cores for a 539-tree,
#   35,574-leaf model (depth 7.9 on average), so 224 s for the 81 M world's 42,749
#   accounts, more than the whole morning may take.
# - ``path``: the decision path's contributions (Saabas): each split on a row's path
#   gives its feature the change in the tree's expected value from the node to the
#   child the row took. They depend on the leaf alone, so they are computed once per
#   leaf, and a row costs one leaf lookup per tree: 2.5 s for those 42,749 rows. Like
#   TreeSHAP they add up exactly to the forecast minus the average one; unlike it they
#   can favour features split near the root, more so on deeper trees: the same first
#   reason as TreeSHAP for 43% of rows on that model, 26% on a 120-tree, 154-leaf one
#   (benchmarks/reasons.py; README has the figures).
REASON_METHODS = ("treeshap", "path")


def contributions_usd(
    booster: lgb.Booster,
    matrix: pd.DataFrame,
    scale: np.ndarray,
    method: str = "treeshap",
) -> np.ndarray:
    """Each feature's contribution to each forecast, in USD (see ``REASON_METHODS``).

    Raises:
        ValueError: An unknown ``method``.
    """
    if method not in REASON_METHODS:
        raise ValueError(
            f"reasons_method must be one of {REASON_METHODS}, not {method!r}"
        )
    if method == "path":
        values = path_contributions(booster, matrix)
    else:
        values = booster.predict(
            matrix, num_iteration=booster.best_iteration or None, pred_contrib=True
        )[:, :-1]
    return values * np.asarray(scale, dtype=float)[:, None]


def _tree_leaf_paths(tree: dict) -> list[tuple[int, int, float]]:
    """For every split on every leaf's path in one tree: (leaf, feature, contribution).

    A node's expected value weighs its leaves by their training rows, as TreeSHAP's
    does. A walk over the model's nodes (tens of thousands), never over data rows.
    """
    root = tree["tree_structure"]
    expected: dict[int, tuple[float, float]] = {}  # id(node) -> (rows, mean)

    def mean(node: dict) -> tuple[float, float]:
        if "leaf_index" in node:
            found = (float(node.get("leaf_count", 0)), float(node["leaf_value"]))
        else:
            (n_left, left), (n_right, right) = (
                mean(node["left_child"]),
                mean(node["right_child"]),
            )
            rows = n_left + n_right
            found = (
                rows,
                (n_left * left + n_right * right) / rows
                if rows
                else (left + right) / 2,
            )
        expected[id(node)] = found
        return found

    mean(root)
    entries: list[tuple[int, int, float]] = []
    stack: list[tuple[dict, tuple[tuple[int, float], ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if "leaf_index" in node:
            entries.extend((node["leaf_index"], f, c) for f, c in path)
            continue
        here = expected[id(node)][1]
        for side in ("left_child", "right_child"):
            child = node[side]
            step = (node["split_feature"], expected[id(child)][1] - here)
            stack.append((child, (*path, step)))
    return entries


_PATH_CHUNK_ROWS = 16_384  # rows per sparse product (about 150 MB at 600 trees)


def path_contributions(booster: lgb.Booster, matrix: pd.DataFrame) -> np.ndarray:
    """Each row's decision-path contributions per feature (``REASON_METHODS``: path).

    The leaves' contributions form one sparse matrix (leaves x features); a row's are
    the sum of the rows of the leaves it reaches: a sparse product, chunk by chunk.
    """
    from scipy import sparse  # noqa: PLC0415 (lightgbm's own dependency)

    iteration = booster.best_iteration or None
    trees = booster.dump_model(num_iteration=iteration)["tree_info"]
    sizes = np.array([tree["num_leaves"] for tree in trees], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    entries = [
        (offset + leaf, feature, value)
        for offset, tree in zip(offsets.tolist(), trees, strict=True)
        for leaf, feature, value in _tree_leaf_paths(tree)
    ]
    leaves, features, values = zip(*entries, strict=True) if entries else ((), (), ())
    by_leaf = sparse.csr_matrix(
        (values, (leaves, features)), shape=(int(sizes.sum()), booster.num_feature())
    )  # a feature split twice on one path: its entries add up
    out = np.zeros((len(matrix), booster.num_feature()))
    for start in range(0, len(matrix), _PATH_CHUNK_ROWS):
        chunk = matrix.iloc[start : start + _PATH_CHUNK_ROWS]
        reached = booster.predict(chunk, num_iteration=iteration, pred_leaf=True)
        reached = np.asarray(reached, dtype=np.int64).reshape(len(chunk), len(trees))
        reached += offsets
        rows, width = reached.shape
        indicator = sparse.csr_matrix(
            (
                np.ones(rows * width),
                reached.ravel(),
                np.arange(0, rows * width + 1, width),
            ),
            shape=(rows, by_leaf.shape[0]),
        )
        out[start : start + rows] = (indicator @ by_leaf).toarray()
    return out


def with_offset(
    contributions: np.ndarray,
    matrix: pd.DataFrame,
    offset: np.ndarray,
    column: str | None,
) -> np.ndarray:
    """Contributions with the offset added to its own column's (the boosters forecast
    what the offset leaves): they still add up to the forecast minus the average one."""
    if not column or column not in matrix.columns:
        return contributions
    contributions = np.array(contributions, dtype=float)
    contributions[:, matrix.columns.get_loc(column)] += np.asarray(offset, dtype=float)
    return contributions


def with_floor(
    contributions: np.ndarray,
    matrix: pd.DataFrame,
    frame: pd.DataFrame,
    lift: np.ndarray,
) -> np.ndarray:
    """Contributions (columns: ``matrix``'s) with a forecast's lift to its breach floor
    (:func:`breach_floor`; ``frame`` holds the distances) added to the nearer floor's
    distance: they still add up to the forecast."""
    lift = np.asarray(lift, dtype=float)
    if not lift.any():
        return contributions
    contributions = np.array(contributions, dtype=float)
    daily = _number(frame, "distance_to_daily_loss_floor")
    nearer = np.where(
        daily
        <= np.nan_to_num(_number(frame, "distance_to_drawdown_floor"), nan=np.inf),
        "distance_to_daily_loss_floor",
        "distance_to_drawdown_floor",
    )
    for column in np.unique(nearer[lift != 0]):
        rows = (lift != 0) & (nearer == column)
        contributions[rows, matrix.columns.get_loc(column)] += lift[rows]
    return contributions


def top_reasons(
    contributions: np.ndarray, matrix: pd.DataFrame, k: int
) -> pd.DataFrame:
    """The ``k`` features that move each row's forecast most, with their USD effect."""
    order = np.argsort(-np.abs(contributions), axis=1)[:, :k]
    names = np.asarray(matrix.columns)
    rows = np.arange(len(matrix))[:, None]
    out = {}
    for i in range(k):
        out[f"reason_{i + 1}"] = names[order[:, i]]
        out[f"reason_{i + 1}_usd"] = contributions[rows[:, 0], order[:, i]]
    return pd.DataFrame(out, index=matrix.index)


# MLflow asks for type hints on ``predict`` to infer a signature; the signature is
# logged explicitly from an example, so the warning (printed by every kedro command
# that imports this module) says nothing useful.
warnings.filterwarnings("ignore", message="Add type hints to the `predict` method")


class DailyPnlForecaster(PythonModel):
    """Tomorrow's netProfit of each account: forecast (the point model's, median-like),
    mean (expected value: sums over accounts are unbiased), lower_90, upper_90 (+ the
    point forecast's reasons)."""

    @classmethod
    def from_parts(  # noqa: PLR0913 - the boosters and the spec
        cls,
        point: lgb.Booster,
        lower: lgb.Booster,
        upper: lgb.Booster,
        spec: dict,
        spread: lgb.Booster | None = None,
    ) -> DailyPnlForecaster:
        """A forecaster from fitted boosters (training uses it before registering)."""
        model = cls()
        model.point, model.lower, model.upper, model.spec = point, lower, upper, spec
        model.spread = spread
        model.reference = None
        return model

    def load_context(self, context) -> None:
        """Read the boosters and the spec from the model's artifacts."""
        self.point = lgb.Booster(model_file=context.artifacts["point"])
        self.lower = lgb.Booster(model_file=context.artifacts["lower"])
        self.upper = lgb.Booster(model_file=context.artifacts["upper"])
        spread = context.artifacts.get("spread")  # versions before it have none
        self.spread = lgb.Booster(model_file=spread) if spread else None
        with open(context.artifacts["spec"], encoding="utf-8") as handle:
            self.spec = json.load(handle)
        # A sample of training rows and their forecasts: the reference for drift.
        reference = context.artifacts.get("reference")
        self.reference = pd.read_parquet(reference) if reference else None

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        """Forecast each feature row; ``params={"reasons": k}`` adds the top k reasons,
        computed by ``params={"reasons_method": ...}`` (``REASON_METHODS``; TreeSHAP when
        not given).

        Raises:
            KeyError: A feature the model needs is missing from ``model_input``.
        """
        spec = self.spec
        matrix = prepare_matrix(model_input, spec["features"], spec["categorical"])
        scale = self.scale(model_input)
        offset = self.offset(model_input)
        floor = self.floor(model_input)
        unfloored = offset + scale * self.point.predict(
            matrix, num_iteration=self.point.best_iteration or None
        )
        forecast = above_floor(unfloored, floor)
        raw_lower, raw_upper = self.raw_bounds(matrix, scale, offset)
        lower, upper = conformal_bounds(
            raw_lower, raw_upper, model_input["phase"], spec["calibration"], floor
        )
        mean = mean_forecast(
            lower,
            forecast,
            upper,
            model_input["phase"],
            spec["calibration"],
            None if floor is None else raw_width(raw_lower, raw_upper),
        )
        out = pd.DataFrame(
            {"forecast": forecast, "mean": mean, "lower_90": lower, "upper_90": upper},
            index=model_input.index,
        )
        k = int((params or {}).get("reasons", 0))
        if k:
            method = (params or {}).get("reasons_method") or "treeshap"
            contributions = with_floor(
                with_offset(
                    contributions_usd(self.point, matrix, scale, method),
                    matrix,
                    offset,
                    spec.get("offset"),
                ),
                matrix,
                model_input,
                forecast - unfloored,
            )
            out = out.join(top_reasons(contributions, matrix, k))
            out["reasons_method"] = method
        return out

    def scale(self, model_input: pd.DataFrame) -> np.ndarray:
        """The boosters forecast netProfit in USD, or in units of a scale column."""
        column = self.spec.get("scale")
        if column:
            return pd.to_numeric(model_input[column]).to_numpy(dtype=float)
        return np.ones(len(model_input))

    def offset(self, model_input: pd.DataFrame) -> np.ndarray:
        """What every booster's forecast is added to, in USD: the spec's ``offset``
        column (missing values 0), or 0 (versions before it have none)."""
        return offset_of(model_input, self.spec.get("offset"))

    def floor(self, model_input: pd.DataFrame) -> np.ndarray | None:
        """Each row's breach floor in USD (:func:`breach_floor`), or None (versions
        before the rule have no ``breach_slippage_share``)."""
        return breach_floor(model_input, self.spec.get("breach_slippage_share"))

    def raw_bounds(
        self, matrix: pd.DataFrame, scale: np.ndarray, offset: np.ndarray | float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """The 5% and 95% models' forecasts in USD, before the conformal corrections
        and the breach floor."""
        unit = np.asarray(scale, dtype=float)
        if self.spread is not None:
            unit = unit * spread_unit(self.spread, matrix, self.spec["spread_floor"])
        return tuple(
            offset
            + unit
            * booster.predict(matrix, num_iteration=booster.best_iteration or None)
            for booster in (self.lower, self.upper)
        )


set_model(DailyPnlForecaster())

"""Windows, conformal calibration and metrics on small frames."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from daily_profit_model.datasets.model_input import ModelInputExport
from daily_profit_model.params import TrainingParams, WindowParams
from daily_profit_model.pipelines.training.nodes import export_model_input
from daily_profit_model.training.conformal import calibrate
from daily_profit_model.training.matrix import accounts_sample, feature_matrix
from daily_profit_model.training.metrics import (
    coverage_interval,
    pinball,
    rolling_medians,
)
from daily_profit_model.training.pyfunc_model import conformal_bounds, prepare_matrix
from daily_profit_model.training.time_split import WindowError, assign_windows
from tests.params import params

WINDOWS = WindowParams.model_validate(
    {"test_days": 5, "calibration_days": 4, "validation_days": 3, "gap_days": 1}
)


def test_windows_are_time_ordered_with_gaps():
    days = pd.Series(pd.bdate_range("2025-01-06", periods=40)).repeat(3)
    labels = assign_windows(days, WINDOWS)
    per_day = pd.DataFrame(
        {"day": days.to_numpy(), "window": labels.to_numpy()}
    ).drop_duplicates()
    order = per_day.dropna()["window"].tolist()
    # newest days are the test window; each window is one block, in time order
    assert order[-5:] == ["test"] * 5
    blocks = [w for i, w in enumerate(order) if i == 0 or order[i - 1] != w]
    assert blocks == ["train", "validation", "calibration", "test"]
    # one gap day between consecutive windows, belonging to none
    assert per_day["window"].isna().sum() == 3
    last_train = per_day.loc[per_day["window"] == "train", "day"].max()
    first_valid = per_day.loc[per_day["window"] == "validation", "day"].min()
    assert (first_valid - last_train).days > 1


def test_too_few_days_is_a_clear_error():
    days = pd.Series(pd.bdate_range("2025-01-06", periods=20))
    with pytest.raises(WindowError, match="need at least"):
        assign_windows(days, WINDOWS)


def test_conformal_intervals_reach_their_coverage_per_phase():
    rng = np.random.default_rng(0)

    def rows(n):
        phase = rng.integers(1, 3, n)
        noise = rng.standard_t(3, n) * np.where(phase == 1, 10, 100)
        # raw quantile models far too narrow, more so in phase 2
        return pd.DataFrame(
            {"actual": noise, "raw_lower": -5.0, "raw_upper": 5.0, "phase": phase}
        )

    calibration = calibrate(rows(4000), 0.9, min_rows=100)
    test = rows(20000)
    lower, upper = conformal_bounds(
        test["raw_lower"].to_numpy(),
        test["raw_upper"].to_numpy(),
        test["phase"],
        calibration,
    )
    inside = (test["actual"] >= lower) & (test["actual"] <= upper)
    for phase in (1, 2):
        coverage = inside[test["phase"] == phase].mean()
        assert 0.88 <= coverage <= 0.92, (phase, coverage)
    assert calibration["by_phase"]["2"]["upper"] > calibration["by_phase"]["1"]["upper"]


def test_pinball_loss():
    actual = np.array([0.0, 10.0])
    assert pinball(actual, np.array([0.0, 0.0]), 0.05) == pytest.approx(0.25)
    assert pinball(actual, np.array([20.0, 20.0]), 0.95) == pytest.approx(
        (0.05 * 20 + 0.05 * 10) / 2
    )


def test_rolling_medians_use_only_each_accounts_past():
    frame = pd.DataFrame(
        {
            "account_id": ["a"] * 4 + ["b"] * 2,
            "cutoff_date": pd.to_datetime(
                [
                    "2025-01-06",
                    "2025-01-07",
                    "2025-01-08",
                    "2025-01-20",
                    "2025-01-06",
                    "2025-01-07",
                ]
            ),
            "pnl_1d": [1.0, 5.0, 3.0, 100.0, -7.0, -1.0],
        }
    ).sample(frac=1, random_state=1)
    medians = rolling_medians(frame, (5,))["baseline_median_5d"]
    expected = {
        ("a", "2025-01-08"): 3.0,
        ("a", "2025-01-20"): 100.0,
        ("b", "2025-01-07"): -4.0,
    }
    for (account, day), value in expected.items():
        row = (frame["account_id"] == account) & (frame["cutoff_date"] == day)
        assert medians[row].item() == value


def test_a_small_phase_is_shrunk_toward_the_pooled_correction():
    rng = np.random.default_rng(4)
    big = pd.DataFrame(
        {
            "actual": rng.normal(0, 100, 5000),
            "raw_lower": -50.0,
            "raw_upper": 50.0,
            "phase": 1,
        }
    )
    # a phase of 60 rows that happens to look calm
    small = big.head(60).assign(actual=rng.normal(0, 10, 60), phase=3)
    frame = pd.concat([big, small], ignore_index=True)
    alone = calibrate(frame, 0.9, min_rows=50)["by_phase"]
    shrunk = calibrate(frame, 0.9, min_rows=50, shrinkage_rows=100)
    pooled = shrunk["pooled"]["upper"]
    own = alone["3"]["upper"]
    assert own < pooled
    assert shrunk["by_phase"]["3"]["upper"] == pytest.approx(
        (60 * own + 100 * pooled) / 160
    )
    # a phase of 5,000 rows keeps nearly all of its own correction
    big_phase = shrunk["by_phase"]["1"]
    assert big_phase["upper"] == pytest.approx(big_phase["own_upper"], rel=0.03)
    # under min_rows, a phase takes the pooled correction
    assert "3" not in calibrate(frame, 0.9, min_rows=61)["by_phase"]


def test_corrections_scale_with_the_raw_width():
    """Small accounts are not over-covered by corrections that large ones set."""
    rng = np.random.default_rng(5)

    def rows(n):
        size = rng.choice([5_000.0, 200_000.0], n)
        # raw bounds far too narrow, in proportion to each account's size
        return pd.DataFrame(
            {
                "actual": rng.normal(0, 0.01, n) * size,
                "raw_lower": -0.005 * size,
                "raw_upper": 0.005 * size,
                "phase": 1,
                "size": size,
            }
        )

    calibration = calibrate(rows(4000), 0.9, min_rows=100)
    test = rows(20000)
    lower, upper = conformal_bounds(
        test["raw_lower"], test["raw_upper"], test["phase"], calibration
    )
    inside = (test["actual"] >= lower) & (test["actual"] <= upper)
    for size, covered in inside.groupby(test["size"]).mean().items():
        assert 0.88 <= covered <= 0.92, (size, covered)


def test_coverage_interval_resamples_accounts_not_rows():
    rng = np.random.default_rng(6)
    # 13 accounts of 8 days each; whether a day is covered depends on the account
    accounts = pd.Series(np.repeat([f"a{i}" for i in range(13)], 8))
    account_rate = pd.Series(rng.uniform(0.6, 1.0, 13), index=accounts.unique())
    inside = pd.Series(rng.random(len(accounts)) < account_rate[accounts].to_numpy())
    low, high, n = coverage_interval(inside, accounts)
    assert n == 13
    assert low < inside.mean() < high
    # wider than the rows-as-independent interval (1.96 binomial standard errors)
    binomial = 1.96 * np.sqrt(inside.mean() * (1 - inside.mean()) / len(inside))
    assert high - low > 2 * binomial


def test_the_point_models_size_is_bounded_by_the_rounds_times_leaves_budget():
    from daily_profit_model.training.tuning import max_rounds  # noqa: PLC0415

    assert max_rounds(255, 60_000) == 235
    assert max_rounds(31, 60_000) == 1935
    assert max_rounds(7, 60_000) == 3000  # the search's own cap
    assert max_rounds(100_000, 60_000) == 1
    for leaves in (7, 31, 63, 127, 255):
        assert max_rounds(leaves, 60_000) * leaves <= 60_000


@pytest.mark.parametrize(
    ("history_days", "since"),
    [(None, None), (183, dt.date(2025, 1, 3)), (1, dt.date(2025, 7, 4))],
)
def test_the_model_input_starts_history_days_before_the_newest_cutoff(
    history_days, since
):
    coverage = {
        "table": "feature_account_day",
        "first": dt.date(2024, 1, 2),
        "last": dt.date(2025, 7, 4),
        "rows": 10,
    }
    training = params(TrainingParams, "training", history_days=history_days)
    export = export_model_input(coverage, coverage, training)
    assert export == ModelInputExport(since=since)


def test_the_matrix_is_float32_so_both_tiers_give_the_same_numbers():
    """A feature read back from PostgreSQL's ``real`` (its shortest decimal, parsed as
    a double) and from parquet (the float32 widened) is one float32 in the matrix."""
    stored = np.float32(12345.67)
    frame = pd.DataFrame(
        {"from_postgres": [float("12345.67")], "from_parquet": [float(stored)]}
    )
    matrix = feature_matrix(frame, ["from_postgres", "from_parquet"])
    assert (matrix.dtypes == "float32").all()
    assert matrix["from_postgres"].iloc[0] == matrix["from_parquet"].iloc[0] == stored
    assert float("12345.67") != float(stored)


def test_the_matrix_takes_every_kind_of_missing_value_as_nan():
    """Nullable integers and floats (pd.NA), booleans, object columns with None, and
    plain floats: one float32 matrix, NaN where a value is missing."""
    frame = pd.DataFrame(
        {
            "nullable_int": pd.array([1, None, 3], dtype="Int64"),
            "nullable_float": pd.array([1.5, None, 2.0], dtype="Float32"),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "objects": pd.Series([2.5, None, "4"], dtype=object),
            "plain": [1.0, np.nan, 2.0],
            "phase": ["challenge_1", "funded", None],
        }
    )
    matrix = prepare_matrix(frame, list(frame.columns), ["phase"])
    numeric = matrix.drop(columns="phase")
    assert (numeric.dtypes == "float32").all()
    expected = np.array(
        [[1, 1.5, 1, 2.5, 1], [np.nan] * 5, [3, 2, 0, 4, 2]], dtype="float32"
    )
    np.testing.assert_array_equal(numeric.to_numpy(), expected)
    assert matrix["phase"].dtype == "category" and matrix["phase"].isna().sum() == 1


def _spread_world(
    accounts: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Accounts of sizes 1-10 that trade 60% of days: |netProfit| grows with size."""
    rng = np.random.default_rng(seed)
    days = 30
    size = np.repeat(rng.uniform(1, 10, accounts), days)
    active = rng.random(len(size)) < 0.6
    target = np.where(active, 100 * size * rng.standard_t(5, len(size)), 0.0)
    matrix = pd.DataFrame(
        {"size": size, "noise": rng.normal(size=len(size))}, dtype="float32"
    )
    account = np.repeat(np.arange(accounts) + seed * accounts, days).astype(str)
    return matrix, target, account


def test_the_spread_is_each_rows_expected_move_learnt_without_its_account():
    from daily_profit_model.params import SpreadModelParams  # noqa: PLC0415
    from daily_profit_model.training.models import fit_spread  # noqa: PLC0415

    settings = params(TrainingParams, "training").quantile_model.spread
    assert isinstance(settings, SpreadModelParams)
    matrix, target, account = _spread_world(200, 0)
    v_matrix, v_target, _ = _spread_world(60, 1)
    ones = pd.Series(np.ones(len(target)))
    fit = fit_spread(
        (matrix, pd.Series(target), ones),
        (v_matrix, pd.Series(v_target), pd.Series(np.ones(len(v_target)))),
        account,
        settings,
        seed=3,
        num_threads=1,
    )
    # E|netProfit| = 0.6 active days x 100 x size x E|t5| (0.949)
    expected = 0.6 * 100 * matrix["size"].to_numpy() * 0.949
    assert np.median(fit.train_spread / expected) == pytest.approx(1, abs=0.2)
    assert np.corrcoef(fit.train_spread, expected)[0, 1] > 0.9
    assert fit.train_spread.min() >= fit.floor > 0
    # out of fold: not the full model's own fit of these rows
    in_sample = fit.booster.predict(matrix, num_iteration=fit.booster.best_iteration)
    assert not np.allclose(fit.train_spread, np.maximum(in_sample, fit.floor))


def test_row_sampling_bounds_the_rows_each_tree_sees():
    from daily_profit_model.training.models import row_sampling  # noqa: PLC0415

    assert row_sampling(4_000_000, 1_000_000) == {
        "bagging_fraction": 0.25,
        "bagging_freq": 1,
    }
    assert row_sampling(1_000_000, 1_000_000) == {}  # all fit: the model is unchanged
    assert row_sampling(4_000_000, None) == {}


def test_a_spread_fitted_on_sampled_rows_still_learns_the_expected_move():
    from daily_profit_model.training.models import (  # noqa: PLC0415
        fit_spread,
        row_sampling,
    )

    settings = params(TrainingParams, "training").quantile_model.spread
    matrix, target, account = _spread_world(200, 0)
    v_matrix, v_target, _ = _spread_world(60, 1)
    train = (matrix, pd.Series(target), pd.Series(np.ones(len(target))))
    valid = (v_matrix, pd.Series(v_target), pd.Series(np.ones(len(v_target))))
    fits = [
        fit_spread(
            train, valid, account, settings, seed=3, num_threads=1, sampling=sampling
        )
        for sampling in (None, row_sampling(len(target), len(target) // 5))
    ]
    expected = 0.6 * 100 * matrix["size"].to_numpy() * 0.949
    for fit in fits:
        assert np.median(fit.train_spread / expected) == pytest.approx(1, abs=0.2)
        assert np.corrcoef(fit.train_spread, expected)[0, 1] > 0.9
    # the sample reached LightGBM: trees fitted on a fifth of the rows differ
    assert not np.allclose(fits[0].train_spread, fits[1].train_spread)


def test_a_forecaster_with_a_spread_loads_from_its_artifacts_as_it_was_fitted(
    tmp_path,
):
    import lightgbm as lgb  # noqa: PLC0415

    from daily_profit_model.training.pyfunc_model import (  # noqa: PLC0415
        DailyPnlForecaster,
    )

    matrix, target, _ = _spread_world(50, 2)
    data = lgb.Dataset(matrix, label=target)
    quick = {"verbosity": -1, "num_threads": 1, "num_leaves": 4}
    boosters = {
        "point": lgb.train({**quick, "objective": "l1"}, data, 10),
        "lower": lgb.train({**quick, "objective": "quantile", "alpha": 0.05}, data, 10),
        "upper": lgb.train({**quick, "objective": "quantile", "alpha": 0.95}, data, 10),
        "spread": lgb.train(
            {**quick, "objective": "tweedie"},
            lgb.Dataset(matrix, label=np.abs(target)),
            10,
        ),
    }
    spec = {
        "features": ["size", "noise"],
        "categorical": [],
        "scale": None,
        "spread_floor": 5.0,
        "calibration": {"pooled": {"lower": 0.0, "upper": 0.0}, "by_phase": {}},
    }
    fitted = DailyPnlForecaster.from_parts(
        boosters["point"],
        boosters["lower"],
        boosters["upper"],
        spec,
        boosters["spread"],
    )
    artifacts = {}
    for name, booster in boosters.items():
        artifacts[name] = str(tmp_path / f"{name}.txt")
        booster.save_model(artifacts[name])
    artifacts["spec"] = str(tmp_path / "spec.json")
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    loaded = DailyPnlForecaster()
    loaded.load_context(type("Context", (), {"artifacts": artifacts})())
    ones = np.ones(len(matrix))
    for a, b in zip(
        fitted.raw_bounds(matrix, ones), loaded.raw_bounds(matrix, ones), strict=True
    ):
        np.testing.assert_allclose(a, b)
    spread = np.maximum(boosters["spread"].predict(matrix), 5.0)
    np.testing.assert_allclose(
        fitted.raw_bounds(matrix, ones)[1], spread * boosters["upper"].predict(matrix)
    )


def test_the_tuning_sample_keeps_whole_accounts_and_the_same_ones_each_run():
    days = pd.date_range("2025-01-06", periods=50)
    rows = pd.DataFrame(
        {
            "account_id": np.repeat([f"acc-{i}" for i in range(400)], len(days)),
            "cutoff_date": np.tile(days, 400),
        }
    )
    # the training window: the first 40 days of every account
    among = (rows["cutoff_date"] < days[40]).to_numpy()
    sample = rows[accounts_sample(rows, 4_000, among)]
    assert 2_800 <= len(sample) <= 5_200  # about a quarter of the 16,000 rows
    assert (sample["cutoff_date"] < days[40]).all()
    assert (sample.groupby("account_id").size() == 40).all()
    shuffled = rows.sample(frac=1, random_state=1)
    again = shuffled[accounts_sample(shuffled, 4_000, among[shuffled.index])]
    assert sample.equals(again.sort_index())
    assert accounts_sample(rows, 16_000, among) is among
    assert accounts_sample(rows, None, among) is among


def _point_and_bounds(matrix: pd.DataFrame, target) -> list:
    """Small point, 5% and 95% boosters on ``matrix`` (a forecaster's three)."""
    import lightgbm as lgb  # noqa: PLC0415

    data = lgb.Dataset(matrix, label=target)
    quick = {"verbosity": -1, "num_threads": 1, "num_leaves": 4}
    return [
        lgb.train({**quick, "objective": "l1"}, data, 10),
        lgb.train({**quick, "objective": "quantile", "alpha": 0.05}, data, 10),
        lgb.train({**quick, "objective": "quantile", "alpha": 0.95}, data, 10),
    ]


def test_the_offset_is_added_to_the_forecast_the_bounds_and_its_reason():
    from daily_profit_model.training.pyfunc_model import (  # noqa: PLC0415
        DailyPnlForecaster,
    )

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "unrealised_pnl": np.where(
                rng.random(400) < 0.3, rng.normal(0, 500, 400), np.nan
            ),
            "size": rng.uniform(1, 10, 400),
            "phase": 1,
        }
    )
    residual = rng.normal(0, 1, 400) * frame["size"]
    boosters = _point_and_bounds(frame[["unrealised_pnl", "size"]], residual)
    spec = {
        "features": ["unrealised_pnl", "size"],
        "categorical": [],
        "scale": None,
        "calibration": {"pooled": {"lower": 0.0, "upper": 0.0}, "by_phase": {}},
    }
    plain = DailyPnlForecaster.from_parts(*boosters, spec)
    shifted = DailyPnlForecaster.from_parts(
        *boosters, {**spec, "offset": "unrealised_pnl"}
    )
    a = plain.predict(None, frame, params={"reasons": 2})
    b = shifted.predict(None, frame, params={"reasons": 2})
    offset = frame["unrealised_pnl"].fillna(0.0)
    for column in ("forecast", "lower_90", "upper_90"):
        np.testing.assert_allclose(b[column], a[column] + offset)
    # contributions still add up to the forecast less the model's average
    contributions = boosters[0].predict(frame[spec["features"]], pred_contrib=True)
    big = offset.abs().idxmax()
    assert b.loc[big, "reason_1"] == "unrealised_pnl"
    assert b.loc[big, "reason_1_usd"] == pytest.approx(
        offset[big] + contributions[big, 0]
    )


def _floor_frame(n: int, seed: int) -> pd.DataFrame:
    """Accounts with a daily-loss and a drawdown floor, some near them."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "starting_balance": 10_000.0,
            "open_pnl": np.where(rng.random(n) < 0.3, rng.normal(0, 100, n), 0.0),
            "distance_to_daily_loss_floor": np.where(
                rng.random(n) < 0.2, np.nan, rng.uniform(20, 500, n)
            ),
            "distance_to_drawdown_floor": rng.uniform(50, 800, n),
            "size": rng.uniform(1, 10, n),
            "phase": 1,
        }
    )


def test_the_slippage_past_the_floor_is_learnt_from_the_breached_days():
    from daily_profit_model.training.pyfunc_model import (  # noqa: PLC0415
        breach_floor,
        breach_slippage_share,
    )

    frame = _floor_frame(2000, 4)
    floor = breach_floor(frame, 0.0)
    room = np.fmin(
        frame["distance_to_daily_loss_floor"], frame["distance_to_drawdown_floor"]
    )
    # an unrealised gain may stay open (not realised tomorrow): a loss is realised
    np.testing.assert_allclose(floor, np.minimum(frame["open_pnl"], 0) - room)
    # a tenth of the days breach, ending up to 0.2% of the balance past the floor
    rng = np.random.default_rng(5)
    breached = rng.random(len(frame)) < 0.1
    past = rng.uniform(0, 0.002, len(frame)) * 10_000
    actual = np.where(breached, floor - past, floor + rng.uniform(1, 900, len(frame)))
    share = breach_slippage_share(frame, actual, 0.99)
    assert 0.0019 < share <= 0.002
    assert breach_slippage_share(frame, floor + 1.0, 0.99) == 0.0
    with_slippage = breach_floor(frame, share)
    np.testing.assert_allclose(with_slippage, floor - share * 10_000)
    assert breach_floor(frame, None) is None


def test_nothing_is_forecast_below_the_breach_floor_and_the_reasons_still_add_up():
    from daily_profit_model.training.pyfunc_model import (  # noqa: PLC0415
        DailyPnlForecaster,
        breach_floor,
    )

    frame = _floor_frame(400, 6)
    features = [
        "open_pnl",
        "distance_to_daily_loss_floor",
        "distance_to_drawdown_floor",
        "size",
    ]
    # losses as large as the rooms: many unfloored bounds fall below the floor
    target = np.random.default_rng(7).normal(-50, 200, len(frame)) * frame["size"] / 5
    boosters = _point_and_bounds(frame[features], target)
    spec = {
        "features": features,
        "categorical": [],
        "scale": None,
        "calibration": {
            "pooled": {"lower": 0.1, "upper": 0.1},
            "by_phase": {},
            "score": "width",
        },
    }
    plain = DailyPnlForecaster.from_parts(*boosters, spec).predict(
        None, frame, params={"reasons": 4}
    )
    floored = DailyPnlForecaster.from_parts(
        *boosters, {**spec, "breach_slippage_share": 0.002}
    ).predict(None, frame, params={"reasons": 4})
    floor = breach_floor(frame, 0.002)
    assert (plain["lower_90"] < floor).mean() > 0.2  # the rule has work to do
    # rows whose raw bounds are above the floor keep their interval (its conformal
    # unit is the raw width, which the floor narrows where it holds a raw bound)
    raw_lower, _ = DailyPnlForecaster.from_parts(*boosters, spec).raw_bounds(
        frame[features], np.ones(len(frame))
    )
    untouched = raw_lower >= floor
    assert untouched.sum() > 20
    for column in ("forecast", "lower_90", "upper_90"):
        assert (floored[column] >= floor - 1e-9).all(), column
        held = untouched & (plain[column] >= floor)
        np.testing.assert_allclose(floored.loc[held, column], plain.loc[held, column])
    assert (floored["forecast"] > plain["forecast"]).any()
    # the lift is the nearer floor's reason; every reason adds up to the forecast
    reasons = floored.filter(regex=r"^reason_\d_usd$").sum(axis=1)
    base = plain["forecast"] - plain.filter(regex=r"^reason_\d_usd$").sum(axis=1)
    np.testing.assert_allclose(reasons + base, floored["forecast"], atol=1e-6)


def test_rows_the_floor_narrows_do_not_set_every_accounts_mean():
    """The conformal scores and the mean's calibration offset are in units of each
    row's raw interval before the breach floor: a row the floor narrows to a dollar,
    its actual hundreds above, weighs as any other (in the floored interval's units its
    upper score was hundreds of widths, and so, over a tenth of the rows, was every
    row's correction)."""
    from daily_profit_model.training.pyfunc_model import (  # noqa: PLC0415
        mean_forecast,
        raw_width,
    )

    rng = np.random.default_rng(8)
    n = 3000
    raw_lower = rng.uniform(-900, -100, n)
    raw_upper = rng.uniform(100, 900, n)
    actual = rng.normal(0, 250, n)
    # a tenth at a floor above both raw bounds: their interval is one dollar wide
    floor = np.where(rng.random(n) < 0.1, raw_upper + 2000, np.nan)
    actual = np.where(np.isnan(floor), actual, floor + rng.uniform(0, 400, n))
    frame = pd.DataFrame(
        {
            "actual": actual,
            "raw_lower": raw_lower,
            "raw_upper": raw_upper,
            "forecast": np.fmax(np.zeros(n), floor),
            "phase": 1,
            "unit": raw_width(raw_lower, raw_upper),
            "floor": floor,
        }
    )
    calibration = calibrate(frame, 0.9, min_rows=30, shrinkage_rows=0)
    assert abs(calibration["mean_offset"]["pooled"]) < 0.05  # noqa: PLR2004
    assert calibration["pooled"]["upper"] < 1
    lower, upper = conformal_bounds(
        frame["raw_lower"], frame["raw_upper"], frame["phase"], calibration, floor
    )
    mean = mean_forecast(
        lower, frame["forecast"], upper, frame["phase"], calibration, frame["unit"]
    )
    # the sum of means is within 2% of the actual total's spread over the rows
    assert abs(mean.sum() - actual.sum()) < 0.02 * np.abs(actual).sum()  # noqa: PLR2004

"""Diebold–Mariano, the books' distributions and backtests, account means, drift
measures and traffic splitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from daily_profit_model.ops import PromotionRefusedError, decide_promotion
from daily_profit_model.params import FirmParams, ScoringParams
from daily_profit_model.pipelines.scoring.nodes import _served_by_challenger
from daily_profit_model.scoring.backtest import (
    christoffersen_p_value,
    kupiec_p_value,
    traffic_light,
)
from daily_profit_model.scoring.drift import drift_table, psi
from daily_profit_model.scoring.evaluation import diebold_mariano
from daily_profit_model.scoring.firm import (
    NoErrorHistoryError,
    book_days,
    book_forecast,
    closed_form_book_sums,
    drawn_book_sums,
    implied_correlation,
    payout_liability,
    tail_contributions,
)
from daily_profit_model.training.conformal import calibrate
from daily_profit_model.training.pyfunc_model import conformal_bounds, mean_forecast
from tests.params import params

THRESHOLDS = {"psi_warn": 0.1, "psi_severe": 0.25, "ks_warn": 0.1, "ks_pvalue": 0.01}


def test_diebold_mariano_matches_the_t_statistic_of_daily_differences():
    rng = np.random.default_rng(1)
    better = rng.normal(5.0, 10.0, 40)  # champion loses 5 more per day, noisy
    statistic, p_value = diebold_mariano(better)
    manual = better.mean() / np.sqrt(better.var() / 40) * np.sqrt((40 + 1 - 2) / 40)
    assert statistic == pytest.approx(manual)
    assert p_value < 0.05
    _, p_none = diebold_mariano(rng.normal(0.0, 10.0, 40))
    assert p_none > 0.05
    assert np.isnan(diebold_mariano(np.array([1.0, 2.0]))[0])


def _book_history(actual: np.ndarray, lower: float, upper: float) -> pd.DataFrame:
    """Account rows of ``actual`` (days x accounts) with a constant forecast."""
    days, accounts = actual.shape
    cutoffs = pd.bdate_range("2025-01-01", periods=days + 1)
    return pd.DataFrame(
        {
            "cutoff_date": np.repeat(cutoffs[:-1], accounts),
            "target_date": np.repeat(cutoffs[1:], accounts),
            "phase": 4,
            "actual": actual.ravel(),
            "forecast": 0.0,
            "mean": 0.0,
            "lower_90": lower,
            "upper_90": upper,
        }
    )


def _today(accounts: int, lower: float, upper: float) -> pd.Series:
    rows = _book_history(np.full((1, accounts), np.nan), lower, upper)
    return book_days(rows).loc["firm"].iloc[0]


def _firm(method: str) -> FirmParams:
    """The project's ``scoring.firm`` parameters with another method."""
    return params(ScoringParams, "scoring").firm.model_copy(update={"method": method})


def test_fhs_and_the_copula_are_as_wide_as_the_common_factor_makes_the_total():
    rng = np.random.default_rng(2)
    days, accounts = 120, 200
    market = rng.normal(0, 1, days)[:, None]
    actual = 50 * market + rng.normal(0, 50, (days, accounts))  # a common factor
    history = book_days(_book_history(actual, -115.0, 115.0)).loc["firm"]
    today = _today(accounts, -115.0, 115.0)
    fhs = book_forecast(history, today, _firm("fhs"))
    accounts = _book_history(np.full((1, accounts), np.nan), -115.0, 115.0)
    copula = book_forecast(history, today, _firm("copula"), accounts)
    independent = book_forecast(history, today, _firm("independent"))
    correlated = fhs["q95"] - fhs["q05"]
    # the true 90% width of the total is 2 * 1.645 * 50 * accounts (the factor dominates)
    assert correlated > 5 * (independent["q95"] - independent["q05"])
    assert correlated == pytest.approx(2 * 1.645 * 50 * len(accounts), rel=0.3)
    assert copula["q95"] - copula["q05"] == pytest.approx(correlated, rel=0.15)
    rho = implied_correlation(
        fhs["residual_sd"], today["scale_sum"], today["scale_quad"]
    )
    # each account: variance 50^2 + 50^2, of which 50^2 common: correlation 0.5
    assert rho == pytest.approx(0.5, abs=0.15)
    with pytest.raises(NoErrorHistoryError):
        book_forecast(history.iloc[:0], today, _firm("fhs"))


def test_fhs_widens_within_days_of_the_market_turning_violent():
    rng = np.random.default_rng(5)
    calm, violent, accounts = 100, 15, 100
    sd = np.r_[np.full(calm, 10.0), np.full(violent, 40.0)][:, None]
    actual = sd * rng.normal(0, 1, (calm + violent, 1)) + rng.normal(
        0, 5, (1, accounts)
    )
    days = book_days(_book_history(actual, -20.0, 20.0)).loc["firm"]
    today = _today(accounts, -20.0, 20.0)
    before = book_forecast(days.iloc[:calm], today, _firm("fhs"))
    after = book_forecast(days, today, _firm("fhs"))
    assert (after["q95"] - after["q05"]) > 2 * (before["q95"] - before["q05"])
    # the true width is 2 x 1.645 x 40 x accounts; the EWMA has not caught all of it
    assert (after["q95"] - after["q05"]) < 2 * 1.645 * 40 * accounts


def test_one_outlier_day_does_not_hold_the_band_wide_for_weeks():
    """A book's residuals are heavy-tailed: one day ten times the usual size (one
    funded account's big day) widens tomorrow's band, but ten calm days later the band
    is within 35% of its calm width (a variance EWMA: 1.9 times)."""
    rng = np.random.default_rng(7)
    calm, after, accounts = 100, 10, 100
    factor = rng.normal(0, 1, calm + 1 + after)
    factor[calm] = 10.0
    actual = 10 * factor[:, None] + rng.normal(0, 5, (len(factor), accounts))
    days = book_days(_book_history(actual, -20.0, 20.0)).loc["firm"]
    today = _today(accounts, -20.0, 20.0)
    rows = _book_history(np.full((1, accounts), np.nan), -20.0, 20.0)

    def width(history: pd.DataFrame) -> float:
        band = book_forecast(history, today, _firm("copula"), rows)
        return band["q95"] - band["q05"]

    before = width(days.iloc[:calm])
    assert width(days.iloc[: calm + 1]) > 1.1 * before
    assert width(days) < 1.35 * before


def test_the_mean_of_a_skewed_account_is_unbiased_after_calibration():
    """Most accounts lose a little, a few win a lot: medians sum far from the mean,
    and so does the three-point rule; the calibration's offset makes the sum right."""
    rng = np.random.default_rng(3)
    n = 20000

    def pnl(size):
        # 90% of account-days lose 100, 10% win 500: median -100, mean -40
        return np.where(rng.random(size) < 0.9, -100.0, 500.0)

    scores = pd.DataFrame(
        {
            "actual": pnl(n),
            "raw_lower": -100.0,
            "raw_upper": 500.0,
            "forecast": -100.0,  # the median, which an L1 model forecasts
            "phase": rng.choice([1, 4], n),
        }
    )
    calibration = calibrate(scores, 0.9, 30, 100)
    lower, upper = conformal_bounds(
        np.full(300, -100.0), np.full(300, 500.0), pd.Series([1] * 300), calibration
    )
    three_point = mean_forecast(
        lower, np.full(300, -100.0), upper, pd.Series([1] * 300), {}
    )
    mean = mean_forecast(
        lower, np.full(300, -100.0), upper, pd.Series([1] * 300), calibration
    )
    assert three_point.mean() > 0  # the rule alone: +11
    assert mean.sum() == pytest.approx(-40.0 * 300, rel=0.05)


def test_tail_contributions_add_up_to_the_books_95_quantile():
    accounts = pd.DataFrame(
        {
            "mean": [10.0, -5.0, 0.0, 30.0],
            "forecast": 0.0,
            "lower_90": [-100.0, -50.0, -10.0, -300.0],
            "upper_90": [100.0, 50.0, 10.0, 300.0],
        }
    )
    forecast = {"q95": 900.0}
    share = tail_contributions(accounts, forecast, rho=0.4)
    assert share.sum() == pytest.approx(900.0)
    assert share.idxmax() == 3  # the largest scale carries most of the tail


def test_payout_liability_is_the_share_of_a_sure_profit():
    funded = pd.DataFrame(
        {
            "balance": [110_000.0, 95_000.0],
            "starting_balance": 100_000.0,
            "days_to_next_payout": [7, 7],  # five trading days
            "profit_share_pct": 80.0,
            "mean": [100.0, 0.0],
            "forecast": 0.0,
            "lower_90": [99.0, -1.0],
            "upper_90": [101.0, 1.0],
        }
    )
    figures = payout_liability(funded, rho=0.3)
    # 0.8 x (10,000 + 5 x 100); the account below its start is owed nothing
    assert figures["payout_liability"] == pytest.approx(8400.0, rel=0.001)
    assert (
        figures["payout_liability_lower_90"]
        <= 8400.0
        <= figures["payout_liability_upper_90"]
    )


def test_backtest_statistics_match_basel_and_catch_clusters():
    # Basel's table for a 1% VaR over 250 days: green 0-4, yellow 5-9, red 10+
    assert [traffic_light(x, 250, 0.01) for x in (4, 5, 9, 10)] == [
        "green",
        "yellow",
        "yellow",
        "red",
    ]
    right = np.zeros(250, dtype=bool)
    right[::20] = True  # 13 of 250 at 5%, evenly spread
    assert kupiec_p_value(right, 0.05) > 0.5
    assert christoffersen_p_value(right) > 0.05
    too_many = np.zeros(250, dtype=bool)
    too_many[::8] = True
    assert kupiec_p_value(too_many, 0.05) < 0.01
    clustered = np.zeros(250, dtype=bool)
    clustered[100:113] = True  # the right count, all in one stretch
    assert kupiec_p_value(clustered, 0.05) > 0.5
    assert christoffersen_p_value(clustered) < 0.001


def test_psi_and_drift_severity():
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {"x": rng.normal(0, 1, 5000), "day_level": rng.normal(0, 1, 5000)}
    )
    same = pd.DataFrame({"x": rng.normal(0, 1, 3000), "day_level": 0.1})
    shifted = pd.DataFrame({"x": rng.normal(1.0, 1, 3000), "day_level": 9.0})
    assert psi(reference["x"], same["x"]) < 0.02
    assert psi(reference["x"], shifted["x"]) > 0.25
    calm = drift_table(reference, same, ["x", "day_level"], THRESHOLDS).set_index(
        "feature"
    )
    moved = drift_table(reference, shifted, ["x", "day_level"], THRESHOLDS).set_index(
        "feature"
    )
    assert calm["severity"].tolist() == ["ok", "ok"]
    assert moved.loc["x", "severity"] == "severe"
    # one value for every account (a market field): judged by range, not by PSI
    assert moved.loc["day_level", "severity"] == "warn" and np.isnan(
        moved.loc["day_level", "psi"]
    )


def test_a_feature_that_became_null_everywhere_is_severe_drift():
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"rule": rng.choice([8.0, 10.0], 4000)})
    gone = pd.DataFrame({"rule": [np.nan] * 300})
    table = drift_table(reference, gone, ["rule"], THRESHOLDS).set_index("feature")
    assert table.loc["rule", "severity"] == "severe"
    assert table.loc["rule", "psi"] > THRESHOLDS["psi_severe"]


def test_traffic_split_is_stable_per_account_and_close_to_the_share():
    accounts = pd.Series([f"ACC{i:08d}" for i in range(20000)])
    first = _served_by_challenger(accounts, 0.2)
    assert first.mean() == pytest.approx(0.2, abs=0.01)
    assert (first == _served_by_challenger(accounts, 0.2)).all()
    assert not _served_by_challenger(accounts, 0.0).any()


def test_a_promotion_is_decided_before_anything_moves():
    evidence = {"challenger_better": True, "p_value": 0.01, "days": 20}
    decision = decide_promotion("daily_pnl", 1, 2, [1, 2], evidence, False, None, 0.05)
    assert (decision.from_version, decision.to_version, decision.forced) == (
        1,
        2,
        False,
    )
    assert decision.reason == "Diebold–Mariano p = 0.0100 over 20 days"
    weak = {**evidence, "p_value": 0.2}
    with pytest.raises(PromotionRefusedError, match="not significantly better"):
        decide_promotion("daily_pnl", 1, 2, [1, 2], weak, False, None, 0.05)
    forced = decide_promotion("daily_pnl", 1, 2, [1, 2], weak, True, "desk asked", 0.05)
    assert forced.forced and forced.reason == "desk asked"
    with pytest.raises(ValueError, match="already the champion"):
        decide_promotion("daily_pnl", 2, 2, [1, 2], evidence, False, None, 0.05)
    with pytest.raises(ValueError, match="no version 3"):
        decide_promotion("daily_pnl", 1, 3, [1, 2], evidence, False, None, 0.05)


@pytest.mark.parametrize("rho", [0.02, 0.3])
def test_a_large_book_sums_in_closed_form_what_drawing_every_account_gives(rho):
    rng = np.random.default_rng(3)
    n = 20_000
    low = rng.lognormal(3.0, 1.0, n)  # skewed accounts: a downside unlike the upside
    high = low * rng.uniform(0.3, 2.5, n)
    drawn = drawn_book_sums(low, high, rho, 4000, np.random.default_rng(1))
    closed = closed_form_book_sums(low, high, rho, 40_000, np.random.default_rng(2))
    spread = drawn.std()
    for q in (0.05, 0.5, 0.95):
        gap = abs(np.quantile(drawn, q) - np.quantile(closed, q)) / spread
        assert gap < 0.08, (q, gap)
    # at rho 0.02 most of the spread is the accounts' own variance: a formula that
    # lost it would give a band less than half as wide
    assert closed.std() == pytest.approx(spread, rel=0.05)

"""Diebold–Mariano, the firm-level interval, drift measures and traffic splitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from daily_profit_model.pipelines.scoring.nodes import _served_by_challenger
from daily_profit_model.scoring.drift import drift_table, psi
from daily_profit_model.scoring.evaluation import diebold_mariano
from daily_profit_model.scoring.firm import (
    NoErrorHistoryError,
    daily_total_errors,
    firm_interval,
)

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


def test_firm_interval_is_wider_than_independence_when_accounts_move_together():
    rng = np.random.default_rng(2)
    days, accounts = 60, 200
    market = rng.normal(0, 1, days)[:, None]
    actual = 50 * market + rng.normal(0, 50, (days, accounts))  # a common factor
    history = pd.DataFrame(
        {
            "cutoff_date": np.repeat(np.arange(days), accounts),
            "actual": actual.ravel(),
            "forecast": 0.0,
            "lower_90": -115.0,
            "upper_90": 115.0,
        }
    )
    today = pd.DataFrame(
        {"forecast": np.zeros(accounts), "lower_90": -115.0, "upper_90": 115.0}
    )
    firm = firm_interval(today, daily_total_errors(history))
    correlated = firm["upper_90"] - firm["lower_90"]
    independent = firm["independent_upper_90"] - firm["independent_lower_90"]
    # the true 90% width of the total is 2 * 1.645 * 50 * accounts (the factor dominates)
    assert correlated > 5 * independent
    assert correlated == pytest.approx(2 * 1.645 * 50 * accounts, rel=0.35)
    with pytest.raises(NoErrorHistoryError):
        firm_interval(today, pd.Series(dtype=float))


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


def test_firm_expected_total_corrects_a_sum_of_medians():
    """Most accounts lose a little, a few win a lot: medians sum far from the mean."""
    rng = np.random.default_rng(3)
    days, accounts = 80, 300

    def pnl(n):
        # 90% of account-days lose 100, 10% win 500: median -100, mean -40
        return np.where(rng.random(n) < 0.9, -100.0, 500.0)

    history = pd.DataFrame(
        {
            "cutoff_date": np.repeat(np.arange(days), accounts),
            "actual": pnl(days * accounts),
            "forecast": -100.0,  # the median, which an L1 model forecasts
            "lower_90": -100.0,
            "upper_90": 500.0,
        }
    )
    today = pd.DataFrame(
        {"forecast": np.full(accounts, -100.0), "lower_90": -100.0, "upper_90": 500.0}
    )
    firm = firm_interval(today, daily_total_errors(history))
    assert firm["forecast_total"] == -100.0 * accounts
    assert firm["expected_total"] == pytest.approx(-40.0 * accounts, rel=0.05)
    actual_totals = [pnl(accounts).sum() for _ in range(200)]
    inside = np.mean([firm["lower_90"] <= t <= firm["upper_90"] for t in actual_totals])
    assert 0.8 <= inside <= 0.98

"""Invariants of a generated world: money reconciles, rules hold, same seed same world."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from daily_profit_model.sandbox import server
from daily_profit_model.sandbox.plans import load_plan_book
from daily_profit_model.sandbox.world import (
    STATUS_BREACHED,
    STATUS_PASSED,
    WorldBuilder,
)
from tests.conftest import SMALL_WORLD

LOGIN_KEY = ["login", "platform", "broker"]


def _with_account(trades: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    return trades.merge(accounts[[*LOGIN_KEY, "account_id"]], on=LOGIN_KEY, how="left")


def test_daily_net_profit_is_the_sum_of_the_days_trades(tables):
    trades = _with_account(tables["trades_closed"], tables["accounts"])
    assert trades["account_id"].notna().all()  # every trade reaches its account
    trades["net"] = trades[["profit", "commission", "swap", "fee"]].sum(axis=1)
    by_day = (
        trades.groupby(["account_id", "trade_date"])["net"].sum().rename("from_trades")
    )
    by_day.index.names = ["account_id", "date"]
    daily = tables["metrics_daily"].set_index(["account_id", "date"])
    joined = daily.join(by_day, how="left").fillna({"from_trades": 0.0})
    np.testing.assert_allclose(joined["net_profit"], joined["from_trades"], atol=0.01)


def test_balances_follow_profit_and_payouts(tables):
    daily = tables["metrics_daily"]
    expected = (
        daily["prior_days_balance"] + daily["net_profit"] - daily["todays_payouts"]
    )
    np.testing.assert_allclose(daily["current_balance"], expected, atol=0.01)
    chain = daily.sort_values(["account_id", "date"])
    carried = chain.groupby("account_id")["current_balance"].shift(1)
    has_prev = carried.notna()
    np.testing.assert_allclose(
        chain.loc[has_prev, "prior_days_balance"], carried[has_prev], atol=0.01
    )


def test_a_breached_account_never_trades_again(tables):
    daily = tables["metrics_daily"]
    ended = daily[daily["status"].isin([STATUS_BREACHED, STATUS_PASSED])]
    assert ended["account_id"].is_unique
    trades = _with_account(tables["trades_closed"], tables["accounts"])
    last_trade = trades.groupby("account_id")["trade_date"].max().rename("last_trade")
    end_day = ended.set_index("account_id")["date"].rename("end_day")
    both = pd.concat([last_trade, end_day], axis=1, join="inner")
    assert (both["last_trade"] <= both["end_day"]).all()
    assert len(ended) > 20  # the world does breach and pass accounts


def test_breaches_stop_at_the_loss_floor(tables):
    """A breach ends the day at the floor the plan sets, less at most the slippage."""
    rules = load_plan_book().rules
    daily = tables["metrics_daily"]
    breached = daily[(daily["status"] == STATUS_BREACHED) & (daily["num_trades"] > 0)]
    plan = rules.loc[breached["plan_id"]].set_index(breached.index)
    assert plan["drawdown_static"].all()  # the sample's plans: floors known from rows
    base = np.where(
        plan["daily_by_equity"],
        np.maximum(breached["prior_days_balance"], breached["prior_days_equity"]),
        breached["prior_days_balance"],
    )
    daily_floor = np.where(
        plan["daily_loss_pct"] > 0, base * (1 - plan["daily_loss_pct"] / 100), -np.inf
    )
    dd_floor = breached["starting_balance"] * (1 - plan["max_drawdown_pct"] / 100)
    floor = np.maximum(daily_floor, dd_floor)
    slippage = 0.002 * breached["starting_balance"]
    balance = breached["current_balance"]
    assert len(breached) > 10
    assert (balance <= floor + 0.05).all()
    assert (balance >= floor - slippage - 0.05).all()


def test_phases_progress_along_the_plan_chain(small_world, tables):
    rules = load_plan_book().rules
    accounts = tables["accounts"]
    truth = small_world.truth("accounts")
    merged = accounts.merge(truth[["account_id", "trader_index"]], on="account_id")
    merged = merged.sort_values(["trader_index", "created_date", "account_id"])
    for _, group in merged.groupby("trader_index"):
        previous = None
        for row in group.itertuples():
            if row.phase > 1:
                assert previous is not None and previous.status == STATUS_PASSED
                assert rules.loc[previous.plan_id, "upgrade_plan_id"] == row.plan_id
            previous = row
    assert (merged["phase"] > 1).any()


def test_positions_are_reused_across_brokers_but_keys_are_unique(tables):
    trades = tables["trades_closed"]
    key = ["login", "platform", "broker", "position", "trade_date"]
    assert not trades.duplicated(key).any()
    assert trades["position"].duplicated().any()  # two brokers share position numbers


def test_same_seed_same_world(tmp_path):
    config = SMALL_WORLD.__class__(
        **{**SMALL_WORLD.__dict__, "n_days": 8, "oracle_scenarios": 20}
    )

    def digest(folder):
        WorldBuilder(config).build(folder)
        frame = pd.read_parquet(folder / "trades_closed")
        return hashlib.sha256(
            pd.util.hash_pandas_object(frame, index=False).values
        ).hexdigest()

    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    other = config.model_copy(update={"seed": config.seed + 1})
    WorldBuilder(other).build(tmp_path / "c")
    assert not pd.read_parquet(tmp_path / "c" / "trades_closed").equals(
        pd.read_parquet(tmp_path / "a" / "trades_closed")
    )


def test_oracle_intervals_cover_about_90_percent(small_world, tables):
    oracle = small_world.truth("oracle")
    daily = tables["metrics_daily"][["account_id", "date", "net_profit"]]
    joined = oracle.merge(
        daily,
        left_on=["account_id", "target_date"],
        right_on=["account_id", "date"],
        how="left",
    )
    actual = joined["net_profit"].fillna(0.0)
    coverage = ((actual >= joined["q05"]) & (actual <= joined["q95"])).mean()
    assert 0.85 <= coverage <= 0.95, coverage
    # the oracle's median beats predicting zero
    assert (actual - joined["q50"]).abs().mean() < actual.abs().mean()


def test_alltime_aggregates_the_days(small_world, tables):
    """The alltime snapshot (as of the server's clock) sums the days up to it."""
    app = small_world.app("k")
    alltime = app.rows("v2/metrics/alltime", {}).to_pandas()
    daily = (
        tables["metrics_daily"]
        .groupby("account_id")[["net_profit", "num_trades"]]
        .sum()
    )
    joined = alltime.set_index("account_id").join(daily, rsuffix="_daily").fillna(0)
    np.testing.assert_allclose(
        joined["net_profit"], joined["net_profit_daily"], atol=0.01
    )
    assert (joined["num_trades"] == joined["num_trades_daily"]).all()
    assert len(alltime) == len(tables["accounts"])


def test_snapshots_as_of_a_mid_world_clock_follow_each_accounts_days_to_it(
    small_world, tables
):
    """``v2/metrics/alltime`` and ``accounts`` as of a day inside the world: every
    lifetime figure as pandas computes it from the daily rows up to that day."""
    app = small_world.app("k")
    days = sorted(tables["metrics_daily"]["date"].unique())
    clock = days[len(days) // 2]
    app.set_clock(clock)
    daily = tables["metrics_daily"][tables["metrics_daily"]["date"] <= clock]
    daily = daily.sort_values(["account_id", "date"])
    sums = ["net_profit", "num_trades", "total_lots", "gross_profit", "gross_loss"]
    traded = daily[daily["num_trades"] > 0].groupby("account_id")["rel_net_profit"]
    last = daily.groupby("account_id").tail(1).set_index("account_id")
    expected = (
        daily.groupby("account_id")[sums]
        .sum()
        .join(traded.mean().rename("daily_mean_ret"))
        .join(traded.std().rename("daily_std_ret"))
        .join(last[["status", "current_balance", "current_equity", "approved_payouts"]])
        .fillna({"daily_std_ret": 0.0})  # one traded day, or none: no spread
    )
    alltime = app.rows("v2/metrics/alltime", {}).to_pandas().set_index("account_id")
    created = tables["accounts"]["created_date"].dt.date <= clock
    assert len(alltime) == created.sum() < len(tables["accounts"])
    served = alltime.loc[expected.index, expected.columns]
    pd.testing.assert_frame_equal(
        served, expected, check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-9
    )
    # accounts without a daily row by then are active, with nothing traded
    idle = alltime.drop(expected.index)
    assert (idle["status"] == 1).all() and (idle["num_trades"] == 0).all()
    accounts = app.rows("accounts", {}).to_pandas().set_index("account_id")
    assert accounts["status"].equals(alltime["status"].reindex(accounts.index))


def test_snapshots_keep_each_clock_days_summary_and_serve_the_same_rows(
    small_world, monkeypatch
):
    """The daily summary behind ``accounts`` and ``v2/metrics/alltime`` is computed
    once per clock day and kept in the world's folder; served from it, a snapshot has
    the same rows and values as one computed afresh."""
    app = small_world.app("k")
    fresh = server._snapshot("v2/metrics/alltime", app._dataset, app.serve_until, {})
    app.rows("accounts", {})  # makes the summary (or finds it made)
    cache = small_world.folder / server._SUMMARY_CACHE
    assert (cache / f"daily_summary_{app.serve_until.isoformat()}.parquet").exists()

    def computed_again(*_args):
        raise AssertionError("the kept summary was not used")

    monkeypatch.setattr(server, "_daily_summary", computed_again)
    other = small_world.app("k")  # another process's app: nothing in its memory
    kept = server._snapshot(
        "v2/metrics/alltime", other._dataset, other.serve_until, {}, cache
    )
    assert kept.equals(fresh)

"""Metrics rows computed from the sandbox's own trades and balances.

Every figure reconciles: a day's ``net_profit`` is the sum over its closed trades of
profit + commission + swap + fee, and ``current_balance = prior_days_balance +
net_profit - todays_payouts``. Served fields: identity, balances, payouts, profit
statistics, counts, lots, volume, durations, symbols. Left out (absent from the rows,
so a client sees them as missing): stop/target statistics, streaks, drawdown and
open-position statistics, per-unit and outlier figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_NET = "net"
# What identifies an account in every served row (the rest varies by table).
ACCOUNT_IDENTITY = (
    "account_id",
    "login",
    "platform",
    "broker",
    "trader",
    "plan_id",
    "type",
    "country",
    "price_stream",
)


def _trade_stats(trades: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Profit, count, size and duration statistics per ``keys`` group of trades."""
    net = trades["profit"] + trades["commission"] + trades["swap"] + trades["fee"]
    trades = trades.assign(
        **{
            _NET: net,
            "_gain": net.clip(lower=0),
            "_loss": net.clip(upper=0),
            "_win": (net > 0).astype(float),
        }
    )
    grouped = trades.groupby(keys, sort=False)
    stats = grouped.agg(
        num_trades=(_NET, "size"),
        net_profit=(_NET, "sum"),
        gross_profit=("_gain", "sum"),
        gross_loss=("_loss", "sum"),
        mean_profit=(_NET, "mean"),
        median_profit=(_NET, "median"),
        std_profits=(_NET, "std"),
        min_profit=(_NET, "min"),
        max_profit=(_NET, "max"),
        success_rate=("_win", "mean"),
        total_lots=("lots", "sum"),
        total_volume=("volume_usd", "sum"),
        mean_duration=("duration", "mean"),
        median_duration=("duration", "median"),
        min_duration=("duration", "min"),
        max_duration=("duration", "max"),
        std_durations=("duration", "std"),
        num_traded_symbols=("std_symbol", "nunique"),
    )
    stats["success_rate"] *= 100
    stats["std_profits"] = stats["std_profits"].fillna(0.0)
    stats["std_durations"] = stats["std_durations"].fillna(0.0)
    per_symbol = trades.groupby([*keys, "std_symbol"], sort=False).size().rename("n")
    per_symbol = per_symbol.reset_index().sort_values([*keys, "n"], ascending=False)
    top = per_symbol.drop_duplicates(keys).set_index(keys)
    stats["most_traded_symbol"] = top["std_symbol"]
    stats["most_traded_smb_trades"] = top["n"]
    stats["profit_factor"] = np.where(
        stats["gross_loss"] < 0, stats["gross_profit"] / -stats["gross_loss"], np.nan
    )
    stats["expectancy"] = stats["mean_profit"]
    return stats.reset_index()


def daily_metrics(
    day: pd.Timestamp, accounts: pd.DataFrame, trades: pd.DataFrame
) -> pd.DataFrame:
    """One row per account with an event on ``day`` (a trade, a payout, a closure)."""
    stats = (
        _trade_stats(trades, ["account_id"])
        if len(trades)
        else pd.DataFrame({"account_id": pd.Series(dtype=str)})
    )
    rows = accounts.merge(stats, on="account_id", how="left")
    rows["num_trades"] = rows["num_trades"].fillna(0).astype(int)
    for column in (
        "net_profit",
        "gross_profit",
        "gross_loss",
        "total_lots",
        "total_volume",
    ):
        rows[column] = rows[column].fillna(0.0)
    rows["pending_payouts"] = 0.0
    rows["rel_net_profit"] = rows["net_profit"] / rows["prior_days_balance"]
    rows["date"] = day.date()
    return rows


def hourly_metrics(
    day: pd.Timestamp, accounts: pd.DataFrame, trades: pd.DataFrame
) -> pd.DataFrame:
    """One row per account and hour in which it closed trades on ``day``."""
    if trades.empty:
        return pd.DataFrame()
    trades = trades.assign(hour=trades["close_time"].dt.hour)
    stats = _trade_stats(trades, ["account_id", "hour"])
    identity = accounts[[*ACCOUNT_IDENTITY, "phase", "status", "starting_balance"]]
    rows = stats.merge(identity, on="account_id", how="inner")
    rows["date"] = day.date()
    rows["datetime"] = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(
        rows["hour"], unit="h"
    )
    return rows

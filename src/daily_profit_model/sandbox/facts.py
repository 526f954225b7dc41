"""The stylized facts of a sandbox world, measured from the tables its API serves.

What a data scientist at the firm could compute from the served rows (closed and open
trades, daily metrics, accounts, regime documents, the plan export), beside the range
a real retail book shows (each range's source in ``REFERENCES``). ``kedro sandbox
facts`` prints them; a test holds the default world to the ranges.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from daily_profit_model.sandbox.plans import load_plan_book
from daily_profit_model.sandbox.records import STATUS_ACTIVE, STATUS_PASSED

_LOGIN = ["login", "platform", "broker"]
_TEST_DAYS = 20  # the training test window's length (parameters_training.yml)
_STOP_TOLERANCE = 5e-4  # a stop fills within this share of the price of its level
_MIN_DAYS = 10


@dataclass(frozen=True)
class Fact:
    """One measured property, its real-world range and whether it falls in it."""

    name: str
    value: float
    low: float | None
    high: float | None
    reference: str

    @property
    def within(self) -> bool:
        """Inside ``[low, high]`` (an open end is no bound)."""
        return (self.low is None or self.value >= self.low) and (
            self.high is None or self.value <= self.high
        )


def _read(folder: Path, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(folder / table, columns=columns)


def _net(trades: pd.DataFrame) -> pd.Series:
    return trades["profit"] + trades["commission"] + trades["swap"] + trades["fee"]


def _dense_daily(daily: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Daily P&L of every account on every trading day of its life (0 when silent)."""
    days = pd.Index(sorted(daily["date"].unique()))
    life = daily.groupby("account_id")["date"].agg(["min", "max"])
    created = accounts.set_index("account_id")["created_date"].dt.date
    life["min"] = np.minimum(
        created.reindex(life.index).fillna(life["min"]), life["min"]
    )
    pnl = daily.pivot_table(
        index="date", columns="account_id", values="net_profit", aggfunc="sum"
    ).reindex(days)
    alive = (
        days.to_numpy()[:, None] >= life["min"].reindex(pnl.columns).to_numpy()
    ) & (days.to_numpy()[:, None] <= life["max"].reindex(pnl.columns).to_numpy())
    return pnl.fillna(0.0).where(alive)


def _closure_kinds(daily: pd.DataFrame, trades: pd.DataFrame) -> pd.Series:
    """Why each closed account closed: pass, inactivity (no trade on its closing day
    and none for the plan's inactivity period before), or breach."""
    plans = load_plan_book().rules
    last = daily.sort_values("date").groupby("account_id").tail(1)
    closed = last[last["status"] != STATUS_ACTIVE].set_index("account_id")
    traded = daily[daily["num_trades"] > 0].groupby("account_id")["date"].max()
    idle = (
        pd.to_datetime(closed["date"]) - pd.to_datetime(traded.reindex(closed.index))
    ).dt.days
    idle = idle.fillna(10_000)
    period = plans["inactivity_days"].reindex(closed["plan_id"]).to_numpy()
    inactive = (closed["num_trades"] == 0) & (idle.to_numpy() >= period)
    return pd.Series(
        np.where(
            closed["status"] == STATUS_PASSED,
            "pass",
            np.where(inactive, "inactivity", "breach"),
        ),
        index=closed.index,
    )


def measure(folder: Path) -> list[Fact]:
    """The stylized facts of the world in ``folder``."""
    trades = _read(folder, "trades_closed")
    accounts = _read(folder, "accounts")
    daily = _read(folder, "metrics_daily")
    net = _net(trades)
    wins, losses = net[net > 0], net[net < 0]
    with_account = trades.merge(accounts[[*_LOGIN, "account_id", "trader"]], on=_LOGIN)
    # trading P&L with its costs, before the challenge fees a trader pays the firm
    by_trader = _net(with_account).groupby(with_account["trader"]).sum()
    kinds = _closure_kinds(daily, trades)
    phase1 = daily.sort_values("date").groupby("account_id").tail(1)
    phase1 = phase1[(phase1["phase"] == 1) & (phase1["status"] != STATUS_ACTIVE)]
    dense = _dense_daily(daily, accounts)
    firm = dense.sum(axis=1)
    # what the firm's variance would be if accounts were independent: each account's
    # squared deviations from its own mean, over the days (an account alive a tenth of
    # the time adds a tenth of its variance)
    own = float(((dense - dense.mean()) ** 2).sum().sum() / (len(dense) - 1))
    rel = daily.loc[daily["num_trades"] > 0, "rel_net_profit"].dropna()
    facts = [
        Fact("trade win rate", float((net > 0).mean()), 0.55, 0.65, REFERENCES["win"]),
        Fact(
            "mean loss / mean win",
            float(-losses.mean() / wins.mean()),
            1.4,
            2.0,
            REFERENCES["disposition"],
        ),
        Fact(
            "traders net profitable over their lifetime, before challenge fees",
            float((by_trader > 0).mean()),
            0.15,
            0.25,
            REFERENCES["lose"],
        ),
        Fact(
            "phase-1 pass rate of resolved phase-1 accounts",
            float((phase1["status"] == STATUS_PASSED).mean()),
            0.10,
            0.20,
            REFERENCES["pass"],
        ),
        Fact(
            "variance of the firm's daily total / sum of the accounts' own variances",
            float(firm.var() / own),
            5.0,
            None,
            REFERENCES["crowd"],
        ),
        Fact(
            "skew of daily P&L relative to balance",
            float(stats.skew(rel)),
            None,
            0.0,
            REFERENCES["skew"],
        ),
        Fact(
            "autocorrelation of abs(daily P&L) within an account, lag 1",
            _abs_autocorrelation(dense),
            0.10,
            None,
            REFERENCES["clustering"],
        ),
        Fact(
            "stopped trades closing within the stop plus slippage",
            _stops_honoured(trades),
            0.95,
            None,
            REFERENCES["stops"],
        ),
        Fact(
            "correlation of a carried position's mark at D with its realised P&L at D+1",
            _carry_correlation(folder, trades),
            0.3,
            None,
            REFERENCES["carry"],
        ),
        Fact(
            "closures for inactivity, share of closures",
            float((kinds == "inactivity").mean()),
            0.05,
            None,
            REFERENCES["inactivity"],
        ),
        Fact(
            "highest VIX close in the test window (its last 20 days)",
            _test_window_vix(folder),
            25.0,
            None,
            REFERENCES["vix"],
        ),
    ]
    return facts


def _abs_autocorrelation(dense: pd.DataFrame) -> float:
    """Lag-1 correlation of |daily P&L| / the account's own mean |P&L|, pooled over
    accounts of at least ``_MIN_DAYS`` days (within-account: size is not the effect)."""
    scaled = dense.abs() / dense.abs().mean()
    scaled = scaled.loc[:, dense.notna().sum() >= _MIN_DAYS]
    now, before = scaled.iloc[1:].to_numpy(), scaled.iloc[:-1].to_numpy()
    both = ~np.isnan(now) & ~np.isnan(before)
    now, before = now[both], before[both]
    return float(np.corrcoef(now, before)[0, 1])


def _stops_honoured(trades: pd.DataFrame) -> float:
    """Of the trades whose set stop was reached, the share that filled within the
    stop plus slippage (the others gapped past it)."""
    stop = trades["stop_loss"]
    long = trades["side"].str.lower() == "buy"
    reached = stop.notna() & np.where(
        long,
        trades["close_price"] <= stop * (1 + 1e-9),
        trades["close_price"] >= stop * (1 - 1e-9),
    )
    beyond = np.where(long, stop - trades["close_price"], trades["close_price"] - stop)
    within = beyond[reached] <= _STOP_TOLERANCE * trades.loc[reached, "open_price"]
    return float(within.mean()) if reached.any() else float("nan")


def _carry_correlation(folder: Path, closed: pd.DataFrame) -> float:
    """Positions served open at D, matched with their close on D+1."""
    opened = _read(folder, "trades_open")
    key = [*_LOGIN, "position"]
    both = opened.merge(closed, on=key, suffixes=("_mark", "_real"))
    if len(both) < 3:  # noqa: PLR2004
        return float("nan")
    return float(np.corrcoef(both["profit_mark"], both["profit_real"])[0, 1])


def _test_window_vix(folder: Path) -> float:
    regimes = _read(folder, "regimes").sort_values("date")
    vix = [
        json.loads(d)["summary"]["key_metrics"].get("vix_close", float("nan"))
        for d in regimes["document"].tail(_TEST_DAYS)
    ]
    return float(np.nanmax(vix))


REFERENCES = {
    "win": "about 60% winning trades in FX broker studies",
    "disposition": "losses about 1.7x wins: the disposition effect",
    "lose": "74-89% of retail CFD accounts lose (ESMA); over 80% of day traders "
    "(Barber, Lee, Liu, Odean)",
    "pass": "14% (a 300k-account industry study), 16.8% (a firm's 2025 disclosure)",
    "crowd": "retail books are crowded: most clients on the same side of a move",
    "skew": "negative for retail traders: small frequent wins, rare large losses",
    "clustering": "persistent, slowly decaying (volatility clustering)",
    "stops": "a stop bounds the loss, apart from gaps",
    "carry": "realised = close - open: the mark at D is part of D+1's outcome",
    "inactivity": "3,108 of the 3,538 real plans have an inactivity rule; traders quit",
    "vix": "calm and stressed markets both: VIX above 25 on some test-window days",
}


def report(facts: list[Fact]) -> str:
    """The facts as a plain-text table."""
    lines = [f"{'fact':<78} {'value':>9}  {'range':<13} ok"]
    for fact in facts:
        span = f"{'' if fact.low is None else fact.low}..{'' if fact.high is None else fact.high}"
        lines.append(
            f"{fact.name:<78} {fact.value:>9.3f}  {span:<13} "
            f"{'yes' if fact.within else 'NO'}"
        )
    return "\n".join(lines)


def as_json(facts: list[Fact]) -> list[dict]:
    """The facts as JSON-able rows."""
    return [{**asdict(f), "within": f.within} for f in facts]

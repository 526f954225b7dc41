"""One trading day of many accounts at once: the sandbox's law of motion.

The same function simulates the world (one market, every live account) and the
oracle's Monte Carlo (the live accounts repeated once per market scenario), so the
oracle's distribution is exactly the process that generated the data.

A day of one account:

1. A position held past yesterday's cutoff is closed: its P&L is its notional times
   the full day's move of its instrument, minus swap.
2. If the trader trades today (probability ``activity``, higher after a losing day),
   ``1 + Poisson`` trades follow, each on an instrument drawn from the trader's
   preferences, in the trader's bias of direction, held for a lognormal time. A
   trade's return is its share of the day's move (the longer the hold, the more of the
   day's market shock it carries) plus noise, plus the trader's skill, minus costs.
   Size is equity × leverage use, more after a losing day (tilt), less near the profit
   target, more near the drawdown floor (gambling), never above plan leverage.
3. Realised P&L accumulates trade by trade in closing order. If equity falls below the
   daily-loss floor or the drawdown floor, the account breaches there: that trade
   ends at the floor (minus slippage) and nothing after it happens.
4. A trader who survives may carry one new position past the cutoff (never on a
   Friday for plans that liquidate on Fridays).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daily_profit_model.sandbox.market import INSTRUMENTS
from daily_profit_model.sandbox.traders import Traits

_FRIDAY = 4
_COST_RATE = np.array(
    [
        {"fx": 3e-5, "metal": 4e-5, "index": 2e-5, "energy": 6e-5, "crypto": 4e-4}[
            i.asset_class
        ]
        for i in INSTRUMENTS
    ]
)
_SWAP_RATE = 5e-5
_SLIPPAGE = 0.002  # of starting balance, at most, when a breach is hit


@dataclass
class Accounts:
    """Live accounts as arrays (one entry per account) at a day's start."""

    trader: np.ndarray
    starting_balance: np.ndarray
    balance: np.ndarray
    equity: np.ndarray  # at the last cutoff: balance + unrealised P&L
    high_water: np.ndarray
    prev_pnl: np.ndarray
    phase: np.ndarray
    target_pct: np.ndarray
    max_dd_pct: np.ndarray
    daily_loss_pct: np.ndarray
    drawdown_static: np.ndarray
    daily_by_equity: np.ndarray
    leverage: np.ndarray
    liquidate_friday: np.ndarray
    pos_symbol: np.ndarray  # -1 when no position is carried
    pos_side: np.ndarray
    pos_notional: np.ndarray

    def __len__(self) -> int:
        return len(self.trader)

    def repeat(self, times: int) -> Accounts:
        """Every account ``times`` times (scenario-major), for Monte Carlo."""
        return Accounts(**{k: np.tile(v, times) for k, v in vars(self).items()})


@dataclass
class DayOutcome:
    """What happened to each account, and the trades if they were asked for."""

    pnl: np.ndarray
    breached: np.ndarray
    traded: np.ndarray
    trades: dict[str, np.ndarray] | None = None
    overnight: dict[str, np.ndarray] | None = None


def floors(acc: Accounts) -> tuple[np.ndarray, np.ndarray]:
    """The daily-loss floor and the drawdown floor of each account today."""
    base = np.where(
        acc.daily_by_equity, np.maximum(acc.balance, acc.equity), acc.balance
    )
    daily = np.where(
        acc.daily_loss_pct > 0, base * (1 - acc.daily_loss_pct / 100), -np.inf
    )
    anchor = np.where(acc.drawdown_static, acc.starting_balance, acc.high_water)
    drawdown = anchor * (1 - acc.max_dd_pct / 100)
    return daily, drawdown


def _size_multiplier(acc: Accounts, traits: Traits, dd_floor: np.ndarray) -> np.ndarray:
    tr = acc.trader
    mult = 1 + traits.tilt[tr] * (acc.prev_pnl < 0)
    goal = acc.starting_balance * acc.target_pct / 100
    progress = np.where(
        goal > 0, (acc.balance - acc.starting_balance) / np.maximum(goal, 1), 0
    )
    mult *= 1 - traits.target_caution[tr] * (progress > 0.7)  # noqa: PLR2004
    room = (acc.equity - dd_floor) / acc.starting_balance
    mult *= 1 + traits.floor_gamble[tr] * (room < 0.02)  # noqa: PLR2004
    return mult


def _draw_symbols(prefs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cumulative = np.cumsum(prefs, axis=1)
    u = rng.random(len(prefs))[:, None] * cumulative[:, -1:]
    return np.minimum((u > cumulative).sum(axis=1), prefs.shape[1] - 1)


def _segment_first(flags: np.ndarray, starts: np.ndarray, n_total: int) -> np.ndarray:
    """Index of the first True in each segment (``n_total`` where there is none)."""
    positions = np.where(flags, np.arange(len(flags)), n_total)
    return np.minimum.reduceat(positions, starts)


def simulate_day(  # noqa: PLR0913, PLR0915
    acc: Accounts,
    traits: Traits,
    returns: np.ndarray,
    sigma: np.ndarray,
    weekday: int,
    rng: np.random.Generator,
    detail: bool = True,
) -> DayOutcome:
    """Simulate one day for every account in ``acc``.

    Args:
        acc: The accounts at the day's start.
        traits: Every trader's hidden traits (indexed by ``acc.trader``).
        returns: ``(len(acc), n_instruments)`` daily returns each account sees.
        sigma: ``(n_instruments,)`` volatility of the day.
        weekday: 0 = Monday … 4 = Friday.
        rng: The random generator (the world's, or the oracle's).
        detail: Also return every trade and the positions carried past the cutoff.
    """
    n = len(acc)
    tr = acc.trader
    daily_floor, dd_floor = floors(acc)
    floor = np.maximum(daily_floor, dd_floor)
    size = _size_multiplier(acc, traits, dd_floor) * traits.leverage_use[tr]
    size = np.minimum(size, acc.leverage)

    activity = np.clip(
        traits.activity[tr] * (1 + traits.tilt[tr] / 3 * (acc.prev_pnl < 0)), 0, 0.99
    )
    active = rng.random(n) < activity
    counts = np.where(
        active, 1 + rng.poisson(np.maximum(traits.trades_per_day[tr] - 1, 0)), 0
    )
    row = np.repeat(np.arange(n), counts)
    m = len(row)
    t_tr = tr[row]
    symbol = _draw_symbols(traits.symbol_prefs[t_tr], rng)
    side = np.where(rng.random(m) < traits.long_bias[t_tr], 1.0, -1.0)
    hold = np.clip(traits.hold_hours[t_tr] * rng.lognormal(0, 0.8, m), 0.02, 20.0)
    share = np.minimum(hold / 24, 1.0)
    sig = sigma[symbol]
    shock = returns[row, symbol] / sig
    trade_ret = (
        sig
        * np.sqrt(share)
        * (np.sqrt(share) * shock + np.sqrt(1 - share) * rng.standard_normal(m))
    )
    notional = (
        size[row] * np.maximum(acc.equity[row], 0) * rng.lognormal(-0.045, 0.3, m)
    )
    profit = side * notional * trade_ret + traits.skill[
        t_tr
    ] * notional * sig * np.sqrt(share)
    costs = -notional * _COST_RATE[symbol]
    open_hour = np.clip(
        traits.session_hour[t_tr] + rng.normal(0, 2.0, m), 0.0, 23.0 - hold / 4
    )
    close_hour = np.minimum(open_hour + hold, 23.9)

    # The position carried from yesterday closes first, with the whole day's move.
    carried = np.flatnonzero(acc.pos_symbol >= 0)
    c_sym = acc.pos_symbol[carried]
    c_profit = (
        acc.pos_side[carried] * acc.pos_notional[carried] * returns[carried, c_sym]
    )
    c_costs = -acc.pos_notional[carried] * _SWAP_RATE

    all_row = np.concatenate([carried, row])
    all_pnl = np.concatenate([c_profit + c_costs, profit + costs])
    all_close = np.concatenate([np.full(len(carried), -1.0), close_hour])
    order = np.lexsort((all_close, all_row))
    all_row, all_pnl = all_row[order], all_pnl[order]

    pnl = np.zeros(n)
    breached = np.zeros(n, dtype=bool)
    keep = np.ones(len(all_row), dtype=bool)
    if len(all_row):
        starts = np.flatnonzero(np.r_[True, all_row[1:] != all_row[:-1]])
        cum = np.cumsum(all_pnl)
        offset = np.repeat(
            cum[starts] - all_pnl[starts], np.diff(np.r_[starts, len(all_row)])
        )
        path = acc.balance[all_row] + cum - offset
        first = _segment_first(path < floor[all_row], starts, len(all_row))
        hit = first < len(all_row)
        hit_rows = all_row[starts[hit]]
        breached[hit_rows] = True
        slip = rng.uniform(0, _SLIPPAGE, hit.sum()) * acc.starting_balance[hit_rows]
        before = path[first[hit]] - all_pnl[first[hit]]
        all_pnl[first[hit]] = floor[hit_rows] - slip - before
        last_kept = np.repeat(
            np.where(hit, first, len(all_row)), np.diff(np.r_[starts, len(all_row)])
        )
        keep = np.arange(len(all_row)) <= last_kept
        np.add.at(pnl, all_row[keep], all_pnl[keep])
    traded = np.zeros(n, dtype=bool)
    traded[all_row] = True

    outcome = DayOutcome(pnl=pnl, breached=breached, traded=traded)
    if not detail:
        return outcome
    kept_order = order[keep]
    n_carried = len(carried)
    is_carried = kept_order < n_carried
    trade_idx = kept_order[~is_carried] - n_carried
    carried_idx = kept_order[is_carried]
    adjusted = all_pnl[keep]
    outcome.trades = {
        "row": np.concatenate([carried[carried_idx], row[trade_idx]]),
        "symbol": np.concatenate([c_sym[carried_idx], symbol[trade_idx]]),
        "side": np.concatenate([acc.pos_side[carried][carried_idx], side[trade_idx]]),
        "notional": np.concatenate(
            [acc.pos_notional[carried][carried_idx], notional[trade_idx]]
        ),
        "open_hour": np.concatenate(
            [np.full(len(carried_idx), -2.0), open_hour[trade_idx]]
        ),
        "close_hour": np.concatenate(
            [np.full(len(carried_idx), 21.0), close_hour[trade_idx]]
        ),
        "costs": np.concatenate([c_costs[carried_idx], costs[trade_idx]]),
        "carried": np.concatenate(
            [np.ones(len(carried_idx), bool), np.zeros(len(trade_idx), bool)]
        ),
        "sl_used": rng.random(len(kept_order))
        < traits.stop_loss_use[
            tr[np.concatenate([carried[carried_idx], row[trade_idx]])]
        ],
        "tp_used": rng.random(len(kept_order))
        < traits.take_profit_use[
            tr[np.concatenate([carried[carried_idx], row[trade_idx]])]
        ],
    }
    net = np.concatenate([adjusted[is_carried], adjusted[~is_carried]])
    outcome.trades["profit"] = net - outcome.trades["costs"]

    hold_overnight = (
        ~breached
        & active
        & (rng.random(n) < traits.overnight[tr])
        & ~(acc.liquidate_friday & (weekday == _FRIDAY))
    )
    o_rows = np.flatnonzero(hold_overnight)
    o_sym = _draw_symbols(traits.symbol_prefs[tr[o_rows]], rng)
    o_notional = size[o_rows] * np.maximum(acc.balance[o_rows] + pnl[o_rows], 0)
    outcome.overnight = {
        "row": o_rows,
        "symbol": o_sym,
        "side": np.where(
            rng.random(len(o_rows)) < traits.long_bias[tr[o_rows]], 1.0, -1.0
        ),
        "notional": o_notional,
        # the move between opening late in the day and the cutoff
        "unrealised": o_notional
        * sigma[o_sym]
        * np.sqrt(0.05)
        * rng.standard_normal(len(o_rows)),
    }
    return outcome

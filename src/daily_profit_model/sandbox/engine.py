"""One trading day of many accounts at once: the sandbox's law of motion.

The same function simulates the world (one market, every live account) and the
oracle's Monte Carlo (the live accounts repeated once per market scenario), so the
oracle's distribution is exactly the process that generated the data.

A day of one account:

1. Engagement moves on (active, dormant, gone: the hazard of giving up rises in a
   drawdown) and the size the trader is comfortable with drifts (it persists).
2. A position carried past yesterday's cutoff is closed on today's path: at its
   take-profit or stop if the path crosses it (a stop jumped over at the open fills at
   the open), else at its planned time. It realises close - open.
3. An engaged trader trades (probability ``activity``, higher while tilted):
   ``1 + Poisson`` trades, each on an instrument of the trader's preferences (risk-
   sized: a volatile instrument gets a smaller notional), opened at a step of the
   trader's session or, for a share ``news_trading``, just before a news release. Its
   direction leans on the trader's bias, on the crowd's lean of the day (more on
   violent days) and on yesterday's move (momentum or contrarian); on a share
   ``|skill|`` of trades it is set by the move to come (against it for negative skill).
   It closes at the first of: its take-profit, its stop (the disposition effect:
   profits taken early, a news trade's at once; losses given room), or the end of its
   (extended) holding time. A stop that is set fills at its level less slippage,
   unless the path jumped over it (the open); a mental stop fills at the price seen
   after the cross.
4. Realised P&L accumulates trade by trade in closing order. If equity falls below the
   daily-loss floor or the drawdown floor, the account breaches there: that trade
   ends at the floor (minus slippage) and nothing after it happens. A day that
   reaches the trader's daily goal, or the plan's profit target, ends there too.
5. A trader who survives may carry one new position past the cutoff, opened at 22:00
   (never on a Friday for plans that liquidate on Fridays); it is marked at the close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daily_profit_model.sandbox.market import INSTRUMENTS, DayMarket
from daily_profit_model.sandbox.paths import (
    ELAPSED,
    GAP_STEPS,
    HOURS_PER_STEP,
    NEWS_STEPS,
    STEPS,
)
from daily_profit_model.sandbox.traders import Traits

_FRIDAY = 4
_FUNDED = 4  # the phase of funded accounts
_NEWS_CHOICE = np.array([0.15, 0.7, 0.15])  # London open, US data, US open
_NEWS_TAKE = 0.05  # a news trade's profit is taken at this many hold-volatilities
_COST_RATE = np.array(
    [
        {"fx": 3e-5, "metal": 4e-5, "index": 2e-5, "energy": 6e-5, "crypto": 4e-4}[
            i.asset_class
        ]
        for i in INSTRUMENTS
    ]
)
# Traders size by risk: a lot of a volatile instrument is a smaller share of equity
# (and prop plans cap crypto and energy leverage far below FX).
_RISK_SIZING = (0.16 / np.array([i.annual_vol for i in INSTRUMENTS])) ** 0.8
_SWAP_RATE = 5e-5
_SLIPPAGE = 0.002  # of starting balance, at most, when a breach is hit
_STOP_SLIPPAGE = 2e-4  # of the price, at most, when a set stop fills
_MENTAL_STOP = 1.3  # a stop in the head is further than one set
_EXTENDED_HOLD = 2.5  # a trade in loss at its planned time is held this much longer
_LAST_OPEN_STEP = int(22 / HOURS_PER_STEP)  # positions carried are opened by 22:00
_CARRY_CLOSE_STEP = int(21 / HOURS_PER_STEP)
ACTIVE, DORMANT, GONE = 0, 1, 2
_TO_DORMANT, _TO_ACTIVE, _DORMANT_ACTIVITY = 0.02, 0.25, 0.04
_SIZE_PERSISTENCE, _SIZE_SPREAD = 0.85, 0.35
_TILT_DECAY = 0.55


@dataclass
class Accounts:
    """Live accounts as arrays (one entry per account) at a day's start."""

    scenario: np.ndarray  # which market scenario the account lives in (0: the world)
    trader: np.ndarray
    starting_balance: np.ndarray
    balance: np.ndarray
    equity: np.ndarray  # at the last cutoff: balance + the carried position's mark
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
    engagement: np.ndarray  # ACTIVE, DORMANT or GONE
    tilt_level: np.ndarray  # what is left of past losing days' tilt
    size_level: np.ndarray  # log of the size the trader is comfortable with
    pos_symbol: np.ndarray  # -1 when no position is carried
    pos_side: np.ndarray
    pos_notional: np.ndarray
    pos_entry: np.ndarray  # log entry price relative to the day's opening (last close)
    pos_take_profit: np.ndarray  # distances from the entry, in log price
    pos_stop: np.ndarray
    pos_stop_set: np.ndarray
    pos_take_profit_set: np.ndarray

    def __len__(self) -> int:
        return len(self.trader)

    def repeat(self, times: int) -> Accounts:
        """Every account ``times`` times (scenario-major), each in its scenario."""
        repeated = Accounts(**{k: np.tile(v, times) for k, v in vars(self).items()})
        repeated.scenario = np.repeat(np.arange(times), len(self))
        return repeated


@dataclass
class DayOutcome:
    """What happened to each account, and the trades if they were asked for."""

    pnl: np.ndarray
    breached: np.ndarray
    traded: np.ndarray
    engagement: np.ndarray
    tilt_level: np.ndarray
    size_level: np.ndarray
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
    mult = np.exp(acc.size_level) * (1 + traits.tilt[tr] * acc.tilt_level)
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


def _engagement(acc: Accounts, traits: Traits, rng: np.random.Generator) -> np.ndarray:
    """Tomorrow's engagement: dormancy comes and goes; giving up is for good and is
    likelier the deeper the drawdown."""
    drawdown = np.clip(1 - acc.equity / acc.high_water, 0, 1)
    hazard = traits.quit_hazard[acc.trader] * (1 + 25 * drawdown)
    u = rng.random(len(acc))
    state = acc.engagement.copy()
    gone = (state != GONE) & (u < hazard)
    flip = rng.random(len(acc))
    state[(state == ACTIVE) & (flip < _TO_DORMANT)] = DORMANT
    state[(acc.engagement == DORMANT) & (flip < _TO_ACTIVE)] = ACTIVE
    state[gone] = GONE
    return state


@dataclass
class _Exits:
    """Where trades close on today's paths."""

    step: np.ndarray  # exit step
    price: np.ndarray  # exit log price (relative to the day's opening)
    stopped: np.ndarray  # closed by a stop (set or mental)


def _exits(  # noqa: PLR0913 - one trade's geometry, as arrays
    day: DayMarket,
    path: np.ndarray,
    side: np.ndarray,
    entry: np.ndarray,
    start: np.ndarray,
    cap: np.ndarray,
    take_profit: np.ndarray,
    stop: np.ndarray,
    stop_set: np.ndarray,
    take_profit_set: np.ndarray,
    rng: np.random.Generator,
) -> _Exits:
    """First crossing of the take-profit and the stop after ``start``, else ``cap``."""
    long = side > 0
    mental = np.where(stop_set, stop, stop * _MENTAL_STOP)
    tp_step = day.tables.first_crossing(
        path, start, cap, entry + side * take_profit, long
    )
    sl_step = day.tables.first_crossing(path, start, cap, entry - side * mental, ~long)
    flat = day.paths.reshape(-1, STEPS + 1)
    stopped = (sl_step <= tp_step) & (sl_step <= cap)
    took = ~stopped & (tp_step <= cap)
    step = np.where(stopped, sl_step, np.where(took, tp_step, cap))
    seen = flat[path, np.minimum(step, STEPS)]
    level = entry - side * mental
    jumped = np.isin(step, GAP_STEPS)
    slip = rng.uniform(0, _STOP_SLIPPAGE, len(step))
    price = seen.copy()
    set_fill = stopped & stop_set & ~jumped
    price[set_fill] = level[set_fill] - side[set_fill] * slip[set_fill]
    limit_fill = took & take_profit_set
    price[limit_fill] = (entry + side * take_profit)[limit_fill]
    return _Exits(step=step, price=price, stopped=stopped)


def _direction(  # noqa: PLR0913 - a trade's context, as arrays
    acc: Accounts,
    traits: Traits,
    day: DayMarket,
    row: np.ndarray,
    symbol: np.ndarray,
    coming_move: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """+1 buy, -1 sell: the trader's bias, the crowd and yesterday's move; then, on a
    share ``|skill|`` of trades, timing: with the move to come (skill > 0) or against
    it (skill < 0: buying tops and selling bottoms, as most retail traders do)."""
    tr = acc.trader[row]
    bias = np.log(traits.long_bias[tr] / (1 - traits.long_bias[tr]))
    lean = (
        bias
        + traits.crowd_loading[tr] * day.violence * day.crowd[acc.scenario[row], symbol]
        + traits.momentum[tr] * day.previous_move[symbol]
        + rng.logistic(0, 1, len(row))
    )
    side = np.where(lean > 0, 1.0, -1.0)
    skill = traits.skill[tr]
    timed = rng.random(len(row)) < np.abs(skill)
    toward = np.where(coming_move >= 0, 1.0, -1.0) * np.sign(skill)
    return np.where(timed, toward, side)


@dataclass
class _NewTrades:
    """The day's new trades, one entry per trade (``row``: the account's index)."""

    active: np.ndarray  # per account: traded today
    row: np.ndarray
    symbol: np.ndarray
    start: np.ndarray
    side: np.ndarray
    entry: np.ndarray
    exits: _Exits
    notional: np.ndarray
    profit: np.ndarray
    costs: np.ndarray
    sl_used: np.ndarray
    tp_used: np.ndarray
    take_at: np.ndarray
    stop_at: np.ndarray


def _new_trades(  # noqa: PLR0913 - the day's context, as arrays
    acc: Accounts,
    traits: Traits,
    day: DayMarket,
    engagement: np.ndarray,
    size: np.ndarray,
    rng: np.random.Generator,
) -> _NewTrades:
    """Who trades today, what, when, which way, and how each trade exits."""
    n = len(acc)
    tr = acc.trader
    activity = np.where(
        engagement == ACTIVE,
        traits.activity[tr] * (1 + traits.tilt[tr] / 3 * acc.tilt_level),
        np.where(engagement == DORMANT, _DORMANT_ACTIVITY, 0.0),
    )
    active = rng.random(n) < np.clip(activity, 0, 0.99)
    counts = np.where(
        active, 1 + rng.poisson(np.maximum(traits.trades_per_day[tr] - 1, 0)), 0
    )
    row = np.repeat(np.arange(n), counts)
    m = len(row)
    t_tr = tr[row]
    symbol = _draw_symbols(traits.symbol_prefs[t_tr], rng)
    hold = np.clip(traits.hold_hours[t_tr] * rng.lognormal(0, 0.8, m), 0.25, 20.0)
    hold_steps = np.maximum(np.round(hold / HOURS_PER_STEP).astype(np.int64), 1)
    open_hour = traits.session_hour[t_tr] + rng.normal(0, 1.2, m)
    start = np.clip((open_hour / HOURS_PER_STEP).astype(np.int64), 0, STEPS - 1)
    # news traders open just before a release (most before the US data at 13:30)
    news = rng.random(m) < traits.news_trading[t_tr]
    start[news] = rng.choice(NEWS_STEPS, news.sum(), p=_NEWS_CHOICE)
    planned = np.minimum(start + hold_steps, STEPS)
    path = day.path_index(acc.scenario[row], symbol)
    flat = day.paths.reshape(-1, STEPS + 1)
    entry = flat[path, start]
    hold_sd = day.sigma[symbol] * np.sqrt(ELAPSED[planned] - ELAPSED[start])
    coming = (flat[path, planned] - entry) / hold_sd
    side = _direction(acc, traits, day, row, symbol, coming, rng)
    cap = np.minimum(
        start + np.ceil(hold_steps * _EXTENDED_HOLD).astype(np.int64), STEPS
    )
    sl_used = rng.random(m) < traits.stop_loss_use[t_tr]
    tp_used = rng.random(m) < traits.take_profit_use[t_tr]
    # a news trade in profit after the release is closed at once (the disposition
    # effect at its sharpest); one in loss is held
    take_at = np.where(news, _NEWS_TAKE, traits.take_profit_at[t_tr]) * hold_sd
    stop_at = traits.loss_tolerance[t_tr] * hold_sd
    exits = _exits(
        day, path, side, entry, start, cap, take_at, stop_at, sl_used, tp_used, rng
    )
    notional = (
        size[row]
        * _RISK_SIZING[symbol]
        * np.maximum(acc.equity[row], 0)
        * rng.lognormal(-0.045, 0.3, m)
    )
    return _NewTrades(
        active=active,
        row=row,
        symbol=symbol,
        start=start,
        side=side,
        entry=entry,
        exits=exits,
        notional=notional,
        profit=side * notional * np.expm1(exits.price - entry),
        costs=-notional * _COST_RATE[symbol],
        sl_used=sl_used,
        tp_used=tp_used,
        take_at=take_at,
        stop_at=stop_at,
    )


@dataclass
class _Carried:
    """The positions carried from yesterday, closed on today's path."""

    index: np.ndarray  # the accounts holding one
    symbol: np.ndarray
    path: np.ndarray
    side: np.ndarray
    entry: np.ndarray
    exits: _Exits
    profit: np.ndarray
    costs: np.ndarray


def _carried_trades(
    acc: Accounts, day: DayMarket, rng: np.random.Generator
) -> _Carried:
    """The position carried from yesterday closes today, on today's path."""
    carried = np.flatnonzero(acc.pos_symbol >= 0)
    symbol = acc.pos_symbol[carried]
    path = day.path_index(acc.scenario[carried], symbol)
    side = acc.pos_side[carried]
    entry = acc.pos_entry[carried]
    exits = _exits(
        day,
        path,
        side,
        entry,
        np.zeros(len(carried), dtype=np.int64),
        np.full(len(carried), _CARRY_CLOSE_STEP),
        acc.pos_take_profit[carried],
        acc.pos_stop[carried],
        acc.pos_stop_set[carried],
        acc.pos_take_profit_set[carried],
        rng,
    )
    return _Carried(
        index=carried,
        symbol=symbol,
        path=path,
        side=side,
        entry=entry,
        exits=exits,
        profit=side * acc.pos_notional[carried] * np.expm1(exits.price - entry),
        costs=-acc.pos_notional[carried] * _SWAP_RATE,
    )


@dataclass
class _Settled:
    """The day's trades in time order per account, after the day's limits."""

    pnl: np.ndarray  # per account
    breached: np.ndarray  # per account
    all_row: np.ndarray  # per trade (carried first, then new, in time order)
    all_pnl: np.ndarray
    order: np.ndarray  # position of each trade in [carried, new]
    keep: np.ndarray  # the trade was taken (the day did not stop before it)
    carried_close: np.ndarray  # close step of each carried position


def _settle(  # noqa: PLR0913 - the day's trades and limits
    acc: Accounts,
    traits: Traits,
    day: DayMarket,
    floor: np.ndarray,
    new: _NewTrades,
    carried: _Carried,
    rng: np.random.Generator,
) -> _Settled:
    """Run each account's trades in time order against its floors and its goal.

    A day up by the trader's goal (or reaching the plan's profit target) stops there;
    a trade that breaks the floor ends the day at the floor, less slippage.
    """
    n = len(acc)
    all_row = np.concatenate([carried.index, new.row])
    all_pnl = np.concatenate([carried.profit + carried.costs, new.profit + new.costs])
    c_close = carried.exits.step.copy()
    all_close = np.concatenate([c_close, new.exits.step]).astype(float)
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
        balance_path = acc.balance[all_row] + cum - offset
        # a day up by the trader's goal stops there, and so does one that reaches the
        # plan's profit target: later trades are not taken
        goal = acc.balance[all_row] * (1 + traits.daily_goal[acc.trader[all_row]])
        target = acc.starting_balance * (1 + acc.target_pct / 100)
        goal = np.where(
            (acc.target_pct[all_row] > 0) & (acc.phase[all_row] < _FUNDED),
            np.minimum(goal, target[all_row]),
            goal,
        )
        content = _segment_first(balance_path >= goal, starts, len(all_row))
        first = _segment_first(balance_path < floor[all_row], starts, len(all_row))
        first = np.where(content < first, len(all_row), first)
        hit = first < len(all_row)
        hit_rows = all_row[starts[hit]]
        breached[hit_rows] = True
        slip = rng.uniform(0, _SLIPPAGE, hit.sum()) * acc.starting_balance[hit_rows]
        before = balance_path[first[hit]] - all_pnl[first[hit]]
        all_pnl[first[hit]] = floor[hit_rows] - slip - before
        lengths = np.diff(np.r_[starts, len(all_row)])
        last_kept = np.repeat(
            np.where(hit, first, np.minimum(content, len(all_row))), lengths
        )
        keep = np.arange(len(all_row)) <= last_kept
        # A position carried in was served open: it is never dropped. One still open
        # when the day ends early (a breach, the goal) is closed then, at the path.
        late = (order < len(carried.index)) & ~keep
        if late.any():
            ci = order[late]
            cut = all_close[order][last_kept[late]].astype(np.int64)
            price = day.paths.reshape(-1, STEPS + 1)[carried.path[ci], cut]
            notional_c = acc.pos_notional[carried.index][ci]
            carried.profit[ci] = (
                carried.side[ci] * notional_c * np.expm1(price - carried.entry[ci])
            )
            c_close[ci] = cut
            all_pnl[late] = carried.profit[ci] + carried.costs[ci]
            keep |= late
            # a breach still ends the day at the floor: the breaching trade absorbs it
            segment = np.repeat(np.arange(len(starts)), lengths)
            absorbed = np.zeros(len(starts))
            np.add.at(absorbed, segment[late], all_pnl[late])
            all_pnl[first[hit]] -= absorbed[hit]
        np.add.at(pnl, all_row[keep], all_pnl[keep])
    return _Settled(pnl, breached, all_row, all_pnl, order, keep, c_close)


def _trade_records(
    acc: Accounts, new: _NewTrades, carried: _Carried, settled: _Settled
) -> dict[str, np.ndarray]:
    """Every trade taken today (carried positions first), as columns."""
    kept_order = settled.order[settled.keep]
    n_carried = len(carried.index)
    is_carried = kept_order < n_carried
    t = kept_order[~is_carried] - n_carried
    c = kept_order[is_carried]
    held = carried.index
    adjusted = settled.all_pnl[settled.keep]
    cat = np.concatenate
    trades = {
        "row": cat([held[c], new.row[t]]),
        "symbol": cat([carried.symbol[c], new.symbol[t]]),
        "side": cat([carried.side[c], new.side[t]]),
        "notional": cat([acc.pos_notional[held][c], new.notional[t]]),
        "open_step": cat([np.full(len(c), -1), new.start[t]]),
        "close_step": cat([settled.carried_close[c], new.exits.step[t]]),
        "entry": cat([carried.entry[c], new.entry[t]]),
        "costs": cat([carried.costs[c], new.costs[t]]),
        "carried": cat([np.ones(len(c), bool), np.zeros(len(t), bool)]),
        "sl_used": cat([acc.pos_stop_set[held][c], new.sl_used[t]]),
        "tp_used": cat([acc.pos_take_profit_set[held][c], new.tp_used[t]]),
        "stop": cat([acc.pos_stop[held][c], new.stop_at[t]]),
        "take_profit": cat([acc.pos_take_profit[held][c], new.take_at[t]]),
    }
    net = cat([adjusted[is_carried], adjusted[~is_carried]])
    trades["profit"] = net - trades["costs"]
    return trades


def simulate_day(  # noqa: PLR0913
    acc: Accounts,
    traits: Traits,
    day: DayMarket,
    weekday: int,
    rng: np.random.Generator,
    detail: bool = True,
) -> DayOutcome:
    """Simulate one day for every account in ``acc``.

    The steps draw from ``rng`` in a fixed order (engagement, size, new trades,
    carried positions, the day's limits, overnight positions), so a world is a
    function of its seed.

    Args:
        acc: The accounts at the day's start.
        traits: Every trader's hidden traits (indexed by ``acc.trader``).
        day: The day's market (each account lives in scenario ``acc.scenario``).
        weekday: 0 = Monday … 4 = Friday.
        rng: The random generator (the world's, or the oracle's).
        detail: Also return every trade and the positions carried past the cutoff.
    """
    n = len(acc)
    engagement = _engagement(acc, traits, rng)
    size_level = _SIZE_PERSISTENCE * acc.size_level + _SIZE_SPREAD * np.sqrt(
        1 - _SIZE_PERSISTENCE**2
    ) * rng.standard_normal(n)
    acc_today = Accounts(**{**vars(acc), "size_level": size_level})
    daily_floor, dd_floor = floors(acc)
    floor = np.maximum(daily_floor, dd_floor)
    size = (
        _size_multiplier(acc_today, traits, dd_floor) * traits.leverage_use[acc.trader]
    )
    size = np.minimum(size, acc.leverage)

    new = _new_trades(acc, traits, day, engagement, size, rng)
    carried = _carried_trades(acc, day, rng)
    settled = _settle(acc, traits, day, floor, new, carried, rng)
    traded = np.zeros(n, dtype=bool)
    traded[settled.all_row] = True
    outcome = DayOutcome(
        pnl=settled.pnl,
        breached=settled.breached,
        traded=traded,
        engagement=engagement,
        tilt_level=_TILT_DECAY * acc.tilt_level + (settled.pnl < 0) * traded,
        size_level=size_level,
    )
    if not detail:
        return outcome
    outcome.trades = _trade_records(acc, new, carried, settled)
    outcome.overnight = _overnight(
        acc,
        traits,
        day,
        weekday,
        rng,
        new.active & ~settled.breached,
        size,
        settled.pnl,
    )
    return outcome


def _overnight(  # noqa: PLR0913
    acc: Accounts,
    traits: Traits,
    day: DayMarket,
    weekday: int,
    rng: np.random.Generator,
    candidates: np.ndarray,
    size: np.ndarray,
    pnl: np.ndarray,
) -> dict[str, np.ndarray]:
    """New positions opened at 22:00 and carried past the cutoff, marked at the close."""
    tr = acc.trader
    hold = (
        candidates
        & (rng.random(len(acc)) < traits.overnight[tr])
        & ~(acc.liquidate_friday & (weekday == _FRIDAY))
    )
    rows = np.flatnonzero(hold)
    symbol = _draw_symbols(traits.symbol_prefs[tr[rows]], rng)
    path = day.path_index(acc.scenario[rows], symbol)
    flat = day.paths.reshape(-1, STEPS + 1)
    # opened during the trader's session, or late in the day, and kept
    session = np.clip(
        (traits.session_hour[tr[rows]] / HOURS_PER_STEP).astype(np.int64), 0, STEPS - 1
    )
    start = rng.integers(np.minimum(session, _LAST_OPEN_STEP), _LAST_OPEN_STEP + 1)
    opened = flat[path, start]
    close = flat[path, STEPS]
    coming = (close - opened) / (
        day.sigma[symbol] * np.sqrt(np.maximum(STEPS - start, 1) / STEPS)
    )
    side = _direction(acc, traits, day, rows, symbol, coming, rng)
    notional = (
        size[rows] * _RISK_SIZING[symbol] * np.maximum(acc.balance[rows] + pnl[rows], 0)
    )
    hold_sd = day.sigma[symbol]  # it is held about a day
    return {
        "row": rows,
        "symbol": symbol,
        "side": side,
        "notional": notional,
        "open_step": start,
        "entry": opened,  # relative to today's opening; close - entry is its mark
        "close": close,
        "unrealised": side * notional * np.expm1(close - opened),
        "take_profit": traits.take_profit_at[tr[rows]] * hold_sd,
        "stop": traits.loss_tolerance[tr[rows]] * hold_sd,
        "sl_used": rng.random(len(rows)) < traits.stop_loss_use[tr[rows]],
        "tp_used": rng.random(len(rows)) < traits.take_profit_use[tr[rows]],
    }

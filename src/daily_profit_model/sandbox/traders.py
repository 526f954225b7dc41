"""Traders and their hidden traits.

Each trader is one of a few kinds (the mix is a world parameter). A kind sets the
distribution of the traits below; every trait is drawn per trader from it. None of
the traits is served by the API: models have to infer them from behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daily_profit_model.sandbox.market import INSTRUMENTS

# kind: (skill mean, skill sd, leverage use, activity, trades/day, hold hours, tilt)
_KINDS = {
    "gambler": (-0.12, 0.06, 3.0, 0.75, 6.0, 0.6, 0.8),
    "scalper": (-0.04, 0.05, 1.5, 0.85, 9.0, 0.25, 0.3),
    "swing": (-0.02, 0.06, 1.0, 0.45, 1.5, 9.0, 0.2),
    "disciplined": (0.03, 0.05, 0.8, 0.65, 3.0, 3.0, 0.0),
}
KINDS = tuple(_KINDS)
_SWING_HOLD_HOURS = 5  # kinds holding longer than this usually keep positions overnight


@dataclass
class Traits:
    """Hidden traits, one array entry per trader."""

    kind: np.ndarray
    skill: np.ndarray  # mean P&L per trade in units of its volatility
    leverage_use: np.ndarray  # notional per trade / equity
    activity: np.ndarray  # probability of trading on a weekday
    trades_per_day: np.ndarray
    hold_hours: np.ndarray
    session_hour: np.ndarray  # centre of the trader's trading hours (UTC)
    symbol_prefs: np.ndarray  # (n_traders, n_instruments), rows sum to 1
    long_bias: np.ndarray  # probability that a trade is a buy
    tilt: np.ndarray  # extra size and activity after a losing day
    target_caution: np.ndarray  # size cut near the profit target
    floor_gamble: np.ndarray  # extra size near the drawdown floor
    overnight: np.ndarray  # probability of holding a position past the cutoff
    stop_loss_use: np.ndarray
    take_profit_use: np.ndarray

    def __len__(self) -> int:
        return len(self.skill)


def sample_traits(n: int, mix: dict[str, float], rng: np.random.Generator) -> Traits:
    """Draw ``n`` traders whose kinds follow ``mix`` (kind → weight)."""
    unknown = set(mix) - set(_KINDS)
    if unknown:
        raise ValueError(
            f"sandbox.trader_mix has unknown kinds {sorted(unknown)}; use {KINDS}"
        )
    weights = np.array([mix.get(k, 0.0) for k in KINDS], dtype=float)
    kind = rng.choice(len(KINDS), size=n, p=weights / weights.sum())
    table = np.array([_KINDS[k] for k in KINDS])[kind]
    skill_mean, skill_sd, lev, activity, tpd, hold, tilt = table.T
    n_inst = len(INSTRUMENTS)
    concentration = rng.uniform(0.2, 1.5, size=(n, 1))
    prefs = rng.gamma(np.broadcast_to(concentration, (n, n_inst)))
    prefs /= prefs.sum(axis=1, keepdims=True)
    return Traits(
        kind=np.array(KINDS)[kind],
        skill=rng.normal(skill_mean, skill_sd),
        leverage_use=lev * rng.lognormal(0, 0.4, n),
        activity=np.clip(activity * rng.lognormal(0, 0.25, n), 0.05, 0.98),
        trades_per_day=tpd * rng.lognormal(0, 0.35, n),
        hold_hours=hold * rng.lognormal(0, 0.4, n),
        session_hour=rng.choice([3.0, 9.0, 14.5], size=n) + rng.normal(0, 1.0, n),
        symbol_prefs=prefs,
        long_bias=np.clip(rng.normal(0.58, 0.12, n), 0.05, 0.95),
        tilt=np.clip(tilt * rng.lognormal(0, 0.5, n), 0, 2),
        target_caution=rng.uniform(0, 0.7, n),
        floor_gamble=rng.uniform(0, 1.0, n) * (kind == 0) + rng.uniform(0, 0.3, n),
        overnight=np.clip(
            rng.beta(1.2, 4, n) + (hold > _SWING_HOLD_HOURS) * 0.4, 0, 0.95
        ),
        stop_loss_use=rng.beta(2, 2, n),
        take_profit_use=rng.beta(1.5, 2.5, n),
    )

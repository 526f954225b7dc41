"""Traders and their hidden traits.

Each trader is one of a few kinds (the mix is a world parameter). A kind sets the
distribution of the traits below; every trait is drawn per trader from it. None of
the traits is served by the API: models have to infer them from behaviour.

What makes retail books what they are (calibrated so that the default world's
stylized facts, ``sandbox.facts``, fall within their real-world ranges):

- the disposition effect: profits are taken early (``take_profit_at``, in units of the
  hold's volatility) and losers given room (``loss_tolerance``, larger), so most
  trades win a little and fewer lose more;
- timing ``skill``, mostly negative: how a trader's direction leans on the move to come;
- the crowd: each trader leans with the crowd's daily lean on an instrument
  (``crowd_loading``) and on the previous day's move (``momentum``: most are contrarian,
  buying dips);
- engagement: active, dormant or gone (``quit_hazard``, which rises in drawdowns), so
  accounts fall silent and are closed for inactivity;
- size that persists from day to day, and tilt that outlasts the day of the loss;
- a day's profit is locked in (``daily_goal``: no more trades once up that much),
  while a losing day goes on, so winning days are many and small, losing ones fewer
  and deeper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daily_profit_model.sandbox.market import INSTRUMENTS

# kind: (skill mean, skill sd, leverage use, activity, trades/day, hold hours, tilt)
_KINDS = {
    "gambler": (-0.15, 0.08, 1.6, 0.75, 4.0, 2.0, 0.8),
    "scalper": (-0.11, 0.06, 1.2, 0.85, 6.0, 0.8, 0.3),
    "swing": (-0.11, 0.08, 1.0, 0.45, 1.5, 8.0, 0.2),
    "disciplined": (-0.05, 0.06, 0.8, 0.65, 3.0, 4.0, 0.0),
}
KINDS = tuple(_KINDS)
# Each instrument's share of retail prop trading: gold and the Nasdaq lead, then EURUSD
# (so many accounts trade the same few instruments).
_POPULARITY = np.array(
    [
        {
            "EURUSD": 0.12,
            "GBPUSD": 0.07,
            "USDJPY": 0.05,
            "XAUUSD": 0.28,
            "SPX500": 0.06,
            "NDX100": 0.20,
            "US30": 0.08,
            "USOUSD": 0.04,
            "BTCUSD": 0.07,
            "ETHUSD": 0.03,
        }[i.symbol]
        for i in INSTRUMENTS
    ]
)
# The mean lean on the crowd at ``crowding`` 1: with it, the default world's firm total
# varies about six times as much as independent accounts would (sandbox.facts).
_CROWD_LOADING = 10.0
_SWING_HOLD_HOURS = 5  # kinds holding longer than this usually keep positions overnight


@dataclass
class Traits:
    """Hidden traits, one array entry per trader."""

    kind: np.ndarray
    skill: np.ndarray  # how the direction leans on the coming move (units of its sd)
    leverage_use: np.ndarray  # notional per trade / equity
    activity: np.ndarray  # probability of trading on a weekday when engaged
    trades_per_day: np.ndarray
    hold_hours: np.ndarray
    session_hour: np.ndarray  # centre of the trader's trading hours (UTC)
    symbol_prefs: np.ndarray  # (n_traders, n_instruments), rows sum to 1
    long_bias: np.ndarray  # probability that a trade is a buy, all else even
    crowd_loading: np.ndarray  # how much the trader leans with the crowd
    momentum: np.ndarray  # lean on yesterday's move (< 0: contrarian)
    take_profit_at: np.ndarray  # profit taken at this many hold-volatilities
    loss_tolerance: np.ndarray  # loss cut at this many (mental stop 1.3 times further)
    tilt: np.ndarray  # extra size and activity after losing days
    target_caution: np.ndarray  # size cut near the profit target
    floor_gamble: np.ndarray  # extra size near the drawdown floor
    overnight: np.ndarray  # probability of holding a position past the cutoff
    stop_loss_use: np.ndarray
    take_profit_use: np.ndarray
    quit_hazard: np.ndarray  # daily chance of giving up, before drawdowns
    daily_goal: np.ndarray  # stop for the day once up this share of the balance
    news_trading: np.ndarray  # share of trades opened just before a news release

    def __len__(self) -> int:
        return len(self.skill)


def sample_traits(
    n: int, mix: dict[str, float], rng: np.random.Generator, crowding: float = 1.0
) -> Traits:
    """Draw ``n`` traders whose kinds follow ``mix`` (kind → weight); ``crowding``
    scales how much they lean with the crowd."""
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
    prefs = rng.gamma(concentration * _POPULARITY * n_inst, size=(n, n_inst))
    prefs /= prefs.sum(axis=1, keepdims=True)
    take_profit = 0.32 * rng.lognormal(0, 0.25, n)
    return Traits(
        kind=np.array(KINDS)[kind],
        skill=rng.normal(skill_mean, skill_sd),
        leverage_use=lev * rng.lognormal(0, 0.4, n),
        activity=np.clip(activity * rng.lognormal(0, 0.25, n), 0.05, 0.98),
        trades_per_day=tpd * rng.lognormal(0, 0.35, n),
        hold_hours=hold * rng.lognormal(0, 0.4, n),
        # most trade the London open and the US data and open (the busy hours)
        session_hour=rng.choice([3.0, 8.5, 13.5, 14.5], size=n, p=[0.1, 0.3, 0.3, 0.3])
        + rng.normal(0, 0.7, n),
        symbol_prefs=prefs,
        long_bias=np.clip(rng.normal(0.58, 0.12, n), 0.05, 0.95),
        crowd_loading=crowding * _CROWD_LOADING * rng.gamma(2.0, 0.5, n),
        momentum=rng.normal(-0.25, 0.35, n),
        take_profit_at=take_profit,
        loss_tolerance=take_profit * rng.uniform(1.5, 2.5, n),
        tilt=np.clip(tilt * rng.lognormal(0, 0.5, n), 0, 2),
        target_caution=rng.uniform(0, 0.4, n),
        floor_gamble=rng.uniform(0, 0.2, n) * (kind == 0) + rng.uniform(0, 0.05, n),
        overnight=np.clip(
            rng.beta(1.5, 3, n) + (hold > _SWING_HOLD_HOURS) * 0.4, 0, 0.95
        ),
        stop_loss_use=rng.beta(2, 2, n),
        take_profit_use=rng.beta(1.5, 2.5, n),
        quit_hazard=rng.uniform(0.0005, 0.003, n),
        daily_goal=0.012 * rng.lognormal(0, 0.5, n),
        news_trading=rng.beta(2.0, 1.5, n),
    )

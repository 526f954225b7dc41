"""The market of the sandbox: instruments, one intraday price path per instrument and
day, the crowd's lean, and the daily regime document.

Equity moves and volatility regimes are real: the sandbox replays the daily S&P 500 and
VIX series that the ``arch`` package ships (2014-2018) from ``market_start`` on, so
its calm and stressed periods (VIX above 25 in August 2015, early 2016, February and
December 2018) are the real ones. Every instrument's daily return is its volatility of
the day times a standardised shock:

    r[s, t] = sigma[s, t] * (beta[s] * z_eq[t] + sqrt(1 - beta[s]**2) * eps[s, t])

``z_eq`` is the real S&P 500 move standardised by the VIX close of the day before, so
``sigma[s, t]`` (each instrument's typical volatility scaled by that VIX) is known at the
cutoff of day t-1: day t-1's regime document serves that VIX close. ``eps`` is a seeded
Student-t draw. Each day's path (``paths.bridge_paths``) ends at that return.

The crowd: retail books lean together. ``crowd[s, t]`` is the day's common lean on
instrument ``s`` (an AR(1) across days, hidden); traders load on it by their own
``crowd_loading``, more on violent days.

The oracle draws day t+1 from its distribution given day t: ``z_eq`` bootstrapped from
the history before day t+1 (never a later one), ``eps`` afresh, the crowd's lean from its AR(1), a new path; one
draw per scenario shared by every account, so scenarios also give the firm's total.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from daily_profit_model.sandbox.paths import STEPS, RangeTables, bridge_paths

TRADING_DAYS_PER_YEAR = 252
_T_DOF = 5
_CROWD_PERSISTENCE = 0.5
# VIX levels that name the regime in the daily document.
_VIX_HIGH, _VIX_LOW, _VIX_THIN_LIQUIDITY = 25, 14, 30


@dataclass(frozen=True)
class Instrument:
    """A tradable symbol: asset class, price level, contract size, yearly volatility."""

    symbol: str
    asset_class: str
    price: float
    contract_size: float
    annual_vol: float
    beta: float


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("EURUSD", "fx", 1.10, 100_000, 0.07, 0.15),
    Instrument("GBPUSD", "fx", 1.27, 100_000, 0.08, 0.20),
    Instrument("USDJPY", "fx", 150.0, 100_000, 0.09, 0.25),
    Instrument("XAUUSD", "metal", 2_300.0, 100, 0.15, -0.05),
    Instrument("SPX500", "index", 5_000.0, 1, 0.16, 1.0),
    Instrument("NDX100", "index", 18_000.0, 1, 0.21, 0.92),
    Instrument("US30", "index", 39_000.0, 1, 0.15, 0.95),
    Instrument("USOUSD", "energy", 80.0, 1_000, 0.35, 0.40),
    Instrument("BTCUSD", "crypto", 60_000.0, 1, 0.60, 0.35),
    Instrument("ETHUSD", "crypto", 3_000.0, 1, 0.75, 0.40),
)
SYMBOLS = tuple(i.symbol for i in INSTRUMENTS)
_BETA = np.array([i.beta for i in INSTRUMENTS])
_DAILY_VOL = np.array([i.annual_vol for i in INSTRUMENTS]) / np.sqrt(
    TRADING_DAYS_PER_YEAR
)


def _arch_series(name: str) -> pd.DataFrame:
    """One of the daily series the ``arch`` package ships, read from its file.

    ``arch.data.<name>.load()`` would import ``arch`` itself (scipy, statsmodels:
    about 9 s where bytecode is not cached); the file alone is a plain CSV.
    """
    package = importlib.util.find_spec("arch")
    if package is None or not package.submodule_search_locations:
        raise ModuleNotFoundError(
            "the sandbox replays the arch package's data: install arch"
        )
    folder = Path(package.submodule_search_locations[0]) / "data" / name
    frame = pd.read_csv(folder / f"{name}.csv.gz", parse_dates=["Date"])
    return frame.set_index("Date").apply(pd.to_numeric, errors="coerce")


@cache
def _history() -> pd.DataFrame:
    """Daily S&P 500 log return, the day's VIX close and the previous one's."""
    closes = pd.concat(
        {
            "sp500": _arch_series("sp500")["Adj Close"],
            "vix": _arch_series("vix")["vix"],
        },
        axis=1,
    ).dropna()
    history = np.log(closes[["sp500"]]).diff()
    history["vix_close"] = closes["vix"]
    history["vix_prev"] = closes["vix"].shift(1)
    return history.dropna()


def _crowd_shock(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, n_instruments)`` innovations of the crowd's lean: a common risk-on /
    risk-off mood (each instrument in proportion to its equity beta) plus its own."""
    mood = rng.standard_normal((n, 1))
    return _BETA * mood + np.sqrt(1 - _BETA**2) * rng.standard_normal((n, len(SYMBOLS)))


def _student(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_t(_T_DOF, size=shape) / np.sqrt(_T_DOF / (_T_DOF - 2))


@dataclass
class DayMarket:
    """One day's market in one or more scenarios (the world has one; the oracle many).

    Attributes:
        returns: ``(n_scenarios, n_instruments)`` close-to-close log returns.
        paths: ``(n_scenarios, n_instruments, STEPS + 1)`` log price since the
            previous close.
        crowd: ``(n_scenarios, n_instruments)`` the crowd's lean.
        sigma: ``(n_instruments,)`` the day's volatility (known the day before).
        previous_move: ``(n_instruments,)`` the previous day's move in units of its
            volatility (known).
        violence: how much more volatile the day is than usual (known).
    """

    returns: np.ndarray
    paths: np.ndarray
    crowd: np.ndarray
    sigma: np.ndarray
    previous_move: np.ndarray
    violence: float

    def __post_init__(self) -> None:
        self.tables = RangeTables(self.paths.reshape(-1, STEPS + 1))

    def path_index(self, scenario: np.ndarray, symbol: np.ndarray) -> np.ndarray:
        """Row of (scenario, instrument) in the flattened paths."""
        return scenario * len(INSTRUMENTS) + symbol

    def price(
        self, scenario: np.ndarray, symbol: np.ndarray, step: np.ndarray
    ) -> np.ndarray:
        """Log price since the previous close at ``step``."""
        return self.paths[scenario, symbol, step]


@dataclass
class Market:
    """The simulated trading days' market.

    Attributes:
        days: The simulated trading days (weekdays).
        returns: ``(n_days, n_instruments)`` daily log returns.
        sigma: ``(n_days, n_instruments)`` volatility of each day, known the day before.
        vix_close: The VIX close of the day each simulated day replays (served in that
            day's regime document).
        crowd: ``(n_days, n_instruments)`` the crowd's daily lean (hidden).
        paths: ``(n_days, n_instruments, STEPS + 1)`` intraday log paths.
        history_dates: The real date each simulated day replays.
        eq_shocks: The standardised equity shocks of the history, for the oracle.
        shocks_known: How many of them precede each simulated day (the oracle of
            day t draws from the first ``shocks_known[t]``: nothing after its cutoff).
    """

    days: pd.DatetimeIndex
    returns: np.ndarray
    sigma: np.ndarray
    vix_close: np.ndarray
    crowd: np.ndarray
    paths: np.ndarray
    history_dates: pd.DatetimeIndex
    eq_shocks: np.ndarray
    shocks_known: np.ndarray
    vix_mean: float

    def sigma_after(self, vix_close: float) -> np.ndarray:
        """Each instrument's volatility for the day after a VIX close (the rule the
        world uses: what a client can compute from a served document too)."""
        return _DAILY_VOL * vix_close / self.vix_mean

    def _known(self, t: int) -> tuple[np.ndarray, float]:
        previous = (
            self.returns[t - 1] / self.sigma[t - 1] if t > 0 else np.zeros(len(SYMBOLS))
        )
        return previous, float(np.mean(self.sigma[t] / _DAILY_VOL))

    def day(self, t: int) -> DayMarket:
        """Day ``t`` as it happened (one scenario)."""
        previous, violence = self._known(t)
        return DayMarket(
            returns=self.returns[t][None],
            paths=self.paths[t][None],
            crowd=self.crowd[t][None],
            sigma=self.sigma[t],
            previous_move=previous,
            violence=violence,
        )

    def scenarios(self, t: int, n: int, rng: np.random.Generator) -> DayMarket:
        """``n`` draws of day ``t`` from its distribution as of day t-1's cutoff."""
        sigma = self.sigma_after(float(self.vix_close[t - 1]))
        z_eq = rng.choice(self.eq_shocks[: self.shocks_known[t]], size=(n, 1))
        shock = _BETA * z_eq + np.sqrt(1 - _BETA**2) * _student(rng, (n, len(SYMBOLS)))
        returns = sigma * shock
        crowd = _CROWD_PERSISTENCE * self.crowd[t - 1] + np.sqrt(
            1 - _CROWD_PERSISTENCE**2
        ) * _crowd_shock(rng, n)
        previous, violence = self._known(t)
        return DayMarket(
            returns=returns,
            paths=bridge_paths(returns, sigma, rng),
            crowd=crowd,
            sigma=sigma,
            previous_move=previous,
            violence=violence,
        )


def build_market(days: pd.DatetimeIndex, seed: int, market_start: dt.date) -> Market:
    """The market of the simulated ``days``, replaying history from ``market_start``.

    Raises:
        ValueError: ``market_start`` leaves fewer history days than simulated days.
    """
    history = _history()
    start = int(history.index.searchsorted(pd.Timestamp(market_start)))
    if start + len(days) > len(history):
        raise ValueError(
            f"sandbox.market_start {market_start} leaves {len(history) - start} days "
            f"of replayed history (up to {history.index[-1].date()}), fewer than "
            f"sandbox.n_days {len(days)}: start earlier"
        )
    rng = np.random.default_rng([seed, 1])
    rows = history.iloc[start : start + len(days)]
    vix_mean = float(history["vix_prev"].mean())
    sigma = _DAILY_VOL * (rows["vix_prev"].to_numpy() / vix_mean)[:, None]
    # A day's equity shock: the real S&P 500 move over the volatility the VIX implied.
    implied = history["vix_prev"] / 100 / np.sqrt(TRADING_DAYS_PER_YEAR)
    all_shocks = (history["sp500"] / implied).to_numpy()
    z_eq = (rows["sp500"] / implied.loc[rows.index]).to_numpy()
    eps = _student(rng, (len(days), len(SYMBOLS)))
    returns = sigma * (_BETA * z_eq[:, None] + np.sqrt(1 - _BETA**2) * eps)
    crowd = np.empty_like(returns)
    crowd[0] = _crowd_shock(rng, 1)[0]
    for t in range(1, len(days)):
        crowd[t] = (
            _CROWD_PERSISTENCE * crowd[t - 1]
            + np.sqrt(1 - _CROWD_PERSISTENCE**2) * _crowd_shock(rng, 1)[0]
        )
    paths = np.stack(
        [bridge_paths(returns[t], sigma[t], rng) for t in range(len(days))]
    )
    return Market(
        days=days,
        returns=returns,
        sigma=sigma,
        vix_close=rows["vix_close"].to_numpy(),
        crowd=crowd,
        paths=paths,
        history_dates=pd.DatetimeIndex(rows.index),
        eq_shocks=all_shocks,
        shocks_known=np.maximum(start + np.arange(len(days)), 1),
        vix_mean=vix_mean,
    )


def regime_document(market: Market, t: int, prices: np.ndarray) -> dict:
    """The contract's daily regime document for simulated day ``t`` (all of it known
    at day t's close, the VIX close included)."""
    vix = float(market.vix_close[t])
    ret = market.returns[t]
    sp_ret = float(ret[SYMBOLS.index("SPX500")])
    volatility = "high" if vix > _VIX_HIGH else ("low" if vix < _VIX_LOW else "normal")
    return {
        "date": market.days[t].strftime("%Y-%m-%d"),
        "instruments": {
            "data": {
                s: {
                    "eod_price": round(float(prices[j]), 5),
                    "daily_return": round(float(ret[j]), 6),
                    "volatility_90d": round(
                        float(market.sigma[max(0, t - 89) : t + 1, j].mean())
                        * np.sqrt(TRADING_DAYS_PER_YEAR),
                        6,
                    ),
                }
                for j, s in enumerate(SYMBOLS)
            }
        },
        "country_economic_indicators": {
            "fed_funds_rate_effective": 1.5,
            "inflation_us_consumer_prices": 2.1,
            "treasury_2_year": 2.0,
            "treasury_10_year": 2.6,
            "unemployment_rate": 4.2,
            "real_gdp": 2.3,
        },
        "news_analysis": {
            "sentiment_summary": {
                "average_score": round(float(np.tanh(sp_ret * 50)), 4),
                "distribution": {
                    "bullish": round(float(0.5 + np.tanh(sp_ret * 50) / 2), 4),
                    "bearish": round(float(0.5 - np.tanh(sp_ret * 50) / 2), 4),
                },
            }
        },
        "summary": {
            "key_metrics": {
                "vix_close": round(vix, 2),
                "volatility_regime": volatility,
                "liquidity_state": "thin" if vix > _VIX_THIN_LIQUIDITY else "normal",
                "sentiment_level": "bullish" if sp_ret > 0 else "bearish",
                "yield_curve_shape": "normal",
                "anomaly_count": int(abs(sp_ret) > 3 * vix / 100 / 16),
            },
            "transition_probabilities": {
                "to_risk_on": round(float(np.clip(0.5 - (vix - 16) / 40, 0, 1)), 4),
                "to_risk_off": round(float(np.clip(0.3 + (vix - 16) / 40, 0, 1)), 4),
                "to_vol_spike": round(float(np.clip((vix - 12) / 60, 0, 1)), 4),
            },
        },
    }

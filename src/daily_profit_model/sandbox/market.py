"""The market of the sandbox: instruments, daily returns and the daily regime document.

Equity moves and volatility regimes are real: the sandbox replays the daily S&P 500 and
VIX series that the ``arch`` package ships (2014–2018). Simulated trading day ``k`` is
history day ``(offset + k) mod N`` for a seed-chosen offset. Every instrument's return
is its volatility of the day times a standardised shock:

    r[s, t] = sigma[s, t] * (beta[s] * z_eq[t] + sqrt(1 - beta[s]**2) * eps[s, t])

``z_eq`` is the real S&P 500 shock standardised by the previous day's VIX, so volatility
regimes, crashes and the correlation of all accounts on one day are real; ``eps`` is a
seeded Student-t draw. ``sigma[s, t]`` scales each instrument's typical volatility by
the previous day's VIX relative to its mean, so it is known at the cutoff of day t-1.

The oracle uses the same equations with ``z_eq`` bootstrapped from the whole history,
which is the conditional distribution of tomorrow's move given everything up to today.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TRADING_DAYS_PER_YEAR = 252
_T_DOF = 5
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


def _history() -> pd.DataFrame:
    """Daily log returns of the S&P 500 and the previous day's VIX, on common dates."""
    from arch.data import sp500, vix  # noqa: PLC0415

    closes = pd.concat(
        {"sp500": sp500.load()["Adj Close"], "vix": vix.load()["vix"]}, axis=1
    ).dropna()
    history = np.log(closes[["sp500"]]).diff()
    history["vix_prev"] = closes["vix"].shift(1)
    return history.dropna()


@dataclass
class Market:
    """Daily returns of every instrument over the simulated trading days.

    Attributes:
        days: The simulated trading days (weekdays).
        returns: ``(n_days, n_instruments)`` daily returns.
        sigma: ``(n_days, n_instruments)`` volatility of each day, known the day before.
        history_dates: The real date each simulated day replays.
        vix_prev: The VIX of the previous real day.
        eq_shocks: All standardised equity shocks of the history, for the oracle.
    """

    days: pd.DatetimeIndex
    returns: np.ndarray
    sigma: np.ndarray
    history_dates: pd.DatetimeIndex
    vix_prev: np.ndarray
    eq_shocks: np.ndarray

    def day_index(self, day: pd.Timestamp) -> int:
        """Position of ``day`` among the simulated trading days."""
        return int(self.days.get_loc(day))

    def sample_returns(self, t: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of day ``t``'s returns from their distribution as of day t-1."""
        z_eq = rng.choice(self.eq_shocks, size=(n, 1))
        eps = rng.standard_t(_T_DOF, size=(n, len(INSTRUMENTS))) / np.sqrt(
            _T_DOF / (_T_DOF - 2)
        )
        beta = np.array([i.beta for i in INSTRUMENTS])
        shock = beta * z_eq + np.sqrt(1 - beta**2) * eps
        return self.sigma[t] * shock


def build_market(days: pd.DatetimeIndex, seed: int) -> Market:
    """Build the market for the simulated ``days`` (weekdays), replaying real history."""
    history = _history()
    rng = np.random.default_rng([seed, 1])
    offset = int(rng.integers(0, len(history)))
    rows = history.iloc[(offset + np.arange(len(days))) % len(history)]
    vix_mean = history["vix_prev"].mean()
    regime = (rows["vix_prev"] / vix_mean).to_numpy()[:, None]
    daily_vol = np.array([i.annual_vol for i in INSTRUMENTS]) / np.sqrt(
        TRADING_DAYS_PER_YEAR
    )
    sigma = daily_vol * regime
    # A day's equity shock: the real S&P 500 move over the volatility the VIX implied.
    implied = history["vix_prev"] / 100 / np.sqrt(TRADING_DAYS_PER_YEAR)
    all_shocks = (history["sp500"] / implied).to_numpy()
    z_eq = (rows["sp500"] / implied.loc[rows.index]).to_numpy()
    eps = rng.standard_t(_T_DOF, size=(len(days), len(INSTRUMENTS))) / np.sqrt(
        _T_DOF / (_T_DOF - 2)
    )
    beta = np.array([i.beta for i in INSTRUMENTS])
    returns = sigma * (beta * z_eq[:, None] + np.sqrt(1 - beta**2) * eps)
    return Market(
        days=days,
        returns=returns,
        sigma=sigma,
        history_dates=pd.DatetimeIndex(rows.index),
        vix_prev=rows["vix_prev"].to_numpy(),
        eq_shocks=all_shocks,
    )


def regime_document(market: Market, t: int, prices: np.ndarray) -> dict:
    """The contract's daily regime document for simulated day ``t``."""
    vix = float(market.vix_prev[t])
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

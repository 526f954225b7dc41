"""The tables a sandbox world serves, built from its simulated days, and their files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from daily_profit_model.sandbox.market import (
    INSTRUMENTS,
    SYMBOLS,
    Market,
    regime_document,
)
from daily_profit_model.sandbox.metrics import (
    ACCOUNT_IDENTITY,
    daily_metrics,
    hourly_metrics,
)
from daily_profit_model.sandbox.paths import HOURS_PER_STEP, STEPS

# Account status codes of the contract.
STATUS_ACTIVE, STATUS_BREACHED, STATUS_PASSED = 1, 2, 3
_CONTRACT_SIZES = np.array([i.contract_size for i in INSTRUMENTS])


def step_times(day: pd.Timestamp, steps: np.ndarray) -> pd.DatetimeIndex:
    """The times of (fractional) ``steps`` of ``day``, to the millisecond."""
    millis = np.round(np.asarray(steps, dtype=float) * HOURS_PER_STEP * 3_600_000)
    return pd.DatetimeIndex(
        np.datetime64(day.to_datetime64(), "ms") + millis.astype("timedelta64[ms]")
    ).as_unit("ns")


def position_columns(  # noqa: PLR0913
    day: pd.Timestamp,
    ident: pd.DataFrame,
    position: np.ndarray,
    symbol: np.ndarray,
    side: np.ndarray,
    notional: np.ndarray,
    price: np.ndarray,
) -> dict:
    """The columns a closed trade and an open position share."""
    contract = _CONTRACT_SIZES[symbol]
    unit_usd = np.where(np.array(SYMBOLS)[symbol] == "USDJPY", 1.0, price)
    lots = np.round(notional / (contract * unit_usd), 2)
    return {
        "trade_date": day.date(),
        "broker": ident["broker"],
        "mngr": "sandbox",
        "platform": ident["platform"],
        "ticket": np.char.add("T", position.astype(str)),
        "position": position.astype(str),
        "login": ident["login"],
        "std_symbol": np.array(SYMBOLS)[symbol],
        "side": np.where(side > 0, "buy", "sell"),
        "lots": lots,
        "contract_size": contract,
        "qty_in_base_crncy": lots * contract,
        "volume_usd": np.round(notional, 2),
        "account_id": ident["account_id"],
    }


class ServedRows:
    """Builds the rows the API serves from a day's simulation."""

    def __init__(
        self, market: Market, prices: np.ndarray, days: pd.DatetimeIndex
    ) -> None:
        self.market = market
        self.prices = prices
        self.days = days
        self.position_counter: dict[str, int] = {}

    def next_positions(self, brokers: np.ndarray) -> np.ndarray:
        """Position numbers, counted per broker (so two brokers reuse the same ones)."""
        numbers = np.empty(len(brokers), dtype=np.int64)
        for broker in np.unique(brokers):
            where = np.flatnonzero(brokers == broker)
            start = self.position_counter.get(broker, 5_000_000)
            numbers[where] = start + np.arange(len(where))
            self.position_counter[broker] = start + len(where)
        return numbers

    def previous_close(self, t: int) -> np.ndarray:
        """Every instrument's close of the day before day ``t`` (day ``t``'s opening)."""
        return (
            self.prices[t - 1]
            if t > 0
            else self.prices[0] / np.exp(self.market.returns[0])
        )

    def identity(self, live: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
        """The served identity columns of the accounts at ``rows`` of ``live``."""
        columns = {c: "trader_name" if c == "trader" else c for c in ACCOUNT_IDENTITY}
        return pd.DataFrame(
            {c: live[source].to_numpy()[rows] for c, source in columns.items()}
        )

    def trade_rows(self, t: int, live: pd.DataFrame, trades: dict) -> pd.DataFrame:
        """The day's closed trades in the contract's shape (snake_case columns)."""
        rows = trades["row"]
        ident = self.identity(live, rows)
        day = self.days[t]
        sym = trades["symbol"]
        carried = trades["carried"]
        position = np.where(
            carried,
            live["pos_id"].to_numpy()[rows],
            self.next_positions(ident["broker"].to_numpy()),
        )
        # prices on the day's path: its opening (the last close) times exp(log move)
        open_price = np.where(
            carried,
            live["pos_open_price"].to_numpy()[rows],
            self.previous_close(t)[sym] * np.exp(trades["entry"]),
        )
        side, notional, profit = trades["side"], trades["notional"], trades["profit"]
        close_price = open_price * (
            1 + profit / np.where(notional > 0, side * notional, 1)
        )
        open_time = step_times(day, trades["open_step"])
        # a carried position was opened on the previous trading day (when it was
        # served as open), whatever the weekend in between
        opened_before = step_times(
            self.days[t - 1] if t > 0 else day, live["pos_open_step"].to_numpy()[rows]
        )
        open_time = pd.DatetimeIndex(np.where(carried, opened_before, open_time))
        close_time = step_times(day, np.minimum(trades["close_step"], STEPS - 0.01))
        return pd.DataFrame(
            {
                **position_columns(
                    day, ident, position, sym, side, notional, open_price
                ),
                "stop_loss": np.where(
                    trades["sl_used"],
                    open_price * np.exp(-side * trades["stop"]),
                    np.nan,
                ),
                "take_profit": np.where(
                    trades["tp_used"],
                    open_price * np.exp(side * trades["take_profit"]),
                    np.nan,
                ),
                "open_time": open_time.tz_localize("UTC"),
                "open_price": open_price,
                "close_time": close_time.tz_localize("UTC"),
                "close_price": close_price,
                "duration": (close_time - open_time).total_seconds() / 60,
                "profit": np.round(profit, 2),
                "commission": np.round(np.where(carried, 0.0, trades["costs"]), 2),
                "fee": 0.0,
                "swap": np.round(np.where(carried, trades["costs"], 0.0), 2),
                "comment": "",
            }
        )

    def day_rows(  # noqa: PLR0913
        self,
        t: int,
        live: pd.DataFrame,
        trades: pd.DataFrame,
        open_trades: pd.DataFrame,
        status: np.ndarray,
        prior_balance: np.ndarray,
        prior_equity: np.ndarray,
        payouts: np.ndarray,
    ) -> None:
        day = self.days[t]
        active_rows = np.flatnonzero(live["last_trade_t"].to_numpy() == t)
        event_rows = np.union1d(
            active_rows, np.flatnonzero((status != STATUS_ACTIVE) | (payouts > 0))
        )
        ident = self.identity(live, event_rows)
        accounts = pd.DataFrame(
            {
                **{c: ident[c].to_numpy() for c in ident.columns},
                "status": status[event_rows],
                "phase": live["phase"].to_numpy()[event_rows],
                "starting_balance": live["starting_balance"].to_numpy()[event_rows],
                "prior_days_balance": prior_balance[event_rows],
                "prior_days_equity": prior_equity[event_rows],
                "current_balance": live["balance"].to_numpy()[event_rows],
                "current_equity": live["equity"].to_numpy()[event_rows],
                "todays_payouts": payouts[event_rows],
                "approved_payouts": live["payouts"].to_numpy()[event_rows],
                "days_to_next_payout": np.where(
                    live["phase"].to_numpy()[event_rows] == 4,  # noqa: PLR2004
                    (live["next_payout_t"].to_numpy()[event_rows] - t) * 7 // 5,
                    0,
                ),
                "first_trade_t": live["first_trade_t"].to_numpy()[event_rows],
                "created_t": live["created_t"].to_numpy()[event_rows],
            }
        )
        dates = self.days.to_numpy().astype("datetime64[D]")
        first = accounts["first_trade_t"].to_numpy()
        traded = first >= 0
        first_date = pd.Series(dates[np.maximum(first, 0)]).dt.date.to_numpy()
        accounts["first_trade_date"] = np.where(traded, first_date, None)
        age = np.datetime64(day.date()) - dates[accounts["created_t"].to_numpy()]
        accounts["days_since_initial_deposit"] = age.astype(np.int64)
        since = (np.datetime64(day.date()) - dates[np.maximum(first, 0)]).astype(float)
        accounts["days_since_first_trade"] = np.where(traded, since, np.nan)
        accounts = accounts.drop(columns=["first_trade_t", "created_t"])
        return {
            "metrics_daily": daily_metrics(day, accounts, trades),
            "metrics_hourly": hourly_metrics(day, accounts, trades),
            "trades_closed": trades.drop(columns=["account_id"]),
            "trades_open": open_trades.drop(columns=["account_id"]),
            "regimes": pd.DataFrame(
                {
                    "date": [day.date()],
                    "document": [
                        json.dumps(regime_document(self.market, t, self.prices[t]))
                    ],
                }
            ),
        }


class WorldOutput:
    """Buffers a world's tables between the chunks that carry them out."""

    def __init__(self) -> None:
        self.buffers: dict[str, list[pd.DataFrame]] = {}
        self.counts: dict[str, int] = {}

    def buffer(self, table: str, frame: pd.DataFrame) -> None:
        if len(frame):
            self.buffers.setdefault(table, []).append(frame)
            self.counts[table] = self.counts.get(table, 0) + len(frame)

    def take(self) -> dict[str, pd.DataFrame]:
        """The rows buffered since the last call, one frame per table."""
        tables = {
            table: pd.concat(frames, ignore_index=True)
            for table, frames in self.buffers.items()
        }
        self.buffers = {}
        return tables

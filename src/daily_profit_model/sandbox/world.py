"""Generate a sandbox world day by day, writing it to parquet in bounded memory.

The world is a folder of parquet datasets, the tables the API serves and, apart, the
ground truth that only scoring may read:

- ``accounts``, ``trades_closed``, ``trades_open``, ``metrics_daily``,
  ``metrics_hourly``, ``regimes``: what the API serves (the server derives the
  alltime metrics "as of now" from the daily ones);
- ``truth_oracle``: for every account alive at a cutoff, the true 5%, 50% and 95%
  quantiles and the mean of its next-day ``netProfit``; ``truth_traders``: the hidden
  traits; ``truth_accounts``: which trader owns which account.

Lifecycle: traders arrive (a share on day one, the rest uniformly), buy an entry
challenge of a random plan chain, breach (and retry with some probability), pass (and
continue on the upgrade plan the next day), go inactive (closed after the plan's
inactivity period) or run out of time. Funded accounts are paid out every 14 days.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from daily_profit_model.sandbox.config import WorldConfig
from daily_profit_model.sandbox.engine import ACTIVE, GONE, Accounts, simulate_day
from daily_profit_model.sandbox.handle import WorldPart, write_part
from daily_profit_model.sandbox.market import (
    INSTRUMENTS,
    Market,
    build_market,
)
from daily_profit_model.sandbox.metrics import ACCOUNT_IDENTITY
from daily_profit_model.sandbox.oracle import oracle_tables
from daily_profit_model.sandbox.plans import PlanBook, load_plan_book
from daily_profit_model.sandbox.records import (
    STATUS_ACTIVE,
    STATUS_BREACHED,
    STATUS_PASSED,
    ServedRows,
    WorldOutput,
    position_columns,
    step_times,
)
from daily_profit_model.sandbox.registry import Registry
from daily_profit_model.sandbox.traders import Traits, sample_traits

logger = logging.getLogger(__name__)

PAYOUT_EVERY_DAYS = 14
_BALANCE_AVERSION = 0.6  # a 200k challenge sells 1/6 as often as a 10k one
_STATE_FIELDS = tuple(Accounts.__dataclass_fields__)
# The carried position of an account without one.
_NO_POSITION = {
    "pos_symbol": -1,
    "pos_side": 0.0,
    "pos_notional": 0.0,
    "pos_unrealised": 0.0,
    "pos_id": -1,
    "pos_open_price": 0.0,
    "pos_open_step": 0,
    "pos_entry": 0.0,
    "pos_take_profit": 0.0,
    "pos_stop": 0.0,
    "pos_stop_set": False,
    "pos_take_profit_set": False,
}
_PUBLIC_ACCOUNT_COLUMNS = (
    *ACCOUNT_IDENTITY,
    "status",
    "phase",
    "starting_balance",
    "created_date",
)


class WorldBuilder:
    """Runs the simulation and writes the world's tables to ``folder``."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng([config.seed, 0])
        self.oracle_rng = np.random.default_rng([config.seed, 2])
        self.days = pd.bdate_range(config.start_date, periods=config.n_days)
        self.market: Market = build_market(self.days, config.seed, config.market_start)
        self.plans: PlanBook = load_plan_book()
        self.traits: Traits = sample_traits(
            config.n_traders, config.trader_mix, self.rng, config.crowding
        )
        self.prices = np.array([i.price for i in INSTRUMENTS]) * np.exp(
            np.cumsum(self.market.returns, axis=0)
        )
        self.registry = Registry()
        # most challenges bought are small: a plan's share falls with its balance
        balances = self.plans.rules.loc[self.plans.entry_plans, "starting_balance"]
        weights = (balances.to_numpy(dtype=float) / 10_000) ** -_BALANCE_AVERSION
        self._entry_weights = weights / weights.sum()
        self.live = pd.DataFrame()
        self.served = ServedRows(self.market, self.prices, self.days)
        self.output = WorldOutput()
        arrival = self.rng.integers(0, config.n_days, config.n_traders)
        arrival[self.rng.random(config.n_traders) < config.share_starting] = 0
        self.pending: dict[int, list[int]] = {}
        self._upgrades: dict[tuple[int, int], int] = {}
        for trader, day in enumerate(arrival):
            self.pending.setdefault(int(day), []).append(trader)

    # --- accounts ----------------------------------------------------------------

    def _open_accounts(self, t: int, entries: list[tuple[int, int]]) -> None:
        """Open accounts for (trader, plan_id) pairs on day ``t``."""
        if not entries:
            return
        traders = np.array([trader for trader, _ in entries], dtype=np.int64)
        plan = self.plans.rules.loc[[plan_id for _, plan_id in entries]].reset_index(
            drop=True
        )
        balance = plan["starting_balance"].to_numpy(dtype=float)
        rows = self.registry.open(traders, plan, self.days[t], self.rng).assign(
            trader=traders,
            starting_balance=balance,
            balance=balance,
            equity=balance,
            high_water=balance,
            prev_pnl=0.0,
            phase=plan["phase"].to_numpy(),
            target_pct=plan["profit_target_pct"].to_numpy(),
            max_dd_pct=plan["max_drawdown_pct"].to_numpy(),
            daily_loss_pct=plan["daily_loss_pct"].to_numpy(),
            drawdown_static=plan["drawdown_static"].to_numpy(dtype=bool),
            daily_by_equity=plan["daily_by_equity"].to_numpy(dtype=bool),
            leverage=plan["leverage"].to_numpy(),
            liquidate_friday=plan["liquidate_friday"].to_numpy(dtype=bool),
            scenario=0,
            engagement=ACTIVE,
            tilt_level=0.0,
            size_level=0.0,
            **_NO_POSITION,
            created_t=t,
            last_trade_t=t,
            days_traded=0,
            first_trade_t=-1,
            next_payout_t=t + PAYOUT_EVERY_DAYS,
            payouts=0.0,
            min_days=plan["min_days"].to_numpy(),
            max_days=plan["max_days"].to_numpy(),
            inactivity_days=plan["inactivity_days"].to_numpy(),
            upgrade_plan_id=plan["upgrade_plan_id"].to_numpy(),
            trader_share=plan["trader_share"].to_numpy(),
        )
        self.live = (
            rows if self.live.empty else pd.concat([self.live, rows], ignore_index=True)
        )

    def _entry_plans(self, n: int) -> np.ndarray:
        return self.rng.choice(self.plans.entry_plans, size=n, p=self._entry_weights)

    def _state(self, live: pd.DataFrame) -> Accounts:
        return Accounts(**{f: live[f].to_numpy() for f in _STATE_FIELDS})

    # --- one day -----------------------------------------------------------------

    def step(self, t: int) -> None:
        """Simulate day ``t``: arrivals, trading, lifecycle, and the oracle at its cutoff."""
        arriving = self.pending.pop(t, [])
        plans = [self._upgrades.pop((t, trader), None) for trader in arriving]
        fresh = [i for i, plan in enumerate(plans) if plan is None]
        for i, plan in zip(fresh, self._entry_plans(len(fresh)), strict=True):
            plans[i] = int(plan)
        entries = list(zip(arriving, plans, strict=True))
        self._open_accounts(t, entries)
        if self.live.empty:
            return
        live = self.live
        state = self._state(live)
        outcome = simulate_day(
            state, self.traits, self.market.day(t), self.days[t].weekday(), self.rng
        )
        trades = self.served.trade_rows(t, live, outcome.trades)
        prior_balance = live["balance"].to_numpy().copy()
        prior_equity = live["equity"].to_numpy().copy()

        # Balances move by the trades as served (rounded to cents), so they reconcile.
        served_net = (
            trades[["profit", "commission", "swap", "fee"]].sum(axis=1).to_numpy()
        )
        day_pnl = np.bincount(
            outcome.trades["row"], weights=served_net, minlength=len(live)
        )
        live["balance"] = prior_balance + day_pnl
        traded = outcome.traded
        live.loc[traded, "last_trade_t"] = t
        live.loc[traded, "days_traded"] += 1
        live.loc[traded & (live["first_trade_t"] < 0), "first_trade_t"] = t
        live["prev_pnl"] = np.where(traded, day_pnl, 0.0)
        live["engagement"] = outcome.engagement
        live["tilt_level"] = outcome.tilt_level
        live["size_level"] = outcome.size_level
        for column, value in _NO_POSITION.items():
            live[column] = value
        status = np.where(outcome.breached, STATUS_BREACHED, STATUS_ACTIVE)

        passed = (
            (live["phase"] < 4)  # noqa: PLR2004
            & (status == STATUS_ACTIVE)
            & (
                live["balance"]
                >= live["starting_balance"] * (1 + live["target_pct"] / 100)
            )
            & (live["days_traded"] >= live["min_days"])
            & (live["target_pct"] > 0)
        ).to_numpy()
        status[passed] = STATUS_PASSED
        age = t - live["created_t"].to_numpy()
        out_of_time = (live["max_days"].to_numpy() > 0) & (
            age >= live["max_days"].to_numpy()
        )
        # the plan's inactivity period counts calendar days since the last trade
        idle_days = (self.days[t] - self.days[live["last_trade_t"].to_numpy()]).days
        inactive = np.asarray(idle_days) >= live["inactivity_days"].to_numpy()
        status[(status == STATUS_ACTIVE) & (out_of_time | inactive)] = STATUS_BREACHED

        payouts = self._payouts(t, live, status)
        open_trades = self._carry_overnight(t, live, outcome.overnight, status)
        live["equity"] = live["balance"] + live["pos_unrealised"]
        live["high_water"] = np.maximum(live["high_water"], live["equity"])

        served = self.served.day_rows(
            t, live, trades, open_trades, status, prior_balance, prior_equity, payouts
        )
        for table, frame in served.items():
            self.output.buffer(table, frame)
        self._close_accounts(t, live, status)
        self.live = live[status == STATUS_ACTIVE].reset_index(drop=True)
        if (
            self.config.oracle_scenarios
            and t + 1 < len(self.days)
            and not self.live.empty
        ):
            self._oracle(t)

    def _payouts(self, t: int, live: pd.DataFrame, status: np.ndarray) -> np.ndarray:
        due = (
            (live["phase"].to_numpy() == 4)  # noqa: PLR2004
            & (status == STATUS_ACTIVE)
            & (live["next_payout_t"].to_numpy() <= t)
        )
        profit = np.maximum(
            live["balance"].to_numpy() - live["starting_balance"].to_numpy(), 0
        )
        # The whole profit leaves the account: the trader's share is paid out, the
        # firm keeps the rest. todays_payouts is what left the balance.
        withdrawn = np.where(due, profit, 0.0)
        live["balance"] = live["balance"] - withdrawn
        live.loc[due, "next_payout_t"] = t + PAYOUT_EVERY_DAYS
        live["payouts"] = live["payouts"] + withdrawn * live["trader_share"].to_numpy()
        return withdrawn

    def _close_accounts(self, t: int, live: pd.DataFrame, status: np.ndarray) -> None:
        ended = np.flatnonzero(status != STATUS_ACTIVE)
        self.registry.close(live, ended, status[ended], self.days[t])
        rules = self.plans.rules
        trader = live["trader"].to_numpy()
        upgrade = live["upgrade_plan_id"].to_numpy()
        engagement = live["engagement"].to_numpy()
        for i in ended:
            if status[i] == STATUS_PASSED:
                if int(upgrade[i]) in rules.index:
                    self.pending.setdefault(t + 1, []).append(int(trader[i]))
                    self._upgrades[(t + 1, int(trader[i]))] = int(upgrade[i])
            elif (
                engagement[i] != GONE
                and self.rng.random() < self.config.retry_probability
            ):
                restart = t + 1 + int(self.rng.integers(0, 10))
                self.pending.setdefault(restart, []).append(int(trader[i]))

    # --- the oracle --------------------------------------------------------------

    def _oracle(self, t: int) -> None:
        """True quantiles of tomorrow's netProfit for every account alive at cutoff t."""
        k = self.config.oracle_scenarios
        outcome = simulate_day(
            self._state(self.live).repeat(k),
            self.traits,
            self.market.scenarios(t + 1, k, self.oracle_rng),
            self.days[t + 1].weekday(),
            self.oracle_rng,
            detail=False,
        )
        draws = outcome.pnl.reshape(k, len(self.live))
        cutoff, target = self.days[t].date(), self.days[t + 1].date()
        for table, frame in oracle_tables(self.live, draws, cutoff, target).items():
            self.output.buffer(table, frame)

    def _carry_overnight(
        self, t: int, live: pd.DataFrame, overnight: dict, status: np.ndarray
    ) -> pd.DataFrame:
        """Record positions held past the cutoff by accounts that stay alive."""
        keep = status[overnight["row"]] == STATUS_ACTIVE
        held = {k: v[keep] for k, v in overnight.items()}
        rows, sym, side = held["row"], held["symbol"], held["side"]
        ident = self.served.identity(live, rows)
        position = self.served.next_positions(ident["broker"].to_numpy())
        price = self.served.previous_close(t)[sym] * np.exp(held["entry"])
        columns = {
            "pos_symbol": sym,
            "pos_side": side,
            "pos_notional": held["notional"],
            "pos_unrealised": held["unrealised"],
            "pos_id": position,
            "pos_open_price": price,
            "pos_open_step": held["open_step"],
            # tomorrow's path starts at today's close: the entry relative to it
            "pos_entry": held["entry"] - held["close"],
            "pos_take_profit": held["take_profit"],
            "pos_stop": held["stop"],
            "pos_stop_set": held["sl_used"],
            "pos_take_profit_set": held["tp_used"],
        }
        for column, values in columns.items():
            live.loc[rows, column] = values
        day = self.days[t]
        return pd.DataFrame(
            {
                **position_columns(
                    day, ident, position, sym, side, held["notional"], price
                ),
                "stop_loss": np.where(
                    held["sl_used"], price * np.exp(-side * held["stop"]), np.nan
                ),
                "take_profit": np.where(
                    held["tp_used"], price * np.exp(side * held["take_profit"]), np.nan
                ),
                "open_time": step_times(day, held["open_step"]).tz_localize("UTC"),
                "open_price": price,
                "profit": np.round(held["unrealised"], 2),
                "commission": 0.0,
                "fee": 0.0,
                "swap": 0.0,
                "comment": "",
            }
        )

    def parts(self) -> Iterator[WorldPart]:
        """Run every day; yield the world's tables chunk by chunk, then its summary.

        A chunk holds ``chunk_days`` days of every served table, the accounts closed
        in them and the oracle of their cutoffs; the last part also holds the accounts
        still open, the traders' hidden traits and the world's summary.
        """
        started = time.perf_counter()
        fingerprint = self.config.fingerprint()
        chunk = 0
        for t in range(len(self.days)):
            self.step(t)
            last = t + 1 == len(self.days)
            if (t + 1) % self.config.chunk_days and not last:
                continue
            if last:
                self.registry.close(  # accounts still open at the end
                    self.live,
                    np.arange(len(self.live)),
                    np.full(len(self.live), STATUS_ACTIVE),
                    pd.NaT,
                )
            tables = self.output.take() | self._account_tables(
                self.registry.take_closed()
            )
            closed = self.output.counts.get("trades_closed", 0)
            logger.info(
                "Sandbox day %d/%d (%s): %d live accounts, %d closed trades so far "
                "(%.0f trades/s)",
                t + 1,
                len(self.days),
                self.days[t].date(),
                len(self.live),
                closed,
                closed / max(time.perf_counter() - started, 1e-9),
            )
            if last:
                tables["truth_traders"] = self._traits_table()
            yield WorldPart(
                fingerprint, chunk, tables, self._summary(started) if last else None
            )
            chunk += 1

    def build(self, folder: Path) -> dict:
        """Run the world and write it to ``folder`` (for scripts and tests; the
        ``sandbox`` pipeline runs :meth:`parts` in a node and saves them)."""
        summary: dict = {}
        for part in self.parts():
            write_part(folder, part)
            summary = part.summary or summary
        return summary

    def _summary(self, started: float) -> dict:
        elapsed = time.perf_counter() - started
        summary = {
            "config": self.config.world_config().model_dump(mode="json"),
            "fingerprint": self.config.fingerprint(),
            "first_day": str(self.days[0].date()),
            "last_day": str(self.days[-1].date()),
            "accounts": self.registry.opened,
            "rows": dict(self.output.counts),
            "seconds": round(elapsed, 2),
        }
        logger.info(
            "Sandbox world %s: %d accounts, %d closed trades in %.1f s",
            summary["fingerprint"],
            summary["accounts"],
            self.output.counts.get("trades_closed", 0),
            elapsed,
        )
        return summary

    def _account_tables(self, closed: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The public ``accounts`` rows and the ``truth_accounts`` rows of ``closed``."""
        if closed.empty:
            return {}
        public = closed[list(_PUBLIC_ACCOUNT_COLUMNS)].copy()
        public["created_date"] = pd.to_datetime(public["created_date"]).dt.tz_localize(
            "UTC"
        )
        truth = closed[
            ["account_id", "trader_index", "created_date", "ended_date"]
        ].copy()
        truth["kind"] = self.traits.kind[truth["trader_index"]]
        return {"accounts": public, "truth_accounts": truth}

    def _traits_table(self) -> pd.DataFrame:
        return (
            pd.DataFrame(
                {k: v for k, v in vars(self.traits).items() if k != "symbol_prefs"}
            )
            .rename_axis("trader_index")
            .reset_index()
        )

"""The sandbox's plans: a sample of the firm's real plan export, in its own format.

``data/plans_sample.csv`` holds 72 real plans (24 upgrade chains: Rapid, Royal, Knight
and Dragon challenges from 5k to 200k) with all 95 columns of the export, so the same
file feeds the simulation and the plan ingestion. The simulation reads the rule
columns below; the quirks of the real export are interpreted as the firm does:

- ``maximumTime`` 0 means no time limit; ``dailyLossLimitPct`` 0 means no daily limit;
- ``profitSharePct`` on funded plans is the firm's share when it is at most 50
  (real exports say 15 where traders keep 85%), the trader's share otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from daily_profit_model.plan_format import DATE_FORMAT, read_plan_export

PLAN_SAMPLE = "plans_sample.csv"
# profitSharePct at or below this is the firm's share (see the module docstring).
_FIRM_SHARE_MAX = 50
_PHASES = {"Phase 1": 1, "Phase 2": 2, "Phase 3": 3, "Funded": 4}
_TYPE_CODES = {
    "Standard": 1,
    "Rapid": 2,
    "Royal": 3,
    "Knight": 4,
    "Dragon": 5,
    "Knight Pro": 6,
    "Royal Pro": 7,
    "Relaunch": 8,
}


@dataclass(frozen=True)
class PlanBook:
    """The rules of every plan, one row per ``plan_id``, and the entry plans."""

    rules: pd.DataFrame
    entry_plans: np.ndarray

    def __len__(self) -> int:
        return len(self.rules)


def load_plan_book() -> PlanBook:
    """The plans the sandbox simulates, with their rules as numbers."""
    source = resources.files("daily_profit_model.sandbox") / "data" / PLAN_SAMPLE
    with source.open("r", encoding="utf-8", newline="") as handle:
        raw = read_plan_export(handle).frame
    number = lambda col: pd.to_numeric(raw[col], errors="coerce").fillna(0)  # noqa: E731
    kind = raw["type"].str.replace(r" Challenge.*", "", regex=True)
    phase = raw["type"].str.extract(r"(Phase \d|Funded)$")[0].map(_PHASES)
    share = number("profitSharePct")
    rules = pd.DataFrame(
        {
            "plan_id": number("planId").astype(np.int64),
            "type": kind.map(_TYPE_CODES).fillna(1).astype(np.int16),
            "phase": phase.fillna(1).astype(np.int16),
            "starting_balance": number("startingBalance"),
            "profit_target_pct": number("profitTargetPct"),
            "max_drawdown_pct": number("maxTrailingDrawdownPct"),
            "daily_loss_pct": number("dailyLossLimitPct"),
            "drawdown_static": number("makeDrawdownStatic").astype(bool),
            "daily_by_equity": number("dailyDrawdownByBalanceEquity").astype(bool),
            "leverage": number("leverage").clip(lower=1),
            "trader_share": np.where(
                share <= _FIRM_SHARE_MAX, 1 - share / 100, share / 100
            ),
            "min_days": number("minimumRequiredActiveTradingDays").astype(np.int32),
            "max_days": number("maximumTime").astype(np.int32),
            "inactivity_days": number("inactivityPeriod").astype(np.int32),
            "liquidate_friday": number("liquidateFriday").astype(bool),
            "upgrade_plan_id": number("upgradePlanId").astype(np.int64),
            "platform": raw["platform"],
            "broker": raw["broker"],
        }
    ).set_index("plan_id", drop=False)
    upgrades = set(rules["upgrade_plan_id"])
    entry = rules[(rules["phase"] == 1) & ~rules["plan_id"].isin(upgrades)]
    return PlanBook(rules=rules, entry_plans=entry["plan_id"].to_numpy())


def plan_export_text(first_day: str) -> str:
    """The sandbox firm's plan export: the sample with its dates moved before the
    world's first day (its plans are on sale from the start), spacing kept.

    Args:
        first_day: The world's first simulated day (``YYYY-MM-DD``).
    """
    source = resources.files("daily_profit_model.sandbox") / "data" / PLAN_SAMPLE
    with source.open("r", encoding="utf-8", newline="") as handle:
        export = read_plan_export(handle).frame
    dates = {
        c: pd.to_datetime(export[c], format=DATE_FORMAT)
        for c in ("inserted", "updated")
    }
    latest = max(d.max() for d in dates.values())
    shift = max(
        latest - (pd.Timestamp(first_day) - pd.Timedelta(days=30)), pd.Timedelta(0)
    )
    for column, values in dates.items():
        export[column] = (values - shift).dt.strftime(DATE_FORMAT)
    return export.to_csv(index=False, lineterminator="\n")

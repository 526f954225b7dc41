"""Plan exports (the firm's CSV format) into ``raw_plans``, with the oddities reported.

Every row of every export is kept: the rule columns typed, and the whole row as text in
``row_data``. A row is quarantined only when it cannot be stored: its ``planId`` is not
a whole number, or it repeats a ``planId`` already seen in the same file. The real
exports' oddities are loaded as they are and counted in the report, for staging to
interpret: profit targets of 100% or more (999 in one export), zero daily loss limits,
minimum trading days with a ``maximumTime`` of 0 (which means no limit), funded plans
whose ``profitSharePct`` reads as the firm's share, and plans that several exports
carry with different values.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from daily_profit_model.ingestion.validation import payload_sha256

SOURCE = "plan_exports"
# A funded plan's profitSharePct at or below this reads as the firm's share.
_FIRM_SHARE_MAX = 50
_TARGET_ODD_PCT = 100
_NUMBERS = {
    "startingBalance": "starting_balance",
    "profitTargetPct": "profit_target_pct",
    "maxTrailingDrawdownPct": "max_trailing_drawdown_pct",
    "dailyLossLimitPct": "daily_loss_limit_pct",
    "leverage": "leverage",
    "profitSharePct": "profit_share_pct",
    "price": "price",
}
_INTEGERS = {
    "minimumRequiredActiveTradingDays": "minimum_required_active_trading_days",
    "maximumTime": "maximum_time",
    "inactivityPeriod": "inactivity_period",
    "upgradePlanId": "upgrade_plan_id",
    "resetPlanId": "reset_plan_id",
}
_FLAGS = {
    "dailyDrawdownByBalanceEquity": "daily_drawdown_by_balance_equity",
    "makeDrawdownStatic": "make_drawdown_static",
    "liquidateFriday": "liquidate_friday",
    "isSwing": "is_swing",
    "enableConsistency": "enable_consistency",
    "archived": "archived",
}
_TEXTS = {
    "type": "type",
    "description": "description",
    "platform": "platform",
    "broker": "broker",
    "rules": "rules",
}
_DATES = {"inserted": "inserted", "updated": "updated"}


def _column(export: pd.DataFrame, name: str) -> pd.Series:
    return (
        export[name]
        if name in export
        else pd.Series([""] * len(export), index=export.index)
    )


def _typed(export: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=export.index)
    for wire, column in _NUMBERS.items():
        out[column] = pd.to_numeric(_column(export, wire), errors="coerce")
    for wire, column in {**_INTEGERS, **_FLAGS}.items():
        values = pd.to_numeric(_column(export, wire), errors="coerce")
        out[column] = values.where(values == values.round()).astype("Int64")
    for wire, column in _TEXTS.items():
        values = _column(export, wire)
        out[column] = values.where(values != "", None)
    for wire, column in _DATES.items():
        out[column] = pd.to_datetime(
            _column(export, wire), format="%m/%d/%Y %H:%M:%S", errors="coerce"
        )
    return out


def _oddities(plans: pd.DataFrame) -> dict[str, int]:
    funded = plans["type"].fillna("").str.endswith("Funded")
    repeated = plans.groupby("plan_id")["export_file"].nunique()
    overlapping = repeated[repeated > 1].index
    differing = (
        plans[plans["plan_id"].isin(overlapping)]
        .drop(columns=["export_file", "export_row", "row_data"])
        .astype(str)
        .groupby(plans["plan_id"])
        .nunique()
        .gt(1)
        .any(axis=1)
        .sum()
    )
    return {
        "profit_target_100_or_more": int(
            (plans["profit_target_pct"] >= _TARGET_ODD_PCT).sum()
        ),
        "zero_daily_loss_limit": int((plans["daily_loss_limit_pct"] == 0).sum()),
        "min_days_with_unlimited_time": int(
            (
                (plans["minimum_required_active_trading_days"] > 0)
                & (plans["maximum_time"] == 0)
            ).sum()
        ),
        "funded_share_reads_as_firm_share": int(
            (funded & (plans["profit_share_pct"] <= _FIRM_SHARE_MAX)).sum()
        ),
        "unparsed_dates": int(
            plans["inserted"].isna().sum() + plans["updated"].isna().sum()
        ),
        "plans_in_several_exports": len(overlapping),
        "plans_updated_across_exports": int(differing),
    }


def parse_plan_exports(
    exports: dict[str, pd.DataFrame], run_id: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Type the rows of every export; quarantine what cannot be stored.

    Args:
        exports: File name → the export as text.
        run_id: Stored with every row.

    Returns:
        ``raw_plans`` rows, quarantine rows, and a report (rows in, stored,
        quarantined, per file, and the oddities).
    """
    stored, rejected, files = [], [], {}
    for name, raw_export in exports.items():
        export = raw_export.reset_index(drop=True)
        plan_id = pd.to_numeric(
            export.get("planId", pd.Series(dtype=str)), errors="coerce"
        )
        whole = plan_id.notna() & (plan_id == plan_id.round())
        repeated = whole & plan_id.duplicated(keep="first")
        reasons = np.where(
            ~whole,
            "planId is not a whole number",
            np.where(repeated, "planId repeated in the same export", ""),
        )
        records = export.to_dict(orient="records")
        bad = reasons != ""
        for i in np.flatnonzero(bad):
            payload = {"export_file": name, "export_row": int(i) + 1, **records[i]}
            rejected.append(
                {
                    "source": SOURCE,
                    "record_key": json.dumps(
                        {"export_file": name, "planId": records[i].get("planId")}
                    ),
                    "reason": str(reasons[i]),
                    "payload": payload,
                    "run_id": run_id,
                    "payload_sha256": payload_sha256(payload),
                }
            )
        good = ~bad
        typed = _typed(export[good])
        typed.insert(0, "plan_id", plan_id[good].astype("int64"))
        typed.insert(1, "export_file", name)
        # Record number in the export (1 = the first row after the header).
        typed.insert(2, "export_row", (np.flatnonzero(good) + 1).astype("int32"))
        typed["row_data"] = [records[i] for i in np.flatnonzero(good)]
        typed["run_id"] = run_id
        stored.append(typed)
        files[name] = {
            "rows": len(export),
            "stored": int(good.sum()),
            "quarantined": int(bad.sum()),
        }
    plans = pd.concat(stored, ignore_index=True) if stored else pd.DataFrame()
    quarantine = pd.DataFrame(
        rejected,
        columns=[
            "source",
            "record_key",
            "reason",
            "payload",
            "run_id",
            "payload_sha256",
        ],
    )
    report = {
        "run_id": run_id,
        "files": files,
        "rows_in": sum(f["rows"] for f in files.values()),
        "stored": len(plans),
        "quarantined": len(quarantine),
        "oddities": _oddities(plans) if len(plans) else {},
    }
    return plans, quarantine, report

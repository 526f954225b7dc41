"""Plan exports (the firm's CSV format) into ``raw_plans``, with the oddities reported.

Every row of every export is kept: the rule columns typed, and the whole row as text in
``row_data``. An export that cannot be read, or lacks a required column
(:data:`~daily_profit_model.plan_format.REQUIRED_COLUMNS`), is refused whole and named
in the report; its rows go to quarantine and the other exports still load. A row is
quarantined when it cannot be stored: it has another number of fields than the header
(a truncated line), its ``planId`` is not a whole number or repeats one of the same
file, neither of its dates parses (its version could not be placed in time), or a
required rule is not a number. The real
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
from daily_profit_model.plan_format import DATE_FORMAT, REQUIRED_COLUMNS, PlanExport

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
# Rule columns that must hold a number on every stored row (the rest may be empty).
_REQUIRED_NUMBERS = [
    c for c in REQUIRED_COLUMNS if c in {**_NUMBERS, **_INTEGERS} and c != "planId"
]


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
            _column(export, wire), format=DATE_FORMAT, errors="coerce"
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


def _row_reasons(export: PlanExport) -> np.ndarray:
    """Why each record of a readable export cannot be stored ("" when it can)."""
    frame = export.frame
    plan_id = pd.to_numeric(frame["planId"], errors="coerce")
    whole = plan_id.notna() & (plan_id == plan_id.round())
    counts = np.asarray(export.field_counts, dtype=int)
    dated = pd.Series(False, index=frame.index)
    for column in _DATES:
        dated |= pd.to_datetime(
            frame[column], format=DATE_FORMAT, errors="coerce"
        ).notna()
    checks = [
        (
            counts != export.header_fields,
            [
                f"the record has {n} fields, the header {export.header_fields} "
                "(a truncated or malformed line)"
                for n in counts
            ],
        ),
        (~whole.to_numpy(), "planId is not a whole number"),
        (
            (whole & plan_id.duplicated(keep="first")).to_numpy(),
            "planId repeated in the same export",
        ),
        (
            ~dated.to_numpy(),
            "neither inserted nor updated is a MM/DD/YYYY HH:MM:SS date",
        ),
    ]
    for wire in _REQUIRED_NUMBERS:
        number = pd.to_numeric(frame[wire], errors="coerce")
        checks.append((number.isna().to_numpy(), f"{wire} is not a number"))
    reasons = np.full(len(frame), "", dtype=object)
    for failed, reason in reversed(checks):  # the first failing check names the row
        reasons = np.where(failed, reason, reasons)
    return reasons


def _refusal(export: PlanExport) -> str | None:
    """Why a whole export is refused (unreadable, or required columns missing)."""
    if export.problem:
        return export.problem
    missing = [c for c in REQUIRED_COLUMNS if c not in export.frame.columns]
    if not missing:
        return None
    reason = f"the export lacks required column(s) {', '.join(missing)}"
    if export.header_fields == 1 and ";" in export.frame.columns[0]:
        reason += " (it looks semicolon-delimited; the firm's format uses commas)"
    return reason


def _quarantine_record(
    name: str, row: int | None, payload: dict, reason: str, run_id: str
) -> dict:
    payload = {"export_file": name, "export_row": row, **payload}
    return {
        "source": SOURCE,
        "record_key": json.dumps(
            {"export_file": name, "planId": payload.get("planId")}
        ),
        "reason": reason,
        "payload": payload,
        "run_id": run_id,
        "payload_sha256": payload_sha256(payload),
    }


def parse_plan_exports(
    exports: dict[str, PlanExport], run_id: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Type the rows of every export; quarantine what cannot be stored.

    An export that cannot be read, or that lacks a required column, is refused whole:
    its rows (if any could be read) go to quarantine with the reason, and the other
    exports still load.

    Args:
        exports: File name → the export as text.
        run_id: Stored with every row.

    Returns:
        ``raw_plans`` rows, quarantine rows, and a report (rows in, stored,
        quarantined, per file with the reason of a refused one, and the oddities).
    """
    stored, rejected, files = [], [], {}
    for name, export in exports.items():
        records = export.frame.to_dict(orient="records")
        refusal = _refusal(export)
        if refusal is not None:
            rejected += [
                _quarantine_record(name, i + 1, record, refusal, run_id)
                for i, record in enumerate(records)
            ] or [_quarantine_record(name, None, {}, refusal, run_id)]
            files[name] = {
                "rows": len(records),
                "stored": 0,
                "quarantined": len(records),
                "refused": refusal,
            }
            continue
        reasons = _row_reasons(export)
        bad = reasons != ""
        rejected += [
            _quarantine_record(name, int(i) + 1, records[i], str(reasons[i]), run_id)
            for i in np.flatnonzero(bad)
        ]
        good = ~bad
        typed = _typed(export.frame[good])
        plan_id = pd.to_numeric(export.frame["planId"], errors="coerce")
        typed.insert(0, "plan_id", plan_id[good].astype("int64"))
        typed.insert(1, "export_file", name)
        # Record number in the export (1 = the first row after the header).
        typed.insert(2, "export_row", (np.flatnonzero(good) + 1).astype("int32"))
        typed["row_data"] = [records[i] for i in np.flatnonzero(good)]
        typed["run_id"] = run_id
        stored.append(typed)
        files[name] = {
            "rows": len(records),
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
        "refused": {n: f["refused"] for n, f in files.items() if "refused" in f},
        "rows_in": sum(f["rows"] for f in files.values()),
        "stored": len(plans),
        "quarantined": sum(f["quarantined"] for f in files.values()),
        "oddities": _oddities(plans) if len(plans) else {},
    }
    return plans, quarantine, report

"""The firm's plan export format (CSV, 94 columns, quoted multi-line text), read as text.

Reading keeps every cell as text (an empty cell is an empty string), so nothing is
guessed while reading, and notes what a parser would otherwise hide: how many fields
each record really had (a truncated last line has fewer than the header), and a file
that cannot be read at all (empty, not UTF-8, not CSV).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# The columns ingestion and the features cannot do without: an export lacking one of
# them is refused whole (its rows are quarantined), whatever else it holds.
REQUIRED_COLUMNS = (
    "planId",
    "type",
    "startingBalance",
    "profitTargetPct",
    "maxTrailingDrawdownPct",
    "dailyLossLimitPct",
    "leverage",
    "profitSharePct",
    "minimumRequiredActiveTradingDays",
    "maximumTime",
    "inactivityPeriod",
    "inserted",
    "updated",
)
DATE_FORMAT = "%m/%d/%Y %H:%M:%S"


@dataclass
class PlanExport:
    """One export file as text.

    Attributes:
        frame: One row per record, one text column per header field.
        field_counts: The number of fields each record had (the header's, unless the
            line was truncated or malformed).
        problem: Why the file could not be read at all (then ``frame`` is empty).
    """

    frame: pd.DataFrame
    field_counts: list[int] = field(default_factory=list)
    problem: str | None = None

    @property
    def header_fields(self) -> int:
        """The number of columns the header names."""
        return len(self.frame.columns)


def read_plan_export(source: Path | io.TextIOBase) -> PlanExport:
    """Read one export (a path or an open text handle) as text, record by record."""
    try:
        if isinstance(source, Path):
            with source.open("r", encoding="utf-8", newline="") as handle:
                records = list(csv.reader(handle))
        else:
            records = list(csv.reader(source))
    except UnicodeDecodeError as exc:
        return PlanExport(pd.DataFrame(), problem=f"not UTF-8 text ({exc.reason})")
    except csv.Error as exc:
        return PlanExport(pd.DataFrame(), problem=f"not a CSV file ({exc})")
    if not records or not any(records[0]):
        return PlanExport(pd.DataFrame(), problem="the file is empty (no header)")
    header, rows = records[0], [r for r in records[1:] if r]
    if len(header) != len(set(header)):
        repeated = sorted({c for c in header if header.count(c) > 1})
        return PlanExport(
            pd.DataFrame(), problem=f"the header repeats column(s) {repeated}"
        )
    width = len(header)
    padded = [(r + [""] * width)[:width] for r in rows]
    return PlanExport(
        pd.DataFrame(padded, columns=header, dtype=str),
        field_counts=[len(r) for r in rows],
    )

"""From what the API returned for one endpoint and day to what is loaded for it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.db.frames import distinct_count
from daily_profit_model.ingestion.validation import (
    Validated,
    payload_sha256,
    validate_rows,
)

REGIMES = "v2/regimes/daily"
OPEN_POSITIONS = "v2/trades/open"
RAW_TABLES = {
    **{path: e.table for path, e in ENDPOINTS.items()},
    REGIMES: "raw_regimes_daily",
}


class TooManyRejectsError(ValueError):
    """A day's share of invalid rows passed the configured limit; it was not loaded."""


@dataclass
class IngestionBatch:
    """Rows to store, rows to quarantine and the counts of one endpoint and day."""

    endpoint: str
    day: dt.date
    table: str
    rows: pd.DataFrame | pa.Table  # a table: typed pages that were clean
    rejected: pd.DataFrame
    received: int
    duplicates: int
    source_total: int
    pages: int
    requests: int
    seconds: float
    run_id: str
    unchanged: bool = False
    in_horizon: bool = False
    day_column: str | None = None  # where the raw table keeps the day (None: snapshot)

    @property
    def status(self) -> str:
        """What the stored day is worth (see ``ingestion.requests``).

        ``partial``: fewer rows than the source's total; ``empty``: the source served
        none (checked again by later runs); ``provisional``: inside the late-data
        horizon; ``complete``: verified.
        """
        if self.unchanged:  # a check of the source's count agreed with the stored one
            if not self.in_horizon:
                return "complete"
            return "empty" if self.source_total == 0 else "provisional"
        if self.stored + self.quarantined < self.source_total:
            return "partial"
        if self.received == 0 and self.day_column is not None:
            return "empty"
        return "provisional" if self.in_horizon else "complete"

    @property
    def stored(self) -> int:
        """Rows that go to the raw table."""
        return len(self.rows)

    @property
    def quarantined(self) -> int:
        """Rows that go to the quarantine table."""
        return len(self.rejected)


def _validate_regimes(rows: list[dict], run_id: str) -> Validated:
    """Regime documents: a valid ``date`` and the rest kept whole as the document."""
    good, bad = [], []
    for row in rows:
        try:
            day = dt.date.fromisoformat(str(row.get("date")))
        except ValueError:
            bad.append(row)
            continue
        good.append(
            {
                "date": day,
                "document": {k: v for k, v in row.items() if k != "date"},
                "extra": {},
                "run_id": run_id,
            }
        )
    rejected = pd.DataFrame(
        {
            "source": REGIMES,
            "record_key": [
                json.dumps({"date": r.get("date")}, default=str) for r in bad
            ],
            "reason": "date: not a YYYY-MM-DD date",
            "payload": bad,
            "run_id": run_id,
            "payload_sha256": [payload_sha256(r) for r in bad],
        }
    )
    return Validated(
        rows=pd.DataFrame(good, columns=["date", "document", "extra", "run_id"]),
        rejected=rejected,
    )


def _newest_versions(
    rows: pd.DataFrame | pa.Table, key: list[str], keys_unique: bool
) -> tuple[pd.DataFrame | pa.Table, int]:
    """The last version of each key (the client keeps them in arrival order) and how
    many older ones were dropped.

    ``keys_unique``: the client counted no repeated key among the wire rows. A table
    here is every one of them (typed validation keeps all rows or sends all down the
    general path, which makes a frame), and its key casts are one to one (a date is
    read only as YYYY-MM-DD), so no key repeats here either: not counted again.
    """
    if isinstance(rows, pa.Table):
        if keys_unique or distinct_count(rows, key) == rows.num_rows:
            return rows, 0
        newest = ~rows.select(key).to_pandas().duplicated(keep="last").to_numpy()
        return rows.filter(pa.array(newest)), int((~newest).sum())
    newest = ~rows.duplicated(subset=key, keep="last").to_numpy()
    return rows[newest].reset_index(drop=True), int((~newest).sum())


def to_batch(api_day, max_reject_share: float, min_rows: int = 50) -> IngestionBatch:
    """Validate one :class:`ApiDay` into an :class:`IngestionBatch`.

    Args:
        api_day: What the API returned for one endpoint and day.
        max_reject_share: The largest share of invalid rows a day may have.
        min_rows: Days with fewer rows received are not held to that share (three bad
            rows of four say little about the source); their rejects still go to
            quarantine.

    Raises:
        TooManyRejectsError: More than ``max_reject_share`` of the day's rows are
            invalid; loading a day that broken would hide a problem at the source.
    """
    if api_day.endpoint == REGIMES:
        validated = _validate_regimes(api_day.rows, api_day.run_id)
    else:
        validated = validate_rows(
            ENDPOINTS[api_day.endpoint], api_day.rows, api_day.run_id
        )
    received = len(api_day.rows) + api_day.duplicates
    # The client keeps every version of a key; of the valid ones the later is the newer.
    key = (
        ["date"]
        if api_day.endpoint == REGIMES
        else list(ENDPOINTS[api_day.endpoint].key)
    )
    rows, older = _newest_versions(validated.rows, key, api_day.keys_unique)
    if api_day.endpoint == OPEN_POSITIONS:
        # a snapshot "as of now": stored with the time the source took it
        taken = pd.Timestamp(api_day.server_time)
        if isinstance(rows, pa.Table):
            stamp = pa.scalar(taken, pa.timestamp("ns", "UTC"))
            rows = rows.add_column(0, "snapshot_at", pa.repeat(stamp, rows.num_rows))
        else:
            rows.insert(0, "snapshot_at", taken)
    duplicates = api_day.duplicates + older
    rejected = validated.rejected.assign(day=api_day.day)
    if received >= min_rows and len(rejected) / received > max_reject_share:
        reasons = rejected["reason"].value_counts().head(3).to_dict()
        raise TooManyRejectsError(
            f"{api_day.endpoint} {api_day.day}: {len(rejected)} of {received} rows are "
            f"invalid ({len(rejected) / received:.1%} > ingestion.max_reject_share "
            f"{max_reject_share:.1%}); the day was not loaded. Most common reasons: {reasons}"
        )
    return IngestionBatch(
        endpoint=api_day.endpoint,
        day=api_day.day,
        table=RAW_TABLES[api_day.endpoint],
        rows=rows,
        rejected=rejected,
        received=received,
        duplicates=duplicates,
        source_total=api_day.source_total,
        pages=api_day.pages,
        requests=api_day.requests,
        seconds=api_day.seconds,
        run_id=api_day.run_id,
        unchanged=api_day.unchanged,
        in_horizon=api_day.in_horizon,
        day_column="date"
        if api_day.endpoint == REGIMES
        else ENDPOINTS[api_day.endpoint].date_column,
    )

"""Turning wire rows into typed raw-table rows, and rejecting what does not fit.

A row is rejected (quarantined with the reason and the payload, never dropped) when a
key field is missing or NULL, when a value has the wrong type, or when a code is not
one the contract lists. Fields the contract does not list are kept in ``extra``.
Missing non-key fields become NULL. Work is column-wise (pandas), not row by row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from daily_profit_model.contract import Endpoint, Field

# Codes the contract lists; anything else is rejected.
ALLOWED_CODES = {
    "status": {1, 2, 3},
    "phase": {1, 2, 3, 4},
    "type": {1, 2, 3, 4, 5, 6, 7, 8},
}
_SIDES = {"buy", "sell"}
_INT_LIMITS = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}


@dataclass
class Validated:
    """Rows of one endpoint and day split into typed rows and rejected ones."""

    rows: pd.DataFrame
    rejected: pd.DataFrame

    @property
    def counts(self) -> dict[str, int]:
        """Rows kept and rows rejected."""
        return {"stored": len(self.rows), "quarantined": len(self.rejected)}


def _kind(values: pd.Series) -> str:
    """pandas' inferred kind of a column's non-null values ("string", "integer", ...)."""
    return pd.api.types.infer_dtype(values, skipna=True)


def _numeric(values: pd.Series, pg_type: str) -> tuple[pd.Series, pd.Series]:
    """Coerce to numbers; return (numbers, bad mask)."""
    kind = _kind(values)
    if kind in ("integer", "floating", "mixed-integer-float", "empty"):
        numbers = pd.to_numeric(values, errors="coerce")
        bad = pd.Series(False, index=values.index)
    else:  # strings, booleans or a mixture: find the values that are not numbers
        is_number = values.map(
            lambda v: isinstance(v, int | float) and not isinstance(v, bool)
        )
        numbers = pd.to_numeric(values.where(is_number), errors="coerce")
        bad = values.notna() & ~is_number
    if pg_type in _INT_LIMITS:
        fractional = numbers.notna() & (numbers != np.floor(numbers.fillna(0)))
        too_big = numbers.abs() > _INT_LIMITS[pg_type]
        bad |= fractional | too_big.fillna(False)
        numbers = numbers.where(~bad).astype("Int64")
    else:
        numbers = numbers.where(~bad).astype(float)
    return numbers, bad


def _strings_only(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The values that are strings, and the mask of non-null values that are not."""
    if _kind(values) in ("string", "empty"):
        return values, pd.Series(False, index=values.index)
    is_text = values.map(lambda v: isinstance(v, str))
    return values.where(is_text), values.notna() & ~is_text


def _text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _strings_only(values)


def _dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text, _ = _strings_only(values)
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    if parsed.isna().any():
        parsed = parsed.fillna(pd.to_datetime(text, format="%Y%m%d", errors="coerce"))
    bad = values.notna() & parsed.isna()
    return parsed.dt.date.where(parsed.notna(), None), bad


def _instants(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text, _ = _strings_only(values)
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = values.notna() & parsed.isna()
    return parsed, bad


def _coerce(values: pd.Series, field: Field) -> tuple[pd.Series, pd.Series]:
    if field.pg_type in _INT_LIMITS or field.pg_type == "double precision":
        return _numeric(values, field.pg_type)
    if field.pg_type == "date":
        return _dates(values)
    if field.pg_type == "timestamptz":
        return _instants(values)
    return _text(values)


def payload_sha256(payload: Any) -> str:
    """The digest under which a rejected record is quarantined once, however often seen."""
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, default=str).encode()
    ).hexdigest()


def record_key(row: dict[str, Any], key_wire: Sequence[str]) -> str:
    """A printable key of a wire row (for the quarantine table)."""
    return json.dumps({k: row.get(k) for k in key_wire}, default=str)


def validate_rows(
    endpoint: Endpoint, rows: list[dict[str, Any]], run_id: str
) -> Validated:
    """Type the rows of ``endpoint`` and reject the invalid ones.

    Args:
        endpoint: The contract's description of the endpoint and its raw table.
        rows: Wire rows (camelCase), as the API sent them.
        run_id: The run that received them (stored with every row).

    Returns:
        Typed rows with raw-table column names (plus ``extra`` and ``run_id``), and the
        rejected rows with ``source``, ``record_key``, ``reason`` and ``payload``.
    """
    fields = endpoint.fields
    wire = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    n = len(wire)
    reasons = pd.Series([None] * n, dtype=object)

    def reject(mask: pd.Series, reason: str, values: pd.Series | None = None) -> None:
        fresh = mask.to_numpy(dtype=bool) & reasons.isna().to_numpy()
        if fresh.any():
            shown = values[fresh].map(repr) if values is not None else ""
            reasons[fresh] = (reason + shown) if values is not None else reason

    typed = {}
    key_columns = set(endpoint.key)
    for field in fields:
        values = (
            wire[field.wire]
            if field.wire in wire
            else pd.Series([None] * n, dtype=object)
        )
        values = values.astype(object).where(values.notna(), None)
        if field.column in key_columns:
            reject(values.isna(), f"key field {field.wire} is missing or NULL")
        coerced, bad = _coerce(values, field)
        reject(bad, f"{field.wire}: not a valid {field.pg_type}: ", values)
        if field.column in ALLOWED_CODES:
            unknown = coerced.notna() & ~coerced.isin(ALLOWED_CODES[field.column])
            reject(unknown.fillna(False), f"{field.wire}: unknown code ", values)
        if field.column == "side":
            lowered = coerced.str.lower()
            reject(
                coerced.notna() & ~lowered.isin(_SIDES),
                "side: not buy or sell: ",
                values,
            )
            coerced = lowered
        typed[field.column] = coerced
    known = {f.wire for f in fields}
    if any(c not in known for c in wire.columns):
        extra = [{k: v for k, v in r.items() if k not in known} for r in rows]
    else:
        extra = [{}] * n
    frame = pd.DataFrame(typed)
    frame["extra"] = extra
    frame["run_id"] = run_id
    bad_rows = reasons.notna().to_numpy()
    key_wire = [f.wire for f in fields if f.column in key_columns]
    rejected = pd.DataFrame(
        {
            "source": endpoint.path,
            "record_key": [
                record_key(rows[i], key_wire) for i in np.flatnonzero(bad_rows)
            ],
            "reason": reasons[bad_rows].tolist(),
            "payload": [rows[i] for i in np.flatnonzero(bad_rows)],
            "run_id": run_id,
        }
    )
    rejected["payload_sha256"] = [payload_sha256(p) for p in rejected["payload"]]
    return Validated(rows=frame[~bad_rows].reset_index(drop=True), rejected=rejected)

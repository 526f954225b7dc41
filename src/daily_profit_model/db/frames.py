"""Conversion between pandas frames and PostgreSQL column types, both ways.

Writing: each frame column becomes an Arrow array of the type that its target column
needs, then :mod:`pgpq` encodes it as PostgreSQL binary COPY. Reading: each result
column becomes the pandas dtype of its PostgreSQL type.

NULL and NaN are different things in PostgreSQL and stay different here:

- a nullable ``Float64`` column writes ``<NA>`` as NULL and NaN as NaN, and loads back
  the same way (the default ``numpy_nullable`` backend);
- a plain ``float64`` column cannot tell the two apart, so its NaN means "missing"
  (pandas' own convention) and is written as NULL.

Timestamps are stored as ``timestamptz`` instants and load as UTC; naive timestamps
written to a ``timestamptz`` column are taken to be UTC. PostgreSQL keeps microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from kedro.io import DatasetError
from pgpq import ArrowToPostgresBinaryEncoder, encoders
from pgpq import schema as pg_schema
from psycopg import sql

_INTEGER_TYPES = {"smallint", "integer", "bigint"}
_FLOAT_TYPES = {"double precision", "real"}
_JSON_TYPES = {"json", "jsonb"}
_TIMESTAMPTZ = "timestamp with time zone"
_TIMESTAMP = "timestamp without time zone"

_INT_ARROW = {"smallint": pa.int16(), "integer": pa.int32(), "bigint": pa.int64()}
_INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class FrameValidationError(DatasetError, ValueError):
    """A frame does not fit the table it is written to; nothing was written."""


def _json_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if value is pd.NA:
        return None
    return orjson.dumps(value, default=str, option=_JSON_OPTIONS).decode()


def _first_bad(series: pd.Series, arrow_type: pa.DataType) -> tuple[int, Any]:
    """Return the position and value of the first element Arrow cannot convert."""
    for position, value in enumerate(series.array):
        try:
            pa.array([value], type=arrow_type, from_pandas=True)
        except (
            pa.ArrowInvalid,
            pa.ArrowTypeError,
            TypeError,
            ValueError,
            OverflowError,
        ):
            return position, value
    return -1, None


def _timestamps(series: pd.Series, tz_aware: bool) -> pa.Array:
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series, utc=tz_aware)
    if tz_aware:
        series = (
            series.dt.tz_localize("UTC")
            if series.dt.tz is None
            else series.dt.tz_convert("UTC")
        )
        target = pa.timestamp("us", "UTC")
    else:
        target = pa.timestamp("us")
    return pc.cast(pa.array(series, from_pandas=True), target, safe=False)


def _dates(series: pd.Series) -> pa.Array:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_localize(None)
        return pc.cast(pa.array(series, from_pandas=True), pa.date32(), safe=False)
    return pa.array(series, type=pa.date32(), from_pandas=True)


def _floats(series: pd.Series) -> pa.Array:
    if isinstance(series.dtype, pd.Float64Dtype | pd.Float32Dtype):
        # The masked array keeps NaN (a value) apart from <NA> (NULL).
        return pa.array(series.array, type=pa.float64())
    return pa.array(series, type=pa.float64(), from_pandas=True)


def _integers(series: pd.Series, pg_type: str) -> pa.Array:
    array = pa.array(series, type=pa.int64(), from_pandas=True)
    low, high = _INT_RANGES[pg_type]
    if len(array) and array.null_count < len(array):
        bounds = pc.min_max(array)
        if bounds["min"].as_py() < low or bounds["max"].as_py() > high:
            outside = pc.or_(pc.less(array, low), pc.greater(array, high))
            position = int(pc.index(outside, True).as_py())
            raise OverflowError(position, array[position].as_py())
    # The exact width lets binary COPY write straight into the column.
    return array.cast(_INT_ARROW[pg_type])


def _strings(series: pd.Series) -> pa.Array:
    return pa.array(series, type=pa.string(), from_pandas=True)


def _json(series: pd.Series) -> pa.Array:
    return pa.array([_json_text(v) for v in series.array], type=pa.string())


_WRITERS = {
    "double precision": _floats,
    "real": lambda s: _floats(s).cast(pa.float32()),
    **{t: (lambda s, t=t: _integers(s, t)) for t in _INTEGER_TYPES},
    _TIMESTAMPTZ: lambda s: _timestamps(s, tz_aware=True),
    _TIMESTAMP: lambda s: _timestamps(s, tz_aware=False),
    "date": _dates,
    "json": _json,
    "jsonb": _json,
    "boolean": lambda s: pa.array(s, type=pa.bool_(), from_pandas=True),
    "text": _strings,
}


def column_to_arrow(series: pd.Series, pg_type: str) -> pa.Array:
    """Convert one frame column to the Arrow array its PostgreSQL column needs.

    Types without a writer of their own (``numeric``, arrays) are inferred by Arrow;
    PostgreSQL casts them on insert.

    Raises:
        OverflowError: An integer lies outside the column's range; ``args`` holds the
            row position and the value.
        pyarrow.ArrowInvalid, pyarrow.ArrowTypeError, TypeError, ValueError: A value
            cannot be converted.
    """
    if pg_type.startswith("character"):
        return _strings(series)
    writer = _WRITERS.get(pg_type)
    return writer(series) if writer else pa.array(series, from_pandas=True)


# What pgpq's encoders write, in PostgreSQL's spelling; a column whose target type is
# the same (or has the same binary format) can be copied straight into the table.
_PGPQ_OUTPUT = {
    "Int2": {"smallint"},
    "Int4": {"integer"},
    "Int8": {"bigint"},
    "Float4": {"real"},
    "Float8": {"double precision"},
    "Bool": {"boolean"},
    "Text": {"text"},
    "Date": {"date"},
    "Timestamp": {_TIMESTAMP, _TIMESTAMPTZ},
    "Jsonb": {"jsonb"},
}


def copy_encoder(
    table: pa.Table, column_types: dict[str, str]
) -> tuple[ArrowToPostgresBinaryEncoder, bool]:
    """A binary COPY encoder for ``table`` and whether it matches the target types.

    Args:
        table: The Arrow table from :func:`frame_to_arrow` (plus any extra columns).
        column_types: Target PostgreSQL type of each column that has one.

    Returns:
        The encoder, and True when every column's binary format is the target
        column's, so that the rows can be copied into the target table directly.
    """
    builders = {}
    for field in table.schema:
        if column_types.get(field.name) == "jsonb":
            builders[field.name] = encoders.StringEncoderBuilder.new_with_output(
                field, pg_schema.Jsonb()
            )
        else:
            builders[field.name] = ArrowToPostgresBinaryEncoder.infer_encoder(field)
    encoder = ArrowToPostgresBinaryEncoder.new_with_encoders(table.schema, builders)
    exact = all(
        column_types.get(column.name) is None
        or column_types[column.name]
        in _PGPQ_OUTPUT.get(type(column.data_type).__name__, set())
        for column in encoder.schema().columns
    )
    return encoder, exact


def copy_arrow(
    conn: psycopg.Connection,
    table: sql.Identifier,
    arrow: pa.Table,
    encoder: ArrowToPostgresBinaryEncoder,
) -> None:
    """Stream ``arrow`` into ``table`` as binary COPY, batch by batch."""
    copy_batches(
        conn, table, arrow.column_names, arrow.to_batches(max_chunksize=65_536), encoder
    )


def copy_batches(
    conn: psycopg.Connection,
    table: sql.Identifier,
    columns: list[str],
    batches: Iterable[pa.RecordBatch],
    encoder: ArrowToPostgresBinaryEncoder,
) -> int:
    """One binary COPY of ``batches`` (of one schema, the ``encoder``'s) into the
    ``columns`` of ``table``, streamed as they come; the rows."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    rows = 0
    with conn.cursor().copy(statement) as copy:
        copy.write(encoder.write_header())
        for batch in batches:
            copy.write(encoder.write_batch(batch))
            rows += batch.num_rows
        copy.write(encoder.finish())
    return rows


def _arrow_type_for(pg_type: str) -> pa.DataType:
    simple = {
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "text": pa.string(),
    }
    if pg_type in _INTEGER_TYPES:
        return pa.int64()
    if pg_type in _FLOAT_TYPES:
        return pa.float64()
    return simple.get(pg_type, pa.string())


def distinct_count(table: pa.Table, columns: Sequence[str]) -> int:
    """How many distinct combinations of ``columns`` ``table`` holds (hashed by Arrow,
    on this thread: a day's rows are too few to pay for Arrow's thread pool)."""
    names = list(columns)
    return table.select(names).group_by(names, use_threads=False).aggregate([]).num_rows


def _target_type(pg_type: str) -> pa.DataType | None:
    """The Arrow type binary COPY writes into a column of ``pg_type`` (None: as is)."""
    if pg_type in _INTEGER_TYPES:
        return _INT_ARROW[pg_type]
    if pg_type.startswith("character"):
        return pa.string()
    return {
        "double precision": pa.float64(),
        "real": pa.float32(),
        _TIMESTAMPTZ: pa.timestamp("us", "UTC"),
        _TIMESTAMP: pa.timestamp("us"),
        "date": pa.date32(),
        "text": pa.string(),
        "json": pa.string(),
        "jsonb": pa.string(),
        "boolean": pa.bool_(),
    }.get(pg_type)


def _table_to_arrow(
    data: pa.Table, column_types: dict[str, str], table: str, key: Sequence[str]
) -> pa.Table:
    """An Arrow table's columns cast to the types their columns need (JSON columns
    hold JSON text); a value that does not fit is explained as for a frame."""
    arrays = {}
    for column, pg_type in column_types.items():
        array, target = data[column], _target_type(pg_type)
        if target is not None and array.type != target:
            # PostgreSQL keeps microseconds: finer instants are truncated, as for
            # frames; every other cast must be exact.
            safe = not pa.types.is_timestamp(target)
            try:
                array = pc.cast(array, target, safe=safe)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                position = _first_failing_cast(array, target, safe)
                where = _row_name(
                    position,
                    {
                        k: data[k][position].as_py()
                        for k in key
                        if k in data.column_names
                    },
                )
                raise FrameValidationError(
                    f"Table {table}, column {column!r} ({pg_type}): {where} has value "
                    f"{array[position].as_py()!r}: {exc}"
                ) from exc
        arrays[column] = array
    return pa.table(arrays)


def _first_failing_cast(array: pa.ChunkedArray, target: pa.DataType, safe: bool) -> int:
    """The position of the first value that does not cast (by halving: log2(n) casts,
    no Python value per row). Called only once a cast of the whole array failed."""
    first, end = 0, len(array)  # the first failure lies in [first, end)
    while end - first > 1:
        middle = (first + end) // 2
        try:
            pc.cast(array.slice(first, middle - first), target, safe=safe)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            end = middle
        else:
            first = middle
    return first


def frame_to_arrow(
    frame: pd.DataFrame | pa.Table,
    column_types: dict[str, str],
    table: str,
    key: Sequence[str],
) -> pa.Table:
    """Convert ``frame`` to an Arrow table typed for ``column_types`` (column → PG type).

    ``frame`` may already be an Arrow table: its columns are cast.

    Raises:
        FrameValidationError: A value does not fit its column; the message names the
            table, the column, the first offending row (position and key) and value.
    """
    if isinstance(frame, pa.Table):
        return _table_to_arrow(frame, column_types, table, key)
    arrays = {}
    for column, pg_type in column_types.items():
        series = frame[column]
        try:
            arrays[column] = column_to_arrow(series, pg_type)
        except OverflowError as exc:
            position, value = exc.args if len(exc.args) == 2 else (-1, None)  # noqa: PLR2004
            where = describe_row(frame, position, key) if position >= 0 else "a row"
            raise FrameValidationError(
                f"Table {table}, column {column!r} ({pg_type}): {where} has value "
                f"{value!r}, out of range for {pg_type}"
            ) from exc
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            position, value = _first_bad(series, _arrow_type_for(pg_type))
            where = describe_row(frame, position, key) if position >= 0 else "a row"
            raise FrameValidationError(
                f"Table {table}, column {column!r} ({pg_type}): {where} has value "
                f"{value!r}: {exc}"
            ) from exc
    return pa.table(arrays)


def describe_row(frame: pd.DataFrame, position: int, key: Sequence[str]) -> str:
    """Name a row by its position in the frame and its key values."""
    return _row_name(
        position,
        {k: python_value(frame[k].iloc[position]) for k in key if k in frame.columns},
    )


def _row_name(position: int, key_values: dict[str, Any]) -> str:
    """``row 3 (login=7, platform='mt5')``: a row by position and key."""
    named = ", ".join(f"{k}={v!r}" for k, v in key_values.items())
    return f"row {position}" + (f" ({named})" if named else "")


# --- reading -----------------------------------------------------------------------


def _float_column(
    values: list[Any], nullable: bool
) -> pd.api.extensions.ExtensionArray:
    mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    data = np.fromiter(
        (np.nan if v is None else float(v) for v in values),
        dtype=float,
        count=len(values),
    )
    if nullable:
        return pd.arrays.FloatingArray(data, mask)
    return data


def _int_column(values: list[Any], nullable: bool) -> Any:
    if nullable:
        return pd.array(values, dtype="Int64")
    if any(v is None for v in values):
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return np.array(values, dtype=np.int64)


def column_from_values(values: list[Any], pg_type: str, nullable: bool) -> Any:
    """Build the pandas column for a result column of PostgreSQL type ``pg_type``.

    Args:
        values: The column's Python values as psycopg returned them.
        pg_type: The PostgreSQL type name (``format_type`` spelling).
        nullable: Use pandas' nullable dtypes (``Float64``, ``Int64``, ``boolean``) so
            that NULL and NaN stay apart.
    """
    if pg_type in _FLOAT_TYPES:
        return _float_column(values, nullable)
    if pg_type in _INTEGER_TYPES:
        return _int_column(values, nullable)
    if pg_type == "boolean":
        return (
            pd.array(values, dtype="boolean")
            if nullable
            else np.array(values, dtype=object)
        )
    if pg_type == _TIMESTAMPTZ:
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True)
    if pg_type == _TIMESTAMP:
        return pd.to_datetime(pd.Series(values, dtype=object))
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def python_value(value: Any) -> Any:
    """Turn a scalar from a frame into a plain Python value for a bound parameter."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value

"""``ModelInputDataset``: every feature row with a known target, streamed into parquet.

The features live in two tiers (hot months in PostgreSQL, cold months as parquet, see
:mod:`daily_profit_model.datasets.cold_tier`), so the join runs month by month where
each month lives: the month's features (its partition, read by ``COPY``, or its file)
are joined to the month's known targets (their partition or file: the target table
keeps a cold tier of its own) by Arrow's hash join (C++,
set-based; PostgreSQL cannot read the cold files, and moving them back to join them
would cost the disk the tier saves). Each joined month is appended to the parquet file
in cutoff and account order, so memory holds one month, and the file is renamed into
place when complete.

Example::

    "model_input@export":
      type: daily_profit_model.datasets.model_input.ModelInputDataset
      filepath: data/05_model_input/model_input.parquet
      features: feature_account_day
      targets: target_account_day
      cold_tier: {path: data/04_feature/feature_account_day}
      targets_cold_tier: {path: data/04_feature/target_account_day}
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview
from psycopg import sql

from daily_profit_model.datasets.cold_tier import ColdTier, next_month, partitions
from daily_profit_model.datasets.postgres_table import table_preview
from daily_profit_model.db import database_for
from daily_profit_model.db.export import (
    query_to_arrow,
    result_schema,
    write_parquet_atomically,
)
from daily_profit_model.db.identifiers import validate_identifier
from daily_profit_model.db.writer import prepare_transaction

logger = logging.getLogger(__name__)

_KEY = ("account_id", "cutoff_date")


@dataclass(frozen=True)
class ModelInputExport:
    """Which cutoffs the model input holds: from ``since`` (None: every one stored)."""

    since: dt.date | None = None


class ModelInputDataset(AbstractDataset[ModelInputExport, pd.DataFrame]):
    """The model input: features joined to their known targets, one parquet file.

    Args:
        filepath: The parquet file.
        features: The feature table (keyed by ``account_id, cutoff_date``).
        targets: The target table (same key).
        target_column: The target, NULL until its day is ingested (left out).
        cold_tier: The feature table's ``cold_tier`` entry (``{path}``); None: every
            month is in PostgreSQL.
        targets_cold_tier: The target table's, the same way.
        credentials: The catalog's ``postgres`` credentials entry.
        compression: The parquet codec.
        metadata: Free-form metadata (kedro-viz layer).
    """

    def __init__(  # noqa: PLR0913 - keyword-only catalog arguments
        self,
        *,
        filepath: str,
        features: str,
        targets: str,
        target_column: str = "target_net_profit",
        cold_tier: dict[str, Any] | None = None,
        targets_cold_tier: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        compression: str = "zstd",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = Path(filepath)
        self._features = validate_identifier(features, "features")
        self._targets = validate_identifier(targets, "targets")
        self._target = validate_identifier(target_column, "target_column")
        self._tier = (
            ColdTier.from_config(cold_tier, "cutoff_date", _KEY) if cold_tier else None
        )
        self._targets_tier = (
            ColdTier.from_config(targets_cold_tier, "cutoff_date", _KEY)
            if targets_cold_tier
            else None
        )
        self._credentials = credentials
        self._compression = compression
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "features": self._features,
            "targets": self._targets,
            "cold_tier": str(self._tier.path) if self._tier else None,
            "targets_cold_tier": (
                str(self._targets_tier.path) if self._targets_tier else None
            ),
        }

    def load(self) -> pd.DataFrame:
        """The model input's rows."""
        if not self._filepath.exists():
            raise DatasetError(f"{self._filepath} does not exist: export it first")
        return pd.read_parquet(self._filepath)

    def preview(self, nrows: int = 5) -> TablePreview:
        """The file's first ``nrows`` rows, for kedro-viz (read without the rest)."""
        batch = next(pq.ParquetFile(self._filepath).iter_batches(batch_size=nrows))
        return table_preview(batch.to_pandas())

    def save(self, data: ModelInputExport) -> None:
        """Join each month's features to its known targets into the parquet file."""
        database = database_for(self._credentials)
        started = time.perf_counter()
        with database.connect() as conn, conn.transaction():
            prepare_transaction(conn, database.schema)
            schema = result_schema(conn, self._joined_shape())
            held = set(partitions(conn, database.schema, self._features))
            cold, cold_targets = (
                tier.cold_months(conn, database.schema, table) if tier else set()
                for tier, table in (
                    (self._tier, self._features),
                    (self._targets_tier, self._targets),
                )
            )
            months = sorted(
                m
                for m in held | cold
                if data.since is None or next_month(m) > data.since
            )
            rows = write_parquet_atomically(
                self._filepath,
                schema,
                self._joined_months(
                    conn, months, (cold, cold_targets), data.since, schema
                ),
                self._compression,
            )
        logger.info(
            "Model input: %d rows (%d columns, %d months, %d from parquet) to %s in "
            "%.1f s",
            rows,
            len(schema),
            len(months),
            len(cold & set(months)),
            self._filepath,
            time.perf_counter() - started,
        )

    def _joined_shape(self) -> sql.Composed:
        return sql.SQL(
            "SELECT f.*, t.{y} FROM {f} AS f JOIN {t} AS t USING (account_id, cutoff_date)"
        ).format(
            y=sql.Identifier(self._target),
            f=sql.Identifier(self._features),
            t=sql.Identifier(self._targets),
        )

    def _joined_months(
        self,
        conn,
        months: list[dt.date],
        cold: tuple[set[dt.date], set[dt.date]],
        since: dt.date | None,
        schema: pa.Schema,
    ) -> Iterator[pa.Table]:
        """Each month's joined rows; ``cold``: the features' and the targets' months
        read from their files."""
        cold_features, cold_targets = cold
        for month in months:
            first = max(month, since) if since else month
            last = next_month(month) - dt.timedelta(days=1)
            in_month = sql.SQL("cutoff_date BETWEEN %(first)s AND %(last)s")
            bounds = {"first": first, "last": last}
            if month in cold_features:
                features = self._tier.read_month(month, first, last)
            else:
                features = query_to_arrow(
                    conn,
                    sql.SQL("SELECT * FROM {} WHERE {}").format(
                        sql.Identifier(self._features), in_month
                    ),
                    bounds,
                )
            if month in cold_targets:
                targets = self._targets_tier.read_month(
                    month, first, last, [*_KEY, self._target]
                ).filter(pc.is_valid(pc.field(self._target)))
            else:
                targets = query_to_arrow(
                    conn,
                    sql.SQL(
                        "SELECT account_id, cutoff_date, {y} FROM {t} WHERE {m} "
                        "AND {y} IS NOT NULL"
                    ).format(
                        y=sql.Identifier(self._target),
                        t=sql.Identifier(self._targets),
                        m=in_month,
                    ),
                    bounds,
                )
            joined = features.join(targets, keys=list(_KEY), join_type="inner")
            yield joined.select(schema.names).sort_by(
                [("cutoff_date", "ascending"), ("account_id", "ascending")]
            )

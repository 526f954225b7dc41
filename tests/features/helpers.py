"""Running preprocessing and features on a schema of the test database."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from daily_profit_model.datasets.model_input import ModelInputDataset
from daily_profit_model.db.connection import Database, get_database
from daily_profit_model.params import FeatureParams, TrainingParams
from daily_profit_model.pipelines.features import create_pipeline as features_pipeline
from daily_profit_model.pipelines.preprocessing import (
    create_pipeline as preprocessing_pipeline,
)
from daily_profit_model.pipelines.training import create_pipeline as training_pipeline
from daily_profit_model.sandbox.plans import PLAN_SAMPLE, plan_export_text
from tests.params import params

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
FEATURE_TABLES = ("stg_account_day", "feature_account_day", "target_account_day")
# The feature store's cold tier of every schema these tests build (one folder per
# schema, as the schema's tables persist between builds).
COLD_TIERS = Path(tempfile.mkdtemp(prefix="dpm-cold-tier-"))


def cold_tier_path(database: Database) -> Path:
    """The folder of the feature table's cold months in ``database``'s schema."""
    return COLD_TIERS / database.schema


def target_tier_path(database: Database) -> Path:
    """The folder of the target table's cold months in ``database``'s schema."""
    return COLD_TIERS / "targets" / database.schema


def staging_tier_path(database: Database) -> Path:
    """The folder of staging's cold months in ``database``'s schema."""
    return COLD_TIERS / "staging" / database.schema


RAW_TIERED = ("raw_trades_closed", "raw_metrics_daily")


def raw_cold_tiers(database: Database, hot_days: int) -> dict[str, dict]:
    """Ingestion's ``cold_tiers`` of the raw tables builds read, in ``database``'s
    schema's folder (the builds' ``cold_inputs`` point there too)."""
    return {
        table: {
            "path": str(COLD_TIERS / database.schema / "raw" / table),
            "hot_days": hot_days,
        }
        for table in RAW_TIERED
    }


def sandbox_plans(folder: Path, first_day: str = "2025-01-06") -> Path:
    """The sandbox's plan export (the plans its accounts use, dated before the world's
    first day, as the sandbox exports it) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PLAN_SAMPLE).write_text(plan_export_text(first_day), encoding="utf-8")
    return folder


def _catalog(
    parameters: dict,
    workers: int | None,
    hot_days: int | None,
    staging_hot_days: int | None = None,
    full_build: dict | None = None,
) -> DataCatalog:
    """The project's catalog entries of the two pipelines, and their parameters.

    ``workers`` sets the full builds' connections, ``full_build`` where they run, and
    ``hot_days`` the feature store's and the targets' hot months (defaults:
    ``globals.yml``).
    """
    entries = yaml.safe_load((CONF / "catalog.yml").read_text())
    shared = yaml.safe_load((CONF / "globals.yml").read_text())
    cold = {
        "path": str(cold_tier_path(get_database())),
        "hot_days": hot_days or shared["feature_store"]["hot_days"],
    }
    staging = {
        "path": str(staging_tier_path(get_database())),
        "hot_days": staging_hot_days or shared["staging_store"]["hot_days"],
    }
    targets = {**cold, "path": str(target_tier_path(get_database()))}
    raw = raw_cold_tiers(get_database(), 0)
    tiers = {"stg_account_day": staging, "target_account_day": targets}
    for entry in entries.values():
        if "full_build_workers" in entry:
            entry["full_build_workers"] = workers or shared["sql_full_build_workers"]
        if "full_build" in entry:  # DuckDB's scratch: not the repository's data/
            entry["full_build"] = {
                **shared["full_build"],
                "scratch": str(COLD_TIERS / "scratch"),
                **(full_build or {}),
            }
        if "cold_tier" in entry:
            entry["cold_tier"] = tiers.get(entry.get("table"), cold)
        for table, tier in entry.get("cold_inputs", {}).items():
            tier["path"] = tiers.get(table, raw.get(table))["path"]
    wanted = {
        name: entry
        for name, entry in entries.items()
        if name
        in (
            "raw_plans",
            "ref_symbol_asset_class",
            "stg_account_day_stored",
            "stg_account_day@sql",
            "feature_account_day@sql",
            "feature_account_day@pandas",
            "target_account_day@sql",
            "target_account_day@pandas",
        )
    }
    wanted["raw_api_loads"] = {
        "type": "daily_profit_model.datasets.raw_ingestion.RawIngestionDataset"
    }
    # the entries' `credentials: postgres`, as conf/base/credentials.yml has it when
    # DPM_DATABASE_URL is unset (the environment's database: the test server)
    catalog = DataCatalog.from_config(wanted, credentials={"postgres": {"url": None}})
    catalog["model_input@export"] = ModelInputDataset(
        filepath=str(Path(tempfile.mkdtemp()) / "model_input.parquet"),
        features="feature_account_day",
        targets="target_account_day",
        cold_tier=cold,
        targets_cold_tier=targets,
    )
    catalog["params:training"] = MemoryDataset(params(TrainingParams, "training"))
    catalog["params:features"] = MemoryDataset(
        params(FeatureParams, "features", **parameters)
    )
    # Ingestion's cutoff: these tests ingest whole worlds, so nothing caps the window.
    catalog["run_cutoff"] = MemoryDataset({"cutoff": dt.date.max.isoformat()})
    return catalog


def build_features(
    workers: int | None = None,
    hot_days: int | None = None,
    staging_hot_days: int | None = None,
    engine: str | None = None,
    full_build: dict | None = None,
    **parameters,
) -> pd.DataFrame:
    """Run preprocessing and features with ``features`` parameter overrides.

    Args:
        workers: Connections of a full build (default: the project's setting).
        hot_days: The feature store's hot days (default: the project's setting).
        staging_hot_days: Staging's hot days (default: the project's setting).
        engine: Where full builds run, ``postgresql`` or ``duckdb`` (default: the
            project's setting).
        full_build: Other ``full_build`` settings (DuckDB's memory_limit, buckets).
        **parameters: ``features`` parameters.

    Returns:
        The model input the run produced.
    """
    full_build = {**(full_build or {}), **({"engine": engine} if engine else {})}
    catalog = _catalog(parameters, workers, hot_days, staging_hot_days, full_build)
    export = training_pipeline().only_nodes("training.export_model_input")
    SequentialRunner().run(
        preprocessing_pipeline() + features_pipeline() + export, catalog
    )
    return catalog["model_input@export"].load()


def stored_rows(
    database: Database, table: str, day: dt.date | None = None
) -> pd.DataFrame:
    """Rows of a derived table (optionally one day), in key order, as plain values."""
    date_column = "date" if table == "stg_account_day" else "cutoff_date"
    with database.connect() as conn:
        cursor = conn.execute(
            f"SELECT * FROM {database.schema}.{table}"  # noqa: S608 (test constants)
            + (f" WHERE {date_column} = %s" if day else "")
            + f" ORDER BY account_id, {date_column}",
            [day] if day else [],
        )
        columns = [d.name for d in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=columns)

"""Running the ingestion pipeline on a schema of the test database, and fingerprinting it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset
from psycopg import sql

from daily_profit_model.datasets import PostgresTableDataset
from daily_profit_model.datasets.plan_exports import PlanExportsDataset
from daily_profit_model.datasets.raw_ingestion import RawIngestionDataset
from daily_profit_model.datasets.risk_api import RiskApiDataset
from daily_profit_model.datasets.sandbox_world import SandboxWorldDataset
from daily_profit_model.db.connection import (
    Database,
    DatabaseSettings,
    configure_database,
)
from daily_profit_model.db.tables import describe_table
from daily_profit_model.params import IngestionParams, RunDate, SandboxParams
from daily_profit_model.pipelines.ingestion import create_pipeline
from daily_profit_model.sandbox.handle import Publication, publish
from tests.params import params

PLAN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/plans"
RAW_TABLES = (
    "raw_plans",
    "raw_accounts",
    "raw_metrics_alltime",
    "raw_metrics_daily",
    "raw_metrics_hourly",
    "raw_trades_closed",
    "raw_open_positions",
    "raw_regimes_daily",
)
FAST_CLIENT = {
    "timeout_s": 1.0,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
    "rate_limit_per_s": 0,
    "max_retries": 12,
    "page_size": 200,
}


def use_schema(pgdata, schema: str) -> Database:
    """Point the process's database at ``schema`` of the test server (migrated on use)."""
    return configure_database(DatabaseSettings(embedded_dir=pgdata, schema=schema))


def run_ingestion(  # noqa: PLR0913 - the knobs of a test run
    world,
    ingestion: dict | None = None,
    faults: dict | None = None,
    plans_dir: Path = PLAN_FIXTURES,
    run_date: str | None = None,
    cold_tiers: dict | None = None,
) -> None:
    """Run the ingestion pipeline against ``world`` (served in-process, with
    ``faults``) on the configured database (raw tables' ``cold_tiers`` if given)."""
    root = world.folder.parent
    fault_settings = params(SandboxParams, "sandbox", faults=faults or {}).faults
    publish(root, Publication(world.folder.name, fault_settings.model_dump()))
    plan_file = Path(tempfile.mkdtemp()) / "ingestion_plan.json"
    source = {"kind": "sandbox", "path": str(root)}
    catalog = DataCatalog(
        {
            "ingestion_state": PostgresTableDataset(table="ingestion_state"),
            "api_source": SandboxWorldDataset(path=str(root), client=FAST_CLIENT),
            "recorded_source": PostgresTableDataset(table="source_identity"),
            "source_identity": PostgresTableDataset(table="source_identity"),
            "params:run_date": MemoryDataset(RunDate(run_date) if run_date else None),
            "params:ingestion": MemoryDataset(
                params(
                    IngestionParams,
                    "ingestion",
                    history_start=world.summary["first_day"],
                    **(ingestion or {}),
                )
            ),
            "ingestion_plan@json": JSONDataset(filepath=str(plan_file)),
            "ingestion_plan@api": RiskApiDataset(
                filepath=str(plan_file), source=source, client=FAST_CLIENT
            ),
            "raw_api_loads": RawIngestionDataset(cold_tiers=cold_tiers),
            "plan_exports": PlanExportsDataset(path=str(plans_dir)),
            "raw_plans": PostgresTableDataset(table="raw_plans"),
            "plan_quarantine": PostgresTableDataset(
                table="quarantine", key_columns=["source", "payload_sha256"]
            ),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)


def checksums(database: Database) -> dict[str, tuple[int, str]]:
    """Row count and a content hash of every raw table (run ids and load times left out)."""
    result = {}
    with database.connect() as conn:
        for table in RAW_TABLES:
            info = describe_table(conn, database.schema, table)
            columns = [c for c in info.columns if c not in ("run_id", "ingested_at")]
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(md5(row({})::text), '' ORDER BY {}), ''))"
                    " FROM {}"
                ).format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(map(sql.Identifier, info.primary_key)),
                    sql.Identifier(database.schema, table),
                )
            ).fetchone()
            result[table] = (int(row[0]), row[1])
    return result

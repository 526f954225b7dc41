"""``ingestion``: state + source calendar → plan → API → validated batches → raw tables."""

from kedro.pipeline import Node, Pipeline

from daily_profit_model.pipelines.ingestion.nodes import (
    ingest_plan_exports,
    plan_ingestion,
    validate_api_days,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Fetch what is new (or a backfill range) and load it, day by day."""
    return Pipeline(
        [
            Node(
                plan_ingestion,
                inputs=[
                    "ingestion_state",
                    "sandbox_world",
                    "params:ingestion",
                    "params:sandbox",
                ],
                outputs=["api_requests", "ingestion_run_id"],
                name="plan_ingestion",
            ),
            Node(
                validate_api_days,
                inputs=["api_requests", "params:ingestion"],
                outputs="raw_api_loads",
                name="validate_and_load_api_days",
            ),
            Node(
                ingest_plan_exports,
                inputs=["plan_exports", "ingestion_run_id"],
                outputs=["raw_plans", "plan_quarantine", "plan_ingestion_report"],
                name="ingest_plan_exports",
            ),
        ],
        tags=["ingestion"],
        namespace="ingestion",
        prefix_datasets_with_namespace=False,
    )

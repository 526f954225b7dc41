"""``ingestion``: the source's clock → cutoff; state + calendar → plan → API →
validated batches → raw tables; plan exports → raw_plans."""

from kedro.pipeline import Node, Pipeline

from daily_profit_model.pipelines.ingestion.nodes import (
    ingest_plan_exports,
    plan_ingestion,
    record_source,
    resolve_cutoff,
    validate_api_days,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Fetch what is new up to the run's cutoff (or a backfill range), day by day."""
    return Pipeline(
        [
            Node(
                resolve_cutoff,
                inputs=["api_source", "params:run_date", "params:ingestion"],
                outputs="run_cutoff",
                name="resolve_cutoff",
            ),
            Node(
                record_source,
                inputs=["api_source", "recorded_source"],
                outputs="source_identity",
                name="record_source",
            ),
            Node(
                plan_ingestion,
                inputs=[
                    "ingestion_state",
                    "run_cutoff",
                    "source_identity",
                    "params:ingestion",
                ],
                outputs="ingestion_plan@json",
                name="plan_ingestion",
            ),
            Node(
                validate_api_days,
                inputs=["ingestion_plan@api", "params:ingestion"],
                outputs="raw_api_loads",
                name="validate_api_days",
            ),
            Node(
                ingest_plan_exports,
                inputs=["plan_exports", "ingestion_plan@json"],
                outputs=["raw_plans", "plan_quarantine", "plan_ingestion_report"],
                name="ingest_plan_exports",
            ),
        ],
        tags=["ingestion"],
        namespace="ingestion",
        prefix_datasets_with_namespace=False,
    )

"""The ``database_check`` pipeline: status → heartbeat row → read back → report."""

from kedro.pipeline import Node, Pipeline

from daily_profit_model.pipelines.database_check.nodes import (
    make_heartbeat,
    verify_heartbeat,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Write a heartbeat through ``PostgresTableDataset`` and verify it reads back."""
    return Pipeline(
        [
            Node(
                make_heartbeat,
                inputs="database_status",
                outputs=["ops_heartbeat", "heartbeat_run_id"],
                name="make_heartbeat",
            ),
            Node(
                verify_heartbeat,
                inputs=["ops_heartbeat", "heartbeat_run_id"],
                outputs="database_check_report",
                name="verify_heartbeat",
            ),
        ],
        tags=["database_check"],
        namespace="database_check",
        prefix_datasets_with_namespace=False,
    )

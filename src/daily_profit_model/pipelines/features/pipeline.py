"""``features``: stg_account_day → features and targets (in PostgreSQL) → model input."""

from kedro.pipeline import Node, Pipeline

from daily_profit_model.pipelines.features.nodes import (
    assemble_model_input,
    build_account_day_features,
    build_targets,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Build the window's features and targets, then the parquet model input."""
    return Pipeline(
        [
            Node(
                build_account_day_features,
                inputs=["feature_build_window", "stg_account_day@sql", "raw_plans"],
                outputs="feature_account_day@sql",
                name="build_account_day_features",
            ),
            Node(
                build_targets,
                inputs=["feature_build_window", "stg_account_day@sql"],
                outputs="target_account_day@sql",
                name="build_targets",
            ),
            Node(
                assemble_model_input,
                inputs=["feature_account_day@pandas", "target_account_day@pandas"],
                outputs="model_input",
                name="assemble_model_input",
            ),
        ],
        tags=["features"],
    )

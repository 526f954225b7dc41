"""``features``: stg_account_day → features and targets, built in PostgreSQL."""

from kedro.pipeline import Node, Pipeline

from daily_profit_model.pipelines.features.nodes import (
    build_account_day_features,
    build_targets,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Build the window's features and targets (the model input is training's)."""
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
        ],
        tags=["features"],
        namespace="features",
        prefix_datasets_with_namespace=False,
    )

"""``preprocessing``: ingestion state → build window → stg_account_day (in PostgreSQL)."""

from kedro.pipeline import Node, Pipeline

from daily_profit_model.pipelines.preprocessing.nodes import (
    classify_symbols,
    plan_feature_window,
    stage_account_days,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Densify every account's days up to the newest complete day."""
    return Pipeline(
        [
            Node(
                classify_symbols,
                inputs="params:features",
                outputs="ref_symbol_asset_class",
                name="classify_symbols",
            ),
            Node(
                plan_feature_window,
                inputs=[
                    "raw_api_loads",
                    "stg_account_day_stored",
                    "run_cutoff",
                    "params:features",
                ],
                outputs="feature_build_window",
                name="plan_feature_window",
            ),
            Node(
                stage_account_days,
                inputs=[
                    "feature_build_window",
                    "ref_symbol_asset_class",
                    "params:features",
                ],
                outputs="stg_account_day@sql",
                name="stage_account_days",
            ),
        ],
        tags=["preprocessing"],
        namespace="preprocessing",
        prefix_datasets_with_namespace=False,
    )

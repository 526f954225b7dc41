"""``sandbox``: parameters → a generated world (parquet under data/01_raw/sandbox)."""

from kedro.pipeline import Node, Pipeline

from daily_profit_model.pipelines.sandbox.nodes import configure_world


def create_pipeline(**kwargs) -> Pipeline:
    """Generate (or reuse) the world that ``params:sandbox`` describes."""
    return Pipeline(
        [
            Node(
                configure_world,
                inputs="params:sandbox",
                outputs="sandbox_world",
                name="generate_world",
            )
        ],
        tags=["sandbox"],
        namespace="sandbox",
        prefix_datasets_with_namespace=False,
    )

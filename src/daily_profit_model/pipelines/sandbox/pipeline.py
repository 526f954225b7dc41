"""``sandbox``: parameters → a simulated firm, served as the Risk Analytics API.

In ``conf/base`` the sandbox is the API source: its output is ``api_source``, which
ingestion reads. In ``conf/prod`` this pipeline is not part of any run.
"""

from kedro.pipeline import Node, Pipeline

from daily_profit_model.pipelines.sandbox.nodes import simulate_world


def create_pipeline(**kwargs) -> Pipeline:
    """Generate (or reuse) the world that ``params:sandbox`` describes and serve it."""
    return Pipeline(
        [
            Node(
                simulate_world,
                inputs=["params:sandbox", "generated_worlds"],
                outputs="api_source",
                name="simulate_world",
            )
        ],
        tags=["sandbox"],
        namespace="sandbox",
        prefix_datasets_with_namespace=False,
    )

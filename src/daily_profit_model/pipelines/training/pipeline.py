"""``training``: model input (streamed from PostgreSQL) → windows → Optuna → LightGBM
+ CQR → test metrics, SHAP → registry."""

from kedro.pipeline import Node, Pipeline

from daily_profit_model.pipelines.training.nodes import (
    alias_for_new_version,
    evaluate_on_test,
    explain_with_shap,
    export_model_input,
    fit_forecaster,
    package,
    record_run_parameters,
    split_by_time,
    tune_point_model,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Train, evaluate once on the test window, explain and register ``daily_pnl``."""
    return Pipeline(
        [
            Node(
                export_model_input,
                inputs=[
                    "feature_account_day@sql",
                    "target_account_day@sql",
                    "params:training",
                ],
                outputs="model_input@export",
                name="export_model_input",
            ),
            Node(
                split_by_time,
                inputs=["model_input@pandas", "params:training"],
                outputs=["training_rows", "training_data_identity", "model_features"],
                name="split_by_time",
            ),
            Node(
                tune_point_model,
                inputs=["training_rows", "optuna_storage", "params:training"],
                outputs="tuned_point_params",
                name="tune_point_model",
            ),
            Node(
                fit_forecaster,
                inputs=["training_rows", "tuned_point_params", "params:training"],
                outputs="forecaster",
                name="fit_forecaster",
            ),
            Node(
                evaluate_on_test,
                inputs=[
                    "training_rows",
                    "forecaster",
                    "oracle_quantiles",
                    "params:training",
                ],
                outputs=[
                    "training_metrics",
                    "test_segment_metrics",
                    "test_predictions",
                    "predicted_vs_actual_plot",
                    "interval_calibration_plot",
                    "errors_by_day_plot",
                ],
                name="evaluate_on_test",
            ),
            Node(
                explain_with_shap,
                inputs=["training_rows", "forecaster", "params:training"],
                outputs=["shap_importance", "shap_summary_plot"],
                name="explain_with_shap",
            ),
            Node(
                record_run_parameters,
                inputs=["tuned_point_params", "training_data_identity"],
                outputs="training_run_params",
                name="record_run_parameters",
            ),
            Node(
                alias_for_new_version,
                inputs="registered_aliases",
                outputs="new_version_alias",
                name="alias_for_new_version",
            ),
            Node(
                package,
                inputs=[
                    "training_rows",
                    "forecaster",
                    "training_data_identity",
                    "new_version_alias",
                ],
                outputs="daily_pnl_model@bundle",
                name="package",
            ),
        ],
        tags=["training"],
        namespace="training",
        prefix_datasets_with_namespace=False,
    )

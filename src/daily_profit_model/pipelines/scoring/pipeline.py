"""``scoring``: features of the cutoff → forecasts (champion + shadows) → firm view;
past forecasts → outcomes → evaluation and comparisons; today vs reference → drift."""

from kedro.pipeline import Node, Pipeline

from daily_profit_model.pipelines.scoring.nodes import (
    daily_report,
    detect_drift,
    evaluate_forecasts,
    firm_view,
    join_forecasts_to_actuals,
    monitor_performance,
    score_accounts,
)


def create_pipeline(**kwargs) -> Pipeline:
    """The morning job's scoring, evaluation and drift steps."""
    return Pipeline(
        [
            Node(
                score_accounts,
                inputs=[
                    "feature_account_day@scoring",
                    "daily_pnl_model@aliases",
                    "run_context",
                    "params:run_date",
                    "params:scoring",
                ],
                outputs="predictions",
                name="score_accounts",
            ),
            Node(
                join_forecasts_to_actuals,
                inputs=["target_account_day@sql", "predictions", "params:scoring"],
                outputs="prediction_outcomes@sql",
                name="join_forecasts_to_actuals",
            ),
            Node(
                evaluate_forecasts,
                inputs=["prediction_outcomes@pandas", "run_context", "params:scoring"],
                outputs=[
                    "prediction_evaluation",
                    "model_comparisons",
                    "evaluation_metrics",
                ],
                name="evaluate_forecasts",
            ),
            Node(
                firm_view,
                inputs=[
                    "predictions",
                    "prediction_outcomes@pandas",
                    "test_predictions",
                    "feature_account_day@scoring",
                    "params:scoring",
                ],
                outputs=["firm_forecasts", "risk_accounts", "hedge_list"],
                name="firm_view",
            ),
            Node(
                detect_drift,
                inputs=[
                    "feature_account_day@scoring",
                    "predictions",
                    "daily_pnl_model@aliases",
                    "params:scoring",
                ],
                outputs=["feature_drift", "drift_plot", "drift_metrics"],
                name="detect_drift",
            ),
            Node(
                monitor_performance,
                inputs=[
                    "predictions",
                    "prediction_evaluation",
                    "firm_forecasts",
                    "prediction_outcomes@pandas",
                    "drift_metrics",
                    "daily_pnl_model@aliases",
                    "params:scoring",
                ],
                outputs=[
                    "performance_checks",
                    "performance_metrics",
                    "alerts",
                    "funded_book_backtest_plot",
                    "firm_total_backtest_plot",
                ],
                name="monitor_performance",
            ),
            Node(
                daily_report,
                inputs=[
                    "predictions",
                    "firm_forecasts",
                    "risk_accounts",
                    "hedge_list",
                    "prediction_evaluation",
                    "prediction_outcomes@pandas",
                    "feature_drift",
                    "params:scoring",
                ],
                outputs="daily_report",
                name="daily_report",
            ),
        ],
        tags=["scoring"],
        namespace="scoring",
        prefix_datasets_with_namespace=False,
    )

"""The closing line of a run says what the run did, from its own outputs."""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd

from daily_profit_model.run_summary import RunSummaryHooks


def test_the_summary_names_what_was_loaded_trained_scored_and_where_the_report_is(
    database,
):
    run_id = f"summary-{uuid.uuid4().hex[:8]}"
    with database.connect() as conn:
        conn.execute(
            "INSERT INTO prop_trading_model.ingestion_state (endpoint, day, source_count, "
            "stored_count, quarantined_count, status, run_id) VALUES "
            "(%s, %s, 120, 118, 2, 'complete', %s), (%s, %s, 30, 30, 0, 'complete', %s)",
            [run_id, dt.date(2025, 3, 3), run_id, run_id, dt.date(2025, 3, 4), run_id],
        )
    hooks = RunSummaryHooks()
    hooks._report_folder = "data/08_reporting/daily_report"
    hooks.before_pipeline_run()
    assert hooks.summary() is None  # a run that did none of the summarised steps
    predictions = pd.DataFrame(
        {
            "cutoff_date": [dt.date(2025, 3, 4)] * 3,
            "served": [True, True, False],
        }
    )
    books = pd.DataFrame(
        {
            "book": ["firm", "funded"],
            "role": ["champion", "champion"],
            "expected_total": [-1234.4, 50.0],
            "lower_90": [-90000.0, -10.0],
            "upper_90": [80000.0, 10.0],
        }
    )
    for outputs in (
        {"ingestion_plan@json": {"run_id": run_id, "requests": []}},
        {"plan_ingestion_report": {"stored": 72, "quarantined": 1}},
        {"training_metrics": {"test_mae": 171.53, "test_coverage_90": 0.9213}},
        {"new_version_alias": "champion"},
        {"predictions": predictions, "firm_forecasts": books},
        {"daily_report": {"daily_report_2025-03-04.html": "<html></html>"}},
    ):
        hooks.after_node_run(outputs)
    try:
        assert hooks.summary() == (
            "Run summary: loaded 2 API endpoint-days (148 rows stored, 2 quarantined) "
            "and 72 plan rows (1 quarantined); trained daily_pnl (champion): test MAE "
            "171.5, coverage 0.921; scored 2025-03-04: 2 accounts, firm expected "
            "-1,234 USD (90%: -90,000 USD … 80,000 USD); report "
            "data/08_reporting/daily_report/daily_report_2025-03-04.html"
        )
    finally:
        with database.connect() as conn:
            conn.execute(
                "DELETE FROM prop_trading_model.ingestion_state WHERE run_id = %s",
                [run_id],
            )

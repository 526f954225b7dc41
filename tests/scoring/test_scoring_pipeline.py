"""The morning job's scoring on the small world: champion and challenger forecasts,
re-runs that replace a day, evaluation against actuals, the firm view, drift, and the
promotion command's rules, against the test PostgreSQL and a scratch MLflow store."""

from __future__ import annotations

import re
import uuid

import mlflow
import pandas as pd
import psycopg
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from psycopg import sql

from daily_profit_model import ops
from daily_profit_model.datasets import PostgresTableDataset
from daily_profit_model.datasets.scoring import AliasedModelsDataset, RunContextDataset
from daily_profit_model.datasets.sql_build import SqlTableBuildDataset
from daily_profit_model.db import get_database
from daily_profit_model.params import RunDate, ScoringParams
from daily_profit_model.pipelines.scoring import create_pipeline
from tests.params import params
from tests.training.helpers import scratch_tracking, small_world_model_input, train


@pytest.fixture(scope="module")
def trained(pgdata, small_world, tmp_path_factory):
    """The small world's features, a champion (v1) and a challenger (v2)."""
    model_input = small_world_model_input(
        pgdata, small_world, tmp_path_factory.mktemp("plans"), "score"
    )
    with scratch_tracking():
        tmp = tmp_path_factory.mktemp("training")
        oracle = small_world.truth("oracle")
        _, test_predictions = train(
            model_input, oracle, tmp, f"optuna_{uuid.uuid4().hex[:8]}"
        )
        train(model_input, oracle, tmp, f"optuna_{uuid.uuid4().hex[:8]}")
        yield model_input, test_predictions


def _score(run_date, test_predictions, tmp_path, share=0.0) -> dict:
    settings = params(ScoringParams, "scoring", challenger_traffic_share=share)
    catalog = DataCatalog(
        {
            "feature_account_day@scoring": PostgresTableDataset(
                table="feature_account_day",
                load_args={
                    "date_column": "cutoff_date",
                    "start": run_date,
                    "end": run_date,
                },
            ),
            "daily_pnl_model@aliases": AliasedModelsDataset(model_name="daily_pnl"),
            "run_context": RunContextDataset(),
            "params:scoring": MemoryDataset(settings),
            "params:run_date": MemoryDataset(RunDate(run_date) if run_date else None),
            "predictions": PostgresTableDataset(
                table="predictions",
                load_args={
                    "date_column": "cutoff_date",
                    "start": run_date,
                    "end": run_date,
                },
                save_args={"mode": "append", "replace_days_of": "cutoff_date"},
            ),
            "target_account_day@sql": SqlTableBuildDataset(
                table="target_account_day",
                date_column="cutoff_date",
                key_columns=["account_id", "cutoff_date"],
            ),
            "prediction_outcomes@sql": SqlTableBuildDataset(
                table="prediction_outcomes",
                query="prediction_outcomes.sql",
                date_column="target_date",
                key_columns=["account_id", "target_date", "model_version"],
            ),
            "prediction_outcomes@pandas": PostgresTableDataset(
                table="prediction_outcomes"
            ),
            "prediction_evaluation": PostgresTableDataset(
                table="prediction_evaluation"
            ),
            "model_comparisons": PostgresTableDataset(table="model_comparisons"),
            "firm_forecasts": PostgresTableDataset(
                table="firm_forecasts", save_args={"replace_days_of": "cutoff_date"}
            ),
            "feature_drift": PostgresTableDataset(
                table="feature_drift", save_args={"replace_days_of": "cutoff_date"}
            ),
            "test_predictions": MemoryDataset(test_predictions),
            "risk_accounts": _KeptDataset(),
            "performance_checks": PostgresTableDataset(
                table="performance_checks", save_args={"replace_days_of": "cutoff_date"}
            ),
            "performance_metrics": MemoryDataset(),
            "alerts": MemoryDataset(),
            "funded_book_backtest_plot": MemoryDataset(),
            "firm_total_backtest_plot": MemoryDataset(),
            "hedge_list": _KeptDataset(),
            "drift_plot": MemoryDataset(),
            "daily_report": MemoryDataset(),
            "drift_metrics": _KeptDataset(),
            "evaluation_metrics": MemoryDataset(),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return {
        name: catalog[name].load()
        for name in (
            "risk_accounts",
            "hedge_list",
            "drift_plot",
            "drift_metrics",
            "daily_report",
        )
    }


class _KeptDataset(MemoryDataset):
    """An intermediate output the runner does not release, to inspect it after."""

    def _release(self) -> None:
        pass


def _count(query: str, params=()) -> list[tuple]:
    database = get_database()
    with database.connect() as conn:
        conn.execute(f"SET search_path TO {database.schema}")
        return conn.execute(query, list(params)).fetchall()


def test_scoring_a_day_twice_replaces_it_and_serves_one_forecast_per_account(
    trained, tmp_path
):
    model_input, test_predictions = trained
    previous, cutoff = sorted(model_input["cutoff_date"].unique())[-5:-3]
    day = str(pd.Timestamp(cutoff).date())
    # the morning before: its forecasts target `day`, so today's report can judge them
    _score(str(pd.Timestamp(previous).date()), test_predictions, tmp_path)
    outputs = _score(day, test_predictions, tmp_path)
    alive = model_input[model_input["cutoff_date"] == cutoff]["account_id"].nunique()
    first = _count(
        "SELECT model_version, role, count(*), count(*) FILTER (WHERE served) "
        "FROM predictions WHERE cutoff_date = %s GROUP BY 1, 2 ORDER BY 1",
        [day],
    )
    assert first == [(1, "champion", alive, alive), (2, "shadow", alive, 0)]
    # every forecast explained: TreeSHAP for the funded book, the path for the rest
    methods = _count(
        "SELECT phase = ANY(%s), reasons_method, count(*) FILTER (WHERE reason_1 IS "
        "NULL) FROM predictions WHERE cutoff_date = %s GROUP BY 1, 2 ORDER BY 1",
        [params(ScoringParams, "scoring").reasons.treeshap_phases, day],
    )
    exact = model_input["phase"].isin(
        params(ScoringParams, "scoring").reasons.treeshap_phases
    )
    assert [m[:2] for m in methods] == [(False, "path")] + (
        [(True, "treeshap")]
        if exact[model_input["cutoff_date"] == cutoff].any()
        else []
    )
    assert all(m[2] == 0 for m in methods)

    _score(day, test_predictions, tmp_path, share=0.5)
    again = _count(
        "SELECT count(*), count(*) FILTER (WHERE served), "
        "count(*) FILTER (WHERE served AND role = 'shadow') FROM predictions "
        "WHERE cutoff_date = %s",
        [day],
    )[0]
    assert again[0] == 2 * alive  # replaced, not duplicated
    assert again[1] == alive  # one served forecast per account
    assert 0 < again[2] < alive  # about half from the challenger

    # the forecasts of this day have actuals: evaluated per model, compared by DM
    evaluated = _count(
        "SELECT model_version, accounts FROM prediction_evaluation "
        "WHERE target_date = (SELECT min(target_date) FROM predictions WHERE cutoff_date = %s) "
        "ORDER BY 1",
        [day],
    )
    assert evaluated == [(1, alive), (2, alive)]
    assert _count(
        "SELECT DISTINCT champion_version, challenger_version FROM model_comparisons"
    ) == [(1, 2)]
    firm = _count(
        "SELECT model_version, accounts, lower_90 < expected_total "
        "AND expected_total < upper_90, method FROM firm_forecasts "
        "WHERE cutoff_date = %s AND book = 'firm' ORDER BY 1",
        [day],
    )
    method = params(ScoringParams, "scoring").firm.method
    assert firm == [(1, alive, True, method), (2, alive, True, method)]
    funded = model_input[
        (model_input["cutoff_date"] == cutoff) & (model_input["phase"] == 4)
    ]["account_id"]
    books = _count(
        "SELECT accounts, payout_liability FROM firm_forecasts "
        "WHERE cutoff_date = %s AND book = 'funded' AND model_version = 1",
        [day],
    )
    assert [b[0] for b in books] == ([len(funded)] if len(funded) else [])
    assert all(b[1] >= 0 for b in books)
    assert set(outputs["hedge_list"]["account_id"]) <= set(funded)
    drift = _count(
        "SELECT count(*), count(*) FILTER (WHERE feature = '_forecast') FROM feature_drift WHERE cutoff_date = %s",
        [day],
    )[0]
    assert drift[0] > 100 and drift[1] == 1
    assert len(outputs["risk_accounts"]) == 20
    assert str(day) in outputs["drift_plot"].axes[0].get_title()

    # the day's report: self-contained, with the firm figure, the riskiest accounts,
    # yesterday's actuals, coverage over time and drift
    (name, page), *others = outputs["daily_report"].items()
    assert name == f"daily_report_{day}.html" and not others
    champion_total = _count(
        "SELECT forecast_total FROM firm_forecasts WHERE cutoff_date = %s "
        "AND role = 'champion' AND book = 'firm'",
        [day],
    )[0][0]
    assert f"{champion_total:,.0f} USD" in page
    assert outputs["risk_accounts"]["account_id"].iloc[0] in page
    # the books' backtest bands (the funded one when funded accounts exist), risk,
    # yesterday's outcomes, coverage, drift
    charts = 6 if len(funded) else 5
    assert page.count('<img alt="chart" src="data:image/png;base64,') == charts
    assert "Traffic light" in page
    assert "No forecast has an actual yet" not in page
    drift_rows = re.findall(r">(?:warn|severe)</td>\s*<td [^>]*>([^<]+)</td>", page)
    assert drift_rows and all(re.fullmatch(r"\d+\.\d{3}", v) for v in drift_rows)
    assert 'src="http' not in page and 'href="http' not in page


def test_promotion_needs_evidence_or_a_forced_reason(trained):
    with pytest.raises(
        ValueError, match=r"^daily_pnl has no version 99; its versions "
    ):
        ops.promote("daily_pnl", 99, force=True, reason="typo", significance=0.05)
    with pytest.raises(ops.PromotionRefusedError, match="not significantly better"):
        ops.promote("daily_pnl", 2, force=False, reason=None, significance=0.05)
    with pytest.raises(ValueError, match="needs --reason"):
        ops.promote("daily_pnl", 2, force=True, reason=" ", significance=0.05)
    client = mlflow.MlflowClient()
    # the audit row is written before any alias moves: when it cannot be written,
    # nothing is promoted (a real failure: a trigger refuses the insert)
    database = get_database()
    refuse = sql.SQL(
        "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit table refused the row'; END $$; "
        "CREATE TRIGGER refuse BEFORE INSERT ON {} FOR EACH ROW EXECUTE FUNCTION {}()"
    ).format(
        sql.Identifier(database.schema, "refuse_audit"),
        sql.Identifier(database.schema, "model_promotions"),
        sql.Identifier(database.schema, "refuse_audit"),
    )
    with database.connect() as conn:
        conn.execute(refuse)
    try:
        with pytest.raises(psycopg.errors.RaiseException, match="refused the row"):
            ops.promote(
                "daily_pnl",
                2,
                force=True,
                reason="test: audit fails",
                significance=0.05,
            )
    finally:
        with database.connect() as conn:
            conn.execute(
                sql.SQL("DROP FUNCTION {}() CASCADE").format(
                    sql.Identifier(database.schema, "refuse_audit")
                )
            )
    assert (
        str(client.get_model_version_by_alias("daily_pnl", "champion").version) == "1"
    )
    assert _count("SELECT count(*) FROM model_promotions") == [(0,)]
    record = ops.promote(
        "daily_pnl", 2, force=True, reason="test: forced", significance=0.05
    )
    assert (
        str(client.get_model_version_by_alias("daily_pnl", "champion").version) == "2"
    )
    assert (
        str(client.get_model_version_by_alias("daily_pnl", "previous_champion").version)
        == "1"
    )
    audit = _count(
        "SELECT from_version, to_version, forced, reason FROM model_promotions"
    )
    assert audit == [(1, 2, True, "test: forced")]
    assert record["by"]
    runs = mlflow.search_runs(
        experiment_names=["daily_pnl"], filter_string="tags.kind = 'promotion'"
    )
    assert len(runs) == 1

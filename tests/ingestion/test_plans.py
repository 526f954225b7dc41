"""Plan exports in the real format: every row kept or quarantined, oddities reported."""

from __future__ import annotations

import pandas as pd

from daily_profit_model.datasets import PostgresTableDataset
from daily_profit_model.datasets.plan_exports import PlanExportsDataset
from daily_profit_model.ingestion.plans import parse_plan_exports
from tests.conftest import PROJECT_PATH

FIXTURES = PROJECT_PATH / "tests/fixtures/plans"


def _parsed():
    exports = PlanExportsDataset(path=str(FIXTURES)).load()
    return exports, *parse_plan_exports(exports, run_id="test-run")


def test_rows_in_equal_rows_stored_plus_quarantined():
    exports, plans, quarantine, report = _parsed()
    assert report["rows_in"] == sum(len(e) for e in exports.values()) == 56
    assert report["stored"] + report["quarantined"] == report["rows_in"]
    assert len(plans) == 55 and len(quarantine) == 1
    assert quarantine.iloc[0]["reason"] == "planId is not a whole number"
    assert quarantine.iloc[0]["payload"]["planId"] == "abc"


def test_real_format_survives_whole():
    exports, plans, _, report = _parsed()
    multi_line = plans[plans["rules"].str.contains("\n", na=False)]
    assert len(multi_line) > 40  # quoted rules with line breaks stay whole
    first = exports["Plans.csv"].iloc[0]
    stored = plans[
        (plans["export_file"] == "Plans.csv") & (plans["export_row"] == 1)
    ].iloc[0]
    assert stored["row_data"] == first.to_dict()  # every column of the export, as text
    assert stored["rules"] == first["rules"]
    assert stored["inserted"] == pd.Timestamp("2022-09-08 08:56:36")
    assert report["oddities"]["profit_target_100_or_more"] == 1  # the 999 target
    assert report["oddities"]["plans_in_several_exports"] == 3
    assert report["oddities"]["plans_updated_across_exports"] == 3


def test_plans_load_into_postgres_idempotently(database, scratch_schema):
    from daily_profit_model.db.migrations import apply_migrations  # noqa: PLC0415

    with database.connect() as conn:
        conn.execute(f"DROP SCHEMA {scratch_schema}")
        apply_migrations(conn, scratch_schema)
    _, plans, quarantine, _ = _parsed()
    raw = PostgresTableDataset(table="raw_plans", schema=scratch_schema)
    rejects = PostgresTableDataset(
        table="quarantine",
        schema=scratch_schema,
        key_columns=["source", "payload_sha256"],
    )
    for _ in range(2):
        raw.save(plans)
        rejects.save(quarantine)
    loaded = raw.load()
    assert len(loaded) == 55
    assert len(rejects.load()) == 1
    update = loaded[(loaded["plan_id"] == plans.iloc[32]["plan_id"])]
    assert set(update["export_file"]) == {"Plans_1_head.csv", "Plans_update.csv"}

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
    assert report["rows_in"] == sum(len(e.frame) for e in exports.values()) == 56
    assert report["stored"] + report["quarantined"] == report["rows_in"]
    assert len(plans) == 55 and len(quarantine) == 1
    assert quarantine.iloc[0]["reason"] == "planId is not a whole number"
    assert quarantine.iloc[0]["payload"]["planId"] == "abc"


def test_real_format_survives_whole():
    exports, plans, _, report = _parsed()
    multi_line = plans[plans["rules"].str.contains("\n", na=False)]
    assert len(multi_line) > 40  # quoted rules with line breaks stay whole
    first = exports["Plans.csv"].frame.iloc[0]
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


def _export(folder, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / name, index=False)


def _sample() -> pd.DataFrame:
    return PlanExportsDataset(path=str(FIXTURES)).load()["Plans.csv"].frame


def test_an_export_without_required_columns_is_refused_and_the_rest_loads(tmp_path):
    good = _sample()
    _export(tmp_path, "good.csv", good)
    _export(
        tmp_path,
        "no_rules.csv",
        good.drop(columns=["startingBalance", "profitTargetPct", "type"]),
    )
    _export(tmp_path, "no_plan_id.csv", good.drop(columns=["planId"]))
    (tmp_path / "semicolons.csv").write_text(
        good.head(3).to_csv(index=False, sep=";"), encoding="utf-8"
    )
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    exports = PlanExportsDataset(path=str(tmp_path)).load()
    plans, quarantine, report = parse_plan_exports(exports, run_id="r")
    assert set(plans["export_file"]) == {"good.csv"}
    assert len(plans) == report["stored"] == len(good)
    refused = report["refused"]
    assert refused["no_rules.csv"] == (
        "the export lacks required column(s) type, startingBalance, profitTargetPct"
    )
    assert refused["no_plan_id.csv"] == "the export lacks required column(s) planId"
    assert "semicolon-delimited" in refused["semicolons.csv"]
    assert refused["empty.csv"] == "the file is empty (no header)"
    # rows in = stored + quarantined, the refused files' rows included
    assert report["rows_in"] == report["stored"] + report["quarantined"]
    # the empty file has no row; the semicolon file has what a comma reader sees
    assert report["rows_in"] == 3 * len(good) + len(exports["semicolons.csv"].frame)
    by_file = quarantine["payload"].map(lambda p: p["export_file"]).value_counts()
    assert by_file["no_rules.csv"] == len(good) and by_file["empty.csv"] == 1


def test_a_truncated_last_line_is_quarantined_not_stored_with_null_dates(tmp_path):
    text = _sample().head(4).to_csv(index=False)
    lines = text.rstrip("\n").split("\n")
    # cut the last record half way through its fields (as an interrupted copy would)
    last = lines[-1]
    (tmp_path / "cut.csv").write_text(
        "\n".join(lines[:-1] + [last[: len(last) // 2]]) + "\n", encoding="utf-8"
    )
    plans, quarantine, report = parse_plan_exports(
        PlanExportsDataset(path=str(tmp_path)).load(), run_id="r"
    )
    assert report["stored"] == len(plans) == 3
    assert plans["inserted"].notna().all() and plans["updated"].notna().all()
    assert len(quarantine) == 1
    assert (
        "fields, the header 94 (a truncated or malformed line)"
        in (quarantine.iloc[0]["reason"])
    )

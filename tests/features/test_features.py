"""Features are point-in-time: the population is the oracle's, the future changes
nothing, and one day built alone equals a full rebuild."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from daily_profit_model.datasets.sql_build import read_query
from tests.features.helpers import (
    FEATURE_TABLES,
    build_features,
    sandbox_plans,
    stored_rows,
)
from tests.ingestion.helpers import run_ingestion, use_schema

FIXTURES = Path(__file__).parents[1] / "fixtures"
# staging's sums of one day's trades and open positions
DAY_SUMS = (
    "lots", "volume_usd", "mean_holding_time", "traded_instrument_vol", "symbol_hhi",
    "fx_volume", "metal_volume", "index_volume", "energy_volume", "crypto_volume",
    "open_notional", "open_fx_notional", "open_metal_notional", "open_index_notional",
    "open_energy_notional", "open_crypto_notional", "open_daily_risk",
    "open_unprotected_risk", "open_uncapped_risk", "open_stop_pnl", "open_take_profit_pnl",
)  # fmt: skip


def _schema_with_world(pgdata, world, plans_dir):
    database = use_schema(pgdata, f"feat_{uuid.uuid4().hex[:8]}")
    run_ingestion(world, plans_dir=plans_dir)
    return database


@pytest.fixture(scope="module")
def built(pgdata, small_world, tmp_path_factory):
    plans = sandbox_plans(tmp_path_factory.mktemp("plans"))
    database = _schema_with_world(pgdata, small_world, plans)
    model_input = build_features()
    return database, model_input, plans


def test_population_is_every_account_alive_at_the_cutoff(built, small_world):
    """The oracle (which knows the truth) scores exactly the accounts alive at each
    cutoff; the feature table must hold exactly those rows, no more, no fewer."""
    database, model_input, _ = built
    use_schema_again = database  # the module's schema is still configured
    features = stored_rows(use_schema_again, "feature_account_day")
    oracle = small_world.truth("oracle")
    ours = set(zip(features["account_id"], pd.to_datetime(features["cutoff_date"])))
    truth = set(zip(oracle["account_id"], pd.to_datetime(oracle["cutoff_date"])))
    last_cutoff = max(c for _, c in ours)
    # the oracle stops one day before the world ends (it needs the next day)
    assert {k for k in ours if k[1] < last_cutoff} == truth
    assert len(model_input) == len(truth)


def test_targets_are_next_day_net_profit(built, tables):
    database, model_input, _ = built
    daily = tables["metrics_daily"][["account_id", "date", "net_profit"]].copy()
    daily["date"] = pd.to_datetime(daily["date"])
    model_input = model_input.assign(
        target_date=pd.to_datetime(model_input["target_date"])
    )
    rows = model_input.merge(
        daily,
        left_on=["account_id", "target_date"],
        right_on=["account_id", "date"],
        how="left",
    )
    expected = rows["net_profit"].fillna(0.0)
    assert (rows["target_net_profit"] - expected).abs().max() < 1e-9
    assert (rows["target_net_profit"] == 0).any() and (
        rows["target_net_profit"] != 0
    ).any()


def test_future_data_changes_no_feature_of_a_cutoff(pgdata, small_world, tmp_path):
    """Change or delete everything known only after the cutoff; rebuild the cutoff
    alone; every feature of every account (and the set of accounts) stays the same.

    What a later row may say of the cutoff is only that a position opened before it
    was open across it (a trade that closes later, a later open-positions snapshot):
    those rows stay, with everything they learnt later (outcome, P&L) scrambled."""
    database = _schema_with_world(pgdata, small_world, sandbox_plans(tmp_path))
    build_features()
    cutoff = dt.date(2025, 1, 20)
    before = stored_rows(database, "feature_account_day", cutoff)
    assert len(before) > 50
    with database.connect() as conn:
        conn.execute(f"SET search_path TO {database.schema}")
        end = dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time(), dt.UTC)
        # Trades opened after the cutoff go; those open across it keep their opening
        # and lose their outcome.
        conn.execute("DELETE FROM raw_trades_closed WHERE open_time >= %s", [end])
        conn.execute(
            "UPDATE raw_trades_closed SET profit = -profit * 5, close_price = 0, "
            "commission = 99, swap = -99 WHERE trade_date > %s",
            [cutoff],
        )
        conn.execute("DELETE FROM raw_open_positions WHERE open_time >= %s", [end])
        conn.execute("UPDATE raw_open_positions SET profit = 1e6")
        # Every later metrics row changes (a breach for every account)...
        conn.execute(
            "UPDATE raw_metrics_daily SET net_profit = net_profit * 3 + 7, status = 2, "
            "current_balance = 1, current_equity = 1 WHERE date > %s",
            [cutoff],
        )
        # ...and later regimes say something else.
        conn.execute(
            "UPDATE raw_regimes_daily SET document = jsonb_set(document, "
            "'{summary,key_metrics,volatility_regime}', '\"high\"') WHERE date > %s",
            [cutoff],
        )
        # Today's snapshot columns of accounts are not point-in-time: scramble them.
        conn.execute("UPDATE raw_accounts SET status = 3")
        conn.execute("UPDATE raw_metrics_alltime SET net_profit = 1e9, status = 3")
        conn.execute("DELETE FROM raw_accounts WHERE created_date::date > %s", [cutoff])
    build_features(start_date=str(cutoff), end_date=str(cutoff))
    after = stored_rows(database, "feature_account_day", cutoff)
    assert_frame_equal(before, after)


def test_one_day_at_a_time_equals_a_full_build(built):
    database, _, _ = built
    full = {t: stored_rows(database, t) for t in FEATURE_TABLES}
    days = sorted(
        pd.to_datetime(full["feature_account_day"]["cutoff_date"]).dt.date.unique()
    )
    with database.connect() as conn:
        for table in FEATURE_TABLES:
            conn.execute(f"DROP TABLE {database.schema}.{table}")
    build_features(end_date=str(days[-5]))
    for day in days[-4:]:
        build_features(start_date=str(day), end_date=str(day))
    for table in FEATURE_TABLES:
        assert_frame_equal(
            full[table], stored_rows(database, table), check_exact=False, rtol=1e-9
        )
    # A day's own sums over its trades and positions carry no state from a seed: they
    # are the same bits however the build was planned (a float32 feature rounds them).
    assert_frame_equal(
        full["stg_account_day"][list(DAY_SUMS)],
        stored_rows(database, "stg_account_day")[list(DAY_SUMS)],
        check_exact=True,
    )


def _rows_and_differences(database, a: str, b: str, bound: dict) -> list[tuple]:
    """Rows of query ``a``, and the rows of each query the other does not give."""
    bound = {**bound, "bucket": 0, "buckets": 1}
    with database.connect() as conn:
        conn.execute(f"SET search_path TO {database.schema}")
        conn.execute("SET TIME ZONE 'UTC'")
        return [
            conn.execute(
                f"SELECT (SELECT count(*) FROM ({x}) AS a), "  # noqa: S608 (package files)
                f"(SELECT count(*) FROM (({x}) EXCEPT ALL ({y})) AS extra)",
                bound,
            ).fetchone()
            for x, y in ((a, b), (b, a))
        ]


def test_the_rendered_window_sql_gives_the_hand_written_rows(built):
    """feature_account_day.sql.j2 renders its windows and aggregates from lists; the
    rows equal those of the hand-written query it replaced (kept as a fixture)."""
    database, _, _ = built
    rendered = read_query("feature_account_day.sql.j2")
    handwritten = (FIXTURES / "sql/feature_account_day_handwritten.sql").read_text()
    assert "OVER d60 AS active_days_60d" in rendered and "{%" not in rendered
    bound = {"start": dt.date(2000, 1, 1), "end": dt.date(2100, 1, 1)}
    counts = _rows_and_differences(database, rendered, handwritten, bound)
    rows = counts[0][0]
    assert rows > 1000 and counts == [(rows, 0), (rows, 0)]


def test_a_short_build_aggregates_each_cutoff_alone_to_the_same_values(built):
    """A build of a few days (the morning's) aggregates each cutoff's own frames
    instead of running the windows over the 59 days before it too: every value is the
    windows' exactly (the same functions over the same rows in date order)."""
    database, _, _ = built
    windowed = read_query("feature_account_day.sql.j2")
    grouped = read_query("feature_account_day.sql.j2", build_days=3)
    assert "OVER d60" in windowed and "OVER d" not in grouped
    assert (
        "FILTER (WHERE h.date > c.date - 60 AND traded) AS active_days_60d" in grouped
    )
    assert read_query("feature_account_day.sql.j2", build_days=400) == windowed
    cutoffs = pd.to_datetime(
        stored_rows(database, "feature_account_day")["cutoff_date"]
    )
    first, last = cutoffs.min().date(), cutoffs.max().date()
    # early days (frames shorter than the windows) and the newest
    for start in (first + dt.timedelta(days=3), last - dt.timedelta(days=2)):
        bound = {"start": start, "end": start + dt.timedelta(days=2)}
        counts = _rows_and_differences(database, grouped, windowed, bound)
        rows = counts[0][0]
        assert rows > 100 and counts == [(rows, 0), (rows, 0)], start


def _drop_feature_tables(database) -> None:
    with database.connect() as conn:
        for table in FEATURE_TABLES:
            conn.execute(f"DROP TABLE {database.schema}.{table}")


def test_a_full_build_on_two_connections_equals_one_on_one(built):
    """The module's build ran on the project's two connections; one connection (one
    transaction) gives the same rows, and so does an explicit two-connection build."""
    database, _, _ = built
    parallel = {t: stored_rows(database, t) for t in FEATURE_TABLES}
    _drop_feature_tables(database)
    build_features(workers=1)
    # one connection: one transaction wrote every row
    assert len(set().union(*_writers(database).values())) == 1
    for table in FEATURE_TABLES:
        assert_frame_equal(parallel[table], stored_rows(database, table))
    _drop_feature_tables(database)
    build_features(workers=2)
    # two connections: each worker committed its own accounts' rows
    assert len(set().union(*_writers(database).values())) == 2
    for table in FEATURE_TABLES:
        assert_frame_equal(parallel[table], stored_rows(database, table))


def test_an_interrupted_full_build_is_built_again_from_scratch(built, caplog):
    """A full build killed half way leaves its mark; the next run, even an incremental
    one, starts the table over instead of continuing from partial rows."""
    database, _, _ = built
    full = stored_rows(database, "stg_account_day")
    first_half = sorted(full["account_id"].unique())[::2]
    with database.connect() as conn:
        conn.execute(
            f"DELETE FROM {database.schema}.stg_account_day "  # noqa: S608
            "WHERE account_id = ANY(%s)",
            [first_half],
        )
        conn.execute(
            f"COMMENT ON TABLE {database.schema}.stg_account_day IS "
            "'daily-profit-model: full build in progress'"
        )
    caplog.set_level("INFO")
    last = max(full["date"])
    build_features(start_date=str(last), end_date=str(last))
    assert "stg_account_day: a full build was interrupted" in caplog.text
    assert_frame_equal(full, stored_rows(database, "stg_account_day"))
    with database.connect() as conn:
        comment = conn.execute(
            "SELECT obj_description(%s::regclass, 'pg_class')",
            [f"{database.schema}.stg_account_day"],
        ).fetchone()[0]
    assert comment.startswith("daily-profit-model: built from data loaded before ")


def test_a_late_correction_of_an_old_day_is_built_from_that_day(built, caplog):
    """Ingestion fetched an old day again (its source count changed) after the last
    build; a run without dates builds from that day, and equals a full rebuild."""
    database, _, _ = built
    build_features()
    before = {t: stored_rows(database, t) for t in FEATURE_TABLES}
    days = sorted(before["stg_account_day"]["date"].unique())
    corrected = days[5]
    with database.connect() as conn:
        conn.execute(f"SET search_path TO {database.schema}")
        conn.execute(
            "UPDATE raw_metrics_daily SET net_profit = net_profit - 250 WHERE date = %s",
            [corrected],
        )
        conn.execute(
            "UPDATE raw_trades_closed SET lots = lots * 2 WHERE trade_date = %s",
            [corrected],
        )
        # what RawIngestionDataset records when it stores a day again
        conn.execute(
            "UPDATE ingestion_state SET loaded_at = now() WHERE day = %s "
            "AND endpoint IN ('v2/metrics/daily', 'v2/trades/closed')",
            [corrected],
        )
    # A requested range that leaves the corrected day out does not hide it...
    build_features(start_date=str(days[-1]), end_date=str(days[-1]))
    caplog.set_level("INFO")
    # ...from the next planned run.
    build_features()
    assert f"the earliest {corrected}: building from there" in caplog.text
    incremental = {t: stored_rows(database, t) for t in FEATURE_TABLES}
    changed = incremental["feature_account_day"]["pnl_sum_60d"].ne(
        before["feature_account_day"]["pnl_sum_60d"]
    )
    assert changed.any(), "the correction changes later rolling sums"
    _drop_feature_tables(database)
    build_features()
    for table in FEATURE_TABLES:
        assert_frame_equal(
            incremental[table],
            stored_rows(database, table),
            check_exact=False,
            rtol=1e-9,
        )


def _writers(database, table: str = "feature_account_day") -> dict:
    """Each cutoff day's set of writing transactions (``xmin``) of ``table``."""
    with database.connect() as conn:
        rows = conn.execute(
            f"SELECT cutoff_date, array_agg(DISTINCT xmin::text) "  # noqa: S608
            f"FROM {database.schema}.{table} GROUP BY cutoff_date"
        ).fetchall()
    return {day: set(writers) for day, writers in rows}


def test_an_incremental_run_builds_only_the_newest_days(built):
    """A planned run rewrites the days since the last build (and the week its
    targets look back), never older ones: their rows keep their writing transaction."""
    database, _, _ = built
    before = _writers(database)
    build_features()
    after = _writers(database)
    assert after.keys() == before.keys()
    rewritten = sorted(day for day in after if after[day] != before[day])
    assert rewritten, "the newest day is always rebuilt"
    assert rewritten == sorted(after)[-len(rewritten) :]
    assert (rewritten[-1] - rewritten[0]).days <= 6


def test_plan_versions_apply_from_their_own_dates_never_earlier(
    pgdata, small_world, tmp_path
):
    """Two exports carry plan versions; which one a cutoff uses follows the versions'
    own dates, not the files' names, and a cutoff before a plan's first version has
    no rules (flagged), not a later version's."""
    from daily_profit_model.plan_format import DATE_FORMAT  # noqa: PLC0415
    from daily_profit_model.sandbox.plans import plan_export_text  # noqa: PLC0415

    folder = tmp_path / "plans"
    folder.mkdir()
    export = pd.read_csv(
        io.StringIO(plan_export_text("2025-01-06")), dtype=str, keep_default_na=False
    )
    early = dt.datetime(2024, 12, 1)
    switch = dt.date(2025, 1, 20)
    first_seen = dt.date(2025, 1, 27)
    export["inserted"] = export["updated"] = early.strftime(DATE_FORMAT)
    late_plans = export.index[export.index % 5 == 0]  # a plan first exported later
    export.loc[late_plans, ["inserted", "updated"]] = first_seen.strftime(DATE_FORMAT)
    newer = export.drop(index=late_plans)
    newer["updated"] = switch.strftime(DATE_FORMAT)
    newer["profitTargetPct"] = "77"
    # alphabetical order is the reverse of the versions' order
    newer.to_csv(folder / "A_newer.csv", index=False)
    export.to_csv(folder / "Z_older.csv", index=False)
    database = _schema_with_world(pgdata, small_world, folder)
    build_features()
    rows = stored_rows(database, "feature_account_day")
    late_ids = set(export.loc[late_plans, "planId"].astype(int))
    late = rows["plan_id"].isin(late_ids)
    cutoff = pd.to_datetime(rows["cutoff_date"]).dt.date
    known = rows[~late]
    assert (known.loc[cutoff[~late] >= switch, "profit_target_pct"] == 77).all()
    before = known.loc[cutoff[~late] < switch, "profit_target_pct"]
    assert len(before) and (before != 77).all()
    unknown = rows[late & (cutoff < first_seen)]
    assert len(unknown) and not unknown["plan_version_known"].any()
    assert unknown["profit_target_pct"].isna().all()
    assert rows.loc[~(late & (cutoff < first_seen)), "plan_version_known"].all()


def test_the_feature_schema_refuses_a_missing_rule_where_the_plan_is_known(built):
    import pandera.errors  # noqa: PLC0415

    from daily_profit_model.features.schemas import FEATURE_ACCOUNT_DAY  # noqa: PLC0415

    database, _, _ = built
    rows = stored_rows(database, "feature_account_day").head(200)
    FEATURE_ACCOUNT_DAY.validate(rows)
    broken = rows.assign(profit_target_pct=None)
    with pytest.raises(pandera.errors.SchemaError, match="a plan rule is NULL"):
        FEATURE_ACCOUNT_DAY.validate(broken)
    # the same gap is fine where no plan version precedes the cutoff (flagged)
    FEATURE_ACCOUNT_DAY.validate(broken.assign(plan_version_known=False))


def test_positions_open_at_a_past_cutoff_come_from_closed_trades(built, tables):
    """No snapshot was taken at a past cutoff (ingestion ran once, at the end): the
    positions open at it are rebuilt from closed trades that span it, and match the
    sandbox's own record of what each account carried past that cutoff."""
    database, _, _ = built
    staged = stored_rows(database, "stg_account_day")
    carried = tables["trades_open"]  # the sandbox's truth: positions past each cutoff
    last = staged["date"].max()
    past = staged[staged["date"] < last]
    accounts = tables["accounts"][["login", "platform", "broker", "account_id"]]
    truth = (
        carried.merge(accounts, on=["login", "platform", "broker"])
        .groupby(["account_id", "trade_date"])
        .size()
        .rename("truth")
    )
    joined = past.set_index(["account_id", "date"])[["open_positions"]].join(
        truth.rename_axis(["account_id", "date"])
    )
    joined["truth"] = joined["truth"].fillna(0)
    wrong = joined[joined["open_positions"] != joined["truth"]]
    assert wrong.empty, wrong.head(10).to_string()
    assert joined["truth"].sum() > 20
    assert set(past["exposure_source"]) == {0, 1}  # none, or closed trades only
    # the newest cutoff's positions are still open: the snapshot taken after it says so
    newest = staged[staged["date"] == last]
    assert (newest.loc[newest["open_positions"] > 0, "exposure_source"] == 2).all()
    assert (newest["open_positions"] > 0).any()


def test_open_positions_carry_their_stops_take_profits_and_risk(built, tables):
    """Each cutoff's open positions (rebuilt from closed trades, or the newest from the
    snapshot) carry the P&L they would realise at their stops and take-profits, as the
    sandbox's record of what each account held past that cutoff says, and a one-day
    risk wherever a position is open."""
    database, _, _ = built
    staged = stored_rows(database, "stg_account_day").set_index(["account_id", "date"])
    carried = tables["trades_open"].merge(
        tables["accounts"][["login", "platform", "broker", "account_id"]],
        on=["login", "platform", "broker"],
    )
    sign = carried["side"].map({"buy": 1.0, "sell": -1.0})
    notional = carried["volume_usd"].abs()
    truth = (
        carried.assign(
            stop=sign * notional * (carried["stop_loss"] / carried["open_price"] - 1),
            take=sign * notional * (carried["take_profit"] / carried["open_price"] - 1),
        )
        .groupby(["account_id", "trade_date"])[["stop", "take"]]
        .sum(min_count=1)
        .rename_axis(["account_id", "date"])
    )
    joined = truth.join(staged, how="inner")
    assert len(joined) > 20 and joined["stop"].notna().sum() > 5
    assert joined["take"].notna().sum() > 5
    for ours, theirs in (("open_stop_pnl", "stop"), ("open_take_profit_pnl", "take")):
        assert (joined[ours].isna() == joined[theirs].isna()).all(), ours
        close = np.isclose(joined[ours], joined[theirs], rtol=1e-6, equal_nan=True)
        assert close.all(), joined.loc[~close, [ours, theirs]].head().to_string()
    assert (joined["open_daily_risk"] > 0).all()
    flat = staged[staged["open_positions"] == 0]
    assert (flat["open_daily_risk"] == 0).all() and flat["open_stop_pnl"].isna().all()
    features = stored_rows(database, "feature_account_day")
    keys = list(zip(features["account_id"], features["cutoff_date"], strict=True))
    room = staged["open_stop_pnl"].reindex(keys).to_numpy() - features["unrealised_pnl"]
    assert np.allclose(features["open_stop_room"], room, equal_nan=True)
    assert features["open_stop_room"].notna().sum() > 5

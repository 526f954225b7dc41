"""Nodes of the ``scoring`` pipeline."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from daily_profit_model.datasets.scoring import ScoringModel  # noqa: E402
from daily_profit_model.datasets.sql_build import SqlBuild  # noqa: E402
from daily_profit_model.params import (  # noqa: E402
    FirmParams,
    RunDate,
    ScoringParams,
    requested_day,
)
from daily_profit_model.scoring.degradation import (  # noqa: E402
    account_checks,
    book_checks,
    drift_check,
)
from daily_profit_model.scoring.drift import drift_table  # noqa: E402
from daily_profit_model.scoring.evaluation import (  # noqa: E402
    daily_metrics,
    diebold_mariano,
)
from daily_profit_model.scoring.firm import (  # noqa: E402
    FUNDED_PHASE,
    book_days,
    book_forecast,
    implied_correlation,
    known_history,
    payout_liability,
    tail_contributions,
)
from daily_profit_model.scoring.report import (  # noqa: E402
    book_chart,
    build_report,
    drift_chart,
    firm_history,
)

logger = logging.getLogger(__name__)


def _served_by_challenger(account_ids: pd.Series, share: float) -> np.ndarray:
    """A stable, per-account draw: the same account gets the same arm every day."""
    if share <= 0:
        return np.zeros(len(account_ids), dtype=bool)
    buckets = account_ids.map(
        lambda a: int(hashlib.sha256(a.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    )
    return (buckets < share).to_numpy()


def _forecast_with_reasons(
    entry: ScoringModel, inputs: pd.DataFrame, exact: np.ndarray, top: int
) -> pd.DataFrame:
    """One model's forecasts with their top reasons: TreeSHAP for the ``exact`` rows,
    the decision path's contributions for the rest (``scoring.reasons``).

    The rows of ``exact`` are forecast twice, once per method; the forecasts of a
    model are deterministic, so only their reasons are taken from the second call. A
    version registered before ``reasons_method`` existed ignores it (MLflow drops a
    parameter its signature lacks) and gives TreeSHAP reasons everywhere.
    """
    params = {"reasons": top, "reasons_method": "path"}
    out = entry.model.predict(inputs, params=params)
    if top and exact.any():
        exact_out = entry.model.predict(
            inputs[exact], params={**params, "reasons_method": "treeshap"}
        )
        reasons = [c for c in exact_out.columns if c.startswith("reason")]
        out.loc[exact, reasons] = exact_out[reasons].to_numpy()  # by position
    return out


def score_accounts(
    features: pd.DataFrame,
    models: list[ScoringModel],
    run: dict[str, Any],
    run_date: RunDate | None,
    scoring: ScoringParams,
) -> pd.DataFrame:
    """Forecast every account alive at the cutoff with the champion and every shadow.

    Args:
        features: Feature rows of one cutoff (every account alive at it).
        models: The champion and shadow versions.
        run: ``run_id`` and ``started_at`` of this run.
        run_date: The cutoff asked for (None: the newest built).
        scoring: ``scoring`` parameters: ``challenger_traffic_share`` (the share of
            accounts whose served forecast comes from the challenger; 0 by default),
            ``reasons`` (how many, and the phases explained by exact TreeSHAP).

    Returns:
        One row per account and model version, with the role, whether that row is the
        forecast served to users, the interval and the top reasons.

    Raises:
        ValueError: No feature rows (nothing alive at the cutoff, or no cutoff built).
    """
    if features.empty:
        day = requested_day(run_date)
        raise ValueError(
            f"No feature rows for {f'cutoff {day}' if day else 'any cutoff'}: run "
            f"`kedro run --pipelines daily{f' --params run_date={day}' if day else ''}` "
            "to ingest and build them first"
        )
    cutoffs = features["cutoff_date"].unique()
    if len(cutoffs) != 1:
        raise ValueError(f"Scoring takes one cutoff; got {len(cutoffs)}")
    share = scoring.challenger_traffic_share
    to_challenger = _served_by_challenger(features["account_id"], share)
    has_challenger = any(m.alias == "challenger" for m in models)
    exact = features["phase"].isin(scoring.reasons.treeshap_phases).to_numpy()
    frames = []
    for entry in models:
        # the model's own input columns (its signature): the keys stay here
        names = entry.model.metadata.get_input_schema().input_names()
        inputs = features[[c for c in names if c in features.columns]]
        out = _forecast_with_reasons(entry, inputs, exact, scoring.reasons.top)
        if entry.role == "champion":
            served = ~to_challenger if has_challenger else np.ones(len(out), dtype=bool)
        else:
            served = (
                to_challenger
                if entry.alias == "challenger"
                else np.zeros(len(out), dtype=bool)
            )
        frames.append(
            pd.DataFrame(
                {
                    "account_id": features["account_id"].to_numpy(),
                    "cutoff_date": features["cutoff_date"].to_numpy(),
                    "target_date": features["target_date"].to_numpy(),
                    "model_name": scoring.model_name,
                    "model_version": entry.version,
                    "role": entry.role,
                    "alias": entry.alias,
                    "served": served,
                    "phase": features["phase"].to_numpy(),
                    **{c: out[c].to_numpy() for c in out.columns},
                    "scored_at": run["started_at"],
                    "run_id": run["run_id"],
                }
            )
        )
    predictions = pd.concat(frames, ignore_index=True)
    logger.info(
        "Scored %d accounts at cutoff %s with %d model(s); %d forecasts served by a challenger",
        len(features),
        pd.Timestamp(cutoffs[0]).date(),
        len(models),
        int(predictions.loc[predictions["role"] == "shadow", "served"].sum()),
    )
    return predictions


def join_forecasts_to_actuals(
    targets: dict[str, Any], predictions: pd.DataFrame, scoring: ScoringParams
) -> SqlBuild:
    """The target days whose forecasts can now be joined to actuals.

    Taking this run's ``predictions`` orders the join after they are stored, so that a
    backfill of a past day evaluates that day's forecasts in the same run.

    Args:
        targets: Coverage of ``target_account_day`` (its newest cutoff).
        predictions: This run's forecasts (their target day joins the window).
        scoring: ``evaluation_window_days``: how far back outcomes are rebuilt.
    """
    last = pd.Timestamp(targets["last"]).date() + pd.Timedelta(days=7)
    days = scoring.evaluation_window_days
    first = last - pd.Timedelta(days=days + 7)
    if len(predictions):
        target = pd.Timestamp(predictions["target_date"].max()).date()
        first, last = min(first, target), max(last, target)
    return SqlBuild(first, last)


def evaluate_forecasts(
    outcomes: pd.DataFrame, run: dict[str, Any], scoring: ScoringParams
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Judge past forecasts against what happened, per model and day; compare models.

    Returns:
        Daily metrics per model version, Diebold–Mariano comparisons of each shadow
        against the champion over the window, and the headline figures for MLflow.
    """
    if outcomes.empty:
        logger.info("No forecast has an actual yet: nothing to evaluate")
        return pd.DataFrame(), pd.DataFrame(), {}
    daily = daily_metrics(outcomes).assign(evaluated_at=run["started_at"])
    window = scoring.evaluation_window_days
    recent = daily[
        pd.to_datetime(daily["target_date"])
        > pd.to_datetime(daily["target_date"]).max() - pd.Timedelta(days=window)
    ]
    comparisons = _compare_with_champion(recent, run, scoring.significance)
    newest = daily[daily["target_date"] == daily["target_date"].max()]
    figures = {}
    for _, row in newest.iterrows():
        prefix = f"eval_v{row['model_version']}"
        figures |= {
            f"{prefix}_mae": row["mae"],
            f"{prefix}_coverage_90": row["coverage_90"],
            f"{prefix}_pinball_05": row["pinball_05"],
            f"{prefix}_pinball_95": row["pinball_95"],
        }
        logger.info(
            "Forecasts for %s by v%d (%s): MAE %.1f, coverage %.3f over %d accounts",
            row["target_date"],
            row["model_version"],
            row["role"],
            row["mae"],
            row["coverage_90"],
            row["accounts"],
        )
    return daily, comparisons, figures


def _compare_with_champion(
    daily: pd.DataFrame, run: dict[str, Any], significance: float
) -> pd.DataFrame:
    """DM test of each shadow's daily MAE against the champion's, on common days."""
    champion = daily[daily["role"] == "champion"]
    if champion.empty:
        return pd.DataFrame()
    champion_version = int(champion["model_version"].mode().iloc[0])
    base = daily[daily["model_version"] == champion_version].set_index("target_date")[
        "mae"
    ]
    rows = []
    for version, group in daily[daily["model_version"] != champion_version].groupby(
        "model_version"
    ):
        other = group.set_index("target_date")["mae"]
        common = base.index.intersection(other.index)
        if len(common) == 0:
            continue
        difference = (base[common] - other[common]).to_numpy()
        statistic, p_value = diebold_mariano(difference)
        rows.append(
            {
                "window_end": max(common),
                "champion_version": champion_version,
                "challenger_version": int(version),
                "window_start": min(common),
                "days": len(common),
                "champion_mae": float(base[common].mean()),
                "challenger_mae": float(other[common].mean()),
                "mean_loss_difference": float(difference.mean()),
                "dm_statistic": statistic,
                "p_value": p_value,
                "challenger_better": bool(
                    difference.mean() > 0 and p_value < significance
                ),
                "compared_at": run["started_at"],
            }
        )
    return pd.DataFrame(rows)


def _history_days(
    outcomes: pd.DataFrame, seed: pd.DataFrame, version: int
) -> tuple[pd.DataFrame, str]:
    """The book days known at ``cutoff``: the version's outcomes, completed by the
    training run's test window on days the outcomes lack."""
    own = outcomes[outcomes["model_version"] == version] if len(outcomes) else outcomes
    days = book_days(own) if len(own) else pd.DataFrame()
    sources = ["outcomes"] if len(days) else []
    if len(seed):
        seeded = book_days(seed)
        if len(days):
            seeded = seeded[~seeded.index.isin(days.index)]
        if len(seeded):
            days = pd.concat([days, seeded]) if len(days) else seeded
            sources.append("training test window")
    if days.empty:
        return days, "none"
    return days, " + ".join(sources)


def _seed_rows(test_predictions: pd.DataFrame) -> pd.DataFrame:
    """Training's test-window rows as outcome rows."""
    if test_predictions.empty:
        return test_predictions
    seed = test_predictions.rename(columns={"lower": "lower_90", "upper": "upper_90"})
    if "target_date" not in seed:  # written before target days were kept
        seed = seed.assign(
            target_date=pd.to_datetime(seed["cutoff_date"]) + pd.offsets.BDay(1)
        )
    return seed


def _book_figures(
    today_days: pd.DataFrame,
    history: pd.DataFrame,
    accounts: pd.DataFrame,
    book: str,
    settings: FirmParams,
) -> dict[str, Any]:
    today = today_days.loc[book]
    today = today.iloc[0] if isinstance(today, pd.DataFrame) else today
    known = (
        known_history(history.loc[book], today_days.index.get_level_values(1)[0])
        if len(history) and book in history.index.get_level_values(0)
        else pd.DataFrame()
    )
    method = settings.method if len(known) else "independent"
    forecast = book_forecast(
        known, today, settings.model_copy(update={"method": method}), accounts
    )
    independent = book_forecast(
        known, today, settings.model_copy(update={"method": "independent"})
    )
    rho = implied_correlation(
        forecast["residual_sd"], today["scale_sum"], today["scale_quad"]
    )
    return {
        "book": book,
        "method": method,
        "accounts": int(today["accounts"]),
        "forecast_total": float(today["median_total"]),
        "expected_total": forecast["mean"],
        "median_total": forecast["q50"],
        "lower_90": forecast["q05"],
        "upper_90": forecast["q95"],
        "independent_lower_90": independent["q05"],
        "independent_upper_90": independent["q95"],
        "error_days": len(known),
        "_forecast": forecast,
        "_rho": rho,
    }


def firm_view(  # noqa: PLR0913 - today, its history, the accounts' state, settings
    predictions: pd.DataFrame,
    outcomes: pd.DataFrame,
    test_predictions: pd.DataFrame,
    features: pd.DataFrame,
    scoring: ScoringParams,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tomorrow's firm total and funded book per model version; the riskiest accounts;
    the funded accounts that carry the funded book's upper tail (the hedge list).

    Only days whose target day is on or before the cutoff calibrate a book, so a
    backfilled ``run_date`` sees what was known then.

    Returns:
        ``firm_forecasts`` (one row per version and book, with the payout liability on
        the funded book), ``risk_accounts`` (widest downside) and ``hedge_list``.
    """
    settings = scoring.firm
    seed = _seed_rows(test_predictions)
    state = features.set_index("account_id")[
        ["balance", "starting_balance", "days_to_next_payout", "profit_share_pct"]
    ]
    rows, hedges = [], pd.DataFrame()
    for version, today in predictions.groupby("model_version"):
        history, source = _history_days(outcomes, seed, int(version))
        today_days = book_days(today)
        for book in today_days.index.get_level_values(0):
            accounts = (
                today if book == "firm" else today[today["phase"] == FUNDED_PHASE]
            )
            figures = _book_figures(today_days, history, accounts, book, settings)
            forecast, rho = figures.pop("_forecast"), figures.pop("_rho")
            if book == "funded":
                funded = accounts.join(state, on="account_id")
                figures |= payout_liability(funded, rho)
                if today["role"].iloc[0] == "champion":
                    hedges = _hedge_list(
                        funded, forecast, rho, scoring.firm.hedge_accounts
                    )
            rows.append(
                {
                    "cutoff_date": today["cutoff_date"].iloc[0],
                    "target_date": today["target_date"].iloc[0],
                    "model_version": int(version),
                    "role": today["role"].iloc[0],
                    **figures,
                    "error_source": source,
                    "scored_at": today["scored_at"].iloc[0],
                    "run_id": today["run_id"].iloc[0],
                }
            )
    firm = pd.DataFrame(rows)
    for _, row in firm[firm["role"] == "champion"].iterrows():
        logger.info(
            "%s book for %s (%d accounts): expected %.0f USD, 90%% interval [%.0f, %.0f] "
            "(%s on %d past days from %s; independent accounts would say [%.0f, %.0f])%s",
            row["book"].capitalize(),
            row["target_date"],
            row["accounts"],
            row["expected_total"],
            row["lower_90"],
            row["upper_90"],
            row["method"],
            row["error_days"],
            row["error_source"],
            row["independent_lower_90"],
            row["independent_upper_90"],
            f"; payout liability {row['payout_liability']:.0f} USD"
            if row["book"] == "funded"
            else "",
        )
    served = predictions[predictions["served"]]
    risk = served.assign(downside=served["forecast"] - served["lower_90"]).nlargest(
        scoring.risk_accounts, "downside"
    )
    return firm, risk.reset_index(drop=True), hedges


def _hedge_list(
    funded: pd.DataFrame, forecast: dict[str, float], rho: float, n: int
) -> pd.DataFrame:
    """The funded accounts ranked by their share of the funded book's 95% quantile."""
    contribution = tail_contributions(funded, forecast, rho)
    positive = contribution.clip(lower=0).sum()
    reasons = [c for c in ("reason_1", "reason_2", "reason_3") if c in funded]
    listed = funded.assign(
        tail_contribution=contribution,
        tail_share=contribution.clip(lower=0) / positive if positive > 0 else 0.0,
    ).nlargest(n, "tail_contribution")
    why = listed.apply(
        lambda r: (
            f"mean {r['mean'] if pd.notna(r.get('mean')) else r['forecast']:+,.0f}, "
            f"95% bound {r['upper_90']:+,.0f}, "
            f"balance {abs(r['balance'] - r['starting_balance']):,.0f} "
            f"{'above' if r['balance'] >= r['starting_balance'] else 'below'} start; "
            + ", ".join(
                f"{r[c]} {r[c + '_usd']:+,.0f}" for c in reasons if pd.notna(r[c])
            )
        ),
        axis=1,
    )
    columns = [
        "account_id",
        "cutoff_date",
        "target_date",
        "starting_balance",
        "balance",
        "days_to_next_payout",
        "mean",
        "forecast",
        "upper_90",
        "tail_contribution",
        "tail_share",
    ]
    return listed[columns].assign(why=why.to_numpy()).reset_index(drop=True)


def detect_drift(
    features: pd.DataFrame,
    predictions: pd.DataFrame,
    models: list[ScoringModel],
    scoring: ScoringParams,
) -> tuple[pd.DataFrame, plt.Figure, dict[str, float]]:
    """PSI and KS per feature, and for the forecasts, against the champion's reference.

    Returns:
        Drift rows (one per feature, plus ``_forecast``), a plot of the day's most
        drifted features, and figures for MLflow (counts by severity). Warnings are
        logged; a severe drift is logged as an error-level line and counted.
    """
    champion = next(m for m in models if m.role == "champion")
    reference = champion.model.unwrap_python_model().reference
    if reference is None:
        logger.warning(
            "Champion v%d has no reference sample: drift not measured", champion.version
        )
        return pd.DataFrame(), _no_drift_plot(champion.version), {}
    columns = [
        c for c in reference.columns if c != "_forecast" and c in features.columns
    ]
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(reference[c])]
    thresholds = scoring.drift.model_dump()
    table = drift_table(reference, features, numeric, thresholds)
    gone = [c for c in reference.columns if c != "_forecast" and c not in features]
    if gone:  # a feature the model reads is no longer built at all
        table = pd.concat(
            [table, pd.DataFrame({"feature": gone, "severity": "severe"})],
            ignore_index=True,
        )
    forecasts = predictions[predictions["model_version"] == champion.version]
    table = pd.concat(
        [
            table,
            drift_table(
                reference.rename(columns={"_forecast": "forecast"}),
                forecasts,
                ["forecast"],
                thresholds,
            ).replace({"feature": {"forecast": "_forecast"}}),
        ],
        ignore_index=True,
    )
    cutoff = pd.Timestamp(features["cutoff_date"].iloc[0]).date()
    table = table.assign(cutoff_date=cutoff, model_version=champion.version)
    counts = table["severity"].value_counts()
    for _, row in table[table["severity"] != "ok"].iterrows():
        log = logger.error if row["severity"] == "severe" else logger.warning
        log(
            "Drift (%s) in %s on %s: PSI %.3f, KS %.3f",
            row["severity"],
            row["feature"],
            cutoff,
            row["psi"],
            row["ks_statistic"],
        )
    figure = drift_chart(table, cutoff)
    figures = {
        "drift_features_warn": float(counts.get("warn", 0)),
        "drift_features_severe": float(counts.get("severe", 0)),
        "drift_forecast_psi": float(
            table.loc[table["feature"] == "_forecast", "psi"].iloc[0]
        ),
    }
    return table, figure, figures


def _no_drift_plot(version: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 2))
    ax.axis("off")
    ax.text(
        0.5,
        0.5,
        f"Drift not measured: champion v{version} has no reference sample",
        ha="center",
        va="center",
    )
    return fig


def monitor_performance(  # noqa: PLR0913 - the evidence of each check
    predictions: pd.DataFrame,
    evaluation: pd.DataFrame,
    firm: pd.DataFrame,
    outcomes: pd.DataFrame,
    drift_metrics: dict[str, float],
    models: list[ScoringModel],
    scoring: ScoringParams,
) -> tuple[
    pd.DataFrame, dict[str, float], list[dict[str, Any]], plt.Figure, plt.Figure
]:
    """The champion's degradation checks of the scored day, and the alerts they raise.

    Only what was known at the cutoff counts (a backfilled day is judged as of then).

    Returns:
        ``performance_checks`` rows, their figures (and the day's book forecasts) for
        MLflow, the alerts (one per failing check) for the webhook, and the funded
        book's and the firm's band against actual totals (exceptions marked).
    """
    champion = next(m for m in models if m.role == "champion")
    cutoff = pd.Timestamp(predictions["cutoff_date"].max())
    settings = scoring.degradation
    daily = (
        evaluation[
            (evaluation["model_version"] == champion.version)
            & (pd.to_datetime(evaluation["target_date"]) <= cutoff)
        ]
        if len(evaluation)
        else evaluation
    )
    known_firm = firm[pd.to_datetime(firm["cutoff_date"]) < cutoff]
    known_outcomes = (
        outcomes[pd.to_datetime(outcomes["target_date"]) <= cutoff]
        if len(outcomes)
        else outcomes
    )
    history = firm_history(
        known_firm[known_firm["model_version"] == champion.version], known_outcomes
    )
    rows = (
        account_checks(daily, champion.reference, settings)
        + book_checks(history, settings)
        + drift_check(drift_metrics)
    )
    run = predictions.iloc[0]
    checks = pd.DataFrame(
        rows,
        columns=[
            "check_name",
            "value",
            "reference",
            "p_value",
            "days",
            "status",
            "alert",
            "detail",
        ],
    ).assign(
        cutoff_date=cutoff.date(),
        model_version=champion.version,
        checked_at=run["scored_at"],
        run_id=run["run_id"],
    )
    for _, row in checks.iterrows():
        (logger.warning if row["alert"] else logger.info)(
            "Check %s: %s (%s)", row["check_name"], row["status"], row["detail"]
        )
    alerts = [
        {
            "project": "daily-profit-model",
            "check": row["check_name"],
            "status": row["status"],
            "cutoff_date": str(cutoff.date()),
            "model_version": int(champion.version),
            "value": float(row["value"]),
            "reference": float(row["reference"]),
            "p_value": None if pd.isna(row["p_value"]) else float(row["p_value"]),
            "detail": row["detail"],
            "run_id": row["run_id"],
        }
        for _, row in checks[checks["alert"]].iterrows()
    ]
    figures = {
        f"check_{r['check_name']}": float(r["value"]) for _, r in checks.iterrows()
    }
    figures["checks_failing"] = float(len(alerts))
    today = firm[
        (pd.to_datetime(firm["cutoff_date"]) == cutoff)
        & (firm["model_version"] == champion.version)
    ]
    for _, row in today.iterrows():
        for column in ("expected_total", "lower_90", "upper_90", "payout_liability"):
            if column in row and pd.notna(row[column]):
                figures[f"{row['book']}_{column}"] = float(row[column])
    charts = firm_history(
        firm[
            (pd.to_datetime(firm["cutoff_date"]) <= cutoff)
            & (firm["model_version"] == champion.version)
        ],
        known_outcomes,
    )
    logger.info(
        "Degradation checks of v%d on %s: %d run, %d failing",
        champion.version,
        cutoff.date(),
        len(checks),
        len(alerts),
    )
    plots = [
        book_chart(
            charts[charts["book"] == book],
            f"{title} by target day (v{champion.version})",
        )
        for book, title in (("funded", "Funded book P&L"), ("firm", "Firm-wide P&L"))
    ]
    return checks, figures, alerts, *plots


def daily_report(  # noqa: PLR0913 (one input per table of the report)
    predictions: pd.DataFrame,
    firm: pd.DataFrame,
    risk: pd.DataFrame,
    hedges: pd.DataFrame,
    evaluation: pd.DataFrame,
    outcomes: pd.DataFrame,
    drift: pd.DataFrame,
    scoring: ScoringParams,
) -> dict[str, str]:
    """The scored day's HTML report: the funded book (expected P&L, interval, payout
    liability, hedge list), the firm total, both books' backtest (band against actual
    totals, exceptions, traffic light), riskiest accounts and their reasons, yesterday
    against actuals, coverage over time, drift flags.

    Returns:
        ``{"daily_report_<cutoff>.html": page}``.
    """
    cutoff = pd.Timestamp(predictions["cutoff_date"].max())
    page = build_report(
        cutoff,
        firm,
        risk,
        hedges,
        evaluation,
        outcomes,
        drift,
        scoring.report.coverage_target,
    )
    return {f"daily_report_{cutoff.date()}.html": page}

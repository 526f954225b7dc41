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
    RunDate,
    ScoringParams,
    requested_day,
)
from daily_profit_model.scoring.drift import drift_table  # noqa: E402
from daily_profit_model.scoring.evaluation import (  # noqa: E402
    daily_metrics,
    diebold_mariano,
)
from daily_profit_model.scoring.firm import (  # noqa: E402
    daily_total_errors,
    firm_interval,
)
from daily_profit_model.scoring.report import build_report, drift_chart  # noqa: E402

logger = logging.getLogger(__name__)

_REASONS = 3


def _served_by_challenger(account_ids: pd.Series, share: float) -> np.ndarray:
    """A stable, per-account draw: the same account gets the same arm every day."""
    if share <= 0:
        return np.zeros(len(account_ids), dtype=bool)
    buckets = account_ids.map(
        lambda a: int(hashlib.sha256(a.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    )
    return (buckets < share).to_numpy()


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
            accounts whose served forecast comes from the challenger; 0 by default).

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
    frames = []
    for entry in models:
        out = entry.model.predict(features, params={"reasons": _REASONS})
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


def plan_outcome_build(
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
    return SqlBuild("prediction_outcomes.sql", first, last)


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


def firm_view(
    predictions: pd.DataFrame,
    outcomes: pd.DataFrame,
    test_predictions: pd.DataFrame,
    scoring: ScoringParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The firm's total forecast with a correlation-aware interval, and its riskiest accounts.

    The interval's error history is the model's own past days with actuals when there
    are at least ``min_error_days``; before that, the training run's test window.

    Returns:
        One row per model version (firm total and interval, and the interval
        independence would give), and the accounts with the widest downside.
    """
    rows = []
    min_days = scoring.min_error_days
    for version, today in predictions.groupby("model_version"):
        history = (
            outcomes[outcomes["model_version"] == version]
            if len(outcomes)
            else outcomes
        )
        errors = daily_total_errors(history) if len(history) else pd.Series(dtype=float)
        source = "outcomes"
        if len(errors) < min_days:
            seed = test_predictions.rename(
                columns={"lower": "lower_90", "upper": "upper_90"}
            )
            errors, source = daily_total_errors(seed), "training test window"
        figures = firm_interval(today, errors)
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
    champion = firm[firm["role"] == "champion"].iloc[0]
    logger.info(
        "Firm forecast for %s: expected %.0f USD (accounts' forecasts sum to %.0f), "
        "90%% interval [%.0f, %.0f] (independent accounts would say [%.0f, %.0f]; "
        "errors from %s, %d days)",
        champion["target_date"],
        champion["expected_total"],
        champion["forecast_total"],
        champion["lower_90"],
        champion["upper_90"],
        champion["independent_lower_90"],
        champion["independent_upper_90"],
        champion["error_source"],
        champion["error_days"],
    )
    served = predictions[predictions["served"]]
    risk = served.assign(downside=served["forecast"] - served["lower_90"]).nlargest(
        scoring.risk_accounts, "downside"
    )
    return firm, risk.reset_index(drop=True)


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


def daily_report(  # noqa: PLR0913 (one input per table of the report)
    predictions: pd.DataFrame,
    firm: pd.DataFrame,
    risk: pd.DataFrame,
    evaluation: pd.DataFrame,
    outcomes: pd.DataFrame,
    drift: pd.DataFrame,
    scoring: ScoringParams,
) -> dict[str, str]:
    """The scored day's HTML report: firm forecast, riskiest accounts and their
    reasons, yesterday against actuals, coverage over time, drift flags.

    Returns:
        ``{"daily_report_<cutoff>.html": page}``.
    """
    cutoff = pd.Timestamp(predictions["cutoff_date"].max())
    page = build_report(
        cutoff,
        firm,
        risk,
        evaluation,
        outcomes,
        drift,
        scoring.report.coverage_target,
    )
    return {f"daily_report_{cutoff.date()}.html": page}

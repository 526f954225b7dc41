"""Walk-forward forecasts and the books' backtest (``benchmarks/firm_backtest.py`` and
``tests/scoring/test_firm_backtest.py``).

Every ``refit_every`` cutoffs the account models are refitted, as the training pipeline
fits them (point, mean, 5% and 95% models, conformal calibration by phase), on the
cutoffs whose targets are known by then; they forecast the next block of cutoffs out of
sample. Each book's distribution on a cutoff is then estimated from the out-of-sample
days known at that cutoff only, by every method of :mod:`daily_profit_model.scoring.firm`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from daily_profit_model.params import FirmParams, TrainingParams
from daily_profit_model.pipelines.training.nodes import fit_forecaster
from daily_profit_model.scoring.backtest import backtest_book
from daily_profit_model.scoring.firm import (
    FUNDED_PHASE,
    METHODS,
    book_days,
    book_forecast,
    known_history,
)
from daily_profit_model.training.matrix import TARGET, feature_names
from daily_profit_model.training.pyfunc_model import DailyPnlForecaster

logger = logging.getLogger(__name__)

# The point model's settings when no tuned ones are given: a typical trial of the
# project's search, at a faster learning rate (a walk-forward refits a dozen times).
DEFAULT_POINT = {
    "objective": "l1",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "lambda_l2": 1.0,
}

_STATE = ["balance", "starting_balance", "days_to_next_payout", "profit_share_pct"]


def _labelled(
    known: pd.DataFrame, days: list, training: TrainingParams
) -> pd.DataFrame:
    """Train / validation / calibration labels of the known cutoffs, newest last."""
    windows, gap = training.windows, training.windows.gap_days
    calibration = set(days[len(days) - windows.calibration_days :])
    end = len(days) - windows.calibration_days - gap
    validation = set(days[end - windows.validation_days : end])
    train = set(days[: end - windows.validation_days - gap])
    label = pd.Series(pd.NA, index=known.index, dtype="string")
    cutoff = known["cutoff_date"]
    label[cutoff.isin(train)] = "train"
    label[cutoff.isin(validation)] = "validation"
    label[cutoff.isin(calibration)] = "calibration"
    return known.assign(window=label).dropna(subset=["window"])


@dataclass(frozen=True)
class Refit:
    """One refit of the walk-forward: its number, the known cutoffs it was fitted on
    (labelled by window), the fitted forecaster and the block of cutoffs it forecasts."""

    fit: int
    labelled: pd.DataFrame
    model: DailyPnlForecaster
    block: pd.DataFrame


def refits(
    model_input: pd.DataFrame,
    training: TrainingParams,
    first_forecast: int,
    refit_every: int,
    point: dict[str, Any] | None = None,
) -> Iterator[Refit]:
    """Every ``refit_every`` cutoffs from cutoff number ``first_forecast`` on, the
    account models fitted as training fits them on the cutoffs known by then, with the
    block of cutoffs they forecast next (arguments: :func:`walk_forward`)."""
    rows = model_input.assign(cutoff_date=pd.to_datetime(model_input["cutoff_date"]))
    days = sorted(rows["cutoff_date"].unique())
    tuned = {
        **(point or DEFAULT_POINT),
        "target_unit": float(rows["starting_balance"].mean()),
    }
    starts = range(first_forecast, len(days), refit_every)
    for fit, start in enumerate(starts):
        began = time.perf_counter()
        known_days = days[:start]
        known = rows[rows["cutoff_date"].isin(known_days)]
        labelled = _labelled(known, known_days, training)
        model = fit_forecaster(labelled, tuned, training)
        block = rows[rows["cutoff_date"].isin(days[start : start + refit_every])]
        logger.info(
            "Walk-forward fit %d/%d on %d cutoffs (%d rows): forecast %s..%s in %.1f s",
            fit + 1,
            len(starts),
            len(known_days),
            len(known),
            pd.Timestamp(block["cutoff_date"].min()).date(),
            pd.Timestamp(block["cutoff_date"].max()).date(),
            time.perf_counter() - began,
        )
        yield Refit(fit, labelled, model, block)


def walk_forward(
    model_input: pd.DataFrame,
    training: TrainingParams,
    first_forecast: int,
    refit_every: int,
    point: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Out-of-sample account forecasts from cutoff number ``first_forecast`` on.

    Args:
        model_input: The model input (every account-cutoff with its target).
        training: Training parameters (windows, quantile models, seed, threads).
        first_forecast: Index (in sorted cutoff days) of the first cutoff forecast.
        refit_every: Cutoffs between refits.
        point: The point model's LightGBM settings (default :data:`DEFAULT_POINT`).

    Returns:
        One row per account and forecast cutoff: ids, ``phase``, the account's state
        (balance, payout schedule), ``forecast``, ``mean``, ``lower_90``,
        ``upper_90``, ``actual`` and ``fit`` (the refit's number).
    """
    out = []
    for refit in refits(model_input, training, first_forecast, refit_every, point):
        block = refit.block
        predicted = refit.model.predict(None, block[feature_names(block)])
        out.append(
            block[
                ["account_id", "cutoff_date", "target_date", "phase", *_STATE]
            ].assign(
                forecast=predicted["forecast"].to_numpy(),
                mean=predicted["mean"].to_numpy(),
                lower_90=predicted["lower_90"].to_numpy(),
                upper_90=predicted["upper_90"].to_numpy(),
                actual=block[TARGET].to_numpy(),
                fit=refit.fit,
            )
        )
    return pd.concat(out, ignore_index=True)


def book_forecasts(
    forecasts: pd.DataFrame, first_scored: pd.Timestamp, settings: FirmParams
) -> pd.DataFrame:
    """Each book's forecast on every cutoff from ``first_scored``, by every method.

    Only book days whose target day is on or before the cutoff calibrate it.

    Returns:
        ``book``, ``method``, ``cutoff_date``, ``target_date``, ``accounts``,
        ``actual``, ``mean``, ``q05``, ``q50``, ``q95``.
    """
    days = book_days(forecasts)
    by_cutoff = dict(tuple(forecasts.groupby(pd.to_datetime(forecasts["cutoff_date"]))))
    rows = []
    for book in days.index.get_level_values(0).unique():
        ours = days.loc[book]
        for cutoff, today in ours[ours.index >= first_scored].iterrows():
            history = known_history(ours[ours.index < cutoff], cutoff)
            accounts = by_cutoff[cutoff]
            if book == "funded":
                accounts = accounts[accounts["phase"] == FUNDED_PHASE]
            for method in METHODS:
                figures = book_forecast(
                    history,
                    today,
                    settings.model_copy(update={"method": method}),
                    accounts,
                )
                rows.append(
                    {
                        "book": book,
                        "method": method,
                        "cutoff_date": cutoff,
                        "target_date": today["target_date"],
                        "accounts": int(today["accounts"]),
                        "actual": today["actual"],
                        "history_days": len(history),
                        **{k: figures[k] for k in ("mean", "q05", "q50", "q95")},
                        "residual_sd": figures["residual_sd"],
                        "scale_sum": today["scale_sum"],
                        "scale_quad": today["scale_quad"],
                    }
                )
    return pd.DataFrame(rows)


def backtest(
    books: pd.DataFrame, oracle: pd.DataFrame | None = None
) -> dict[str, dict[str, dict]]:
    """:func:`~daily_profit_model.scoring.backtest.backtest_book` of every book and
    method, against the oracle's book quantiles where given.

    Args:
        books: :func:`book_forecasts`.
        oracle: ``truth_firm`` (``cutoff_date``, ``book``, ``q05``, ``q95``), or None.

    Returns:
        ``{book: {method: figures}}``.
    """
    scored = books.dropna(subset=["actual"])
    if oracle is not None and len(oracle):
        truth = oracle.assign(cutoff_date=pd.to_datetime(oracle["cutoff_date"]))[
            ["cutoff_date", "book", "q05", "q95", "accounts"]
        ].rename(
            columns={
                "q05": "oracle_q05",
                "q95": "oracle_q95",
                "accounts": "oracle_accounts",
            }
        )
        scored = scored.merge(truth, on=["cutoff_date", "book"], how="left")
    figures: dict[str, dict[str, dict]] = {}
    for (book, method), group in scored.groupby(["book", "method"]):
        rows = group.sort_values("cutoff_date")
        result = backtest_book(rows)
        result["mean_bias"] = float((rows["actual"] - rows["mean"]).mean())
        if "oracle_accounts" in rows:
            result["accounts_vs_oracle"] = float(
                (rows["accounts"] / rows["oracle_accounts"]).mean()
            )
        figures.setdefault(book, {})[method] = result
    return figures


def realized_payouts(
    forecasts: pd.DataFrame, model_input: pd.DataFrame
) -> pd.DataFrame:
    """What each funded account was then paid at its next payout (0 when it ended or
    was not paid), next to the forecast cutoff.

    Returns:
        ``account_id``, ``cutoff_date``, ``realized_payout`` (the trader's share).
    """
    funded = forecasts[forecasts["phase"] == 4]  # noqa: PLR2004
    paid = model_input.loc[
        model_input["todays_payouts"].fillna(0) > 0,
        ["account_id", "cutoff_date", "todays_payouts", "profit_share_pct"],
    ].assign(cutoff_date=lambda f: pd.to_datetime(f["cutoff_date"]))
    paid = paid.rename(columns={"cutoff_date": "paid_on"}).sort_values("paid_on")
    # the first payout after the cutoff, within the account's schedule (plus a week)
    asked = funded[["account_id", "cutoff_date", "days_to_next_payout"]].assign(
        by=lambda f: f["cutoff_date"]
        + pd.to_timedelta(f["days_to_next_payout"].fillna(0) + 7, unit="D"),
        after=lambda f: f["cutoff_date"] + pd.Timedelta(days=1),
    )
    matched = pd.merge_asof(
        asked.sort_values("after"),
        paid,
        left_on="after",
        right_on="paid_on",
        by="account_id",
        direction="forward",
    )
    on_time = matched["paid_on"].notna() & (matched["paid_on"] <= matched["by"])
    matched["realized_payout"] = np.where(
        on_time,
        matched["todays_payouts"] * matched["profit_share_pct"].fillna(80) / 100,
        0.0,
    )
    return matched[["account_id", "cutoff_date", "realized_payout"]]

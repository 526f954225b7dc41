"""Forecast metrics: point errors, pinball losses, interval coverage, risk capture."""

from __future__ import annotations

import numpy as np
import pandas as pd

from daily_profit_model.training.matrix import TARGET


def pinball(actual: np.ndarray, quantile: np.ndarray, alpha: float) -> float:
    """Mean pinball (quantile) loss of ``quantile`` as the ``alpha`` quantile."""
    diff = np.asarray(actual) - np.asarray(quantile)
    return float(np.mean(np.maximum(alpha * diff, (alpha - 1) * diff)))


def top_decile_capture(frame: pd.DataFrame, score: str) -> float:
    """Share of each day's largest moves (top decile of |actual|) that the top decile
    of ``score`` points at, averaged over days."""
    shares = []
    for _, day in frame.groupby("cutoff_date"):
        k = max(1, len(day) // 10)
        actual = set(day["actual"].abs().nlargest(k).index)
        flagged = set(day[score].nlargest(k).index)
        shares.append(len(actual & flagged) / k)
    return float(np.mean(shares)) if shares else float("nan")


def forecast_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """Metrics of rows with ``actual``, ``forecast``, ``lower`` and ``upper`` columns."""
    error = frame["actual"] - frame["forecast"]
    inside = (frame["actual"] >= frame["lower"]) & (frame["actual"] <= frame["upper"])
    scored = frame.assign(
        abs_forecast=frame["forecast"].abs(), width=frame["upper"] - frame["lower"]
    )
    return {
        "mae": float(error.abs().mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "pinball_05": pinball(frame["actual"], frame["lower"], 0.05),
        "pinball_95": pinball(frame["actual"], frame["upper"], 0.95),
        "coverage_90": float(inside.mean()),
        "interval_width_90": float((frame["upper"] - frame["lower"]).mean()),
        "top_decile_capture": top_decile_capture(scored, "abs_forecast"),
        "top_decile_capture_by_width": top_decile_capture(scored, "width"),
        "rows": float(len(frame)),
    }


def segment_metrics(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """:func:`forecast_metrics` per value of ``by`` (one row each)."""
    rows = [
        {by: key, **forecast_metrics(group)}
        for key, group in frame.groupby(by, observed=True)
    ]
    return pd.DataFrame(rows)


def rolling_medians(frame: pd.DataFrame, days: tuple[int, ...]) -> pd.DataFrame:
    """Each account's median daily P&L over the last ``d`` calendar days, per cutoff.

    Uses only ``pnl_1d`` of cutoffs on or before each row's cutoff (its own history).
    """
    ordered = frame[["account_id", "cutoff_date", "pnl_1d"]].sort_values(
        ["account_id", "cutoff_date"]
    )
    by_account = ordered.set_index("cutoff_date").groupby("account_id", sort=True)[
        "pnl_1d"
    ]
    out = pd.DataFrame(index=ordered.index)
    for d in days:
        # groupby yields accounts in sorted order, each in date order: ordered's order
        out[f"baseline_median_{d}d"] = by_account.rolling(f"{d}D").median().to_numpy()
    return out.reindex(frame.index)


def coverage_interval(
    inside: pd.Series, accounts: pd.Series, level: float = 0.95, draws: int = 2000
) -> tuple[float, float, int]:
    """A bootstrap interval of a coverage that resamples accounts, not rows.

    An account's days are not independent draws: a phase of thirteen accounts with a
    hundred rows has a coverage known to ±6 points, not ±3. The interval says whether a
    segment's test window can tell 85% from 90% at all.

    Returns:
        The interval's bounds and the number of accounts.
    """
    per_account = (
        pd.DataFrame({"inside": inside.astype(float), "account": accounts.to_numpy()})
        .groupby("account")["inside"]
        .agg(["sum", "size"])
    )
    n = len(per_account)
    if n == 0:
        return float("nan"), float("nan"), 0
    weights = np.random.default_rng(0).multinomial(n, np.full(n, 1 / n), size=draws)
    covered = (
        weights
        @ per_account["sum"].to_numpy()
        / (weights @ per_account["size"].to_numpy())
    )
    tail = (1 - level) / 2
    low, high = np.quantile(covered, [tail, 1 - tail])
    return float(low), float(high), n


def pooled_quantiles(rows: pd.DataFrame) -> pd.DataFrame:
    """Each phase's 5% and 95% quantiles of netProfit over starting balance, from the
    windows before the test window: the skill-capture baseline of the pinball losses."""
    known = rows[rows["window"].isin(["train", "validation", "calibration"])]
    relative = known[TARGET] / known["starting_balance"]
    return relative.groupby(known["phase"]).quantile([0.05, 0.95]).unstack()


def skill_capture(baseline: float, model: float, oracle: float) -> float:
    """How much of the way from the baseline's loss to the oracle's the model goes."""
    gap = baseline - oracle
    return float((baseline - model) / gap) if gap > 0 else float("nan")


def skill_metrics(both: pd.DataFrame, pooled: pd.DataFrame) -> dict[str, float]:
    """Skill capture per metric (MAE against predicting 0, pinball against pooled)."""
    metrics = {
        "skill_capture_mae": skill_capture(
            float(both["actual"].abs().mean()),
            float((both["actual"] - both["forecast"]).abs().mean()),
            float((both["actual"] - both["q50"]).abs().mean()),
        )
    }
    for q, column, oracle_column in ((0.05, "lower", "q05"), (0.95, "upper", "q95")):
        rate = both["phase"].map(pooled[q]).fillna(float(pooled[q].median()))
        baseline = pinball(both["actual"], rate * both["starting_balance"], q)
        metrics[f"baseline_pooled_pinball_{round(q * 100):02d}"] = baseline
        metrics[f"skill_capture_pinball_{round(q * 100):02d}"] = skill_capture(
            baseline,
            pinball(both["actual"], both[column], q),
            pinball(both["actual"], both[oracle_column], q),
        )
    return metrics


def oracle_metrics(
    frame: pd.DataFrame, oracle: pd.DataFrame, pooled: pd.DataFrame
) -> dict[str, float]:
    if oracle.empty:
        return {}
    truth = oracle.assign(cutoff_date=pd.to_datetime(oracle["cutoff_date"])).rename(
        columns={"mean": "oracle_mean"}
    )
    both = frame.merge(
        truth.drop(columns=["target_date"], errors="ignore"),
        on=["account_id", "cutoff_date"],
        how="inner",
    )
    if both.empty:
        return {}
    oracle_mae = float((both["actual"] - both["q50"]).abs().mean())
    model_mae = float((both["actual"] - both["forecast"]).abs().mean())
    ratios = [
        pinball(both["actual"], both["lower"], 0.05)
        / pinball(both["actual"], both["q05"], 0.05),
        pinball(both["actual"], both["upper"], 0.95)
        / pinball(both["actual"], both["q95"], 0.95),
    ]
    oracle_inside = (both["actual"] >= both["q05"]) & (both["actual"] <= both["q95"])
    by_phase = skill_metrics(both, pooled) | {
        f"oracle_coverage_90_phase_{phase}": float(inside.mean())
        for phase, inside in oracle_inside.groupby(both["phase"])
    }
    return by_phase | {
        "oracle_rows": float(len(both)),
        "oracle_mae": oracle_mae,
        "oracle_pinball_05": pinball(both["actual"], both["q05"], 0.05),
        "oracle_pinball_95": pinball(both["actual"], both["q95"], 0.95),
        "oracle_coverage_90": float(oracle_inside.mean()),
        "mae_ratio_to_oracle": model_mae / oracle_mae,
        "pinball_ratio_to_oracle": float(np.mean(ratios)),
        "pinball_05_ratio_to_oracle": ratios[0],
        "pinball_95_ratio_to_oracle": ratios[1],
    }


def phase_coverage_intervals(frame: pd.DataFrame) -> dict[str, float]:
    """Each phase's test accounts and the 95% account-bootstrap interval of coverage."""
    inside = (frame["actual"] >= frame["lower"]) & (frame["actual"] <= frame["upper"])
    metrics = {}
    for phase, rows in frame.groupby("phase"):
        low, high, accounts = coverage_interval(inside[rows.index], rows["account_id"])
        metrics[f"test_accounts_phase_{phase}"] = float(accounts)
        metrics[f"test_coverage_90_phase_{phase}_low"] = low
        metrics[f"test_coverage_90_phase_{phase}_high"] = high
    return metrics


def daily_errors(frame: pd.DataFrame, best: str, oracle: pd.DataFrame) -> pd.DataFrame:
    by_day = frame.assign(
        model_err=(frame["actual"] - frame["forecast"]).abs(),
        baseline_err=(frame["actual"] - frame[f"baseline_{best}"]).abs(),
        inside=(frame["actual"] >= frame["lower"])
        & (frame["actual"] <= frame["upper"]),
    )
    daily = by_day.groupby("cutoff_date").agg(
        model_mae=("model_err", "mean"),
        baseline_mae=("baseline_err", "mean"),
        coverage_90=("inside", "mean"),
    )
    if not oracle.empty:
        truth = oracle.assign(cutoff_date=pd.to_datetime(oracle["cutoff_date"]))
        both = frame.merge(truth, on=["account_id", "cutoff_date"])
        daily["oracle_mae"] = (
            (both["actual"] - both["q50"]).abs().groupby(both["cutoff_date"]).mean()
        )
    return daily.reset_index()

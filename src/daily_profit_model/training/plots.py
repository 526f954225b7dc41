"""Figures of a training run: what a risk manager looks at before trusting a model."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def predicted_vs_actual(test: pd.DataFrame) -> plt.Figure:
    """Forecast against outcome on the test window (symmetric log scale)."""
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(test["forecast"], test["actual"], s=3, alpha=0.3)
    limit = float(np.nanpercentile(np.abs(test["actual"]), 99.5))
    ax.plot([-limit, limit], [-limit, limit], color="grey", lw=1)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel("forecast netProfit (USD)")
    ax.set_ylabel("actual netProfit (USD)")
    ax.set_title("Test window: forecast vs actual")
    fig.tight_layout()
    return fig


def interval_calibration(segments: pd.DataFrame, coverage: float) -> plt.Figure:
    """90% interval coverage by phase and by account size, against the target."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, segment in zip(axes, ("phase", "size"), strict=True):
        rows = segments[segments["segment"] == segment]
        ax.bar(rows["value"].astype(str), rows["coverage_90"], color="tab:blue")
        ax.axhline(
            coverage, color="black", lw=1, ls="--", label=f"target {coverage:.0%}"
        )
        ax.axhspan(coverage - 0.05, coverage + 0.05, color="grey", alpha=0.15)
        ax.set_title(f"coverage by {segment}")
        ax.set_ylim(0.5, 1.0)
    axes[0].legend()
    fig.suptitle("Test window: conformal 90% interval coverage")
    fig.tight_layout()
    return fig


def residuals_by_day(daily: pd.DataFrame) -> plt.Figure:
    """Model, best baseline and (sandbox) oracle MAE per test day, with coverage."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for column in [c for c in daily.columns if c.endswith("_mae")]:
        top.plot(daily["cutoff_date"], daily[column], marker=".", label=column[:-4])
    top.set_ylabel("MAE (USD)")
    top.legend()
    bottom.plot(daily["cutoff_date"], daily["coverage_90"], marker=".")
    bottom.axhline(0.9, color="black", lw=1, ls="--")
    bottom.set_ylabel("coverage")
    bottom.set_xlabel("cutoff")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def shap_summary(values: np.ndarray, matrix: pd.DataFrame, top: int = 20) -> plt.Figure:
    """SHAP beeswarm of the most important features (USD contributions)."""
    import shap  # noqa: PLC0415 (heavy import, only when plotting)

    shap.summary_plot(values, matrix, max_display=top, show=False, plot_size=(9, 8))
    fig = plt.gcf()
    fig.tight_layout()
    return fig

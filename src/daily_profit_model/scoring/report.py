"""The daily report: one self-contained HTML page per scoring day.

Charts are matplotlib figures embedded as PNG data URIs, so the file opens in any
browser, mailed or archived, without the project, a server or a network. The page is
the Jinja template ``templates/daily_report.html.j2``; its tables are pandas
``Styler`` HTML.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import jinja2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from daily_profit_model.scoring.backtest import TAIL, backtest_history
from daily_profit_model.scoring.firm import FUNDED_PHASE

_STYLE = """
table.data th { text-align: right; }
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 1100px; color: #1d2733; }
h1 { margin-bottom: 0.2rem; } .sub { color: #5b6b7b; margin-top: 0; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #d5dde5; border-radius: 8px; padding: 0.8rem 1.2rem;
        min-width: 200px; }
.card .v { font-size: 1.6rem; font-weight: 600; }
.card .l { color: #5b6b7b; font-size: 0.85rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #e3e8ee; padding: 4px 8px; text-align: right; }
th { background: #f3f6f9; } td.t, th.t { text-align: left; }
img { max-width: 100%; } section { margin-top: 2rem; }
.note { color: #5b6b7b; font-size: 0.85rem; }
.light { display: inline-block; padding: 2px 10px; border-radius: 10px;
         font-weight: 600; color: white; }
.green { background: #2e7d32; } .yellow { background: #b8860b; }
.red { background: #b42318; }
"""


def _usd(value: float | None) -> str:
    return f"{value:,.0f} USD" if value is not None and pd.notna(value) else "n/a"


def _png(fig: plt.Figure) -> str:
    """The figure as a PNG data URI; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _table(
    frame: pd.DataFrame,
    name: str,
    text_columns: Sequence[str] = (),
    decimals: dict[str, int] | None = None,
) -> str:
    """A Styler table: numbers with thousands separators and no decimals (USD) unless
    ``decimals`` says, text columns left-aligned, no index."""
    decimals = decimals or {}
    formats = {
        column: f"{{:,.{decimals.get(column, 0)}f}}"
        for column in frame.columns
        if column not in text_columns
    }
    styler = (
        frame.style.format(formats, na_rep="n/a")
        .format(subset=list(text_columns), escape="html", na_rep="")
        .format_index(escape="html", axis="columns")
        .hide(axis="index")
        .set_uuid(name)
        .set_table_attributes('class="data"')
        .set_properties(subset=list(text_columns), **{"text-align": "left"})
    )
    return styler.to_html()


def firm_history(firm: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The champion's book forecasts by target day, with each book's actual total."""
    champion = firm[firm["role"] == "champion"].copy()
    if "book" not in champion:
        champion["book"] = "firm"
    champion["book"] = champion["book"].fillna("firm")
    champion["target_date"] = pd.to_datetime(champion["target_date"])
    if outcomes.empty:
        return champion.assign(actual_total=np.nan).sort_values("target_date")
    rows = outcomes.assign(target_date=pd.to_datetime(outcomes["target_date"]))
    books = [rows.assign(book="firm")]
    if "phase" in rows:
        books.append(rows[rows["phase"] == FUNDED_PHASE].assign(book="funded"))
    actual = (
        pd.concat(books)
        .groupby(["book", "target_date", "model_version"])["actual"]
        .sum()
        .rename("actual_total")
        .reset_index()
    )
    return champion.merge(
        actual, on=["book", "target_date", "model_version"], how="left"
    ).sort_values("target_date")


def book_chart(history: pd.DataFrame, title: str) -> plt.Figure:
    """The forecast band against actual totals, exceptions marked."""
    fig, ax = plt.subplots(figsize=(10, 3.6))
    if history.empty:
        ax.axis("off")
        ax.text(0.5, 0.5, "No forecast of this book yet", ha="center", va="center")
        return fig
    x = history["target_date"]
    ax.fill_between(
        x,
        history["lower_90"],
        history["upper_90"],
        color="#8aa4c1",
        alpha=0.45,
        step="mid",
        label="90% interval",
    )
    ax.plot(x, history["expected_total"], "-", color="tab:orange", label="expected")
    known = history.dropna(subset=["actual_total"])
    out = (known["actual_total"] < known["lower_90"]) | (
        known["actual_total"] > known["upper_90"]
    )
    ax.plot(
        known["target_date"],
        known["actual_total"],
        "s",
        color="black",
        ms=4,
        label="actual",
    )
    ax.plot(
        known.loc[out, "target_date"],
        known.loc[out, "actual_total"],
        "x",
        color="#b42318",
        ms=10,
        mew=2,
        label="exception",
    )
    ax.axhline(0, color="grey", linewidth=0.7)
    span = pd.Timedelta(days=2)
    ax.set_xlim(x.min() - span, x.max() + span)
    ax.set_title(title)
    ax.set_ylabel("USD")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return fig


def _risk_chart(risk: pd.DataFrame) -> plt.Figure:
    top = risk.head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(top) + 1.2))
    y = np.arange(len(top))
    ax.hlines(y, top["lower_90"], top["upper_90"], color="#8aa4c1", linewidth=6)
    ax.plot(top["forecast"], y, "o", color="#1d4e89")
    ax.axvline(0, color="grey", linewidth=0.7)
    ax.set_yticks(y, top["account_id"])
    ax.set_xlabel("tomorrow's P&L, USD (dot: forecast, bar: 90% interval)")
    ax.set_title("Accounts with the widest downside")
    return fig


def _outcome_chart(yesterday: pd.DataFrame, inside: pd.Series) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(
        yesterday.loc[inside, "forecast"],
        yesterday.loc[inside, "actual"],
        s=8,
        alpha=0.5,
        label="inside interval",
    )
    ax.scatter(
        yesterday.loc[~inside, "forecast"],
        yesterday.loc[~inside, "actual"],
        s=12,
        color="#b42318",
        label="outside interval",
    )
    low = float(min(yesterday["forecast"].min(), yesterday["actual"].min()))
    high = float(max(yesterday["forecast"].max(), yesterday["actual"].max()))
    ax.plot([low, high], [low, high], color="grey", linewidth=0.7)
    ax.set_xlabel("forecast, USD")
    ax.set_ylabel("actual, USD")
    ax.set_title("Last day with actuals: forecast vs actual")
    ax.legend(loc="upper left")
    return fig


def _coverage_chart(evaluation: pd.DataFrame, target: float) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ordered = evaluation.sort_values("target_date")
    for (version, role), rows in ordered.groupby(["model_version", "role"]):
        ax.plot(
            pd.to_datetime(rows["target_date"]),
            rows["coverage_90"],
            marker=".",
            label=f"v{version} ({role})",
        )
    ax.axhline(target, color="black", linestyle="--", linewidth=0.8, label="target")
    ax.set_ylim(max(0.0, evaluation["coverage_90"].min() - 0.05), 1.0)
    ax.set_title("Share of actuals inside the 90% interval, by target day")
    ax.legend(loc="lower left")
    fig.autofmt_xdate()
    return fig


def drift_chart(table: pd.DataFrame, cutoff: object) -> plt.Figure:
    """PSI of the day's 20 most shifted features, coloured by severity."""
    top = table.dropna(subset=["psi"]).nlargest(20, "psi").iloc[::-1]
    colours = top["severity"].map(
        {"ok": "tab:green", "warn": "tab:orange", "severe": "tab:red"}
    )
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.barh(top["feature"], top["psi"], color=colours)
    ax.set_xlabel("PSI against the champion's training sample")
    ax.set_title(f"Drift on {cutoff}: the 20 most shifted features")
    fig.tight_layout()
    return fig


def _reasons(risk: pd.DataFrame) -> pd.Series:
    parts = []
    for _, row in risk.iterrows():
        reasons = [
            f"{row[f'reason_{i}']} ({row[f'reason_{i}_usd']:+,.0f})"
            for i in (1, 2, 3)
            if f"reason_{i}" in row and pd.notna(row[f"reason_{i}"])
        ]
        parts.append("; ".join(reasons))
    return pd.Series(parts, index=risk.index)


def _usd(value: Any) -> str:
    return f"{value:,.0f} USD" if value is not None and pd.notna(value) else "n/a"


_BOOK_FIELDS = (
    "expected_total",
    "forecast_total",
    "lower_90",
    "upper_90",
    "independent_lower_90",
    "independent_upper_90",
    "payout_liability",
    "payout_liability_lower_90",
    "payout_liability_upper_90",
    "error_source",
    "method",
)


def _book(books: pd.DataFrame, name: str) -> dict[str, Any] | None:
    rows = books[books["book"] == name]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return {field: row.get(field) for field in _BOOK_FIELDS} | {
        "target_date": pd.Timestamp(row["target_date"]).date(),
        "model_version": int(row["model_version"]),
        "accounts": int(row["accounts"]),
        "error_days": int(row["error_days"]),
    }


def _backtest(history: pd.DataFrame, book: str, title: str) -> dict[str, Any] | None:
    shown = history[history["book"] == book]
    if shown.empty:
        return None
    figures = backtest_history(shown)
    return figures | {
        "chart": _png(book_chart(shown, title)),
        "expected": TAIL * figures["cutoffs"],
    }


def _hedges(hedges: pd.DataFrame) -> str | None:
    if hedges.empty:
        return None
    shown = hedges[
        ["account_id", "mean", "upper_90", "tail_contribution", "tail_share", "why"]
    ].assign(tail_share=hedges["tail_share"] * 100)
    return _table(
        shown.rename(columns={"tail_share": "tail_share_%"}),
        "hedges",
        text_columns=("account_id", "why"),
        decimals={"tail_share_%": 1},
    )


def _risk(risk: pd.DataFrame) -> dict[str, str] | None:
    if risk.empty:
        return None
    shown = risk.assign(reasons=_reasons(risk))[
        ["account_id", "forecast", "lower_90", "upper_90", "downside", "reasons"]
    ]
    return {
        "chart": _png(_risk_chart(risk)),
        "table": _table(shown, "risk", text_columns=("account_id", "reasons")),
    }


def _outcome(outcomes: pd.DataFrame) -> dict[str, Any] | None:
    served = outcomes[outcomes["served"]] if len(outcomes) else outcomes
    if served.empty:
        return None
    last = pd.to_datetime(served["target_date"]).max()
    yesterday = served[pd.to_datetime(served["target_date"]) == last]
    inside = (yesterday["actual"] >= yesterday["lower_90"]) & (
        yesterday["actual"] <= yesterday["upper_90"]
    )
    return {
        "day": last.date(),
        "accounts": len(yesterday),
        "mae": (yesterday["actual"] - yesterday["forecast"]).abs().mean(),
        "inside": float(inside.mean()),
        "actual_total": yesterday["actual"].sum(),
        "forecast_total": yesterday["forecast"].sum(),
        "chart": _png(_outcome_chart(yesterday, inside)),
    }


def _drift(drift: pd.DataFrame, cutoff: pd.Timestamp) -> dict[str, Any] | None:
    day = drift[pd.to_datetime(drift["cutoff_date"]) == cutoff] if len(drift) else drift
    if day.empty:
        return None
    flagged = day[day["severity"] != "ok"].sort_values("psi", ascending=False)
    return {
        "chart": _png(drift_chart(day, cutoff.date())),
        "flagged": len(flagged),
        "features": len(day),
        "table": _table(
            flagged[["feature", "severity", "psi", "ks_statistic"]].head(25),
            "drift",
            text_columns=("feature", "severity"),
            decimals={"psi": 3, "ks_statistic": 3},
        ),
    }


def _as_of(frame: pd.DataFrame, column: str, day: pd.Timestamp) -> pd.DataFrame:
    return frame[pd.to_datetime(frame[column]) <= day] if len(frame) else frame


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("daily_profit_model.scoring", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
)
_TEMPLATES.filters["usd"] = _usd


def build_report(  # noqa: PLR0913 (one argument per table of the report)
    cutoff: pd.Timestamp,
    firm: pd.DataFrame,
    risk: pd.DataFrame,
    hedges: pd.DataFrame,
    evaluation: pd.DataFrame,
    outcomes: pd.DataFrame,
    drift: pd.DataFrame,
    coverage_target: float,
) -> str:
    """The report of one scored cutoff, from what was known on the morning after it
    (a backfilled day's report shows no later day).

    Args:
        cutoff: The scored cutoff day.
        firm: ``firm_forecasts`` (every day stored).
        risk: The cutoff's riskiest served accounts, with reasons.
        hedges: The funded accounts carrying the funded book's upper tail.
        evaluation: ``prediction_evaluation`` (daily metrics per model version).
        outcomes: Past forecasts with actuals (``prediction_outcomes``).
        drift: ``feature_drift`` rows.
        coverage_target: The intervals' nominal coverage (0.9).

    Returns:
        The HTML page.
    """
    cutoff = pd.Timestamp(cutoff)
    firm = _as_of(firm, "cutoff_date", cutoff)
    outcomes = _as_of(outcomes, "target_date", cutoff)
    evaluation = _as_of(evaluation, "target_date", cutoff)
    history = firm_history(firm, outcomes)
    history = history[
        history["target_date"] >= history["target_date"].max() - pd.Timedelta(days=365)
    ]
    today = history[pd.to_datetime(history["cutoff_date"]) == cutoff]
    context = {
        "style": _STYLE,
        "cutoff": cutoff.date(),
        "firm": _book(today, "firm"),
        "funded": _book(today, "funded"),
        "hedges": _hedges(hedges),
        "backtests": {
            "funded": _backtest(
                history, "funded", "Funded book P&L by target day (champion)"
            ),
            "firm": _backtest(
                history, "firm", "Firm-wide P&L by target day (champion)"
            ),
        },
        "risk": _risk(risk),
        "outcome": _outcome(outcomes),
        "coverage_chart": (
            _png(_coverage_chart(evaluation, coverage_target))
            if len(evaluation)
            else None
        ),
        "drift": _drift(drift, cutoff),
    }
    return _TEMPLATES.get_template("daily_report.html.j2").render(**context)

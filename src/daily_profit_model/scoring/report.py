"""The daily report: one self-contained HTML page per scoring day.

Charts are matplotlib figures embedded as PNG data URIs, so the file opens in any
browser, mailed or archived, without the project, a server or a network.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

_STYLE = """
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
"""


def _usd(value: float | None) -> str:
    return f"{value:,.0f} USD" if value is not None and pd.notna(value) else "n/a"


def _png(fig: plt.Figure) -> str:
    """The figure as an ``<img>`` with a data URI; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="chart" src="data:image/png;base64,{data}">'


def _table(
    frame: pd.DataFrame,
    text_columns: tuple[str, ...] = (),
    decimals: dict[str, int] | None = None,
) -> str:
    """An HTML table; numbers without decimals (USD) unless ``decimals`` says."""
    if frame.empty:
        return '<p class="note">Nothing to show.</p>'
    decimals = decimals or {}
    head = "".join(
        f'<th class="{"t" if c in text_columns else ""}">{html.escape(str(c))}</th>'
        for c in frame.columns
    )
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column, value in row.items():
            if column in text_columns:
                cells.append(f'<td class="t">{html.escape(str(value))}</td>')
            else:
                shown = f"{value:,.{decimals.get(column, 0)}f}"
                cells.append(f"<td>{html.escape(shown)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def firm_history(firm: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The champion's firm forecasts by target day, with the firm's actual total."""
    champion = firm[firm["role"] == "champion"].copy()
    champion["target_date"] = pd.to_datetime(champion["target_date"])
    if outcomes.empty:
        return champion.assign(actual_total=np.nan).sort_values("target_date")
    actual = (
        outcomes.assign(target_date=pd.to_datetime(outcomes["target_date"]))
        .groupby(["target_date", "model_version"])["actual"]
        .sum()
        .rename("actual_total")
        .reset_index()
    )
    return champion.merge(
        actual, on=["target_date", "model_version"], how="left"
    ).sort_values("target_date")


def _firm_chart(history: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(10, 3.6))
    x = history["target_date"]
    ax.errorbar(
        x,
        history["forecast_total"],
        yerr=[
            history["forecast_total"] - history["lower_90"],
            history["upper_90"] - history["forecast_total"],
        ],
        fmt="o-",
        capsize=4,
        label="forecast and 90% interval",
    )
    if "expected_total" in history:
        ax.plot(x, history["expected_total"], "D", color="tab:orange", label="expected")
    ax.plot(x, history["actual_total"], "s", color="black", label="actual")
    ax.axhline(0, color="grey", linewidth=0.7)
    span = pd.Timedelta(days=2)
    ax.set_xlim(x.min() - span, x.max() + span)
    ax.set_title("Firm-wide P&L by target day (champion)")
    ax.set_ylabel("USD")
    ax.legend(loc="upper left")
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


def _headline(champion: pd.Series, cutoff: pd.Timestamp) -> list[str]:
    return [
        f"<h1>Daily P&amp;L forecast — {pd.Timestamp(champion['target_date']).date()}</h1>",
        f'<p class="sub">Accounts alive at the close of {cutoff.date()}; '
        f"champion model v{int(champion['model_version'])}; "
        f"{int(champion['accounts']):,} accounts.</p>",
        '<div class="cards">',
        f'<div class="card"><div class="l">expected firm P&amp;L</div>'
        f'<div class="v">{_usd(champion.get("expected_total"))}</div></div>',
        f'<div class="card"><div class="l">sum of account forecasts</div>'
        f'<div class="v">{_usd(champion["forecast_total"])}</div></div>',
        f'<div class="card"><div class="l">90% interval</div>'
        f'<div class="v">{_usd(champion["lower_90"])} … {_usd(champion["upper_90"])}'
        "</div></div>",
        f'<div class="card"><div class="l">if accounts were independent</div>'
        f'<div class="v">{_usd(champion["independent_lower_90"])} … '
        f"{_usd(champion['independent_upper_90'])}</div></div>",
        "</div>",
        f'<p class="note">The firm interval comes from {int(champion["error_days"])} '
        f"days of {html.escape(str(champion['error_source']))}; it accounts for "
        "accounts moving together, which the independent interval does not. Account "
        "forecasts are medians (most accounts lose a little, a few win a lot): the "
        "expected total adds the firm's mean daily error to their sum.</p>",
    ]


def _risk_section(risk: pd.DataFrame) -> list[str]:
    if risk.empty:
        return ['<p class="note">No account scored.</p>']
    shown = risk.assign(reasons=_reasons(risk))[
        ["account_id", "forecast", "lower_90", "upper_90", "downside", "reasons"]
    ]
    return [
        _png(_risk_chart(risk)),
        _table(shown, text_columns=("account_id", "reasons")),
        '<p class="note">Reasons: the features that move each forecast most, '
        "with their effect in USD (TreeSHAP).</p>",
    ]


def _outcome_section(outcomes: pd.DataFrame) -> list[str]:
    served = outcomes[outcomes["served"]] if len(outcomes) else outcomes
    if served.empty:
        return ['<p class="note">No forecast has an actual yet.</p>']
    last = pd.to_datetime(served["target_date"]).max()
    yesterday = served[pd.to_datetime(served["target_date"]) == last]
    inside = (yesterday["actual"] >= yesterday["lower_90"]) & (
        yesterday["actual"] <= yesterday["upper_90"]
    )
    error = (yesterday["actual"] - yesterday["forecast"]).abs().mean()
    return [
        f"<p>{last.date()}: {len(yesterday):,} accounts, MAE {_usd(error)}, "
        f"{inside.mean():.1%} of actuals inside their 90% interval; firm total "
        f"{_usd(yesterday['actual'].sum())} against a forecast of "
        f"{_usd(yesterday['forecast'].sum())}.</p>",
        _png(_outcome_chart(yesterday, inside)),
    ]


def _drift_section(drift: pd.DataFrame, cutoff: pd.Timestamp) -> list[str]:
    day = drift[pd.to_datetime(drift["cutoff_date"]) == cutoff] if len(drift) else drift
    if day.empty:
        return ['<p class="note">Drift not measured for this day.</p>']
    flagged = day[day["severity"] != "ok"].sort_values("psi", ascending=False)
    return [
        _png(drift_chart(day, cutoff.date())),
        f"<p>{len(flagged)} of {len(day)} features drifted from the champion's "
        "training sample (PSI / Kolmogorov–Smirnov).</p>",
        _table(
            flagged[["feature", "severity", "psi", "ks_statistic"]].head(25),
            text_columns=("feature", "severity"),
            decimals={"psi": 3, "ks_statistic": 3},
        ),
    ]


def _as_of(frame: pd.DataFrame, column: str, day: pd.Timestamp) -> pd.DataFrame:
    return frame[pd.to_datetime(frame[column]) <= day] if len(frame) else frame


def build_report(  # noqa: PLR0913 (one argument per table of the report)
    cutoff: pd.Timestamp,
    firm: pd.DataFrame,
    risk: pd.DataFrame,
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
    today = firm[pd.to_datetime(firm["cutoff_date"]) == cutoff]
    champion = today[today["role"] == "champion"].iloc[0]
    history = firm_history(firm, outcomes).tail(60)
    coverage = (
        [_png(_coverage_chart(evaluation, coverage_target))]
        if len(evaluation)
        else ['<p class="note">No evaluated day yet.</p>']
    )
    sections = {
        "Firm forecast over time": [_png(_firm_chart(history))],
        "Accounts carrying most risk": _risk_section(risk),
        "Yesterday's forecasts against actuals": _outcome_section(outcomes),
        "Coverage over time": coverage,
        "Drift flags": _drift_section(drift, cutoff),
    }
    body = _headline(champion, cutoff) + [
        f"<section><h2>{html.escape(title)}</h2>{''.join(content)}</section>"
        for title, content in sections.items()
    ]
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Daily P&amp;L forecast {cutoff.date()}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
    return page

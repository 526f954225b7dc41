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

from daily_profit_model.scoring.backtest import (
    TAIL,
    christoffersen_p_value,
    kupiec_p_value,
    traffic_light,
    worst_light,
)
from daily_profit_model.scoring.firm import FUNDED_PHASE

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
.light { display: inline-block; padding: 2px 10px; border-radius: 10px;
         font-weight: 600; color: white; }
.green { background: #2e7d32; } .yellow { background: #b8860b; }
.red { background: #b42318; }
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


def _card(label: str, value: str) -> str:
    return (
        f'<div class="card"><div class="l">{label}</div>'
        f'<div class="v">{value}</div></div>'
    )


def _headline(books: pd.DataFrame, cutoff: pd.Timestamp) -> list[str]:
    """The funded book first (the firm's own money), then the firm's total."""
    firm = books[books["book"] == "firm"].iloc[0]
    lines = [
        f"<h1>Daily P&amp;L forecast — {pd.Timestamp(firm['target_date']).date()}</h1>",
        f'<p class="sub">Accounts alive at the close of {cutoff.date()}; '
        f"champion model v{int(firm['model_version'])}; "
        f"{int(firm['accounts']):,} accounts.</p>",
    ]
    funded = books[books["book"] == "funded"]
    if len(funded):
        row = funded.iloc[0]
        lines += [
            f"<h2>Funded book ({int(row['accounts']):,} accounts: the firm pays "
            "their gains)</h2>",
            '<div class="cards">',
            _card("expected funded P&amp;L", _usd(row["expected_total"])),
            _card(
                "90% interval",
                f"{_usd(row['lower_90'])} … {_usd(row['upper_90'])}",
            ),
            _card(
                "payout liability at next payout dates",
                f"{_usd(row.get('payout_liability'))}<div class='l'>90%: "
                f"{_usd(row.get('payout_liability_lower_90'))} … "
                f"{_usd(row.get('payout_liability_upper_90'))}</div>",
            ),
            "</div>",
        ]
    else:
        lines.append('<p class="note">No funded account is alive at the cutoff.</p>')
    lines += [
        "<h2>Firm total (every account)</h2>",
        '<div class="cards">',
        _card("expected firm P&amp;L", _usd(firm.get("expected_total"))),
        _card("sum of account forecasts", _usd(firm["forecast_total"])),
        _card("90% interval", f"{_usd(firm['lower_90'])} … {_usd(firm['upper_90'])}"),
        _card(
            "if accounts were independent",
            f"{_usd(firm['independent_lower_90'])} … "
            f"{_usd(firm['independent_upper_90'])}",
        ),
        "</div>",
        f'<p class="note">Both books\' intervals come from '
        f"{int(firm['error_days'])} past days of "
        f"{html.escape(str(firm['error_source']))} (method "
        f"{html.escape(str(firm.get('method')))}: the correlation those days imply, "
        "scaled to the book's recent volatility), so they account for accounts moving "
        "together, which the independent interval does not. Expected totals are sums "
        "of account means.</p>",
    ]
    return lines


def _hedge_section(hedges: pd.DataFrame) -> list[str]:
    if hedges.empty:
        return ['<p class="note">No funded account is alive at the cutoff.</p>']
    shown = hedges[
        ["account_id", "mean", "upper_90", "tail_contribution", "tail_share", "why"]
    ].assign(tail_share=hedges["tail_share"] * 100)
    return [
        _table(
            shown.rename(columns={"tail_share": "tail_share_%"}),
            text_columns=("account_id", "why"),
            decimals={"tail_share_%": 1},
        ),
        "<p class=\"note\">Each funded account's share of the funded book's 95% "
        "quantile (Euler allocation under the book's implied correlation): what the "
        "firm would hedge or cap first.</p>",
    ]


def _backtest_section(history: pd.DataFrame, book: str, title: str) -> list[str]:
    rows = history[history["book"] == book].dropna(subset=["actual_total"])
    shown = history[history["book"] == book]
    if shown.empty:
        return ['<p class="note">No forecast of this book yet.</p>']
    low = (rows["actual_total"] < rows["lower_90"]).to_numpy()
    high = (rows["actual_total"] > rows["upper_90"]).to_numpy()
    n = len(rows)
    light = worst_light(
        traffic_light(int(low.sum()), n, TAIL), traffic_light(int(high.sum()), n, TAIL)
    )
    return [
        _png(book_chart(shown, title)),
        f'<p>Traffic light <span class="light {light}">{light}</span> over {n} days '
        f"with actuals: {int(low.sum())} below the 5% bound, {int(high.sum())} above "
        f"the 95% bound (a correct band: {TAIL * n:.1f} each); Kupiec p "
        f"{kupiec_p_value(low):.2f} / {kupiec_p_value(high):.2f}, Christoffersen p "
        f"{christoffersen_p_value(low):.2f} / {christoffersen_p_value(high):.2f} "
        "(low / high).</p>",
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
    coverage = (
        [_png(_coverage_chart(evaluation, coverage_target))]
        if len(evaluation)
        else ['<p class="note">No evaluated day yet.</p>']
    )
    sections = {
        "Funded accounts carrying the upper tail (hedge list)": _hedge_section(hedges),
        "Backtest: funded book": _backtest_section(
            history, "funded", "Funded book P&L by target day (champion)"
        ),
        "Backtest: firm total": _backtest_section(
            history, "firm", "Firm-wide P&L by target day (champion)"
        ),
        "Accounts carrying most risk": _risk_section(risk),
        "Yesterday's forecasts against actuals": _outcome_section(outcomes),
        "Coverage over time": coverage,
        "Drift flags": _drift_section(drift, cutoff),
    }
    body = _headline(today, cutoff) + [
        f"<section><h2>{html.escape(title)}</h2>{''.join(content)}</section>"
        for title, content in sections.items()
    ]
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Daily P&amp;L forecast {cutoff.date()}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
    return page

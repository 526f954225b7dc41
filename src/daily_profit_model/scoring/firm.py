"""Tomorrow's total of a book of accounts (the firm, the funded book), with its tails.

Accounts move together (one market, one crowd, one regime), so a book's total is far
more uncertain than a sum of independent account intervals suggests, and how much more
changes with the market. Four methods are kept side by side; the backtest
(``benchmarks/firm_backtest.py``, ``tests/scoring/test_firm_backtest.py``) compares them
and the scoring pipeline serves the one set in ``scoring.firm.method``:

- ``copula`` (served): scenarios of every account's own skewed distribution with one
  common factor, scaled by the book's recent residual size (``fhs``'s ``sigma``).
- ``fhs``, filtered historical simulation of the book's standardised residual. On each
  past day with actuals, ``u = (actual total - sum of account means) / D`` with ``D =
  sqrt(rho S^2 + (1 - rho) Q^2)``: the residual sd the day's accounts would give if
  equicorrelated at the history's ``rho`` (an account's scale: its 90% interval's width
  over 2 x 1.645; ``S`` their sum, ``Q`` their root sum of squares). ``u``'s volatility
  clusters, so it is filtered by an EWMA of its size (``sigma``: the EWMA of ``|u|`` as
  a normal's sd; see ``_ewma_sigma``): ``z = u / sigma``.
  Tomorrow's total is ``sum of means + D_today x sigma_today x z`` for the past ``z``:
  empirical quantiles once there are enough days, a normal with the ``z``'s own spread
  before that. Known at the cutoff: every input is a day whose target date is on or
  before it. (Scaling by ``S`` alone, the first version, fitted the firm but made the
  funded book's band too wide: a few dozen funded accounts move mostly with their own
  luck; pinball 1.29x the oracle's, against 1.04 for the firm.)
- ``error_ratio`` (the first design): quantiles of ``(actual - sum of medians) / sum of
  widths`` over the last days. Too few days, and blind to the market's turns.
- ``independent``: half-widths added in quadrature, as if accounts were independent.

The book's upper tail is allocated to its accounts (Euler allocation under the one-factor
correlation the book's variance implies): the hedge list. The funded book's payout
liability is simulated from the same correlation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from daily_profit_model.params import FirmParams

Z90 = float(stats.norm.ppf(0.95))
TAIL = 0.05
FUNDED_PHASE = 4
METHODS = ("fhs", "copula", "error_ratio", "independent")
_QUANTILES = (TAIL, 0.5, 1 - TAIL)


class NoErrorHistoryError(ValueError):
    """No past day with actuals known at the cutoff to calibrate a book on."""


def account_means(rows: pd.DataFrame) -> pd.Series:
    """Each account's mean forecast (its point forecast where the model had no mean)."""
    if "mean" not in rows:
        return rows["forecast"]
    return rows["mean"].fillna(rows["forecast"])


def account_scale(lower: pd.Series, upper: pd.Series) -> pd.Series:
    """An account's forecast scale: its 90% interval as a normal's sd (at least 1 USD)."""
    return ((upper - lower) / (2 * Z90)).clip(lower=1.0)


def _book_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` once under ``book='firm'`` and its funded accounts under ``'funded'``."""
    return pd.concat(
        [
            rows.assign(book="firm"),
            rows[rows["phase"] == FUNDED_PHASE].assign(book="funded"),
        ],
        ignore_index=True,
    )


def book_days(rows: pd.DataFrame) -> pd.DataFrame:
    """Each cutoff's book totals: the figures every method needs.

    Args:
        rows: One model's account rows: ``cutoff_date``, ``target_date``, ``phase``,
            ``forecast``,
            ``lower_90``, ``upper_90``, optionally ``mean`` (else the forecast) and
            ``actual`` (NaN or absent: not known yet).

    Returns:
        Indexed by ``book`` and ``cutoff_date``: ``target_date``, ``accounts``, ``mean_total``,
        ``median_total`` (sum of forecasts), ``scale_sum``, ``scale_quad``,
        ``width_sum`` and ``actual`` (NaN when any account's actual is unknown).
    """
    mean = account_means(rows)
    actual = rows["actual"] if "actual" in rows else pd.Series(np.nan, rows.index)
    frame = _book_rows(
        rows[["phase"]].assign(
            cutoff_date=pd.to_datetime(rows["cutoff_date"]),
            target_date=pd.to_datetime(rows["target_date"]),
            mean=mean,
            forecast=rows["forecast"],
            scale=account_scale(rows["lower_90"], rows["upper_90"]),
            scale_sq=account_scale(rows["lower_90"], rows["upper_90"]) ** 2,
            width=rows["upper_90"] - rows["lower_90"],
            actual=actual,
            unknown=actual.isna(),
        )
    )
    days = frame.groupby(["book", "cutoff_date"]).agg(
        target_date=("target_date", "first"),
        accounts=("mean", "size"),
        mean_total=("mean", "sum"),
        median_total=("forecast", "sum"),
        scale_sum=("scale", "sum"),
        scale_quad=("scale_sq", "sum"),
        width_sum=("width", "sum"),
        actual=("actual", "sum"),
        unknown=("unknown", "sum"),
    )
    days["scale_quad"] = np.sqrt(days["scale_quad"])
    days.loc[days["unknown"] > 0, "actual"] = np.nan
    return days.drop(columns="unknown")


def _ewma_sigma(u: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """Each day's EWMA scale of ``u`` from the days before it, and the next day's.

    The scale is the EWMA of ``|u|`` times ``sqrt(pi / 2)`` (the standard deviation
    when ``u`` is normal), not the root of the EWMA of ``u^2`` (RiskMetrics). A book's
    standardised residuals are heavy-tailed (a few dozen funded accounts: one account's
    big day is the book's), and a squared outlier lifts a variance for weeks, widening
    every band after it beyond what the days' own spread needs. Measured on the
    walk-forward of ``tests/scoring/test_firm_backtest.py`` (default world, 59 cutoffs,
    the account models of commit ac73387): pinball / oracle 0.923 -> 0.912 (firm) and 1.212 -> 1.184 (funded book), funded
    coverage 0.983 -> 0.966; README, Firm risk, for the large backtest.
    """
    spread = np.abs(u) * np.sqrt(np.pi / 2)
    seed = min(len(u), 10)
    level = float(np.mean(spread[:seed])) if len(u) else 1.0
    sigma = np.empty(len(u))
    for i, value in enumerate(spread):  # a recursion over days (hundreds), not rows
        sigma[i] = level
        level = lam * level + (1 - lam) * value
    return sigma, level


def pooled_correlation(history: pd.DataFrame) -> float:
    """The equicorrelation of the accounts' residuals over past book days (moments:
    ``sum(R^2 - Q^2) / sum(S^2 - Q^2)``, with R the book's residual, S the sum of its
    accounts' scales and Q their root sum of squares), in [0, 1]."""
    residual = history["actual"] - history["mean_total"]
    quad = history["scale_quad"] ** 2
    spread = (history["scale_sum"] ** 2 - quad).sum()
    if spread <= 0:
        return 0.0
    return float(np.clip(((residual**2) - quad).sum() / spread, 0.0, 1.0))


def book_scale(days: pd.DataFrame | pd.Series, rho: float):
    """A book's residual sd if its accounts were equicorrelated at ``rho``:
    ``sqrt(rho S^2 + (1 - rho) Q^2)``. A big book's total moves with its common factor
    (``S``); a book of a few dozen accounts mostly with their own luck (``Q``)."""
    return np.sqrt(rho * days["scale_sum"] ** 2 + (1 - rho) * days["scale_quad"] ** 2)


def _fhs(history: pd.DataFrame, today: pd.Series, settings: FirmParams) -> dict:
    rho = pooled_correlation(history)
    u = (
        (history["actual"] - history["mean_total"]) / book_scale(history, rho)
    ).to_numpy()
    sigma, sigma_today = _ewma_sigma(u, settings.ewma_lambda)
    z = u / np.maximum(sigma, 1e-12)
    # the sum of means is the expected total (unbiased by construction): the past
    # residuals give the spread and shape around it, not a correction of it
    z = z - z.mean()
    if len(z) >= settings.min_empirical_days:
        q = np.quantile(z, _QUANTILES)
    else:
        q = stats.norm.ppf(_QUANTILES) * (z.std(ddof=1) if len(z) > 1 else 1.0)
    unit = float(book_scale(today, rho)) * sigma_today
    return {
        "mean": float(today["mean_total"]),
        **dict(zip(("q05", "q50", "q95"), today["mean_total"] + unit * q, strict=True)),
        "residual_sd": float(unit * z.std()) if len(z) > 1 else float(unit),
    }


def _error_ratio(history: pd.DataFrame, today: pd.Series, settings: FirmParams) -> dict:
    recent = history.tail(settings.ratio_days)
    ratio = (
        (recent["actual"] - recent["median_total"]) / recent["width_sum"]
    ).to_numpy()
    q = np.quantile(ratio, _QUANTILES)
    width = today["width_sum"]
    return {
        "mean": today["median_total"] + float(ratio.mean()) * width,
        **dict(
            zip(("q05", "q50", "q95"), today["median_total"] + q * width, strict=True)
        ),
        "residual_sd": float(ratio.std() * width),
    }


def _independent(today: pd.Series) -> dict:
    sd = today["scale_quad"]
    return {
        "mean": today["mean_total"],
        "q05": today["mean_total"] - Z90 * sd,
        "q50": today["mean_total"],
        "q95": today["mean_total"] + Z90 * sd,
        "residual_sd": float(sd),
    }


def _copula(
    history: pd.DataFrame,
    today: pd.Series,
    accounts: pd.DataFrame,
    settings: FirmParams,
) -> dict:
    """Scenarios of every account at once: each account's own skewed distribution
    (a two-piece normal through its 5%, median and 95% forecasts, shifted to its mean),
    one common factor at the history's correlation, every deviation scaled by the
    book's recent residual volatility (the EWMA of ``fhs``)."""
    rho = pooled_correlation(history)
    u = (
        (history["actual"] - history["mean_total"]) / book_scale(history, rho)
    ).to_numpy()
    _, sigma_today = _ewma_sigma(u, settings.ewma_lambda)
    median = accounts["forecast"].to_numpy(float)
    mean = account_means(accounts).to_numpy(float)
    low = np.maximum(median - accounts["lower_90"].to_numpy(float), 0.0) / Z90
    high = np.maximum(accounts["upper_90"].to_numpy(float) - median, 0.0) / Z90
    rng = np.random.default_rng(settings.seed)
    centre = sigma_today * (high - low) / np.sqrt(2 * np.pi)  # the deviation's mean
    offset = (mean - median - centre).sum() + median.sum()
    if len(accounts) > settings.exact_accounts:
        deviations = closed_form_book_sums(low, high, rho, settings.scenarios, rng)
    else:
        deviations = drawn_book_sums(low, high, rho, settings.scenarios, rng)
    totals = offset + sigma_today * deviations
    q = np.quantile(totals, _QUANTILES)
    return {
        "mean": float(mean.sum()),
        **dict(zip(("q05", "q50", "q95"), q, strict=True)),
        "residual_sd": float(totals.std()),
    }


def drawn_book_sums(
    low: np.ndarray,
    high: np.ndarray,
    rho: float,
    scenarios: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The book's summed deviation in each scenario, every account drawn."""
    # chunks of at most ~4M account draws: memory stays bounded at any number of accounts
    chunk = max(1, min(scenarios, 4_000_000 // max(len(low), 1)))
    sums = []
    for start in range(0, scenarios, chunk):
        n = min(chunk, scenarios - start)
        shocks = np.sqrt(rho) * rng.standard_normal((n, 1)) + np.sqrt(
            1 - rho
        ) * rng.standard_normal((n, len(low)))
        sums.append((np.where(shocks < 0, low, high) * shocks).sum(axis=1))
    return np.concatenate(sums)


def closed_form_book_sums(
    low: np.ndarray,
    high: np.ndarray,
    rho: float,
    scenarios: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The same sums for a large book, in O(accounts + scenarios) instead of their
    product: given the common factor Z, the accounts' deviations are independent, so
    their sum is normal (central limit, thousands of accounts) with a mean and variance
    in closed form. Account i's deviation is ``low_i s`` below 0 and ``high_i s`` above,
    with ``s ~ N(m, v)``, ``m = sqrt(rho) Z``, ``v = 1 - rho``; its moments are linear
    in ``low_i``, ``high_i`` and their squares with coefficients that depend on Z only.
    """
    z = rng.standard_normal(scenarios)
    m, v = np.sqrt(rho) * z, max(1.0 - rho, 1e-12)
    sd = np.sqrt(v)
    a = -m / sd  # s < 0 where the standardised draw is below a
    below, density = stats.norm.cdf(a), stats.norm.pdf(a)
    first_low = m * below - sd * density  # E[s; s < 0]
    first_high = m * (1 - below) + sd * density  # E[s; s >= 0]
    second_low = (m**2 + v) * below - (2 * m * sd + v * a) * density  # E[s^2; s < 0]
    second_high = (m**2 + v) * (1 - below) + (2 * m * sd + v * a) * density
    l1, h1 = low.sum(), high.sum()
    l2, h2, lh = (low**2).sum(), (high**2).sum(), (low * high).sum()
    mean = first_low * l1 + first_high * h1
    variance = (
        second_low * l2
        + second_high * h2
        - (first_low**2 * l2 + 2 * first_low * first_high * lh + first_high**2 * h2)
    )
    return mean + np.sqrt(np.maximum(variance, 0.0)) * rng.standard_normal(scenarios)


def book_forecast(
    history: pd.DataFrame,
    today: pd.Series,
    settings: FirmParams,
    accounts: pd.DataFrame | None = None,
) -> dict[str, float]:
    """One book's mean, 5%, 50% and 95% of tomorrow's total.

    Args:
        history: :func:`book_days` rows of that book with actuals, target days known at
            today's cutoff, oldest first.
        today: Today's :func:`book_days` row of the book.
        settings: The method and its settings.
        accounts: Today's account rows of the book (``copula`` needs them).

    Raises:
        NoErrorHistoryError: The method needs past days and there are none.
    """
    if settings.method == "independent":
        return _independent(today)
    if history.empty:
        raise NoErrorHistoryError(
            f"No past day with actuals known at cutoff {today.name}: train a model "
            "first (its test window seeds the firm-level distribution)"
        )
    if settings.method == "error_ratio":
        return _error_ratio(history, today, settings)
    if settings.method == "copula":
        if accounts is None:
            raise ValueError("The copula method needs the book's account rows")
        return _copula(history, today, accounts, settings)
    return _fhs(history, today, settings)


def implied_correlation(
    residual_sd: float, scale_sum: float, scale_quad: float
) -> float:
    """The equicorrelation ``rho`` under which independent-looking accounts of these
    scales give the book this residual sd: ``var = rho S^2 + (1 - rho) Q^2``."""
    if scale_sum <= 0 or scale_sum**2 <= scale_quad**2:
        return 0.0
    rho = (residual_sd**2 - scale_quad**2) / (scale_sum**2 - scale_quad**2)
    return float(np.clip(rho, 0.0, 1.0))


def tail_contributions(
    accounts: pd.DataFrame, forecast: dict[str, float], rho: float
) -> pd.Series:
    """Each account's share of the book's 95% quantile (Euler allocation, one factor).

    ``E[pnl_i | total = q95] = mean_i + cov(e_i, total) / var(total) x (q95 - mean)``,
    with ``cov(e_i, total) = s_i (rho S + (1 - rho) s_i)``: the contributions sum to
    the book's 95% quantile. Large, confident winners and large accounts carry it.

    Args:
        accounts: The book's account rows (``mean`` or ``forecast``, ``lower_90``,
            ``upper_90``).
        forecast: The book's :func:`book_forecast`.
        rho: :func:`implied_correlation` of the book.
    """
    scale = account_scale(accounts["lower_90"], accounts["upper_90"])
    mean = account_means(accounts)
    total_scale = scale.sum()
    covariance = scale * (rho * total_scale + (1 - rho) * scale)
    variance = covariance.sum()
    excess = forecast["q95"] - mean.sum()
    return mean + covariance / variance * excess if variance > 0 else mean


def payout_liability(  # noqa: PLR0913 - the accounts, their forecasts and the model
    funded: pd.DataFrame,
    rho: float,
    scenarios: int = 4000,
    seed: int = 0,
) -> dict[str, float]:
    """The firm's payouts to funded accounts at their next payout dates.

    Each funded account's profit at its payout date is today's (balance - starting
    balance) plus ``h`` trading days of P&L (``days_to_next_payout`` in calendar days,
    times 5/7), each day with the
    account's mean and scale; the days' common moves share one factor across accounts
    (correlation ``rho``, the funded book's). The firm pays ``profit_share_pct`` of a
    positive profit. (A breach before the payout date cancels it; not modelled: the
    figure leans high, the prudent side for a reserve.)

    Args:
        funded: Funded accounts' rows: ``balance``, ``starting_balance``,
            ``days_to_next_payout``, ``profit_share_pct``, ``mean`` or ``forecast``,
            ``lower_90``, ``upper_90``.
        rho: The funded book's implied correlation.
        scenarios: Monte Carlo draws.
        seed: Their seed.

    Returns:
        ``payout_liability`` (mean) and its 5% / 95% quantiles.
    """
    if funded.empty:
        return dict.fromkeys(
            (
                "payout_liability",
                "payout_liability_lower_90",
                "payout_liability_upper_90",
            ),
            0.0,
        )
    rng = np.random.default_rng(seed)
    # days_to_next_payout counts calendar days; P&L accrues on trading days
    calendar = funded["days_to_next_payout"].fillna(0).clip(lower=0).to_numpy(float)
    days = np.maximum(np.ceil(calendar * 5 / 7), 1.0)
    horizon = np.sqrt(days)
    scale = account_scale(funded["lower_90"], funded["upper_90"]).to_numpy() * horizon
    mean = account_means(funded).to_numpy(float) * days
    profit = (funded["balance"] - funded["starting_balance"]).to_numpy(float)
    share = funded["profit_share_pct"].fillna(80).to_numpy(float) / 100
    common = rng.standard_normal((scenarios, 1))
    own = rng.standard_normal((scenarios, len(funded)))
    shocks = np.sqrt(rho) * common + np.sqrt(1 - rho) * own
    paid = (share * np.maximum(profit + mean + scale * shocks, 0.0)).sum(axis=1)
    low, high = np.quantile(paid, [TAIL, 1 - TAIL])
    return {
        "payout_liability": float(paid.mean()),
        "payout_liability_lower_90": float(low),
        "payout_liability_upper_90": float(high),
    }


def known_history(days: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Past book days with actuals whose target day is on or before ``cutoff``.

    Args:
        days: :func:`book_days` of one book, with a ``target_date`` column.
        cutoff: Today's cutoff.
    """
    known = days[
        days["actual"].notna()
        & (pd.to_datetime(days["target_date"]) <= pd.Timestamp(cutoff))
    ]
    return known.sort_index()

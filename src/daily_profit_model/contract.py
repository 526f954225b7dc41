"""The Risk Analytics API contract as data: endpoints, wire fields, their columns and types.

Ingestion maps wire rows to raw-table columns with these lists, the sandbox serves the
same names, and migrations created the raw tables from them. A field the server sends
that is not listed here is kept in the raw table's ``extra`` JSON column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One wire field: its camelCase name, raw-table column and PostgreSQL type."""

    wire: str
    column: str
    pg_type: str


_ACRONYM_OVERRIDES = {
    "meanTPvsSL": "mean_tp_vs_sl",
    "medianTPvsSL": "median_tp_vs_sl",
    "minTPvsSL": "min_tp_vs_sl",
    "maxTPvsSL": "max_tp_vs_sl",
    "cvTPvsSL": "cv_tp_vs_sl",
}


def snake_case(wire_name: str) -> str:
    """Return the raw-table column name of a camelCase wire field."""
    if wire_name in _ACRONYM_OVERRIDES:
        return _ACRONYM_OVERRIDES[wire_name]
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", wire_name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return name.lower()


def _fields(pg_type: str, names: str) -> list[Field]:
    return [Field(n, snake_case(n), pg_type) for n in names.split()]


METRIC_IDENTITY = [
    *_fields("bigint", "login"),
    Field("accountId", "account_id", "text"),
    Field("planId", "plan_id", "bigint"),
    Field("trader", "trader", "text"),
    *_fields("smallint", "status type phase"),
    Field("broker", "broker", "text"),
    Field("mt_version", "platform", "text"),
    Field("price_stream", "price_stream", "text"),
    Field("country", "country", "text"),
]

METRIC_COMMON = [
    *METRIC_IDENTITY,
    *_fields(
        "double precision",
        "approved_payouts pending_payouts startingBalance priorDaysBalance "
        "priorDaysEquity currentBalance currentEquity",
    ),
    Field("firstTradeDate", "first_trade_date", "date"),
    *_fields("integer", "daysSinceInitialDeposit daysSinceFirstTrade numTrades"),
    *_fields(
        "double precision",
        # profit
        "netProfit grossProfit grossLoss gainToPain profitFactor successRate "
        "meanProfit medianProfit stdProfits riskAdjProfit minProfit maxProfit "
        "profitPerc10 profitPerc25 profitPerc75 profitPerc90 expectancy "
        "profitTop10PrcntTrades profitBottom10PrcntTrades top10PrcntProfitContrib "
        "bottom10PrcntLossContrib oneStdOutlierProfit oneStdOutlierProfitContrib "
        "twoStdOutlierProfit twoStdOutlierProfitContrib "
        # per unit
        "netProfitPerUSDVolume grossProfitPerUSDVolume grossLossPerUSDVolume "
        "distanceGrossProfitLossPerUSDVolume multipleGrossProfitLossPerUSDVolume "
        "grossProfitPerLot grossLossPerLot distanceGrossProfitLossPerLot "
        "multipleGrossProfitLossPerLot netProfitPerDuration grossProfitPerDuration "
        "grossLossPerDuration "
        # returns
        "meanRet stdRets riskAdjRet downsideStdRets downsideRiskAdjRet "
        "relNetProfit relGrossProfit relGrossLoss relMeanProfit relMedianProfit "
        "relStdProfits relRiskAdjProfit relMinProfit relMaxProfit relProfitPerc10 "
        "relProfitPerc25 relProfitPerc75 relProfitPerc90 relProfitTop10PrcntTrades "
        "relProfitBottom10PrcntTrades relOneStdOutlierProfit relTwoStdOutlierProfit "
        # drawdown
        "meanDrawDown medianDrawDown maxDrawDown meanNumTradesInDD "
        "medianNumTradesInDD maxNumTradesInDD relMeanDrawDown relMedianDrawDown "
        "relMaxDrawDown "
        # size and duration
        "totalLots totalVolume stdVolumes meanWinningLot meanLosingLot "
        "distanceWinLossLots multipleWinLossLots meanWinningVolume meanLosingVolume "
        "distanceWinLossVolume multipleWinLossVolume meanDuration medianDuration "
        "stdDurations minDuration maxDuration cvDurations "
        # stops and targets
        "meanTP medianTP stdTP minTP maxTP cvTP meanSL medianSL stdSL minSL maxSL "
        "cvSL meanTPvsSL medianTPvsSL minTPvsSL maxTPvsSL cvTPvsSL "
        # streaks
        "meanNumConsecWins medianNumConsecWins maxNumConsecWins "
        "meanNumConsecLosses medianNumConsecLosses maxNumConsecLosses "
        "meanValConsecWins medianValConsecWins maxValConsecWins "
        "meanValConsecLosses medianValConsecLosses maxValConsecLosses "
        # exposure
        "meanNumOpenPos medianNumOpenPos maxNumOpenPos meanValOpenPos "
        "medianValOpenPos maxValOpenPos meanValtoEqtyOpenPos "
        "medianValtoEqtyOpenPos maxValtoEqtyOpenPos meanAccountMargin "
        "meanFirmMargin",
    ),
    *_fields("integer", "numTradedSymbols"),
    Field("mostTradedSymbol", "most_traded_symbol", "text"),
    *_fields("integer", "mostTradedSmbTrades"),
]

METRIC_ALLTIME_ONLY = [
    *_fields("timestamptz", "firstTradeOpen lastTradeOpen lastTradeClose"),
    *_fields(
        "double precision",
        "lifeTimeInDays totalRet dailyMeanRet dailyStdRet dailySharpe "
        "dailyDownsideStdRet dailySortino meanTradesPerDay medianTradesPerDay "
        "minTradesPerDay maxTradesPerDay cvTradesPerDay meanIdleDays medianIdleDays "
        "maxIdleDays minIdleDays",
    ),
    Field("updatedDate", "updated_date", "timestamptz"),
]

METRIC_DAILY_ONLY = [
    Field("date", "date", "date"),
    Field("days_to_next_payout", "days_to_next_payout", "integer"),
    Field("todays_payouts", "todays_payouts", "double precision"),
]

METRIC_HOURLY_ONLY = [
    *METRIC_DAILY_ONLY,
    Field("datetime", "datetime", "timestamptz"),
    Field("hour", "hour", "smallint"),
]

TRADE_FIELDS = [
    Field("tradeDate", "trade_date", "date"),
    Field("broker", "broker", "text"),
    Field("mngr", "mngr", "text"),
    Field("platform", "platform", "text"),
    Field("ticket", "ticket", "text"),
    Field("position", "position", "text"),
    Field("login", "login", "bigint"),
    Field("stdSymbol", "std_symbol", "text"),
    Field("side", "side", "text"),
    *_fields(
        "double precision",
        "lots contractSize qtyInBaseCrncy volumeUSD stopLoss takeProfit",
    ),
    Field("openTime", "open_time", "timestamptz"),
    Field("openPrice", "open_price", "double precision"),
    Field("closeTime", "close_time", "timestamptz"),
    Field("closePrice", "close_price", "double precision"),
    *_fields("double precision", "duration profit commission fee swap"),
    Field("comment", "comment", "text"),
]

OPEN_TRADE_FIELDS = [
    f for f in TRADE_FIELDS if f.column not in ("close_time", "close_price", "duration")
]

ACCOUNT_FIELDS = [
    Field("accountId", "account_id", "text"),
    Field("login", "login", "bigint"),
    Field("mt_version", "platform", "text"),
    Field("broker", "broker", "text"),
    Field("trader", "trader", "text"),
    Field("planId", "plan_id", "bigint"),
    *_fields("smallint", "status type phase"),
    Field("startingBalance", "starting_balance", "double precision"),
    Field("country", "country", "text"),
    Field("price_stream", "price_stream", "text"),
    Field("createdDate", "created_date", "timestamptz"),
]


@dataclass(frozen=True)
class Endpoint:
    """One API endpoint and the raw table its rows land in."""

    path: str
    table: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    date_column: str | None
    # A snapshot "as of now" is stored with the time it was taken, first in its key.
    snapshot_column: str | None = None

    @property
    def stored_key(self) -> tuple[str, ...]:
        """The raw table's primary key."""
        return (self.snapshot_column, *self.key) if self.snapshot_column else self.key


ENDPOINTS: dict[str, Endpoint] = {
    e.path: e
    for e in (
        Endpoint(
            "accounts", "raw_accounts", tuple(ACCOUNT_FIELDS), ("account_id",), None
        ),
        Endpoint(
            "v2/metrics/alltime",
            "raw_metrics_alltime",
            tuple(METRIC_COMMON + METRIC_ALLTIME_ONLY),
            ("account_id",),
            None,
        ),
        Endpoint(
            "v2/metrics/daily",
            "raw_metrics_daily",
            tuple(METRIC_COMMON + METRIC_DAILY_ONLY),
            ("account_id", "date"),
            "date",
        ),
        Endpoint(
            "v2/metrics/hourly",
            "raw_metrics_hourly",
            tuple(METRIC_COMMON + METRIC_HOURLY_ONLY),
            ("account_id", "date", "hour"),
            "date",
        ),
        Endpoint(
            "v2/trades/closed",
            "raw_trades_closed",
            tuple(TRADE_FIELDS),
            ("login", "platform", "broker", "position", "trade_date"),
            "trade_date",
        ),
        # A snapshot "as of now": the raw table adds the time it was taken
        # (snapshot_at) to the key; within one snapshot a position is this key.
        Endpoint(
            "v2/trades/open",
            "raw_open_positions",
            tuple(OPEN_TRADE_FIELDS),
            ("login", "platform", "broker", "position"),
            None,
            snapshot_column="snapshot_at",
        ),
    )
}

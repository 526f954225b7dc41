"""pandera schemas of the feature table and the model input (catalog ``validator:``).

Column families are matched by name (``regex=True``), so a new rolling window is checked
by the rule of its family. What can never be missing is declared non-nullable: keys,
the account's state at the cutoff, every window sum and count (a densified day is a
zero, never a NULL), and a plan's rules wherever the cutoff has a plan version. Ratios
whose denominator can be zero (std, profit factor, Sharpe, shares of no trades) are
nullable by definition.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

_KEYS = ["account_id", "cutoff_date"]
# The feature store keeps floats as PostgreSQL ``real`` and parquet float32, and counts
# as integers: a column coerced to float64 or int64 would double the frame the model
# trains on (measured: the model input grew by a third when validated as float64).
_FLOAT = "float32"
_COUNT = "int32"


class _InPlaceSchema(pa.DataFrameSchema):
    """A schema that coerces and checks the frame it is given, not a copy of it.

    The catalog's ``validator:`` validates a frame just loaded from its file or table,
    which nothing else holds: a copy (pandera's default) would only double the memory
    of the largest frame the project loads.
    """

    def validate(self, check_obj, *args, **kwargs):  # noqa: D102 (pandera's)
        kwargs["inplace"] = True
        return super().validate(check_obj, *args, **kwargs)

    @classmethod
    def get_backend(cls, check_obj=None, check_type=None):  # noqa: D102
        # pandera finds a backend by the schema's exact class: use DataFrameSchema's
        return pa.DataFrameSchema.get_backend(check_obj, check_type)


# A plan's rules: never missing where the cutoff has a plan version (plan exports
# refuse rows without them); missing, and flagged, where no version precedes it.
PLAN_RULES = (
    "profit_target_pct",
    "max_trailing_drawdown_pct",
    "daily_loss_limit_pct",
    "leverage",
    "profit_share_pct",
    "min_trading_days",
    "max_days",
    "inactivity_period",
)


def _rules_known_where_versioned(frame: pd.DataFrame) -> pd.Series:
    """Row by row: every plan rule is present when the plan version is known."""
    known = frame["plan_version_known"].astype(bool)
    return ~known | frame[list(PLAN_RULES)].notna().all(axis=1)


_RULES_CHECK = pa.Check(
    _rules_known_where_versioned,
    name="plan_rules_present_where_plan_version_known",
    error="a plan rule is NULL although the cutoff has a plan version",
)


def _share(pattern: str, nullable: bool = True) -> pa.Column:
    return pa.Column(
        _FLOAT, pa.Check.in_range(0, 1), nullable=nullable, regex=True, name=pattern
    )


def _feature_columns() -> dict[str, pa.Column]:
    count = pa.Check.ge(0)
    return {
        "account_id": pa.Column(str, nullable=False),
        "cutoff_date": pa.Column("datetime64[ns]", nullable=False, coerce=True),
        "target_date": pa.Column("datetime64[ns]", nullable=False, coerce=True),
        "plan_id": pa.Column(int, nullable=False, coerce=True),
        "phase": pa.Column(
            int, pa.Check.isin([1, 2, 3, 4]), nullable=False, coerce=True
        ),
        "starting_balance": pa.Column(_FLOAT, pa.Check.gt(0), nullable=False),
        "balance": pa.Column(_FLOAT, nullable=False),
        "equity": pa.Column(_FLOAT, nullable=False),
        "high_water_mark": pa.Column(_FLOAT, nullable=False),
        "plan_version_known": pa.Column(bool, nullable=False, coerce=True),
        **{
            rule: pa.Column(_FLOAT, pa.Check.ge(0), nullable=True, coerce=True)
            for rule in PLAN_RULES
        },
        "distance_to_drawdown_floor": pa.Column(_FLOAT, nullable=False),
        "drawdown_from_high_water": pa.Column(
            _FLOAT, pa.Check.ge(-1e-6), nullable=False
        ),
        "account_age_days": pa.Column(_COUNT, count, nullable=False, coerce=True),
        "days_traded": pa.Column(_COUNT, count, nullable=False, coerce=True),
        "winning_streak": pa.Column(_COUNT, count, nullable=False, coerce=True),
        "losing_streak": pa.Column(_COUNT, count, nullable=False, coerce=True),
        "trading_days_since_trade": pa.Column(
            _COUNT, count, nullable=False, coerce=True
        ),
        "pnl_1d": pa.Column(_FLOAT, nullable=False),
        "ewm_pnl_(short|long)": pa.Column(_FLOAT, nullable=False, regex=True),
        r"pnl_(sum|mean|min|max)_\d+d": pa.Column(_FLOAT, nullable=False, regex=True),
        r"pnl_std_\d+d": pa.Column(_FLOAT, pa.Check.ge(0), nullable=True, regex=True),
        r"(trades|active_days)_\d+d": pa.Column(
            _COUNT, count, nullable=False, regex=True, coerce=True
        ),
        r"win_share_\d+d": _share(r"win_share_\d+d", nullable=False),
        r"(stop_loss|take_profit)_share_\d+d": _share(
            r"(stop_loss|take_profit)_share_\d+d"
        ),
        r"\w+_volume_share_20d": _share(r"\w+_volume_share_20d"),
        r"\w+_session_share_20d": _share(r"\w+_session_share_20d"),
        r"profit_factor_\d+d": pa.Column(
            _FLOAT, pa.Check.ge(0), nullable=True, regex=True
        ),
        "open_positions": pa.Column(_COUNT, count, nullable=False, coerce=True),
        "open_notional": pa.Column(_FLOAT, pa.Check.ge(0), nullable=False),
        r"open_\w+_notional": pa.Column(
            _FLOAT, pa.Check.ge(0), nullable=False, regex=True
        ),
        "open_daily_risk": pa.Column(_FLOAT, pa.Check.ge(0), nullable=True),
        "open_(unprotected|uncapped)_risk": pa.Column(
            _FLOAT, pa.Check.ge(0), nullable=False, regex=True
        ),
        "open_(stop|take_profit)_room": pa.Column(_FLOAT, nullable=True, regex=True),
        "volatility_regime": pa.Column(
            _FLOAT, pa.Check.isin([0, 1, 2]), nullable=True, coerce=True
        ),
        "target_weekday": pa.Column(
            int, pa.Check.in_range(1, 5), nullable=False, coerce=True
        ),
    }


FEATURE_ACCOUNT_DAY = _InPlaceSchema(
    _feature_columns(),
    checks=[_RULES_CHECK],
    unique=_KEYS,
    strict=False,
    coerce=True,
    name="feature_account_day",
)

MODEL_INPUT = _InPlaceSchema(
    {
        **_feature_columns(),
        "target_net_profit": pa.Column(float, nullable=False),
    },
    checks=[_RULES_CHECK],
    unique=_KEYS,
    strict=False,
    coerce=True,
    name="model_input",
)

"""Each pipeline's parameters as one typed model, validated before the first node runs.

Kedro validates a node's ``params:`` input against the model its function is annotated
with (pydantic, at catalog creation), so a bad value or a misspelt key fails the run
at its start, with the key named. The defaults live in ``conf/base/parameters_*.yml``
only: every field here is required, so the YAML is the one place that sets them, and
an environment overrides a single key (parameters merge softly, see ``settings.py``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from daily_profit_model.sandbox.config import WorldConfig


class _Params(BaseModel):
    """Strict: unknown keys are errors, values are not changed after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the run ----------------------------------------------------------------------


class RunDate(RootModel[dt.date]):
    """``run_date``: the cutoff a run works for (``YYYY-MM-DD``).

    Nodes take it as ``RunDate | None`` (None, the YAML's default: the newest day), so
    that Kedro validates a given value before the first node runs.
    """

    model_config = ConfigDict(frozen=True)


def requested_day(run_date: RunDate | None) -> dt.date | None:
    """The day ``run_date`` names, or None."""
    return None if run_date is None else run_date.root


# --- sandbox -----------------------------------------------------------------------


class FaultParams(_Params):
    """Faults the sandbox server injects (see ``sandbox.faults``)."""

    seed: int
    rates: dict[str, float]
    slow_seconds: float = Field(gt=0)
    retry_after_seconds: int = Field(ge=0)


class SandboxParams(WorldConfig):
    """``sandbox``: the simulated firm (its world) and how its server misbehaves."""

    faults: FaultParams


# --- ingestion ---------------------------------------------------------------------


class IngestionParams(_Params):
    """``ingestion``: what a run fetches and how strict it is with what comes back."""

    history_start: dt.date
    trading_timezone: str
    start_date: dt.date | None
    end_date: dt.date | None
    endpoints: list[str] | None
    recheck_days: int = Field(ge=0)
    max_reject_share: float = Field(ge=0, le=1)
    reject_share_min_rows: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> IngestionParams:
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError(
                f"ingestion.start_date {self.start_date} is after "
                f"ingestion.end_date {self.end_date}"
            )
        return self


# --- preprocessing and features ----------------------------------------------------


class FeatureParams(_Params):
    """``features``: the build window, the trading day's timezone, EWM half-lives."""

    start_date: dt.date | None
    end_date: dt.date | None
    rebuild_days: int = Field(ge=0)
    timezone: str
    ewm_halflife_short: float = Field(gt=0)
    ewm_halflife_long: float = Field(gt=0)
    asset_classes: dict[str, list[str]]

    @model_validator(mode="after")
    def _checked(self) -> FeatureParams:
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError(
                f"features.start_date {self.start_date} is after "
                f"features.end_date {self.end_date}"
            )
        seen: dict[str, str] = {}
        for asset_class, symbols in self.asset_classes.items():
            for symbol in symbols:
                if symbol in seen:
                    raise ValueError(
                        f"features.asset_classes lists {symbol} under both "
                        f"{seen[symbol]} and {asset_class}"
                    )
                seen[symbol] = asset_class
        return self


# --- training ----------------------------------------------------------------------


class WindowParams(_Params):
    """Time windows, in cutoff days, newest last, with gaps between them."""

    test_days: int = Field(ge=1)
    calibration_days: int = Field(ge=1)
    validation_days: int = Field(ge=1)
    gap_days: int = Field(ge=0)


class TuningParams(_Params):
    """The Optuna search of the point model."""

    n_trials: int = Field(ge=1)
    timeout_s: float | None
    study_name: str
    objectives: list[Literal["l1", "huber", "fair"]]
    max_tree_leaves: int = Field(ge=1000)
    max_train_rows: int | None = Field(default=None, ge=1000)


class SpreadModelParams(_Params):
    """The spread model: each row's expected |netProfit|, the unit of the quantiles."""

    folds: int = Field(ge=2)
    tweedie_variance_power: float = Field(gt=1, lt=2)
    learning_rate: float = Field(gt=0)
    num_leaves: int = Field(ge=2)
    min_data_in_leaf: int = Field(ge=1)
    max_rounds: int = Field(ge=1)
    floor_quantile: float = Field(ge=0, lt=1)


class QuantileModelParams(_Params):
    """The 5% and 95% LightGBM models."""

    learning_rate: float = Field(gt=0)
    num_leaves: int = Field(ge=2)
    min_data_in_leaf: int = Field(ge=1)
    feature_fraction: float = Field(gt=0, le=1)
    max_rounds: int = Field(ge=1)
    spread: SpreadModelParams | None


class TrainingParams(_Params):
    """``training``: windows, tuning, the quantile models and their calibration."""

    windows: WindowParams
    interval_coverage: float = Field(gt=0, lt=1)
    min_calibration_rows_per_phase: int = Field(ge=1)
    phase_shrinkage_rows: float = Field(ge=0)
    seed: int
    tuning: TuningParams
    quantile_model: QuantileModelParams
    rows_per_tree: int | None = Field(ge=1)
    shap_sample_rows: int = Field(ge=1)
    top_reasons: int = Field(ge=0)
    target_scale: Literal["starting_balance"] | None
    target_offset: Literal["unrealised_pnl"] | None = None
    breach_slippage_quantile: float | None = Field(default=None, gt=0, le=1)
    num_threads: int = Field(ge=1)
    history_days: int | None = Field(ge=1)


# --- scoring -----------------------------------------------------------------------


class DriftParams(_Params):
    """PSI and KS thresholds."""

    psi_warn: float = Field(gt=0)
    psi_severe: float = Field(gt=0)
    ks_warn: float = Field(gt=0, le=1)
    ks_pvalue: float = Field(gt=0, lt=1)


class ReportParams(_Params):
    """The daily report."""

    coverage_target: float = Field(gt=0, lt=1)


class FirmParams(_Params):
    """The books' distributions (``daily_profit_model.scoring.firm``)."""

    method: Literal["copula", "fhs", "error_ratio", "independent"]
    ewma_lambda: float = Field(gt=0, lt=1)
    min_empirical_days: int = Field(ge=2)
    ratio_days: int = Field(ge=2)
    scenarios: int = Field(ge=100)
    exact_accounts: int = Field(ge=1)
    seed: int
    hedge_accounts: int = Field(ge=1)


class DegradationParams(_Params):
    """Degradation checks and alerts (``daily_profit_model.scoring.degradation``)."""

    window_days: int = Field(ge=3)
    book_days: int = Field(ge=10)
    significance: float = Field(gt=0, lt=1)
    coverage_margin: float = Field(ge=0, lt=1)
    pinball_margin: float = Field(ge=0)


class ReasonsParams(_Params):
    """``scoring.reasons``: how many per forecast, and by which method per phase."""

    top: int = Field(ge=0)
    treeshap_phases: list[int]


class ScoringParams(_Params):
    """``scoring``: champion and shadows, evaluation, firm view, drift, the report."""

    model_name: str
    challenger_traffic_share: float = Field(ge=0, le=1)
    evaluation_window_days: int = Field(ge=1)
    significance: float = Field(gt=0, lt=1)
    risk_accounts: int = Field(ge=1)
    reasons: ReasonsParams
    firm: FirmParams
    degradation: DegradationParams
    drift: DriftParams
    report: ReportParams


# --- monitoring --------------------------------------------------------------------


class SlaParams(_Params):
    """Thresholds whose breach is recorded (None: not checked)."""

    max_pipeline_duration_s: float | None
    max_node_duration_s: float | None
    max_data_age_days: int | None
    as_of: dt.date | None


class MonitoringParams(_Params):
    """``monitoring``: read by the run-log hook (not a node), validated the same way."""

    sla: SlaParams


# --- for scripts and tests ---------------------------------------------------------


def project_parameters(project_path: Path, env: str | None = None) -> dict[str, Any]:
    """The project's parameters as a ``kedro run`` in ``env`` reads them (``base``
    then ``env``), for benchmarks and tests that build models outside a session."""
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415

    loader = OmegaConfigLoader(
        conf_source=str(project_path / "conf"),
        base_env="base",
        default_run_env=env or "base",
        merge_strategy={"parameters": "soft"},
    )
    return dict(loader["parameters"])


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied key by key, nested mappings merged."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def project_world(project_path: Path, **changes: Any) -> WorldConfig:
    """The project's sandbox world (``conf/base``) with ``changes``, for scripts."""
    return SandboxParams.model_validate(
        merged(project_parameters(project_path)["sandbox"], changes)
    ).world_config()

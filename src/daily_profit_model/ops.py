"""Operations behind ``kedro health`` and ``kedro model promote``.

Both run inside a Kedro session's configuration (database, MLflow tracking URI and
credentials come from the environment's conf), and print what they find.
"""

from __future__ import annotations

import getpass
import json
import logging
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from psycopg import sql

from daily_profit_model.db import get_database
from daily_profit_model.monitoring import close_dead_runs
from daily_profit_model.redaction import redact_url

logger = logging.getLogger(__name__)


@dataclass
class Check:
    """One line of the health report."""

    name: str
    ok: bool
    detail: str


def _query(statement: str, params: list | None = None) -> list[tuple]:
    database = get_database()
    with database.connect() as conn:
        conn.execute(
            sql.SQL("SET search_path TO {}").format(sql.Identifier(database.schema))
        )
        return conn.execute(statement, params or []).fetchall()


def check_database() -> Check:
    """The database answers, and which server it is."""
    try:
        version = _query("SHOW server_version")[0][0]
    except Exception as exc:  # noqa: BLE001 (reported, not raised)
        return Check("database", False, str(exc))
    return Check("database", True, f"{get_database().describe()}, PostgreSQL {version}")


def check_api(catalog: Any) -> Check:
    """The environment's Risk Analytics API (the firm's, or the sandbox) answers an
    authenticated request, and what its clock says."""
    try:
        status = catalog.load("api_source")
    except Exception as exc:  # noqa: BLE001 (reported, not raised)
        while exc.__cause__ is not None:  # the client's own message, not Kedro's wrap
            exc = exc.__cause__
        lines = [line for line in str(exc).splitlines() if line.strip()]
        return Check("api", False, redact_url(lines[-1] if lines else repr(exc)))
    return Check(
        "api",
        True,
        f"{status.identity} answered; its clock says {status.server_time:%Y-%m-%d %H:%M} UTC",
    )


def check_freshness() -> Check:
    """The newest completely loaded day of each endpoint."""
    try:
        rows = _query(
            "SELECT endpoint, max(day) FROM ingestion_state "
            "WHERE status IN ('complete', 'provisional') "
            "GROUP BY endpoint ORDER BY endpoint"
        )
    except Exception as exc:  # noqa: BLE001
        return Check("data", False, str(exc))
    if not rows:
        return Check("data", False, "nothing ingested yet")
    return Check("data", True, "; ".join(f"{e} {d}" for e, d in rows))


def check_champion(model_name: str) -> Check:
    """A champion is registered and loads."""
    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(
            model_name, "champion"
        )
        mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    except MlflowException as exc:
        return Check("champion", False, str(exc).splitlines()[0])
    return Check("champion", True, f"{model_name} v{version.version} loads")


def check_last_run() -> Check:
    """The last pipeline run's status, duration and SLA breaches (runs whose process
    died are closed as killed first)."""
    close_dead_runs()
    rows = _query(
        "SELECT pipeline, status, started_at, duration_s, sla_breaches, error "
        "FROM pipeline_run_log WHERE node IS NULL ORDER BY started_at DESC LIMIT 1"
    )
    if not rows:
        return Check("last run", False, "no run recorded")
    pipeline, status, started, duration, breaches, error = rows[0]
    detail = f"{pipeline} {status} at {started:%Y-%m-%d %H:%M} UTC"
    detail += f" in {duration:.0f} s" if duration is not None else ""
    detail += f"; SLA breaches: {'; '.join(breaches)}" if breaches else ""
    detail += f"; error: {error[:200]}" if error else ""
    return Check("last run", status == "success" and not breaches, detail)


def check_drift() -> Check:
    """Severe drift flags of the newest scored day."""
    try:
        rows = _query(
            "SELECT cutoff_date, count(*) FILTER (WHERE severity = 'severe'), "
            "string_agg(feature, ', ') FILTER (WHERE severity = 'severe') "
            "FROM feature_drift WHERE cutoff_date = (SELECT max(cutoff_date) FROM feature_drift) "
            "GROUP BY cutoff_date"
        )
    except Exception as exc:  # noqa: BLE001
        return Check("drift", False, str(exc))
    if not rows:
        return Check("drift", True, "no scored day yet")
    day, severe, names = rows[0]
    return Check(
        "drift",
        severe == 0,
        f"{day}: {severe} severe" + (f" ({names})" if names else ""),
    )


def check_performance() -> Check:
    """The newest scored day's degradation checks (rolling coverage and pinball of
    the champion against its test window, the books' traffic lights)."""
    try:
        rows = _query(
            "SELECT cutoff_date, count(*), "
            "string_agg(check_name || ' ' || status, ', ') FILTER (WHERE alert) "
            "FROM performance_checks "
            "WHERE cutoff_date = (SELECT max(cutoff_date) FROM performance_checks) "
            "GROUP BY cutoff_date"
        )
    except Exception as exc:  # noqa: BLE001
        return Check("model", False, str(exc).splitlines()[0])
    if not rows:
        return Check("model", True, "no day with actuals checked yet")
    day, checks, failing = rows[0]
    return Check(
        "model",
        failing is None,
        f"{day}: {checks} checks"
        + (f"; failing: {failing}" if failing else ", all ok"),
    )


def _versions(client: mlflow.MlflowClient, model_name: str) -> list[int]:
    return sorted(
        int(v.version) for v in client.search_model_versions(f"name = '{model_name}'")
    )


def _champion_version(client: mlflow.MlflowClient, model_name: str) -> int:
    """The champion's version.

    Raises:
        ValueError: No model is registered, or none is champion.
    """
    try:
        return int(client.get_model_version_by_alias(model_name, "champion").version)
    except MlflowException:
        raise ValueError(
            f"{model_name} has no champion: run `kedro run --pipelines training` first"
        ) from None


class PromotionRefusedError(RuntimeError):
    """The challenger is not significantly better and the promotion was not forced."""


_COMPARISON_KEYS = (
    "window_start",
    "window_end",
    "days",
    "champion_mae",
    "challenger_mae",
    "dm_statistic",
    "p_value",
    "challenger_better",
)


@dataclass(frozen=True)
class Promotion:
    """A decided promotion: what moves, and why (nothing has moved yet)."""

    model_name: str
    from_version: int
    to_version: int
    forced: bool
    reason: str
    figures: dict[str, Any]


def decide_promotion(  # noqa: PLR0913 - the decision's whole evidence, no state
    model_name: str,
    champion: int,
    version: int,
    known: list[int],
    figures: dict[str, Any],
    force: bool,
    reason: str | None,
    significance: float,
) -> Promotion:
    """Decide whether ``version`` replaces ``champion`` (pure: reads and writes nothing).

    Raises:
        PromotionRefusedError: Not significantly better, and not forced.
        ValueError: Forced without a reason, an unknown version, or already champion.
    """
    if champion == version:
        raise ValueError(f"{model_name} v{version} is already the champion")
    if version not in known:
        raise ValueError(
            f"{model_name} has no version {version}; its versions are "
            f"{', '.join(f'v{v}' for v in known)} (`kedro model list` shows them)"
        )
    better = (
        bool(figures.get("challenger_better"))
        and (figures.get("p_value") or 1) < significance
    )
    if not better and not force:
        raise PromotionRefusedError(
            f"v{version} is not significantly better than champion v{champion} "
            f"({json.dumps(figures, default=str) if figures else 'no comparison yet: score it as a shadow for a few days'}); "
            "use --force --reason '…' to promote anyway"
        )
    if force and not (reason or "").strip():
        raise ValueError("A forced promotion needs --reason")
    why = (
        reason
        or f"Diebold–Mariano p = {figures['p_value']:.4f} over {figures['days']} days"
    )
    return Promotion(model_name, champion, version, force, why, figures)


def _comparison(champion: int, version: int) -> dict[str, Any]:
    rows = _query(
        f"SELECT {', '.join(_COMPARISON_KEYS)} FROM model_comparisons "
        "WHERE champion_version = %s AND challenger_version = %s "
        "ORDER BY window_end DESC LIMIT 1",
        [champion, version],
    )
    return dict(zip(_COMPARISON_KEYS, rows[0], strict=True)) if rows else {}


def _move_aliases(client: mlflow.MlflowClient, decision: Promotion) -> None:
    model_name = decision.model_name
    client.set_registered_model_alias(model_name, "champion", str(decision.to_version))
    client.set_registered_model_alias(
        model_name, "previous_champion", str(decision.from_version)
    )
    aliases = client.get_registered_model(model_name).aliases
    if aliases.get("challenger") == decision.to_version:
        client.delete_registered_model_alias(model_name, "challenger")


def _record_and_move(
    client: mlflow.MlflowClient, decision: Promotion, who: str
) -> None:
    """Write the audit row, then move the aliases, in one database transaction.

    If the insert fails nothing has moved; if moving an alias fails the audit row is
    rolled back and the champion alias is put back, so the registry and the audit
    table never disagree about who the champion is.
    """
    model_name = decision.model_name
    database = get_database()
    with database.connect() as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (promoted_by, model_name, from_version, to_version, forced, "
                "reason, figures) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            ).format(sql.Identifier(database.schema, "model_promotions")),
            [
                who,
                model_name,
                decision.from_version,
                decision.to_version,
                decision.forced,
                decision.reason,
                json.dumps(decision.figures, default=str),
            ],
        )
        try:
            _move_aliases(client, decision)
        except Exception:
            client.set_registered_model_alias(
                model_name, "champion", str(decision.from_version)
            )
            raise


def _log_promotion_run(decision: Promotion, who: str) -> None:
    mlflow.set_experiment(decision.model_name)
    with mlflow.start_run(
        run_name=f"promotion v{decision.from_version} -> v{decision.to_version}"
    ):
        mlflow.set_tags(
            {
                "kind": "promotion",
                "promoted_by": who,
                "forced": str(decision.forced),
                "reason": decision.reason[:5000],
            }
        )
        mlflow.log_params(
            {"from_version": decision.from_version, "to_version": decision.to_version}
        )
        mlflow.log_metrics(
            {
                k: float(v)
                for k, v in decision.figures.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
        )


def promote(
    model_name: str, version: int, force: bool, reason: str | None, significance: float
) -> dict[str, Any]:
    """Make ``version`` the champion if the evidence says so (or if forced, with a reason).

    The evidence is the newest ``model_comparisons`` row of this version against the
    current champion (Diebold–Mariano over the evaluation window) of the registered
    model ``model_name``. The decision is
    made first (``decide_promotion``), then recorded in ``model_promotions``, then the
    aliases move (one transaction), then an MLflow run in the experiment of that name.

    Raises:
        PromotionRefusedError: Not significantly better, and not forced.
        ValueError: Forced without a reason, or the version is already champion.
    """
    client = mlflow.MlflowClient()
    champion = _champion_version(client, model_name)
    known = _versions(client, model_name)
    figures = _comparison(champion, version) if version in known else {}
    decision = decide_promotion(
        model_name, champion, version, known, figures, force, reason, significance
    )
    who = getpass.getuser()
    _record_and_move(client, decision, who)
    _log_promotion_run(decision, who)
    record = {
        "from_version": champion,
        "to_version": version,
        "by": who,
        "forced": force,
        "reason": decision.reason,
        **figures,
    }
    logger.info(
        "Promoted %s v%d to champion (was v%d): %s",
        model_name,
        version,
        champion,
        decision.reason,
    )
    return record

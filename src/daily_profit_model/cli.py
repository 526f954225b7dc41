"""Project commands: ``kedro db …`` to manage the database.

Run ``uv run kedro db --help`` for the list.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.utils import _split_params
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from daily_profit_model.db import get_database
from daily_profit_model.db.embedded import embedded_server_status, stop_embedded_server
from daily_profit_model.db.migrations import apply_migrations, schema_version
from daily_profit_model.hooks import read_credentials

logger = logging.getLogger(__name__)

_ENV_OPTION = click.option(
    "--env", "-e", default=None, help="Kedro configuration environment (e.g. prod)."
)
_WORLD_PARAMS_OPTION = click.option(
    "--params",
    default="",
    callback=_split_params,
    help='World parameters as for kedro run, e.g. "sandbox.seed=7,sandbox.n_traders=3000".',
)


def _load_database(env: str | None):
    """Create a session for ``env`` so that the project's hooks configure the database."""
    project_path = Path.cwd()
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        session.load_context()
    return get_database()


@click.group(name="daily-profit-model")
def cli() -> None:
    """Commands of the daily-profit-model project."""


@cli.group()
def db() -> None:
    """Manage the project's PostgreSQL (embedded by default, any server with --env prod)."""


@db.command()
@_ENV_OPTION
def migrate(env: str | None) -> None:
    """Apply pending schema migrations (starts the embedded server if needed)."""
    database = _load_database(env)
    with database.connect_for_migrations() as conn:
        applied = apply_migrations(conn, database.schema)
        version = schema_version(conn, database.schema)
    click.echo(
        f"{database.describe()}: schema {database.schema} at version {version}"
        f" ({len(applied)} migration(s) applied now)"
    )


@db.command()
@_ENV_OPTION
def start(env: str | None) -> None:
    """Start the embedded PostgreSQL (and migrate it); print where it listens."""
    database = _load_database(env)
    with database.connect() as conn:
        version = schema_version(conn, database.schema)
    click.echo(f"{database.describe()}: running, schema version {version}")


@db.command()
@_ENV_OPTION
def stop(env: str | None) -> None:
    """Stop the embedded PostgreSQL server."""
    database = _load_database(env)
    if database.settings.mode != "embedded":
        raise click.ClickException("Only the embedded server can be stopped from here.")
    stopped = stop_embedded_server(database.settings.embedded_dir)
    click.echo("stopped" if stopped else "not running")


@db.command()
@_ENV_OPTION
def status(env: str | None) -> None:
    """Print the embedded server's state (running, PID, socket) as JSON."""
    database = _load_database(env)
    if database.settings.mode != "embedded":
        click.echo(json.dumps({"mode": "url", "database": database.describe()}))
        return
    click.echo(
        json.dumps(embedded_server_status(database.settings.embedded_dir), indent=2)
    )


@db.command()
@_ENV_OPTION
@click.option(
    "--yes", is_flag=True, help="Confirm: every table of the schema is dropped."
)
def reset(env: str | None, yes: bool) -> None:
    """Drop the project's schema (every raw, derived and prediction table) and migrate
    it again: the database starts over, empty, and may be filled from another source.
    MLflow's runs and models and Optuna's studies are kept."""
    from psycopg import sql  # noqa: PLC0415

    database = _load_database(env)
    if not yes:
        raise click.ClickException(
            f"This drops schema {database.schema} of {database.describe()} with "
            "everything in it; run again with --yes to do it."
        )
    with database.connect_for_migrations() as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(database.schema)
            )
        )
        applied = apply_migrations(conn, database.schema)
    click.echo(
        f"{database.describe()}: schema {database.schema} dropped and created again "
        f"({len(applied)} migrations applied); it is empty"
    )


@db.command()
@_ENV_OPTION
def url(env: str | None) -> None:
    """Print a connection string for psql or a notebook (password redacted)."""
    database = _load_database(env)
    from daily_profit_model.db.connection import redact  # noqa: PLC0415

    click.echo(redact(database.conninfo))


@cli.group()
def sandbox() -> None:
    """The simulated firm behind the Risk Analytics API contract."""


@sandbox.command()
@click.option(
    "--port", type=int, default=8765, show_default=True, help="Port on 127.0.0.1."
)
@click.option(
    "--api-key",
    default=None,
    help="Key clients must send (default: sandbox.api_key in the environment's credentials).",
)
@_WORLD_PARAMS_OPTION
@click.option(
    "--until",
    default=None,
    help="Serve the world up to this day (YYYY-MM-DD; default: its last). "
    "POST {base}_sandbox/clock moves it on, as time passes for a live API.",
)
def serve(port: int, api_key: str | None, params: dict, until: str | None) -> None:
    """Serve the world the parameters describe on 127.0.0.1 (generated first if needed).

    It stands in for the vendor: point ``--env prod`` at it with DPM_API_BASE_URL and
    DPM_API_KEY. The world and its faults are the ``sandbox`` parameters'.
    """
    from daily_profit_model.sandbox.handle import published  # noqa: PLC0415
    from daily_profit_model.sandbox.server import serve as make_server  # noqa: PLC0415

    project_path = Path.cwd()
    bootstrap_project(project_path)
    with KedroSession.create(
        project_path=project_path, runtime_params=params
    ) as session:  # the sandbox lives in the base environment, whatever --env says
        context = session.load_context()
        session.run(pipeline_names=["sandbox"])
        credentials = read_credentials(context)
    world, faults = published(project_path / "data/01_raw/sandbox")
    key = api_key or (credentials.get("sandbox") or {}).get("api_key")
    if not key:
        raise click.ClickException(
            "No API key: pass --api-key KEY or set sandbox.api_key in "
            "conf/local/credentials.yml."
        )
    try:
        app = world.app(key, faults, serve_until=until)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    server = make_server(app, port=port)
    click.echo(
        f"Sandbox world {world.summary['fingerprint']} "
        f"({world.summary['first_day']} to {world.summary['last_day']}, serving up to "
        f"{app.serve_until}) at "
        f"http://127.0.0.1:{server.server_address[1]}/risk-analytics/tft/external/ "
        "(Ctrl-C to stop)",
        err=False,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@sandbox.command()
@_WORLD_PARAMS_OPTION
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=Path("data/08_reporting/sandbox_facts.json"),
    show_default=True,
    help="Where the facts go as JSON.",
)
def facts(params: dict, output: Path) -> None:
    """The stylized facts of the world the parameters describe (generated first if
    needed), measured from the tables it serves, against real-world ranges."""
    from daily_profit_model.sandbox import facts as stylized  # noqa: PLC0415
    from daily_profit_model.sandbox.handle import published  # noqa: PLC0415

    project_path = Path.cwd()
    bootstrap_project(project_path)
    with KedroSession.create(
        project_path=project_path, runtime_params=params
    ) as session:
        session.run(pipeline_names=["sandbox"])
    world, _ = published(project_path / "data/01_raw/sandbox")
    measured = stylized.measure(world.folder)
    click.echo(f"Sandbox world {world.folder.name} ({world.summary['config']})")
    click.echo(stylized.report(measured))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {"world": world.folder.name, "facts": stylized.as_json(measured)}, indent=1
        )
    )
    outside = [f.name for f in measured if not f.within]
    click.echo(
        f"{len(measured) - len(outside)}/{len(measured)} within their range"
        + (f"; outside: {', '.join(outside)}" if outside else "")
        + f"; written to {output}"
    )


def _session_context(env: str | None):
    """A session's context: hooks configure the database and MLflow; credentials."""
    project_path = Path.cwd()
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        return session.load_context()


_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def _registered_model(context: Any) -> str:
    """The registered model's name (``globals.yml``: ``registered_model``)."""
    name = str(context.config_loader["globals"].get("registered_model", ""))
    if not _MODEL_NAME.fullmatch(name):
        raise click.ClickException(
            f"globals.yml: registered_model {name!r} is not a model name "
            "(letters, digits, '_', '.', '-')"
        )
    return name


@cli.command()
@_ENV_OPTION
def health(env: str | None) -> None:
    """Report: database, API, newest data, champion model, last run, drift flags,
    degradation checks (rolling coverage and pinball, the books' traffic lights).

    Exits with status 1 when any check fails.
    """
    from daily_profit_model import ops  # noqa: PLC0415

    context = _session_context(env)
    checks = [ops.check_database()]
    if checks[0].ok:
        checks += [
            ops.check_api(context.catalog),
            ops.check_freshness(),
            ops.check_champion(_registered_model(context)),
            ops.check_last_run(),
            ops.check_drift(),
            ops.check_performance(),
        ]
    for check in checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name:<9} {check.detail}")
    failed = [c.name for c in checks if not c.ok]
    click.echo(
        f"health: {len(checks) - len(failed)}/{len(checks)} ok"
        + (f"; failing: {', '.join(failed)}" if failed else "")
    )
    if failed:
        raise SystemExit(1)


@cli.group()
def model() -> None:
    """The registered model (``globals.yml``: ``registered_model``): versions,
    aliases, promotion."""


@model.command(name="list")
@_ENV_OPTION
def list_models(env: str | None) -> None:
    """Registered versions with their aliases and test metrics."""
    import mlflow  # noqa: PLC0415
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    name = _registered_model(_session_context(env))
    client = mlflow.MlflowClient()
    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException:
        raise click.ClickException(
            f"No model {name} is registered yet: run `kedro run --pipelines training`"
        ) from None
    by_version: dict[int, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(int(version), []).append(alias)
    for version in client.search_model_versions(f"name = '{name}'"):
        metrics = client.get_run(version.run_id).data.metrics
        click.echo(
            f"v{version.version:<4} {','.join(by_version.get(int(version.version), [])):<28} "
            f"test_mae {metrics.get('test_mae', float('nan')):.2f}  "
            f"coverage {metrics.get('test_coverage_90', float('nan')):.3f}  run {version.run_id}"
        )


@model.command()
@_ENV_OPTION
@click.option(
    "--version", "version", type=int, required=True, help="Version to make champion."
)
@click.option(
    "--force",
    is_flag=True,
    help="Promote without significant evidence (needs --reason).",
)
@click.option("--reason", default=None, help="Why (required with --force).")
@click.option(
    "--significance", default=0.05, show_default=True, help="Diebold–Mariano level."
)
def promote(
    env: str | None, version: int, force: bool, reason: str | None, significance: float
) -> None:
    """Promote a challenger to champion when it is significantly better over the window.

    The evidence is the newest Diebold–Mariano comparison written by the daily
    pipeline's evaluation (table model_comparisons). Every promotion is recorded in
    table model_promotions and as an MLflow run.
    """
    from daily_profit_model import ops  # noqa: PLC0415

    name = _registered_model(_session_context(env))
    try:
        record = ops.promote(name, version, force, reason, significance)
    except (ops.PromotionRefusedError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"promoted: {json.dumps(record, default=str)}")

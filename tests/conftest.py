"""Shared fixtures: one embedded PostgreSQL for the test session, in a temporary folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

from daily_profit_model.db.connection import (  # noqa: E402
    Database,
    DatabaseSettings,
    configure_database,
    get_database,
)
from daily_profit_model.db.embedded import stop_embedded_server  # noqa: E402
from daily_profit_model.params import project_world  # noqa: E402
from daily_profit_model.sandbox.handle import SandboxWorld  # noqa: E402
from daily_profit_model.sandbox.world import WorldBuilder  # noqa: E402

PROJECT_PATH = Path(__file__).resolve().parents[1]


def copy_project(folder: Path) -> Path:
    """The project's configuration and notebooks in ``folder``, so that a test's
    ``kedro run`` writes its data there and not into the working copy's ``data/``."""
    import shutil  # noqa: PLC0415

    copy = folder / "project"
    copy.mkdir(parents=True)
    shutil.copy(PROJECT_PATH / "pyproject.toml", copy / "pyproject.toml")
    (copy / "src").mkdir()  # the package itself is installed in the environment

    def secrets(folder: str, names: list[str]) -> set[str]:
        # a developer's own credentials (git-ignored) stay out; conf/base's, which
        # only names environment variables, is part of the project
        return (
            {"credentials.yml"} & set(names) if Path(folder).name != "base" else set()
        )

    shutil.copytree(PROJECT_PATH / "conf", copy / "conf", ignore=secrets)
    shutil.copytree(PROJECT_PATH / "notebooks", copy / "notebooks")
    for layer in (PROJECT_PATH / "data").glob("[0-9][0-9]_*"):  # what a clone holds
        (copy / "data" / layer.name).mkdir(parents=True)
    shutil.copytree(PROJECT_PATH / "deploy", copy / "deploy")
    return copy


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project's configuration in the test's temporary folder."""
    return copy_project(tmp_path)


# A world and training windows small enough for a whole `kedro run` in a minute or two.
SMALL_RUN_PARAMS = {
    "sandbox": {"n_traders": 150, "n_days": 32, "oracle_scenarios": 20},
    "training": {
        "windows": {"test_days": 5, "calibration_days": 5, "validation_days": 4},
        "tuning": {"n_trials": 2},
    },
}


@pytest.fixture(scope="session")
def default_run(database, tmp_path_factory) -> dict:
    """The default ``kedro run`` (world → data → features → model → first morning) of a
    small world, once per test session, in a copy of the project.

    Returns:
        ``{"project": path, "heartbeats_before": n}``.
    """
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    with database.connect() as conn:
        before = conn.execute(
            "SELECT count(*) FROM prop_trading_model.ops_heartbeat"
        ).fetchone()[0]
    project = copy_project(tmp_path_factory.mktemp("default_run"))
    bootstrap_project(project)
    with KedroSession.create(
        project_path=project, runtime_params=SMALL_RUN_PARAMS
    ) as session:
        session.run()
    import mlflow  # noqa: PLC0415

    while mlflow.active_run():
        mlflow.end_run()
    return {"project": project, "heartbeats_before": before}


@pytest.fixture(scope="session")
def pgdata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The data directory of the session's embedded server; stopped at the end."""
    path = tmp_path_factory.mktemp("pg") / "postgres"
    os.environ["DPM_PGDATA"] = str(path)
    yield path
    stop_embedded_server(path)


@pytest.fixture(scope="session")
def database(pgdata: Path) -> Database:
    """The session's migrated embedded database, configured as the process default."""
    db = configure_database(DatabaseSettings(embedded_dir=pgdata))
    with db.connect() as conn:
        conn.execute("SELECT 1")
    return db


@pytest.fixture
def scratch_schema(database: Database) -> Iterator[str]:
    """An empty schema for one test's own tables, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with database.connect() as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    yield name
    with database.connect() as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture(autouse=True)
def _restore_default_database() -> Iterator[None]:
    """Kedro sessions reconfigure the process's database (and the environment that
    datasets' credentials resolve by); put both back after each test."""
    from daily_profit_model.db import connection  # noqa: PLC0415

    before = get_database()
    environment = dict(connection._environment)
    yield
    configure_database(before)
    connection._environment.update(environment)


@pytest.fixture(autouse=True)
def _no_mlflow_run_left_open() -> Iterator[None]:
    """End any MLflow run a test leaves active. kedro-mlflow's run of an in-process
    ``KedroSession`` stays active in that process (a ``kedro run`` process ends it when
    it exits), and MLflow refuses to start another run while one is active."""
    yield
    import mlflow  # noqa: PLC0415

    while mlflow.active_run():
        mlflow.end_run()


SMALL_WORLD = project_world(
    PROJECT_PATH, seed=11, n_traders=250, n_days=30, oracle_scenarios=150, chunk_days=10
)
API_KEY = "test-key"


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> SandboxWorld:
    folder = tmp_path_factory.mktemp("world") / SMALL_WORLD.fingerprint()
    WorldBuilder(SMALL_WORLD).build(folder)
    return SandboxWorld(folder)


@pytest.fixture(scope="session")
def tables(small_world):
    """The world's public tables as frames."""
    folder = small_world.folder
    return {
        name: pd.read_parquet(folder / name)
        for name in ("trades_closed", "trades_open", "metrics_daily")
    } | {"accounts": pd.read_parquet(folder / "accounts")}

"""The prod environment: any PostgreSQL by URL, over TCP with a password, no embedded server."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from daily_profit_model.db import get_database
from daily_profit_model.db.connection import (
    Database,
    DatabaseConfigError,
    DatabaseConnectionError,
    DatabaseSettings,
    redact,
    settings_from_config,
)
from daily_profit_model.hooks import read_credentials
from tests.pg_tcp import start_tcp_server, stop_tcp_server

PASSWORD = "s3cret-Pa55word"


@pytest.fixture(scope="module")
def tcp_server(tmp_path_factory):
    server = start_tcp_server(tmp_path_factory.mktemp("tcp") / "data", PASSWORD)
    yield server
    stop_tcp_server(server)


def test_kedro_run_in_prod_uses_the_url_and_no_embedded_server(
    tcp_server, tmp_path, monkeypatch, caplog, project_copy
):
    unused_embedded_dir = tmp_path / "must-not-exist"
    monkeypatch.setenv("DPM_PGDATA", str(unused_embedded_dir))
    monkeypatch.setenv("DPM_DATABASE_URL", tcp_server.url)
    bootstrap_project(project_copy)
    with caplog.at_level(logging.DEBUG):
        with KedroSession.create(project_path=project_copy, env="prod") as session:
            session.run(pipeline_names=["database_check"])

    assert get_database().settings.mode == "url"
    assert not unused_embedded_dir.exists()
    with psycopg.connect(tcp_server.url) as conn:
        heartbeats = conn.execute(
            "SELECT count(*) FROM prop_trading_model.ops_heartbeat"
        ).fetchone()[0]
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'prop_trading_model'"
        ).fetchone()[0]
    assert heartbeats == 1
    assert tables > 10
    assert PASSWORD not in caplog.text


def test_wrong_password_fails_clearly_without_leaking_it(tcp_server):
    url = tcp_server.url.replace(PASSWORD, "not-the-password")
    database = Database(DatabaseSettings(mode="url", url=url))
    with pytest.raises(DatabaseConnectionError) as info:
        database.connect()
    message = str(info.value)
    assert "password authentication failed" in message
    assert "127.0.0.1" in message
    assert "not-the-password" not in message


def test_url_comes_from_env_var_before_credentials(tmp_path):
    settings = settings_from_config(
        {"mode": "url", "sslmode": "require"},
        {"postgres": {"url": "postgresql://a:b@from-credentials/db"}},
        tmp_path,
        environ={"DPM_DATABASE_URL": "postgresql://c:d@from-env/db"},
    )
    assert "from-env" in settings.url and "sslmode=require" in settings.url


def test_url_from_credentials_parts(tmp_path):
    settings = settings_from_config(
        {"mode": "url"},
        {
            "postgres": {
                "host": "db",
                "port": 6543,
                "user": "u",
                "password": "p w",
                "dbname": "risk",
                "sslmode": "verify-full",
            }
        },
        tmp_path,
        environ={},
    )
    parts = psycopg.conninfo.conninfo_to_dict(settings.url)
    assert parts["password"] == "p w" and parts["sslmode"] == "verify-full"
    assert "p w" not in redact(settings.url)


def test_url_mode_without_a_url_says_where_to_put_one(tmp_path):
    with pytest.raises(DatabaseConfigError, match="DPM_DATABASE_URL"):
        settings_from_config({"mode": "url"}, {}, tmp_path, environ={})


def test_relative_embedded_dir_is_under_the_project(tmp_path):
    settings = settings_from_config(
        {"embedded_dir": "data/pg"}, {}, tmp_path, environ={}
    )
    assert settings.embedded_dir == tmp_path / "data/pg"
    assert isinstance(settings.embedded_dir, Path)


def test_prod_reads_conf_local_credentials_and_keeps_the_projects_globals(
    tcp_server, project_copy, monkeypatch
):
    """Secrets of `--env prod` may live in conf/local; reading them must not replace
    the configuration's globals (a second config loader would, process-wide)."""
    (project_copy / "conf/local/credentials.yml").write_text(
        f"postgres:\n  url: {tcp_server.url}\n"
    )
    monkeypatch.delenv("DPM_DATABASE_URL", raising=False)
    monkeypatch.setenv("DPM_PGDATA", str(project_copy / "unused"))
    bootstrap_project(project_copy)
    with KedroSession.create(project_path=project_copy, env="prod") as session:
        context = session.load_context()
        assert read_credentials(context)["postgres"]["url"] == tcp_server.url
        built = context.config_loader["catalog"]["feature_account_day@sql"]
    assert built["full_build_workers"] == 2
    assert get_database().settings.mode == "url"
    assert not (project_copy / "unused").exists()


SECRET = "Pw9xQz-S3CRET"


@pytest.mark.parametrize(
    "url",
    [
        f"dpm:{SECRET}@127.0.0.1:59999/risk",  # no scheme: psycopg quotes it whole
        "postgresql://dpm:Pw9 xQz-S3CRET@127.0.0.1:59999/risk",  # a space
        "postgresql://dpm:Pw9%zzxQz-S3CRET@127.0.0.1:59999/risk",  # a bad %-escape
        "postgresql://dpm:Pw9@xQz-S3CRET@127.0.0.1:59999/risk",  # an unencoded @
    ],
    ids=["no-scheme", "space", "bad-escape", "unencoded-at"],
)
def test_a_malformed_url_is_refused_without_a_piece_of_its_password(
    url, project_copy, monkeypatch, caplog
):
    from click.testing import CliRunner  # noqa: PLC0415

    from daily_profit_model.cli import cli  # noqa: PLC0415

    monkeypatch.setenv("DPM_DATABASE_URL", url)
    monkeypatch.chdir(project_copy)
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(cli, ["db", "status", "--env", "prod"])
    assert result.exit_code != 0
    error = result.exception
    assert isinstance(error, DatabaseConfigError), repr(error)
    text = f"{error}\n{error.__cause__}\n{error.__context__}\n{result.output}\n{caplog.text}"
    for piece in ("Pw9", "xQz", "S3CRET"):
        assert piece not in text
    assert "DPM_DATABASE_URL" in str(error) and "percent-encoded" in str(error)


def test_health_shows_the_api_url_without_its_user_and_password(monkeypatch):
    from kedro.io import DataCatalog  # noqa: PLC0415

    from daily_profit_model.datasets.risk_api import ApiSourceDataset  # noqa: PLC0415
    from daily_profit_model.ops import check_api  # noqa: PLC0415

    monkeypatch.setenv(
        "DPM_API_BASE_URL", f"http://risk-user:{SECRET}@127.0.0.1:9/risk-analytics/"
    )
    monkeypatch.setenv("DPM_API_KEY", "k")
    catalog = DataCatalog(
        {
            "api_source": ApiSourceDataset(
                source={"kind": "http"}, client={"max_retries": 0}
            )
        }
    )
    check = check_api(catalog)
    assert not check.ok
    assert SECRET not in check.detail and "risk-user:***@127.0.0.1:9" in check.detail


def test_with_migrations_a_deploy_step_an_unmigrated_schema_is_refused(
    tcp_server, tmp_path
):
    """apply_migrations: false (conf/prod may set it): runs refuse a schema behind the
    code, with the command that migrates it; `kedro db migrate` runs them."""
    settings = DatabaseSettings(
        mode="url", url=tcp_server.url, schema="deploy_step", apply_migrations=False
    )
    with pytest.raises(DatabaseConfigError, match="kedro db migrate"):
        Database(settings).connect()
    from daily_profit_model.db.migrations import apply_migrations  # noqa: PLC0415

    database = Database(settings)
    with database.connect_for_migrations() as conn:
        apply_migrations(conn, "deploy_step")
    with database.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_second_source_is_refused_with_both_named():
    import datetime as dt  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415

    from daily_profit_model.datasets.risk_api import SourceStatus  # noqa: PLC0415
    from daily_profit_model.pipelines.ingestion.nodes import (  # noqa: PLC0415
        SourceMismatchError,
        record_source,
    )

    now = dt.datetime(2025, 3, 4, 5, tzinfo=dt.UTC)
    first = SourceStatus("https://vendor.example/api/", now)
    recorded = record_source(first, pd.DataFrame(columns=["identity", "recorded_at"]))
    assert recorded["identity"].tolist() == [first.identity]
    stored = recorded.assign(recorded_at=pd.Timestamp(now))
    assert record_source(first, stored)["identity"].tolist() == [first.identity]
    with pytest.raises(SourceMismatchError) as info:
        record_source(SourceStatus("sandbox world abc123", now), stored)
    message = str(info.value)
    assert "filled from https://vendor.example/api/" in message
    assert "this run's source is sandbox world abc123" in message
    assert "kedro db reset --yes" in message


def test_a_dataset_talks_to_the_server_its_credentials_name(
    database, tcp_server, monkeypatch
):
    """A catalog entry's `credentials:` pick its server (resolved like database.yml:
    in `url` mode, the entry's URL); an entry naming the environment's own server, or
    none, is the process's database. The password appears in no description."""
    from daily_profit_model.datasets import PostgresTableDataset  # noqa: PLC0415
    from daily_profit_model.db import connection  # noqa: PLC0415

    monkeypatch.delenv("DPM_DATABASE_URL", raising=False)
    monkeypatch.setitem(
        connection._environment, "config", {"mode": "url", "schema": "dpm_creds"}
    )
    with psycopg.connect(tcp_server.url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS dpm_creds")
        conn.execute("CREATE TABLE IF NOT EXISTS dpm_creds.marker (served_by text)")
        conn.execute("INSERT INTO dpm_creds.marker VALUES ('tcp')")
    remote = PostgresTableDataset(
        table="marker", schema="dpm_creds", credentials={"url": tcp_server.url}
    )
    assert remote.load()["served_by"].tolist() == ["tcp"]
    assert remote.database is not get_database()
    assert remote.database is connection.database_for({"url": tcp_server.url})
    assert PASSWORD not in str(remote) and PASSWORD not in remote.database.describe()
    # no entry: the environment's database (the session's embedded server)
    assert PostgresTableDataset(table="marker").database is get_database()

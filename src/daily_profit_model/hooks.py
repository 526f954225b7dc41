"""Project hooks: configure the database for the Kedro environment in use."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from omegaconf import OmegaConf

from daily_profit_model.db.connection import (
    configure_database,
    credentials_given,
    remember_environment,
    settings_from_config,
)
from daily_profit_model.db.tracking import configure_mlflow_tracking

logger = logging.getLogger(__name__)

# The dataset type that makes an environment's source the sandbox (conf/base).
_SANDBOX_SOURCE = "daily_profit_model.datasets.sandbox_world.SandboxWorldDataset"
# What the environment of this process's Kedro context says its source is (set as the
# context is created, before Kedro reads the pipeline registry).
_source = {"sandbox": True}


def source_is_sandbox() -> bool:
    """Whether the environment's ``api_source`` is the sandbox (the default: base)."""
    return _source["sandbox"]


def read_credentials(context: Any) -> dict[str, Any]:
    """The run environment's credentials, then ``conf/local``'s for keys it lacks
    or leaves empty (``conf/base`` declares every key, with nulls where unset).

    Kedro reads ``conf/local`` only when no other environment is chosen; secrets for
    ``--env prod`` may still live there, as Kedro's docs advise for secrets.
    """
    try:
        credentials = dict(context.config_loader["credentials"])
    except MissingConfigException:
        credentials = {}
    if context.env not in (None, "local"):
        # Read the files, not through a second OmegaConfigLoader: creating one
        # re-registers the process-wide ``globals`` resolver on conf/local's globals,
        # and the run's catalog would then lose ``conf/base/globals.yml``.
        local = Path(context.project_path) / "conf" / "local"
        for path in sorted(local.rglob("credentials*.y*ml")):
            loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
            for key, value in (loaded or {}).items():
                if not credentials_given(credentials.get(key)):
                    credentials[key] = value
    return credentials


class DatabaseHooks:
    """Point the process's database at the environment's ``database.yml``."""

    # tryfirst: kedro-mlflow's own hook reads the tracking URI this one sets.
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        """Configure the environment's database, and MLflow's tracking store on it."""
        try:
            config = context.config_loader["database"].get("database", {})
        except MissingConfigException:
            config = {}
        catalog = context.config_loader["catalog"]
        _source["sandbox"] = (catalog.get("api_source") or {}).get(
            "type"
        ) == _SANDBOX_SOURCE
        settings = settings_from_config(
            config, read_credentials(context), Path(context.project_path)
        )
        database = configure_database(settings)
        remember_environment(config, Path(context.project_path))
        logger.info(
            "Database for env %r: %s", context.env or "local", database.describe()
        )
        configure_mlflow_tracking(database, config.get("mlflow_database", "mlflow"))

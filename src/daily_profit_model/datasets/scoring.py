"""Datasets of the morning job: the models to score with, and the run's identity.

- ``AliasedModelsDataset``: every version of a registered model under an alias: the
  ``champion`` (role ``champion``), ``challenger`` and any ``shadow*`` alias (role
  ``shadow``), loaded as pyfunc models.
- ``RunContextDataset``: the run's id (the active MLflow run's, else a fresh one) and
  the time scoring starts, so that node functions stay free of clocks and globals.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.exceptions import MlflowException

from daily_profit_model.datasets.tracking import CHALLENGER, CHAMPION

logger = logging.getLogger(__name__)

SHADOW_ALIASES = (CHALLENGER,)
SHADOW_PREFIX = "shadow"


@dataclass
class ScoringModel:
    """A registered model version that scores today.

    Attributes:
        alias: The alias it is loaded under.
        version: Its registry version.
        role: ``champion`` (what users see) or ``shadow``.
        model: The pyfunc model.
        reference: The metrics of the training run that registered it (its test
            window's coverage and pinball losses: what degradation is judged against).
    """

    alias: str
    version: int
    role: str
    model: Any
    reference: dict[str, float] = field(default_factory=dict)


class AliasedModelsDataset(AbstractDataset[None, list[ScoringModel]]):
    """The champion and every shadow version of a registered model.

    Args:
        model_name: The registered model.
    """

    def __init__(self, model_name: str, metadata: dict | None = None) -> None:
        self._model_name = model_name
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"model_name": self._model_name}

    def _reference(self, client: mlflow.MlflowClient, version: int) -> dict[str, float]:
        """The test-window metrics of the run that logged ``version`` (none if gone)."""
        run_id = client.get_model_version(self._model_name, str(version)).run_id
        try:
            return dict(client.get_run(run_id).data.metrics) if run_id else {}
        except MlflowException:
            return {}

    def load(self) -> list[ScoringModel]:
        """Load the aliased versions (each version once, under its first alias).

        Raises:
            DatasetError: The model is not registered or has no champion.
        """
        client = mlflow.MlflowClient()
        try:
            aliases = client.get_registered_model(self._model_name).aliases
        except MlflowException as exc:
            raise DatasetError(
                f"No registered model {self._model_name!r}: run "
                "`kedro run --pipelines training` first"
            ) from exc
        if CHAMPION not in aliases:
            raise DatasetError(f"{self._model_name} has no champion alias")
        chosen: dict[int, tuple[str, str]] = {}
        for alias in sorted(aliases, key=lambda a: (a != CHAMPION, a)):
            role = "champion" if alias == CHAMPION else "shadow"
            if alias != CHAMPION and not (
                alias in SHADOW_ALIASES or alias.startswith(SHADOW_PREFIX)
            ):
                continue
            chosen.setdefault(int(aliases[alias]), (alias, role))
        models = []
        for version, (alias, role) in chosen.items():
            model = mlflow.pyfunc.load_model(f"models:/{self._model_name}@{alias}")
            models.append(
                ScoringModel(
                    alias, version, role, model, self._reference(client, version)
                )
            )
            logger.info("Scoring with %s v%d (%s)", self._model_name, version, role)
        return models

    def save(self, data: None) -> None:
        raise DatasetError(
            "AliasedModelsDataset is read-only; training registers models"
        )


class RunContextDataset(AbstractDataset[None, dict[str, Any]]):
    """``{"run_id", "started_at"}`` of this run."""

    def __init__(self, metadata: dict | None = None) -> None:
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {}

    def load(self) -> dict[str, Any]:
        """The active MLflow run's id (or a new id) and the current UTC time."""
        run = mlflow.active_run()
        return {
            "run_id": run.info.run_id if run else uuid.uuid4().hex,
            "started_at": dt.datetime.now(dt.UTC),
        }

    def save(self, data: None) -> None:
        raise DatasetError("RunContextDataset is read-only")

"""Datasets of the tracking side: Optuna's study storage, the MLflow model registry,
and the sandbox's ground truth (for oracle comparisons).

- ``OptunaStorageDataset``: loads an Optuna storage on the ``optuna`` database of the
  project's PostgreSQL, so studies survive the process and can be resumed or inspected
  (``optuna-dashboard`` or ``optuna.load_study``).
- ``RegisteredModelDataset``: saving a :class:`ForecasterBundle` logs it as an MLflow
  pyfunc model in the active run (kedro-mlflow starts it), registers it and gives it
  the bundle's alias (which a node decided). Loading returns the pyfunc model under an
  alias.
- ``RegistryAliasesDataset``: the registered model's aliases, for that decision.
- ``SandboxTruthDataset``: a ground-truth table of the current sandbox world (empty when
  there is none, as against the real API).
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import AnyType, ColSpec, Schema

from daily_profit_model.db import database_for
from daily_profit_model.db.tracking import sqlalchemy_url
from daily_profit_model.sandbox.handle import published

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
_PYFUNC_FILE = Path(__file__).resolve().parents[1] / "training" / "pyfunc_model.py"
_RUNTIME_PACKAGES = ("mlflow", "lightgbm", "pandas", "numpy", "pyarrow", "scikit-learn")


class OptunaStorageDataset(AbstractDataset[None, optuna.storages.BaseStorage]):
    """An Optuna RDB storage on a database of the project's server.

    Args:
        database: Database name on the project's server (created on first use).
    """

    def __init__(
        self,
        database: str = "optuna",
        credentials: dict[str, Any] | None = None,
        metadata: dict | None = None,
    ) -> None:
        self._credentials = credentials
        self._database = database
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"database": self._database}

    def load(self) -> optuna.storages.BaseStorage:
        """The storage (its tables are created on first use)."""
        url = sqlalchemy_url(database_for(self._credentials), self._database)
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})

    def save(self, data: None) -> None:
        raise DatasetError("OptunaStorageDataset is read-only: studies write to it")


@dataclass
class ForecasterBundle:
    """What the registered model is made of.

    Attributes:
        boosters: LightGBM model text of ``point``, ``lower`` and ``upper``.
        spec: Features, categorical columns and conformal calibration.
        input_example: A few feature rows (the model's signature is inferred from them).
        output_example: The model's output on them.
        tags: Tags of the registered version (data fingerprint, windows).
        reference: Training rows and their forecasts (``_forecast``): drift's reference.
        alias: The alias the new version gets (decided by a node).
    """

    boosters: dict[str, str]
    spec: dict[str, Any]
    input_example: pd.DataFrame
    output_example: pd.DataFrame
    tags: dict[str, str]
    reference: pd.DataFrame
    alias: str = CHALLENGER


class RegistryAliasesDataset(AbstractDataset[None, dict[str, int]]):
    """The aliases of a registered model: ``{alias: version}`` (empty when the model is
    not registered yet).

    Args:
        model_name: The registered model.
    """

    def __init__(self, model_name: str, metadata: dict | None = None) -> None:
        self._model_name = model_name
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"model_name": self._model_name}

    def load(self) -> dict[str, int]:
        """Every alias of the model and its version."""
        try:
            model = mlflow.MlflowClient().get_registered_model(self._model_name)
        except MlflowException:
            return {}
        return {alias: int(version) for alias, version in model.aliases.items()}

    def save(self, data: None) -> None:
        raise DatasetError("RegistryAliasesDataset is read-only")


class RegisteredModelDataset(AbstractDataset[ForecasterBundle, Any]):
    """The ``daily_pnl`` pyfunc in MLflow's registry.

    Args:
        model_name: Registered model name.
        alias: Alias loaded by :meth:`load` (``champion`` by default).
    """

    def __init__(
        self,
        model_name: str,
        alias: str = CHAMPION,
        metadata: dict | None = None,
    ) -> None:
        self._model_name = model_name
        self._alias = alias
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"model_name": self._model_name, "alias": self._alias}

    def load(self) -> Any:
        """The pyfunc model under the alias.

        Raises:
            DatasetError: No version carries the alias (train a model first).
        """
        uri = f"models:/{self._model_name}@{self._alias}"
        try:
            return mlflow.pyfunc.load_model(uri)
        except MlflowException as exc:
            raise DatasetError(
                f"No model at {uri}: run `kedro run --pipelines training` first"
            ) from exc

    def save(self, data: ForecasterBundle) -> None:
        """Log the bundle as a pyfunc in the active run, register it and set its alias."""
        if mlflow.active_run() is None:
            raise DatasetError(
                "RegisteredModelDataset needs an active MLflow run (kedro-mlflow starts "
                "one for the training pipeline)"
            )
        with tempfile.TemporaryDirectory() as tmp:
            artifacts = {}
            for name, text in data.boosters.items():
                path = Path(tmp) / f"{name}.txt"
                path.write_text(text, encoding="utf-8")
                artifacts[name] = str(path)
            spec_path = Path(tmp) / "spec.json"
            spec_path.write_text(json.dumps(data.spec, indent=1), encoding="utf-8")
            artifacts["spec"] = str(spec_path)
            reference_path = Path(tmp) / "reference.parquet"
            data.reference.to_parquet(reference_path, index=False)
            artifacts["reference"] = str(reference_path)
            signature = _signature(data)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(_PYFUNC_FILE),
                artifacts=artifacts,
                signature=signature,
                input_example=data.input_example,
                # Inferring requirements costs ~10 s and can pull in the project.
                pip_requirements=[
                    f"{p}=={metadata.version(p)}" for p in _RUNTIME_PACKAGES
                ],
                registered_model_name=self._model_name,
            )
        version = str(info.registered_model_version)
        client = mlflow.MlflowClient()
        for key, value in data.tags.items():
            client.set_model_version_tag(self._model_name, version, key, value)
        alias = data.alias
        client.set_registered_model_alias(self._model_name, alias, version)
        mlflow.set_tag("registered_model", f"{self._model_name} v{version} @{alias}")
        logger.info("Registered %s version %s as %s", self._model_name, version, alias)


def _signature(data: ForecasterBundle) -> ModelSignature:
    """Every feature named and optional (a real day has NULLs anywhere). Numbers are
    typed ``any``: the feature table has integers, nullable integers and doubles, and
    the model casts them itself; MLflow's strict casts would refuse int → double."""
    categorical = set(data.spec["categorical"])
    inputs = Schema(
        [
            ColSpec("string" if c in categorical else AnyType(), c, required=False)
            for c in data.input_example.columns
        ]
    )
    inferred = infer_signature(
        data.input_example,
        data.output_example,
        params={"reasons": 0, "reasons_method": "treeshap"},
    )
    return ModelSignature(
        inputs=inputs, outputs=inferred.outputs, params=inferred.params
    )


class SandboxTruthDataset(AbstractDataset[None, pd.DataFrame]):
    """A ground-truth table (``oracle``) of the served sandbox world, or an empty frame.

    Args:
        path: The sandbox folder (the one ``SandboxWorldDataset`` writes); None where
            the source is the firm's API, which knows no truth (``conf/prod``).
        table: ``oracle``, ``traders`` or ``accounts``.
    """

    def __init__(
        self, path: str | None, table: str = "oracle", metadata: dict | None = None
    ) -> None:
        self._path = Path(path) if path else None
        self._table = table
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "table": self._table}

    def load(self) -> pd.DataFrame:
        """The table, or an empty frame when the source knows no truth."""
        found = published(self._path) if self._path else None
        if found is None:
            logger.info("No ground truth at this source: no oracle to compare with")
            return pd.DataFrame()
        world, _ = found
        try:
            return world.truth(self._table)
        except FileNotFoundError:
            # e.g. a world generated with oracle_scenarios: 0
            logger.warning(
                "Sandbox world %s has no %s table", world.folder.name, self._table
            )
            return pd.DataFrame()

    def save(self, data: None) -> None:
        raise DatasetError("SandboxTruthDataset is read-only")


class MlflowFiguresDataset(AbstractDataset[dict[str, Any], None]):
    """Flat ``{name: value}`` dicts logged to the active MLflow run, and kept as JSON.

    Args:
        filepath: Where the JSON copy goes (readable without MLflow).
        kind: ``metrics`` (numbers, ``mlflow.log_metrics``) or ``params``
            (``mlflow.log_params``; values longer than MLflow's limit are cut).
    """

    def __init__(
        self, filepath: str, kind: str = "metrics", metadata: dict | None = None
    ) -> None:
        if kind not in ("metrics", "params"):
            raise DatasetError(f"kind must be 'metrics' or 'params', not {kind!r}")
        self._filepath = Path(filepath)
        self._kind = kind
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "kind": self._kind}

    def load(self) -> dict[str, Any]:
        """The JSON copy of the last saved figures."""
        return json.loads(self._filepath.read_text(encoding="utf-8"))

    def save(self, data: dict[str, Any]) -> None:
        """Write the JSON copy; log to MLflow when a run is active."""
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        self._filepath.write_text(
            json.dumps(data, indent=1, default=str), encoding="utf-8"
        )
        if mlflow.active_run() is None:
            logger.warning(
                "No active MLflow run: %s kept in %s only", self._kind, self._filepath
            )
            return
        if self._kind == "metrics":
            mlflow.log_metrics({k: float(v) for k, v in data.items()})
        else:
            mlflow.log_params({k: str(v)[:6000] for k, v in data.items()})

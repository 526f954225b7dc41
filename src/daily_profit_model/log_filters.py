"""Logging filters named in ``conf/logging.yml``."""

from __future__ import annotations

import logging

# Third-party warnings known to be harmless here, shown on every run otherwise:
# Kedro's config loader and kedro-mlflow register their resolvers through an OmegaConf
# call OmegaConf now calls deprecated; MLflow asks kedro-mlflow's own PythonModel
# (KedroPipelineModel, unused by this project) for type hints when it is imported.
KNOWN_HARMLESS = (
    "register_new_resolver() is deprecated",
    "Add type hints to the `predict` method",
)


class KnownWarnings(logging.Filter):
    """Drops the ``py.warnings`` records of :data:`KNOWN_HARMLESS`; keeps any other."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(known in message for known in KNOWN_HARMLESS)

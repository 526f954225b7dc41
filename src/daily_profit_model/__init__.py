"""daily-profit-model: next-day P&L forecasts with honest intervals for every live
prop-trading account, as a Kedro project on PostgreSQL, parquet and MLflow."""

import logging

__version__ = "0.1"


class _KnownHarmlessWarnings(logging.Filter):
    """Drop warnings that are known and harmless on every command.

    kedro-mlflow's ``KedroPipelineModel`` (which this project does not use) defines
    ``predict`` without type hints, and MLflow 3 warns when the class is defined.
    A ``warnings`` filter cannot hold it: MLflow raises it inside its own
    ``catch_warnings`` with a "once" filter in front of every other. So warnings go
    to the ``py.warnings`` logger (one log line each, in the run's log format) and
    the filter sits on that logger. It is set here because Kedro imports this package
    while bootstrapping the project, before it loads kedro-mlflow's commands
    (conf/logging.yml cannot declare it: Kedro refuses the ``()`` key of filters).
    """

    _KNOWN = ("Add type hints to the `predict` method",)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(known in text for known in self._KNOWN)


logging.captureWarnings(True)
logging.getLogger("py.warnings").addFilter(_KnownHarmlessWarnings())

"""Known harmless third-party warnings stay out of the log; every other one shows."""

from __future__ import annotations

import logging
import logging.config

import yaml

from daily_profit_model.log_filters import KnownWarnings
from tests.conftest import PROJECT_PATH


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord(
        "py.warnings", logging.WARNING, __file__, 1, message, (), None
    )


def test_known_warnings_are_dropped_and_others_kept():
    known = KnownWarnings()
    assert not known.filter(
        _record("x.py:1: UserWarning: register_new_resolver() is deprecated")
    )
    assert not known.filter(_record("\x1b[33mAdd type hints to the `predict` method"))
    assert known.filter(_record("x.py:1: UserWarning: something new"))


def test_the_projects_logging_config_filters_python_warnings(caplog):
    config = yaml.safe_load((PROJECT_PATH / "conf/logging.yml").read_text())
    config["handlers"] = {}  # only the loggers and filters matter here
    del config["root"]  # caplog's handler sits on the root logger
    logging.config.dictConfig(config)
    # what logging.captureWarnings does with a warning: one record on py.warnings
    python_warnings = logging.getLogger("py.warnings")
    try:
        with caplog.at_level(logging.WARNING):
            python_warnings.warning(
                "x.py:1: UserWarning: register_new_resolver() is deprecated"
            )
            python_warnings.warning("x.py:2: UserWarning: a warning nobody has seen")
    finally:
        python_warnings.filters.clear()
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "nobody has seen" in messages
    assert "register_new_resolver" not in messages

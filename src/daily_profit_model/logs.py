"""Every log record carries the run id (the same id as ``pipeline_run_log.run_id``).

The JSON log format (``conf/logging_json.yml``, python-json-logger's formatter) writes
it as a field; the plain format can name it as ``%(run_id)s``. Kedro allows only
``logging`` and ``kedro.logging`` classes in a logging file unless a module is
allowlisted, so the id is added by a record factory rather than by a custom
formatter class.
"""

from __future__ import annotations

import logging

_run: dict[str, str | None] = {"id": None}
_make_record = logging.getLogRecordFactory()


def set_run_id(run_id: str | None) -> None:
    """Tag every following log record with ``run_id`` (set by the run-log hook)."""
    _run["id"] = run_id


def _record_with_run_id(*args, **kwargs) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    record.run_id = _run["id"]
    return record


logging.setLogRecordFactory(_record_with_run_id)

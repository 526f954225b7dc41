"""Run monitoring: every pipeline and node run in ``pipeline_run_log``, with SLA breaches.

``RunLogHooks`` records a row when a pipeline starts (status ``running``), one row per
node when it ends (``success`` or ``failed``, duration, rows in and out, the error's
text, the process's resident memory then and its peak so far), and closes the pipeline's row with its status and duration. SLA thresholds come
from ``parameters_monitoring.yml``:

- ``max_pipeline_duration_s`` / ``max_node_duration_s``: slower runs are breaches;
- ``max_data_age_days``: the newest completely ingested day must be at most this many
  days older than ``as_of`` (today when null); checked at the end of every run.

Breaches go to the row's ``sla_breaches`` and to the log as warnings. A database
problem while logging is itself logged, never allowed to fail the run it describes.
"""

from __future__ import annotations

import datetime as dt
import logging
import resource
import socket
import time
from typing import Any

import pandas as pd
import psutil
import psycopg
from kedro.framework.hooks import hook_impl
from psycopg import sql

from daily_profit_model.db import get_database
from daily_profit_model.db.connection import DatabaseConnectionError
from daily_profit_model.logs import set_run_id
from daily_profit_model.params import MonitoringParams, SlaParams
from daily_profit_model.redaction import redact_url

logger = logging.getLogger(__name__)

_ERROR_CHARS = 4000


def _rows(values: dict[str, Any]) -> int | None:
    counted = [len(v) for v in values.values() if isinstance(v, pd.DataFrame)]
    return sum(counted) if counted else None


def _memory_mib() -> tuple[int, int]:
    """This process's resident set now and its peak so far (Linux: ru_maxrss in KiB)."""
    rss = psutil.Process().memory_info().rss // 2**20
    return rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class RunLogHooks:
    """Record pipeline and node runs, and SLA breaches, in ``pipeline_run_log``."""

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._pipeline: str | None = None
        self._started: dict[str, tuple[float, dt.datetime]] = {}
        self._sla: SlaParams | None = None
        # A node's outputs are saved after after_node_run (a SQL build runs in its
        # save): its row is written once its last output is saved.
        self._pending: dict[str, dict[str, Any]] = {}

    def _execute(self, statement: sql.Composable, params: list[Any]) -> None:
        database = get_database()
        try:
            with database.connect() as conn:
                conn.execute(
                    statement.format(
                        table=sql.Identifier(database.schema, "pipeline_run_log")
                    ),
                    params,
                )
        except (psycopg.Error, DatabaseConnectionError) as exc:
            logger.error("Could not write the run log: %s", exc)

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline, catalog
    ) -> None:
        """Open the pipeline's row."""
        self._run_id = str(run_params.get("run_id") or run_params.get("session_id"))
        set_run_id(self._run_id)
        self._pipeline = ",".join(run_params.get("pipeline_names") or []) or str(
            run_params.get("pipeline_name") or "__default__"
        )
        params = run_params.get("runtime_params") or {}
        # A bad setting fails the run here, with its key: a typo must not mean "no SLA".
        self._sla = MonitoringParams.model_validate(
            catalog.load("params:monitoring")
        ).sla
        self._started["__pipeline__"] = (time.perf_counter(), dt.datetime.now(dt.UTC))
        close_dead_runs()
        process = psutil.Process()
        self._execute(
            sql.SQL(
                "INSERT INTO {table} (run_id, pipeline, node, status, started_at, host, "
                "pid, process_started_at) VALUES (%s, %s, NULL, 'running', %s, %s, %s, "
                "to_timestamp(%s))"
            ),
            [
                self._run_id,
                self._pipeline,
                self._started["__pipeline__"][1],
                socket.gethostname(),
                process.pid,
                process.create_time(),
            ],
        )
        logger.debug("Run %s of %s with %s", self._run_id, self._pipeline, params)

    @hook_impl
    def before_node_run(self, node) -> None:
        """Start the node's clock."""
        self._started[node.name] = (time.perf_counter(), dt.datetime.now(dt.UTC))

    def _node_row(
        self,
        node,
        rows_in: int | None,
        rows_out: int | None,
        status: str,
        error: str | None,
    ) -> None:
        clock, started = self._started.pop(
            node.name, (time.perf_counter(), dt.datetime.now(dt.UTC))
        )
        duration = time.perf_counter() - clock
        breaches = []
        limit = self._sla.max_node_duration_s if self._sla else None
        if limit is not None and duration > float(limit):
            breaches.append(f"node duration {duration:.0f} s > {limit} s")
            logger.warning(
                "SLA breach: %s took %.0f s (limit %s s)", node.name, duration, limit
            )
        rss, peak = _memory_mib()
        logger.info(
            "Node %s: %.1f s, RSS %d MiB, process peak so far %d MiB",
            node.name,
            duration,
            rss,
            peak,
        )
        self._execute(
            sql.SQL(
                "INSERT INTO {table} (run_id, pipeline, node, status, started_at, "
                "finished_at, duration_s, rows_in, rows_out, error, sla_breaches, "
                "rss_mib, peak_rss_mib) "
                "VALUES (%s, %s, %s, %s, %s, now(), %s, %s, %s, %s, %s, %s, %s)"
            ),
            [
                self._run_id,
                self._pipeline,
                node.name,
                status,
                started,
                duration,
                rows_in,
                rows_out,
                error,
                breaches or None,
                rss,
                peak,
            ],
        )

    @hook_impl
    def after_node_run(self, node, inputs: dict, outputs: dict) -> None:
        """Note a finished node; its row is written when its outputs are saved."""
        pending = {
            "node": node,
            "rows_in": _rows(inputs or {}),
            "rows_out": _rows(outputs or {}),
            "unsaved": set(node.outputs),
        }
        if pending["unsaved"]:
            self._pending[node.name] = pending
        else:
            self._node_row(
                node, pending["rows_in"], pending["rows_out"], "success", None
            )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node) -> None:
        """Write a node's row (duration up to its last save) once its outputs are saved."""
        pending = self._pending.get(node.name) if node is not None else None
        if pending is None:
            return
        pending["unsaved"].discard(dataset_name)
        if not pending["unsaved"]:
            del self._pending[node.name]
            self._node_row(
                node, pending["rows_in"], pending["rows_out"], "success", None
            )

    @hook_impl
    def on_node_error(self, error: Exception, node, inputs: dict) -> None:
        """Record a failed node with its error."""
        self._node_row(
            node,
            _rows(inputs or {}),
            None,
            "failed",
            f"{type(error).__name__}: {error}"[:_ERROR_CHARS],
        )

    def _close(self, status: str, error: str | None) -> None:
        clock, _ = self._started.pop("__pipeline__", (time.perf_counter(), None))
        duration = time.perf_counter() - clock
        breaches = self._pipeline_breaches(duration)
        self._execute(
            sql.SQL(
                "UPDATE {table} SET status = %s, finished_at = now(), duration_s = %s, "
                "error = %s, sla_breaches = %s "
                "WHERE run_id = %s AND node IS NULL AND status = 'running'"
            ),
            [status, duration, error, breaches or None, self._run_id],
        )
        logger.info(
            "Run %s (%s) %s in %.1f s%s",
            self._run_id,
            self._pipeline,
            status,
            duration,
            f"; SLA breaches: {'; '.join(breaches)}" if breaches else "",
        )

    def _pipeline_breaches(self, duration: float) -> list[str]:
        breaches = []
        if self._sla is None:  # the run failed before its settings were read
            return []
        limit = self._sla.max_pipeline_duration_s
        if limit is not None and duration > float(limit):
            breaches.append(f"pipeline duration {duration:.0f} s > {limit} s")
        max_age = self._sla.max_data_age_days
        if max_age is not None:
            newest = newest_complete_day()
            as_of = self._sla.as_of or dt.date.today()
            if newest is None or (as_of - newest).days > int(max_age):
                breaches.append(
                    f"newest complete data day {newest} is older than {max_age} days before {as_of}"
                )
        for breach in breaches:
            logger.warning("SLA breach: %s", breach)
        return breaches

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Close the pipeline's row as a success."""
        self._close("success", None)

    @hook_impl
    def on_pipeline_error(self, error: Exception, catalog) -> None:
        """Close the pipeline's row as failed, with the error (and a node whose outputs
        failed to save, with the same error); alert through the catalog's ``alerts``."""
        text = f"{type(error).__name__}: {error}"[:_ERROR_CHARS]
        for name in list(self._pending):
            pending = self._pending.pop(name)
            self._node_row(pending["node"], pending["rows_in"], None, "failed", text)
        self._close("failed", text)
        self._alert_failure(catalog, text)

    def _alert_failure(self, catalog, text: str) -> None:
        """A failed run is an alert (never allowed to hide the run's own error)."""
        if catalog is None or "alerts" not in catalog:
            return
        alert = {
            "project": "daily-profit-model",
            "check": "failed_run",
            "status": "failed",
            "run_id": self._run_id,
            "pipeline": self._pipeline,
            "detail": redact_url(text[:500]),
        }
        try:
            catalog.save("alerts", [alert])
        except Exception as exc:  # noqa: BLE001 - the run's error is the one raised
            logger.error("Could not send the failed-run alert: %s", exc)


def close_dead_runs() -> int:
    """Close as ``killed`` the runs of this host still ``running`` whose process is gone.

    A process is the same when its pid exists and it started when the run's did (a
    reused pid is another process). Runs of other hosts cannot be checked from here
    and are left alone.

    Returns:
        How many runs were closed.
    """
    database = get_database()
    table = sql.Identifier(database.schema, "pipeline_run_log")
    host = socket.gethostname()
    try:
        with database.connect() as conn:
            running = conn.execute(
                sql.SQL(
                    "SELECT log_id, run_id, pid, extract(epoch FROM process_started_at) "
                    "FROM {} WHERE status = 'running' AND node IS NULL AND host = %s"
                ).format(table),
                [host],
            ).fetchall()
            dead = [
                (log_id, run_id, pid)
                for log_id, run_id, pid, started in running
                if not _alive(pid, started)
            ]
            for log_id, run_id, pid in dead:
                conn.execute(
                    sql.SQL(
                        "UPDATE {} SET status = 'killed', finished_at = now(), "
                        "error = %s WHERE log_id = %s"
                    ).format(table),
                    [
                        f"the process (pid {pid} on {host}) ended without closing its "
                        "run (killed, or the machine stopped); found at a later start",
                        log_id,
                    ],
                )
                logger.warning(
                    "Run %s (pid %s on %s) ended without closing: marked killed",
                    run_id,
                    pid,
                    host,
                )
    except (psycopg.Error, DatabaseConnectionError) as exc:
        logger.error("Could not check the run log for dead runs: %s", exc)
        return 0
    return len(dead)


def _alive(pid: int | None, started_epoch: float | None) -> bool:
    if pid is None:
        return False
    try:
        process = psutil.Process(pid)
        created = process.create_time()
    except psutil.Error:
        return False
    # the same process if it was created when the run recorded it (a second's slack)
    return started_epoch is None or abs(created - float(started_epoch)) < 1.0


def newest_complete_day() -> dt.date | None:
    """The newest day every daily endpoint loaded completely (None: nothing loaded)."""
    database = get_database()
    with database.connect() as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT min(newest) FROM (SELECT endpoint, max(day) AS newest FROM {} "
                "WHERE status IN ('complete', 'provisional') AND endpoint LIKE 'v2/%%' "
                "AND endpoint <> 'v2/metrics/alltime' GROUP BY endpoint) AS e"
            ).format(sql.Identifier(database.schema, "ingestion_state"))
        ).fetchone()
    return row[0] if row else None

"""``RiskApiDataset``: the Risk Analytics API as a Kedro dataset.

Saving an :class:`~daily_profit_model.ingestion.requests.IngestionPlan` records what to
fetch; loading returns a lazy iterator of :class:`ApiDay`, one per endpoint and day,
fetched as the iterator is consumed (so a long backfill holds one day in memory and
commits day by day downstream).

The plan's ``source`` says where requests go:

- ``{"kind": "sandbox", "folder": ..., "faults": {...}}``: the sandbox world in that
  folder, in-process (no port), with its own one-off API key;
- ``{"kind": "http"}``: the real API at ``credentials.base_url`` with
  ``credentials.api_key`` (``risk_api`` in the environment's credentials).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from kedro.io import AbstractDataset, DatasetError

from daily_profit_model.contract import ENDPOINTS
from daily_profit_model.ingestion.client import ClientSettings, RiskApiClient
from daily_profit_model.ingestion.requests import FetchRequest, IngestionPlan
from daily_profit_model.sandbox.faults import FaultSettings
from daily_profit_model.sandbox.handle import BASE_PATH, SandboxWorld

logger = logging.getLogger(__name__)

_REGIME_KEY = ("date",)


@dataclass
class ApiDay:
    """What one endpoint returned for one day (or for the run's snapshot)."""

    endpoint: str
    day: dt.date
    rows: list[dict[str, Any]]
    source_total: int
    duplicates: int
    pages: int
    requests: int
    seconds: float
    run_id: str
    unchanged: bool = False  # a re-check found the stored count right: nothing to load
    in_horizon: bool = False  # inside the late-data horizon: loaded, not verified


def wire_key(endpoint: str) -> tuple[str, ...]:
    """The wire names of an endpoint's natural key."""
    if endpoint == "v2/regimes/daily":
        return _REGIME_KEY
    spec = ENDPOINTS[endpoint]
    by_column = {f.column: f.wire for f in spec.fields}
    return tuple(by_column[c] for c in spec.key)


def _params(request: FetchRequest) -> dict[str, str]:
    day = request.day.strftime("%Y%m%d")
    if request.endpoint.startswith("v2/trades"):
        return {"trade-date": day}
    if request.endpoint in ("accounts", "v2/metrics/alltime"):
        return {}
    return {"dates": day}


class RiskApiDataset(AbstractDataset[IngestionPlan, Iterator[ApiDay]]):
    """Fetches a saved plan from the API (or the sandbox) when loaded.

    Args:
        client: :class:`ClientSettings` fields other than ``base_url`` (timeouts,
            retries, rate limit, circuit breaker, concurrency, page size), and
            ``prefetch_days``: endpoint-days downloaded ahead while the current one is
            stored (default 1; 0 fetches strictly one at a time).
        credentials: ``base_url`` and ``api_key`` of the real API (``http`` sources).
    """

    def __init__(
        self,
        client: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._client_args = dict(client or {})
        self._prefetch = int(self._client_args.pop("prefetch_days", 1))
        self._credentials = dict(credentials or {})
        self.metadata = metadata
        self._plan: IngestionPlan | None = None

    def _describe(self) -> dict[str, Any]:
        # Never the credentials: they hold the API key.
        return {"client": self._client_args}

    def save(self, data: IngestionPlan) -> None:
        """Remember the plan to fetch."""
        self._plan = data

    def load(self) -> Iterator[ApiDay]:
        """Fetch the saved plan, one endpoint and day at a time."""
        if self._plan is None:
            raise DatasetError("RiskApiDataset: no plan was saved before loading.")
        return prefetched(self._fetch(self._plan), self._prefetch)

    def _client(self, source: dict[str, Any]) -> RiskApiClient:
        kind = source.get("kind")
        if kind == "sandbox":
            key = secrets.token_hex(16)
            world = SandboxWorld(Path(source["folder"]))
            faults = FaultSettings(**(source.get("faults") or {}))
            transport = httpx.WSGITransport(app=world.app(key, faults))
            settings = ClientSettings(
                base_url=f"http://sandbox{BASE_PATH}", **self._client_args
            )
            return RiskApiClient(settings, key, transport=transport)
        if kind == "http":
            missing = [
                k for k in ("base_url", "api_key") if not self._credentials.get(k)
            ]
            if missing:
                raise DatasetError(
                    f"The risk_api credentials lack {', '.join(missing)}: set them in "
                    f"conf/<env>/credentials.yml (see conf/local/credentials.yml.example)."
                )
            settings = ClientSettings(
                base_url=self._credentials["base_url"], **self._client_args
            )
            return RiskApiClient(settings, self._credentials["api_key"])
        raise DatasetError(
            f"Unknown API source kind {kind!r}; use 'sandbox' or 'http'."
        )

    def _fetch(self, plan: IngestionPlan) -> Iterator[ApiDay]:
        with self._client(plan.source) as client:
            for request in plan.requests:
                yield _fetch_one(client, request, plan.run_id)


def _fetch_one(client: RiskApiClient, request: FetchRequest, run_id: str) -> ApiDay:
    """Fetch one endpoint-day (or only check its total, when it was stored before)."""
    started = time.perf_counter()
    params = _params(request)
    if request.stored_count is not None:
        check = client.get(
            request.endpoint, {**params, "limit": 1, "skip": 0, "include-total": 1}
        )
        if int(check.get("total", -1)) == request.stored_count:
            return ApiDay(
                request.endpoint,
                request.day,
                [],
                request.stored_count,
                0,
                1,
                1,
                time.perf_counter() - started,
                run_id,
                unchanged=True,
                in_horizon=request.in_horizon,
            )
        logger.info(
            "%s %s: the source has %s rows, %d stored: fetching again",
            request.endpoint,
            request.day,
            check.get("total"),
            request.stored_count,
        )
    key = wire_key(request.endpoint)
    if request.endpoint == "accounts":
        result = client.fetch_list(request.endpoint, params, key)
    else:
        result = client.fetch_all(request.endpoint, params, key)
    return ApiDay(
        endpoint=request.endpoint,
        day=request.day,
        rows=result.rows,
        source_total=result.source_total,
        duplicates=result.duplicates,
        pages=result.pages,
        requests=result.requests,
        seconds=time.perf_counter() - started,
        run_id=run_id,
        in_horizon=request.in_horizon,
    )


def prefetched(items: Iterator[ApiDay], depth: int) -> Iterator[ApiDay]:
    """Run ``items`` in a background thread, ``depth`` items ahead of the consumer.

    The next day downloads while the current one is validated and stored. An error in
    the producer is raised in the consumer; a consumer that stops early stops it.
    """
    if depth < 1:
        yield from items
        return
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            buffer.put(exc)

    producer = threading.Thread(target=produce, name="api-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item = buffer.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join(timeout=30)

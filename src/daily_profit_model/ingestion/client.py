"""The Risk Analytics API client (httpx): retries, rate limit, circuit breaker, paging.

What it guarantees to its caller:

- every request sends ``apiKey``; the key never appears in a log line or an error;
- HTTP 429, 5xx, timeouts, cut connections, truncated bodies and ``Status`` other than
  ``ok`` are retried with exponential backoff and full jitter, honouring
  ``Retry-After``; other 4xx fail at once with the server's message;
- requests are spaced by a client-side rate limit shared by all threads;
- after ``circuit_failures`` failed attempts in a row the circuit opens: no further
  request is sent and the run fails with :class:`CircuitOpenError`;
- :meth:`RiskApiClient.fetch_all` returns each source row exactly once even when rows
  repeat across pages or arrive while paging (``total`` grows): pages are read until
  the client holds ``total`` distinct keys and a final check finds nothing new.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import operator
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import numpy as np
import orjson
import pyarrow as pa

from daily_profit_model.db.frames import distinct_count
from daily_profit_model.ingestion.transport import api_transport
from daily_profit_model.ingestion.wire import PageDecoder, TypedPage
from daily_profit_model.redaction import redact_url

logger = logging.getLogger(__name__)

_RETRY_STATUSES = {429, 500, 502, 503, 504}
# How _attempt names a request that got no HTTP answer at all.
_TRANSPORT_PROBLEMS = {
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "RemoteProtocolError",
    "ReadError",
    "WriteError",
    "ConnectionError",
}


def retry_after_seconds(header: str | None, now: dt.datetime | None = None) -> float:
    """Seconds a ``Retry-After`` header asks to wait: delay-seconds or an HTTP date
    (RFC 9110); 0 when absent or unreadable."""
    if not header:
        return 0.0
    text = header.strip()
    if text.replace(".", "", 1).isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - (now or dt.datetime.now(dt.UTC))).total_seconds(), 0.0)


class ApiError(RuntimeError):
    """A request to the Risk Analytics API failed for good."""


class CircuitOpenError(ApiError):
    """Too many consecutive failures: the client stopped calling the API."""


class IncompletePageError(ApiError):
    """The server kept answering with fewer rows than it said it had."""


@dataclass(frozen=True)
class ClientSettings:
    """How the client talks to the API (``ingestion.client`` in the parameters)."""

    base_url: str = field(repr=False)  # may carry a user and password
    timeout_s: float = 10.0
    max_retries: int = 8
    backoff_base_s: float = 0.05
    backoff_max_s: float = 5.0
    rate_limit_per_s: float = 50.0
    circuit_failures: int = 25
    concurrency: int = 4
    page_size: int = 1000


@dataclass
class FetchResult:
    """Rows of one query, each source row once, and what paging ran into.

    ``rows`` is a table of wire columns when every page was clean and typed by a
    :class:`PageDecoder`, else the wire rows as dicts.
    """

    rows: list[dict[str, Any]] | pa.Table
    source_total: int
    pages: int = 0
    duplicates: int = 0
    requests: int = 0
    retries: int = 0
    server_time: dt.datetime | None = None  # the envelope's Time of the first page
    keys_unique: bool = False  # counted on a table: no key came back twice


def _envelope_time(envelope: dict, response: httpx.Response) -> dt.datetime | None:
    """The server's clock: the envelope's ``Time``, else the HTTP ``Date`` header."""
    text = envelope.get("Time")
    if isinstance(text, str):
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    header = response.headers.get("Date")
    if header:
        try:
            return parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
    return None


def _hashable(value: Any) -> Any:
    """A key value usable in a dict key (junk rows may carry lists or objects)."""
    return (
        json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
    )


class _RowSet:
    """Rows gathered across pages: each distinct row once, every version of a key kept.

    Two versions under one key (changed at the source while paging, or junk) are both
    kept, in arrival order, for validation to decide; the same row again counts as a
    duplicate. Rows without a complete key are kept apart for validation to reject.

    Typed pages (tables of wire columns) stay tables, their keys counted by Arrow; a
    page of dicts among them turns everything gathered into dicts.
    """

    def __init__(self, key: Sequence[str]) -> None:
        self._key = tuple(key)
        self._versions: dict[tuple, list[dict]] = {}
        self._keyless: list[dict] = []
        self._tables: list[pa.Table] = []
        self._table: pa.Table | None = None  # the tables concatenated, once asked
        self._distinct: int | None = None  # their distinct keys, once counted
        self._dicts = False  # a page of dicts arrived: everything is dicts
        self.duplicates = 0

    def _key_of(self, row: dict) -> tuple:
        """A row's key, however odd its values (missing ones are None)."""
        return tuple(_hashable(row.get(k)) for k in self._key)

    def _keys(self, rows: Sequence[dict]) -> list[tuple]:
        if len(self._key) > 1:
            try:  # the common case: every row has every key field
                return list(map(operator.itemgetter(*self._key), rows))
            except KeyError:
                pass
        return [self._key_of(row) for row in rows]

    def add(self, rows: Sequence[dict] | pa.Table) -> None:
        """Gather one page's rows."""
        if isinstance(rows, pa.Table) and not self._dicts:
            if rows.num_rows:
                self._tables.append(rows)
                self._table = self._distinct = None
            return
        if not self._dicts:
            self._dicts = True
            tables, self._tables, self._table = self._tables, [], None
            for table in tables:
                self._add_dicts(table.to_pylist())
        self._add_dicts(rows.to_pylist() if isinstance(rows, pa.Table) else rows)

    def _add_dicts(self, rows: Sequence[dict]) -> None:
        versions_by_key = self._versions
        for found, row in zip(self._keys(rows), rows, strict=True):
            if None in found:
                self._keyless.append(row)
                continue
            try:
                hash(found)
                row_key = found
            except TypeError:  # a list or an object where a key value should be
                row_key = self._key_of(row)
            versions = versions_by_key.get(row_key)
            if versions is None:
                versions_by_key[row_key] = [row]
            elif row in versions:
                self.duplicates += 1
            else:
                versions.append(row)

    def _gathered(self) -> pa.Table:
        if self._table is None:
            self._table = pa.concat_tables(self._tables)
            self._tables = [self._table]
        return self._table

    @property
    def distinct_keys(self) -> int:
        if not self._tables:
            return len(self._versions)
        if self._distinct is None:  # counted once per page gathered, not per question
            self._distinct = distinct_count(self._gathered(), self._key)
        return self._distinct

    def rows(self) -> list[dict] | pa.Table:
        """Every distinct row gathered; repeats are counted in ``duplicates``."""
        if self._dicts or not self._tables:
            return [
                row for versions in self._versions.values() for row in versions
            ] + self._keyless
        table = self._gathered()
        if self.distinct_keys == table.num_rows:
            return table
        # A key seen more than once (rare): drop later exact copies, keep other versions.
        order = pa.array(np.arange(table.num_rows))
        groups = (
            table.select(list(self._key))
            .append_column("_row", order)
            .group_by(list(self._key), use_threads=False)
            .aggregate([("_row", "list")])
        )
        repeated = [rows for rows in groups["_row_list"].to_pylist() if len(rows) > 1]
        dropped: set[int] = set()
        for positions in repeated:
            kept: list[dict] = []
            for position, row in zip(
                positions, table.take(positions).to_pylist(), strict=True
            ):
                if row in kept:
                    dropped.add(position)
                else:
                    kept.append(row)
        self.duplicates += len(dropped)
        keep = np.ones(table.num_rows, dtype=bool)
        keep[list(dropped)] = False
        # kept as what was gathered: asking again finds no copies to count twice
        self._table = table.filter(pa.array(keep))
        self._tables = [self._table]
        return self._table


class _RateLimiter:
    """Spaces requests at least ``1 / rate`` seconds apart across threads."""

    def __init__(self, rate_per_s: float) -> None:
        self._interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            time.sleep(start - now)


@dataclass
class _Counters:
    requests: int = 0
    retries: int = 0
    consecutive_failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class RiskApiClient:
    """A client of one Risk Analytics API (or the sandbox).

    Args:
        settings: Base URL, timeouts, retry, rate-limit and paging settings.
        api_key: Sent as the ``apiKey`` header; kept out of every message.
        transport: An httpx transport (the sandbox's in-process WSGI one), or None for
            real HTTP (:func:`~daily_profit_model.ingestion.transport.api_transport`).
        sleep: How to wait between retries (tests pass a recorder).
    """

    def __init__(
        self,
        settings: ClientSettings,
        api_key: str,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers={"apiKey": api_key},
            timeout=settings.timeout_s,
            transport=transport
            if transport is not None
            else api_transport(settings.timeout_s),
        )
        self._limiter = _RateLimiter(settings.rate_limit_per_s)
        self._counters = _Counters()
        self._sleep = sleep
        self._rng = random.Random()
        self._last_problem = ""
        self.last_time: dt.datetime | None = None  # the clock of the latest answer

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> RiskApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests_sent(self) -> int:
        """Requests sent so far, retries included."""
        return self._counters.requests

    # --- one request -------------------------------------------------------------

    def get(
        self,
        endpoint: str,
        params: dict[str, Any],
        decoder: PageDecoder | None = None,
    ) -> Any:
        """GET ``endpoint`` and return the envelope's ``Data``, retrying what can be retried.

        With a ``decoder``, a clean page comes back as a :class:`TypedPage`.

        Raises:
            CircuitOpenError: The circuit is open (too many consecutive failures).
            ApiError: A non-retryable answer (4xx other than 429), or retries ran out.
        """
        what = f"{endpoint} {params}"
        last_problem = "no attempt"
        for attempt in range(self.settings.max_retries + 1):
            self._check_circuit(what)
            self._limiter.wait()
            with self._counters.lock:
                self._counters.requests += 1
            problem, retry_after, data = self._attempt(endpoint, params, decoder)
            if problem is None:
                with self._counters.lock:
                    self._counters.consecutive_failures = 0
                return data
            last_problem = self._last_problem = problem
            with self._counters.lock:
                self._counters.consecutive_failures += 1
                self._counters.retries += 1
            if retry_after is None and problem.startswith("HTTP 4"):
                raise ApiError(f"{what}: {problem}")
            delay = self._backoff(attempt, retry_after)
            logger.debug(
                "%s: %s; retry %d in %.2f s", what, problem, attempt + 1, delay
            )
            self._sleep(delay)
        raise ApiError(
            f"{what}: gave up after {self.settings.max_retries + 1} attempts; last: "
            f"{last_problem}.{self._unreachable_hint(last_problem)}"
        )

    def _unreachable_hint(self, problem: str) -> str:
        """What to check when the server did not answer at all (or is failing)."""
        host = redact_url(self.settings.base_url)
        if problem in _TRANSPORT_PROBLEMS:
            return (
                f" The API at {host} did not answer: check that it is running and "
                "reachable from this machine (the risk_api base_url, "
                "DPM_API_BASE_URL, a proxy or firewall in between)."
            )
        if problem.startswith("HTTP 5"):
            return f" The API at {host} is failing: check the vendor's status."
        return ""

    def _attempt(
        self, endpoint: str, params: dict[str, Any], decoder: PageDecoder | None
    ) -> tuple[str | None, float | None, Any]:
        """One request: (problem or None, Retry-After seconds, Data)."""
        try:
            response = self._http.get(endpoint, params=params)
            body = response.content
        except (httpx.TimeoutException, httpx.TransportError, ConnectionError) as exc:
            return f"{type(exc).__name__}", 0.0, None
        typed = (
            decoder.decode(body)
            if decoder is not None and response.status_code == 200  # noqa: PLR2004
            else None
        )
        if typed is not None:
            self.last_time = (
                _envelope_time({"Time": typed.time}, response) or self.last_time
            )
            return None, None, typed
        return self._read_answer(response, body)

    def _read_answer(
        self, response: httpx.Response, body: bytes
    ) -> tuple[str | None, float | None, Any]:
        """An answer read as plain JSON: (problem or None, Retry-After seconds, Data)."""
        if response.status_code in _RETRY_STATUSES:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            return f"HTTP {response.status_code}", retry_after, None
        try:
            envelope = orjson.loads(body)
        except orjson.JSONDecodeError:
            return (
                f"HTTP {response.status_code} with a body that is not JSON",
                0.0,
                None,
            )
        if response.status_code >= 400:  # noqa: PLR2004
            message = envelope.get("Message") or envelope.get("Error") or ""
            return f"HTTP {response.status_code}: {message}", None, None
        if envelope.get("Status") != "ok":
            message = envelope.get("Message") or envelope.get("Error") or "no message"
            return f"Status {envelope.get('Status')!r}: {message}", 0.0, None
        self.last_time = _envelope_time(envelope, response) or self.last_time
        return None, None, envelope.get("Data")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(
            self.settings.backoff_max_s, self.settings.backoff_base_s * 2**attempt
        )
        jitter = self._rng.uniform(0, ceiling)
        return max(jitter, retry_after or 0.0)

    def _check_circuit(self, what: str) -> None:
        if self._counters.consecutive_failures >= self.settings.circuit_failures:
            raise CircuitOpenError(
                f"{what}: the API at {redact_url(self.settings.base_url)} failed "
                f"{self._counters.consecutive_failures} times in a row; the circuit is "
                f"open and no more requests are sent. Check the service and run again."
                f"{self._unreachable_hint(self._last_problem)}"
            )

    def server_time(self) -> dt.datetime:
        """The source's clock, from one cheap request (its answer's time).

        Raises:
            ApiError: The source answered without saying what time it is.
        """
        self.last_time = None
        self.get("accounts", {"limit": 1, "skip": 0})
        if self.last_time is None:
            raise ApiError(
                f"The API at {redact_url(self.settings.base_url)} answered without a "
                "time (no envelope Time, no Date header): the run's cutoff cannot be "
                "set from its clock; pass --params run_date=YYYY-MM-DD."
            )
        return self.last_time

    # --- paging ------------------------------------------------------------------

    def fetch_all(
        self,
        endpoint: str,
        params: dict[str, Any],
        key: Sequence[str],
        decoder: PageDecoder | None = None,
    ) -> FetchResult:
        """Every row of a paged query, each source row once.

        Args:
            endpoint: A paged endpoint (``v2/...``).
            params: Its filters (without ``limit``, ``skip``, ``include-total``).
            key: Wire fields that identify a row; rows missing one are kept apart
                (they are invalid and left for validation to quarantine).
            decoder: Types clean pages into wire columns (see :mod:`.wire`).

        Raises:
            IncompletePageError: Pages stay short of the total the server reports.
            ApiError, CircuitOpenError: As :meth:`get`.
        """
        limit = self.settings.page_size
        before = self._counters.requests, self._counters.retries
        gathered = _RowSet(key)

        def page(skip: int) -> dict | TypedPage:
            return self.get(
                endpoint,
                {**params, "limit": limit, "skip": skip, "include-total": 1},
                decoder,
            )

        def absorb(data: dict | TypedPage) -> int:
            if isinstance(data, TypedPage):
                gathered.add(data.rows)
                return data.total
            gathered.add(data.get("data") or [])
            return int(data.get("total", 0))

        total = absorb(page(0))
        first_time = self.last_time
        pages = 1
        fetched_to = limit
        for _round in range(self.settings.max_retries + 1):
            skips = list(range(fetched_to, total, limit))
            if skips:
                if self.settings.concurrency > 1:
                    with ThreadPoolExecutor(self.settings.concurrency) as pool:
                        results = list(pool.map(page, skips))
                else:  # one at a time: a thread would only hand the pages over
                    results = [page(skip) for skip in skips]
                pages += len(results)
                total = max([total, *(absorb(r) for r in results)])
                fetched_to = max(fetched_to, skips[-1] + limit)
            if gathered.distinct_keys >= total:
                # A last look past the end: rows that arrived meanwhile show up here.
                tail = page(total)
                pages += 1
                new_total = absorb(tail)
                if new_total <= total and gathered.distinct_keys >= new_total:
                    break
                total = max(total, new_total)
                continue
            # Fewer distinct rows than the total: some page came back short. Read all again.
            logger.info(
                "%s %s: holding %d of %d rows; reading the pages again",
                endpoint,
                params,
                gathered.distinct_keys,
                total,
            )
            fetched_to = 0
        else:
            raise IncompletePageError(
                f"{endpoint} {params}: the server reports {total} rows but "
                f"{gathered.distinct_keys} distinct rows came back after repeated reads."
            )
        rows = gathered.rows()
        return FetchResult(
            rows=rows,
            source_total=total,
            pages=pages,
            duplicates=gathered.duplicates,
            requests=self._counters.requests - before[0],
            retries=self._counters.retries - before[1],
            server_time=first_time,
            keys_unique=isinstance(rows, pa.Table)
            and gathered.distinct_keys == rows.num_rows,
        )

    def fetch_list(
        self,
        endpoint: str,
        params: dict[str, Any],
        key: Sequence[str],
        decoder: PageDecoder | None = None,
    ) -> FetchResult:
        """Every row of an endpoint that answers with a plain list (``accounts``).

        Pages by ``limit``/``skip`` until a page comes back short; rows repeated
        across pages are kept once. ``decoder`` (``listed``) types clean pages.
        """
        limit = self.settings.page_size
        before = self._counters.requests, self._counters.retries
        gathered = _RowSet(key)
        pages = skip = 0
        first_time = None
        while True:
            data = self.get(endpoint, {**params, "limit": limit, "skip": skip}, decoder)
            first_time = first_time or self.last_time
            if isinstance(data, TypedPage):
                data = data.rows
            data = [] if data is None else data
            pages += 1
            gathered.add(data)
            if len(data) < limit:
                break
            skip += limit
        rows = gathered.rows()
        return FetchResult(
            rows=rows,
            source_total=len(rows),
            pages=pages,
            duplicates=gathered.duplicates,
            requests=self._counters.requests - before[0],
            retries=self._counters.retries - before[1],
            server_time=first_time,
            keys_unique=isinstance(rows, pa.Table)
            and gathered.distinct_keys == rows.num_rows,
        )

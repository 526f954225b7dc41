"""Faults the sandbox injects, each with a rate, deterministic for a seed.

The n-th time the server sees a given request (path and query), it draws one number
from a hash of (seed, request, n) and picks at most one fault by the cumulative rates
below. The same sequence of requests therefore meets the same faults, and a retried
request draws afresh, so a client that retries eventually gets through.

Kinds:

- ``rate_limit_retry_after``: HTTP 429 with ``Retry-After``;
- ``rate_limit``: HTTP 429 without it;
- ``server_error``: HTTP 500, 502 or 503;
- ``slow``: the response waits ``slow_seconds`` (past a client's timeout);
- ``cut``: the connection is cut half way through the body;
- ``fail_envelope``: HTTP 200 with ``Status: "fail"`` and no data;
- ``duplicates``: the page repeats the previous page's last row first;
- ``late_rows``: the first read of a query's first page taken before the day's last
  rows arrived: its ``total`` is short by a few rows (a day of three rows or fewer
  looks empty); later pages report the full total. Rows that have arrived do not
  vanish again, so only a query's first read of its first page can be late;
- ``malformed``: three extra invalid rows in the page, copies of its first row with a
  wrong type in the key, a NULL key, or an unknown code (``status``) or a value the
  contract does not allow, each with an extra field and some with a missing one. They
  share real rows' keys but are never valid, and real rows are never altered, so a
  client that quarantines the junk stores exactly what a fault-free run stores.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

KINDS = (
    "rate_limit_retry_after",
    "rate_limit",
    "server_error",
    "slow",
    "cut",
    "fail_envelope",
    "duplicates",
    "late_rows",
    "malformed",
)
_LATE_ROWS = 3


class ConnectionCut(ConnectionError):
    """Raised inside a response body to cut the connection half way."""


@dataclass(frozen=True)
class FaultSettings:
    """Per-request rate of each fault kind (their sum at most 1), and timings."""

    seed: int = 0
    rates: dict[str, float] = field(default_factory=dict)
    slow_seconds: float = 2.0
    retry_after_seconds: int = 1

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(KINDS)
        if unknown:
            raise ValueError(f"Unknown fault kinds {sorted(unknown)}; use {KINDS}")
        if sum(self.rates.values()) > 1:
            raise ValueError("Fault rates add up to more than 1")


class FaultInjector:
    """Decides and applies the fault of each request."""

    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._seen: dict[str, int] = {}
        self._first_pages_read: set[str] = set()
        self._lock = threading.Lock()
        self.injected: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.requests = 0

    def _uniform(self, *parts: object) -> float:
        digest = hashlib.sha256(
            "|".join(map(str, (self.settings.seed, *parts))).encode()
        )
        return int.from_bytes(digest.digest()[:8], "big") / 2**64

    def draw(self, endpoint: str, query: str) -> str | None:
        """The fault for this request, or None."""
        request = f"{endpoint}?{query}"
        first_page_of = _first_page_query(endpoint, query)
        with self._lock:
            attempt = self._seen.get(request, 0)
            self._seen[request] = attempt + 1
            self.requests += 1
            first_read = first_page_of is not None and (
                first_page_of not in self._first_pages_read
            )
            if first_page_of is not None:
                self._first_pages_read.add(first_page_of)
        u = self._uniform(request, attempt)
        edge = 0.0
        for kind in KINDS:
            edge += self.settings.rates.get(kind, 0.0)
            if u < edge:
                if kind == "late_rows" and not first_read:
                    return None  # the day's rows have arrived by now
                with self._lock:
                    self.injected[kind] += 1
                return kind
        return None

    def early_response(self, fault: str | None) -> tuple[int, list, dict] | None:
        """A response that replaces the real one (status, headers, body), if any."""
        if fault == "rate_limit_retry_after":
            return (
                429,
                [("Retry-After", str(self.settings.retry_after_seconds))],
                {"Status": "error", "Message": "rate limited"},
            )
        if fault == "rate_limit":
            return 429, [], {"Status": "error", "Message": "rate limited"}
        if fault == "server_error":
            status = (500, 502, 503)[int(self._uniform("status", self.requests) * 3)]
            return status, [], {"Status": "error", "Error": "upstream failure"}
        if fault == "fail_envelope":
            return 200, [], {"Status": "fail", "Message": "query failed, try again"}
        if fault == "slow":
            time.sleep(self.settings.slow_seconds)
        return None

    def deliver(self, fault: str | None, body: list[bytes]) -> Iterable[bytes]:
        """The response body, cut half way when the fault says so."""
        if fault != "cut":
            return body
        return _cut(b"".join(body))

    @staticmethod
    def page_window(
        fault: str | None, skip: int, limit: int, total: int
    ) -> tuple[int, int, int]:
        """Rows ``[start, stop)`` to serve and the total to report."""
        start, stop = skip, min(skip + limit, total)
        if fault == "duplicates" and skip > 0:
            start = skip - 1
        if fault == "late_rows" and skip == 0:
            total = max(total - _LATE_ROWS, 0)
            stop = min(stop, total)
        return start, stop, total

    def corrupt_page(
        self, fault: str | None, endpoint: str, page: list[dict]
    ) -> list[dict]:
        """Append invalid rows to the page when the fault says so."""
        if fault != "malformed" or not page:
            return page
        template = page[0]
        key_field = next(
            (
                k
                for k in ("position", "accountId", "login", "date", "tradeDate")
                if k in template
            ),
            next(iter(template)),
        )
        junk = []
        for variant in range(3):
            row = dict(template)
            row["unexpectedField"] = "surprise"
            if variant == 0:  # a wrong type in the key
                row[key_field] = (
                    {"not": "a scalar"} if key_field != "login" else "not-a-number"
                )
            elif variant == 1:  # a NULL key
                row[key_field] = None
            elif "status" in row:  # an unknown code, and a field gone
                row["status"] = 9
                row.pop("broker", None)
            else:  # a value of the wrong kind where the contract fixes one
                row["side" if "side" in row else key_field] = "not-a-valid-value"
            junk.append(row)
        return page + junk


def _first_page_query(endpoint: str, query: str) -> str | None:
    """The query's filters when the request reads its first page, else None."""
    params = parse_qs(query)
    if params.get("skip", ["0"])[-1] not in ("0", ""):
        return None
    filters = sorted(
        (k, v[-1])
        for k, v in params.items()
        if k not in ("limit", "skip", "include-total")
    )
    return f"{endpoint}?{filters}"


def _cut(payload: bytes) -> Iterator[bytes]:
    yield payload[: len(payload) // 2]
    raise ConnectionCut("sandbox fault: connection cut mid-body")

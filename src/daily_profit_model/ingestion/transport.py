"""An httpx transport on the standard library's ``http.client``.

Why not httpx's own (httpcore and h11): on the ingestion benchmark's recorded pages
(about 780 closed trades of 527 bytes per page, over 127.0.0.1), httpx's default
transport spends 1.13 µs of CPU per trade and the whole httpx client 1.48; ``http.client``
0.35 (``benchmarks/ingestion.py`` figures in README). h11 parses a body in Python, chunk
by chunk, and httpcore hands each chunk up through several layers; ``http.client`` reads
a body of known length in one loop of ``recv_into``. Everything above the transport
stays httpx: the client, its requests and responses (content decoding included),
timeouts and the exception types the client retries on.

What this transport does not do: proxies and HTTP/2. :func:`api_transport` therefore
returns None (httpx's own transport) when the environment names a proxy.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

_Origin = tuple[str, str, int]
# Failures of a kept-alive connection the server may have closed meanwhile: the
# request goes again, once, on a new connection (GET is idempotent).
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def api_transport(timeout_s: float) -> httpx.BaseTransport | None:
    """The transport the API client uses for real HTTP: :class:`StdlibTransport`,
    or None (httpx's own) when a proxy is configured in the environment."""
    if urllib.request.getproxies():
        return None
    return StdlibTransport(timeout_s)


class StdlibTransport(httpx.BaseTransport):
    """HTTP/1.1 with keep-alive over ``http.client``, safe to share between threads.

    Args:
        timeout_s: Connect and read timeout of every socket operation.
        max_idle: Kept-alive connections per origin (more are closed).
    """

    def __init__(self, timeout_s: float, max_idle: int = 8) -> None:
        self._timeout = timeout_s
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None  # made at the first https request

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole answer (httpx decodes its content)."""
        url = request.url
        origin = (
            url.scheme,
            url.host,
            url.port or (443 if url.scheme == "https" else 80),
        )
        target = url.raw_path.decode("ascii")
        headers = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw
        }
        body = request.read() or None
        connection, reused = self._take(origin, request)
        try:
            answer = _exchange(connection, request, target, headers, body)
        except _STALE:
            if not reused:
                raise _dropped(request) from None
            connection = self._connect(origin, request)
            try:
                answer = _exchange(connection, request, target, headers, body)
            except _STALE:
                raise _dropped(request) from None
        status, reason, response_headers, content, will_close = answer
        if will_close:
            connection.close()
        else:
            self._give_back(origin, connection)
        return httpx.Response(
            status,
            headers=response_headers,
            stream=httpx.ByteStream(content),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason.encode()},
        )

    def close(self) -> None:
        """Close every kept-alive connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _take(
        self, origin: _Origin, request: httpx.Request
    ) -> tuple[http.client.HTTPConnection, bool]:
        """A kept-alive connection still open (reused: True), else a new one."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                connection = idle.pop() if idle else None
            if connection is None:
                return self._connect(origin, request), False
            if not _closed_by_peer(connection):
                return connection, True
            connection.close()

    def _give_back(
        self, origin: _Origin, connection: http.client.HTTPConnection
    ) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._max_idle:
                idle.append(connection)
                return
        connection.close()

    def _connect(
        self, origin: _Origin, request: httpx.Request
    ) -> http.client.HTTPConnection:
        scheme, host, port = origin
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()  # httpx's own trust store
            connection = http.client.HTTPSConnection(
                host, port, timeout=self._timeout, context=self._ssl
            )
        elif scheme == "http":
            connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
        else:
            raise httpx.UnsupportedProtocol(
                f"the URL's scheme {scheme!r} is not http or https", request=request
            )
        with _as_httpx_errors(request, httpx.ConnectTimeout, httpx.ConnectError):
            connection.connect()
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection


def _exchange(
    connection: http.client.HTTPConnection,
    request: httpx.Request,
    target: str,
    headers: dict[str, str],
    body: bytes | None,
) -> tuple[int, str, list[tuple[str, str]], bytes, bool]:
    """One request and its whole answer (status, reason, headers, body, will close);
    the connection is closed when anything fails."""
    try:
        # http.client adds neither Host nor Accept-Encoding when the headers carry them
        with _as_httpx_errors(request, httpx.ReadTimeout, httpx.ReadError):
            connection.request(request.method, target, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
    except BaseException:
        connection.close()
        raise
    return (
        response.status,
        response.reason,
        response.getheaders(),
        content,
        response.will_close,
    )


def _dropped(request: httpx.Request) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(
        "the server closed the connection without a complete answer", request=request
    )


@contextmanager
def _as_httpx_errors(
    request: httpx.Request,
    timeout: type[httpx.TimeoutException],
    failure: type[httpx.TransportError],
) -> Iterator[None]:
    """``http.client`` and socket errors as the httpx errors the client retries on
    (a connection the server may have dropped while idle passes through as is)."""
    try:
        yield
    except _STALE:
        raise
    except TimeoutError as exc:
        raise timeout(f"timed out: {exc}", request=request) from exc
    except http.client.IncompleteRead as exc:
        raise httpx.RemoteProtocolError(
            f"peer closed connection without sending complete message body ({exc})",
            request=request,
        ) from exc
    except http.client.HTTPException as exc:
        raise httpx.RemoteProtocolError(
            f"{type(exc).__name__}: {exc}", request=request
        ) from exc
    except OSError as exc:  # refused, reset, unreachable, TLS
        raise failure(f"{type(exc).__name__}: {exc}", request=request) from exc


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection's socket is readable: the server closed it (or sent
    something unasked, which makes the connection unusable too)."""
    sock = connection.sock
    if sock is None:
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)

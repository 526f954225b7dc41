"""Pages a source answered, recorded once and served back byte for byte.

A benchmark of the ingestion client must not measure the server: the sandbox spends
about as much CPU building a page as the client spends reading it, and on a 2-core
machine the two compete. :class:`RecordingTransport` keeps every answer body the
sandbox gave an in-process client; :func:`serve_pages` serves those bodies over real
HTTP/1.1 (keep-alive) with nothing computed per request but a dictionary lookup.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx


def page_key(target: str) -> str:
    """A request's endpoint and its query parameters in a canonical order."""
    parts = urlsplit(target)
    endpoint = parts.path.rstrip("/").rsplit("/external/", 1)[-1]
    return f"{endpoint}?{urlencode(sorted(parse_qsl(parts.query)))}"


class RecordingTransport(httpx.BaseTransport):
    """Passes requests to ``inner`` and keeps each successful answer's body."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner
        self.pages: dict[str, bytes] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        body = response.read()
        if response.status_code == 200:  # noqa: PLR2004
            self.pages[page_key(str(request.url))] = body
        return httpx.Response(
            response.status_code, headers=response.headers, content=body
        )

    def close(self) -> None:
        self._inner.close()


def serve_pages(
    pages: dict[str, bytes], host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    """A threaded HTTP server answering each recorded request with its body (404 else)."""

    class _Replay(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # see sandbox.server._KeepAliveHandler

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = pages.get(page_key(self.path))
            self.send_response(200 if body is not None else 404)
            body = body if body is not None else b'{"Status": "error"}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    return ThreadingHTTPServer((host, port), _Replay)

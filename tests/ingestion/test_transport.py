"""The http.client transport against a real HTTP server: what httpx's own would do."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from daily_profit_model.ingestion.transport import StdlibTransport, api_transport

BODY = b'{"Status": "ok", "Data": {"data": [], "total": 0}}'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    connections = 0  # connections the server accepted (one handler each)
    seen: list[dict] = []

    def setup(self) -> None:
        type(self).connections += 1
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen.append({"path": self.path, **dict(self.headers.items())})
        body, headers = BODY, {}
        if self.path.startswith("/gzip"):
            body, headers = gzip.compress(BODY), {"Content-Encoding": "gzip"}
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        length = len(body) + (100 if self.path.startswith("/truncated") else 0)
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.path.startswith("/close"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
        if self.path.startswith(("/truncated", "/drop")):
            self.close_connection = True  # without saying so in the headers

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


@contextmanager
def _server():
    _Handler.connections, _Handler.seen = 0, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _client(base: str, timeout_s: float = 30.0):
    with httpx.Client(
        base_url=base, transport=StdlibTransport(timeout_s), headers={"apiKey": "k"}
    ) as client:
        yield client


def test_requests_share_one_kept_alive_connection_and_carry_their_headers():
    with _server() as (_, base), _client(base) as client:
        answers = [client.get("/page", params={"skip": i}) for i in range(5)]
    assert [a.json()["Status"] for a in answers] == ["ok"] * 5
    assert _Handler.connections == 1
    assert [s["path"] for s in _Handler.seen] == [f"/page?skip={i}" for i in range(5)]
    assert {s["apiKey"] for s in _Handler.seen} == {"k"}
    assert answers[0].http_version == "HTTP/1.1" and answers[0].reason_phrase == "OK"


def test_a_connection_the_server_closes_is_replaced():
    with _server() as (_, base), _client(base) as client:
        assert client.get("/close").status_code == 200
        assert client.get("/page").status_code == 200
    assert _Handler.connections == 2


def test_a_kept_alive_connection_the_server_drops_is_not_an_error():
    with _server() as (_, base), _client(base) as client:
        client.get("/drop")  # answered as kept alive, then closed by the server
        assert client.get("/page").json()["Status"] == "ok"
    assert _Handler.connections == 2


def test_a_gzipped_answer_is_decoded_by_httpx():
    with _server() as (_, base), _client(base) as client:
        answer = client.get("/gzip")
    assert answer.content == BODY
    assert "gzip" in _Handler.seen[0]["Accept-Encoding"]


def test_a_truncated_body_is_a_protocol_error():
    with _server() as (_, base), _client(base) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            client.get("/truncated")
        assert client.get("/page").status_code == 200  # the pool is still usable


def test_a_slow_answer_is_a_read_timeout():
    with _server() as (_, base), _client(base, timeout_s=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/slow")


def test_a_port_nobody_listens_on_is_a_connect_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _client(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(httpx.ConnectError):
            client.get("/page")


def test_a_proxy_in_the_environment_leaves_it_to_httpx(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(api_transport(5.0), StdlibTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.firm.example:3128")
    assert api_transport(5.0) is None

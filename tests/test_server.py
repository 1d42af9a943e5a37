"""The HTTP server itself: what any client can do to it, on any route."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from posting import request_log

from bot.server import (
    IDLE_TIMEOUT_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    HttpRequest,
    HttpResponse,
    HttpServer,
    Router,
)

# How long a test waits for the server to close a connection: far beyond the bounds,
# far below waitress's default of 120 s.
PATIENCE = 60.0


def _parse(request: HttpRequest) -> HttpResponse:
    return HttpResponse.json(200, {"keys": len(json.loads(request.body))})


def _fail(_request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


@pytest.fixture(name="server")
def fixture_server() -> Iterator[HttpServer]:
    router = Router()
    router.add("GET", "/ping", lambda _r: HttpResponse.text(200, "pong"))
    router.add("POST", "/parse", _parse)
    router.add("POST", "/fail", _fail)
    server = HttpServer(router, host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


def _url(server: HttpServer, path: str) -> str:
    return f"http://{server.host}:{server.port}{path}"


def _request(server: HttpServer, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(_url(server, path), data=body)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _connect(server: HttpServer) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=PATIENCE)


def _closed_by_server(sock: socket.socket) -> bool:
    """Blocks until the server closes ``sock`` (True) or PATIENCE runs out (False)."""
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_json_nested_too_deep_gets_400_on_any_route_with_one_line(
    server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    status, answer = _request(server, "/parse", b"[" * 100_000 + b"]" * 100_000)
    assert status == 400 and b"nested" in answer
    (line,) = request_log(caplog)
    assert not line.exc_info
    assert _request(server, "/parse", b'{"a": 1}') == (200, b'{"keys": 1}')


def test_a_failing_route_answers_a_bare_500(server: HttpServer) -> None:
    status, answer = _request(server, "/fail", b"{}")
    assert (status, answer) == (500, b"internal error")


def test_a_thousand_idle_connections_do_not_stall_the_server(server: HttpServer) -> None:
    """waitress's defaults: at 100 connections it stops accepting, and an idle one stays
    for 120 s. And over 1024 descriptors, select() fails: the server polls."""
    assert server.connection_limit >= 1000
    idle = [_connect(server) for _ in range(900)]  # with the server's ends: > 1024 fds
    try:
        start = time.monotonic()
        assert _request(server, "/ping") == (200, b"pong")
        assert time.monotonic() - start < PATIENCE
    finally:
        for sock in idle:
            sock.close()


def test_an_idle_connection_is_closed_after_the_idle_bound(server: HttpServer) -> None:
    with _connect(server) as sock:
        start = time.monotonic()
        assert _closed_by_server(sock)
        waited = time.monotonic() - start
    assert IDLE_TIMEOUT_SECONDS - 1 <= waited < PATIENCE


def test_a_request_trickling_in_is_closed_after_the_request_bound(server: HttpServer) -> None:
    """A byte a second is never idle; the request still has to arrive in time."""
    with _connect(server) as sock:
        sock.sendall(b"POST /parse HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(1.0)
        start = time.monotonic()
        closed = False
        while not closed and time.monotonic() - start < PATIENCE:
            try:
                sock.sendall(b"X")
                closed = sock.recv(1024) == b""
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        waited = time.monotonic() - start
    assert closed
    assert REQUEST_TIMEOUT_SECONDS - 1 <= waited < PATIENCE

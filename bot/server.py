"""One HTTP server: Slack's HTTP mode, the hook routes and ``/healthz``.

A small WSGI router served by waitress (a production WSGI server, pure Python).
Bodies over ``MAX_BODY_BYTES`` are refused with 413 before they are read; a body
nested deeper than Python parses is refused with 400, on every route; a route that
fails answers a bare 500 (the traceback goes to the log, never to the client).
Nothing here logs a request body.

One client must not be able to take the server offline by holding connections open
(slowloris). waitress's defaults (100 connections, 120 s before an idle one is closed,
no limit on the time a request may take to arrive) let about 100 idle sockets stall
every route for two minutes. :class:`HttpServer` bounds idle time
(``IDLE_TIMEOUT_SECONDS``) and the time from a request's first byte to its last
(``REQUEST_TIMEOUT_SECONDS``), and accepts ``CONNECTION_LIMIT`` connections, using
poll() (select() cannot watch a descriptor numbered over 1023). Limits per client,
TLS and buffering belong in the reverse proxy in front (README, "Behind a reverse
proxy").
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are a few KiB; calendar pushes stay well under.


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8")

    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any) -> HttpResponse:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json"})

    @classmethod
    def text(cls, status: int, message: str) -> HttpResponse:
        return cls(status, message.encode(), {"Content-Type": "text/plain; charset=utf-8"})


Route = Callable[[HttpRequest], HttpResponse]

_REASONS = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class Router:
    """Exact (method, path) routes as a WSGI application."""

    def __init__(self, *, max_body: int = MAX_BODY_BYTES) -> None:
        self.max_body = max_body
        self._routes: dict[tuple[str, str], Route] = {}

    def add(self, method: str, path: str, route: Route) -> None:
        self._routes[(method.upper(), path)] = route

    def handle(self, request: HttpRequest) -> HttpResponse:
        route = self._routes.get((request.method, request.path))
        if route is None:
            if any(path == request.path for _, path in self._routes):
                return HttpResponse.text(405, "method not allowed")
            return HttpResponse.text(404, "not found")
        try:
            return route(request)
        except RecursionError:  # json.loads of a body nested thousands deep
            logger.info("refused a request to %s: the body is nested too deeply", request.path)
            return HttpResponse.text(400, "the body is nested too deeply")
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return HttpResponse.text(500, "internal error")

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        response = self._respond(environ)
        reason = _REASONS.get(response.status, "Status")
        headers = [*response.headers.items(), ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {reason}", headers)
        return [response.body]

    def _respond(self, environ: dict[str, Any]) -> HttpResponse:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponse.text(400, "bad Content-Length")
        if length > self.max_body:
            return HttpResponse.text(413, f"body over {self.max_body} bytes")
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        request = HttpRequest(
            method=environ.get("REQUEST_METHOD", "GET").upper(),
            path=environ.get("PATH_INFO") or "/",
            query=environ.get("QUERY_STRING", ""),
            headers=headers,
            body=body,
        )
        return self.handle(request)


IDLE_TIMEOUT_SECONDS = 10  # a connection with no request in progress
REQUEST_TIMEOUT_SECONDS = 10  # from a request's first byte to its last
CONNECTION_LIMIT = 1000
MAX_HEADER_BYTES = 32 * 1024  # all request headers together; Slack sends about 1 KiB
_CLEANUP_SECONDS = 1  # how often idle connections are looked for
_SPARE_FILES = 100  # descriptors kept for the database, logs and feeds


class _BoundedChannel(HTTPChannel):
    """waitress's connection, closed when a request takes over ``REQUEST_TIMEOUT_SECONDS``
    to arrive however slowly its bytes trickle in (waitress itself only times idleness,
    and a byte every few seconds is not idle)."""

    _partial: object | None = None  # the request being received
    _partial_since = 0.0

    def received(self, data: bytes) -> bool:
        more = super().received(data)
        if self.request is not self._partial:
            self._partial = self.request
            self._partial_since = time.time()
        return bool(more)

    def readable(self) -> bool:
        # Called by waitress's loop for every connection at least once a second.
        if (
            self.request is not None
            and not self.requests
            and time.time() - self._partial_since > REQUEST_TIMEOUT_SECONDS
        ):
            self.will_close = True  # closed by the loop's next pass
            return False
        return bool(super().readable())


class _Server(TcpWSGIServer):  # type: ignore[misc]
    channel_class = _BoundedChannel


class HttpServer:
    """waitress in a background thread; ``port`` is the bound port (0 picks a free one)."""

    def __init__(self, app: Router, *, host: str, port: int, threads: int = 8) -> None:
        limit = connection_limit(CONNECTION_LIMIT)
        adjustments = Adjustments(
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=app.max_body,
            max_request_header_size=MAX_HEADER_BYTES,
            channel_timeout=IDLE_TIMEOUT_SECONDS,
            cleanup_interval=_CLEANUP_SECONDS,
            connection_limit=limit,
            asyncore_use_poll=True,
            ident="heedful",
            clear_untrusted_proxy_headers=True,
        )
        self.connection_limit = limit
        self._server = _Server(app, adj=adjustments)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    @property
    def host(self) -> str:
        return str(self._server.effective_host)  # type: ignore[union-attr]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # closed during shutdown
            self._server.run()

    def stop(self) -> None:
        """Let requests being served finish (up to 5 s), then close every connection.

        As waitress closes a server of several sockets: closing only the listening
        socket left requests in flight to write to a closed wake-up pipe (a traceback).
        """
        self._server.accepting = False
        self._server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(self._server._map)
        if self._thread is not None:
            self._thread.join(timeout=5)


def connection_limit(wanted: int) -> int:
    """``wanted``, or fewer if the process may not open that many files.

    Raises the soft limit on open files towards the hard one first (many systems start
    services at a soft limit of 1024), keeping ``_SPARE_FILES`` for everything else.
    """
    try:
        import resource
    except ImportError:  # not a POSIX system
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - _SPARE_FILES))

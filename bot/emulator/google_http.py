"""The fake Google's HTTP plumbing: the loopback server, answers, Google's error shapes.

A ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive (``httplib2``, which
``googleapiclient`` uses, keeps its connections open). The handler is thin: it reads the
request, asks :meth:`bot.emulator.google.FakeGoogle.handle` for an :class:`Answer` and writes
it; an answer can carry work to do just before it is written (a ``sync`` push Google sends
before answering ``events.watch``) or just after (the same push sent later).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from bot.emulator.google_calendar import CalendarApiError

logger = logging.getLogger(__name__)

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass(frozen=True)
class GoogleCall:
    """One request the fake answered; ``query`` has tokens, codes and state removed."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    at: datetime


@dataclass
class Answer:
    """What to write back, and what to do just before or after writing it."""

    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    before: Callable[[], object] | None = None
    after: Callable[[], object] | None = None


def google_error(
    status: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    **extra: str,
) -> dict[str, Any]:
    """Google's JSON error body: ``{"error": {"code", "message", "errors", "status"}}``."""
    detail = {"domain": domain, "reason": reason, "message": message, **extra}
    error: dict[str, Any] = {"code": status, "message": message, "errors": [detail]}
    if status in _STATUS_NAMES:
        error["status"] = _STATUS_NAMES[status]
    return {"error": error}


def json_answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    body = json.dumps(payload, indent=2).encode("utf-8")
    return Answer(status, body, headers=headers or {})


def json_body(body: bytes) -> dict[str, Any]:
    """A JSON object request body; 400 ``parseError`` otherwise."""
    try:
        decoded = json.loads(body or b"{}")
    except ValueError:
        raise CalendarApiError(400, "parseError", "Parse Error") from None
    if not isinstance(decoded, dict):
        raise CalendarApiError(400, "parseError", "Parse Error")
    return decoded


def basic_auth(header: str) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header (form-decoded, RFC 6749 §2.3.1)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote(user.replace("+", " ")), unquote(password.replace("+", " "))


Handle = Callable[[str, str, Any, bytes], Answer]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handle: Handle) -> None:
        super().__init__(address, _Handler)
        self.handle_request_for = handle

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log at debug level instead of printing a traceback to stderr."""
        logger.debug("fake Google: error serving %s: %r", client_address, sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, a keep-alive
    # client (httplib2) waits for the delayed ACK, about 40 ms, on every answer.
    disable_nagle_algorithm = True
    server_version = "FakeGoogle/1.0"
    sys_version = ""
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request lines."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.handle_request_for(method, self.path, self.headers, body)
        if answer.before is not None:
            answer.before()
        self.send_response(answer.status)
        if answer.status != 204:
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if answer.status != 204:
            self.wfile.write(answer.body)
        self.wfile.flush()
        if answer.after is not None:
            answer.after()


def start_server(
    host: str, port: int, handle: Handle
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Bind, then serve in a daemon thread; returns the server and its thread."""
    server = _Server((host, port), handle)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.02},
        name="fake-google-http",
        daemon=True,
    )
    thread.start()
    return server, thread

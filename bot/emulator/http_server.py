"""The emulator's HTTP side: Web API under ``/api/``, file uploads, ``response_url`` posts.

An ``HTTPServer`` with a pool of worker threads, speaking HTTP/1.1 with keep-alive. Each
response is written with one ``sendall`` (status line, headers and body together) and
``TCP_NODELAY`` is set, so keep-alive clients never wait on Nagle's algorithm. Scripted faults
are applied here because some act on the connection itself (dropping it with or without
storing the message), then the rate limits (:mod:`bot.emulator.limits`, when configured): a
request beyond them is answered 429 with ``Retry-After`` and never reaches the method. Before
either, scheduled messages that fell due on the emulator's clock are posted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import sys
import threading
import time
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.emulator.blocks import validate_message
from bot.emulator.models import ANSWER_AFTER_LIMIT, Call, Fault

if TYPE_CHECKING:
    from bot.emulator.state import Workspace
    from bot.emulator.web_api import WebApi

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
UPLOAD_PREFIX = "/upload/v1/"
FILES_PREFIX = "/files/"
RESPONSE_PREFIX = "/response/"
MAX_BODY = 64 * 1024 * 1024
MAX_TEXT = 40_000


class BadRequest(Exception):
    """The request body could not be decoded; carries the Slack error code to answer."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def parse_arguments(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Merge query, form and JSON arguments (the body wins over the query)."""
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if not body:
        return params
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            decoded = json.loads(body.decode("utf-8"))
        except ValueError as exc:
            raise BadRequest("invalid_json") from exc
        if not isinstance(decoded, dict):
            raise BadRequest("invalid_json")
        params.update(decoded)
    elif kind == "multipart/form-data":
        params.update(_multipart_parts(body, content_type))
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("invalid_form_data") from exc
        params.update(parse_qsl(text, keep_blank_values=True))
    return params


def _multipart_parts(body: bytes, content_type: str) -> list[tuple[str, str | bytes]]:
    """(name, value) pairs of a multipart/form-data body; file parts keep their bytes."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    parts: list[tuple[str, str | bytes]] = []
    if not message.is_multipart():
        raise BadRequest("invalid_form_data")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is None:
            parts.append((str(name), payload.decode("utf-8", errors="replace")))
        else:
            parts.append((str(name), payload))
    return parts


class EmulatorHTTPServer(HTTPServer):
    """HTTPServer whose connections are served by a reusable pool of daemon threads.

    ``ThreadingHTTPServer`` starts a thread per connection, and ``Thread.start`` blocks the
    accept loop until the new thread gets the GIL; with ``slack_sdk``'s ``WebClient`` opening
    a connection per call (urllib sends ``Connection: close``) that halves throughput under
    concurrent load. Here an accepted connection goes to an idle worker through a queue; a new
    worker is started only when none is idle, so the pool grows to the peak concurrency.
    """

    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        *,
        workspace: Workspace,
        api: WebApi,
    ) -> None:
        super().__init__(address, EmulatorRequestHandler)
        self.workspace = workspace
        self.api = api
        self._jobs: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self._pool_lock = threading.Lock()
        self._idle = 0
        self._workers = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        """Hand the connection to an idle worker, starting one when none is idle."""
        with self._pool_lock:
            if self._idle > 0:
                self._idle -= 1
                start_worker = False
            else:
                self._workers += 1
                start_worker = True
        self._jobs.put((request, client_address))
        if start_worker:
            threading.Thread(
                target=self._work, name="slack-emulator-http-worker", daemon=True
            ).start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            request, client_address = job
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
            with self._pool_lock:
                self._idle += 1

    def server_close(self) -> None:
        """Close the listening socket and let idle workers exit."""
        super().server_close()
        with self._pool_lock:
            workers = self._workers
        for _ in range(workers):
            self._jobs.put(None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log at debug level instead of printing a traceback to stderr."""
        logger.debug(
            "error while handling a request from %s: %r", client_address, sys.exc_info()[1]
        )


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """Routes one HTTP request to the Web API, the upload endpoint or the response_url log."""

    protocol_version = "HTTP/1.1"
    server_version = "SlackEmulator/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 30
    server: EmulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request lines on stderr."""

    # plumbing ------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise BadRequest("request_too_large")
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            f"X-Slack-Req-Id: {uuid.uuid4().hex}",
        ]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self._send(status, body, headers=headers)

    def _drop(self) -> None:
        """Close the connection without answering (the client sees a disconnect)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # routing -------------------------------------------------------------------------------

    def do_GET(self) -> None:
        """GET works for API methods (query arguments) and file downloads."""
        self._route()

    def do_POST(self) -> None:
        """POST is what Slack clients use for every API method."""
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        path = url.path
        try:
            body = self._read_body()
            if path.startswith(API_PREFIX):
                self._api(path[len(API_PREFIX) :], url.query, body)
            elif path.startswith(UPLOAD_PREFIX):
                self._upload(path[len(UPLOAD_PREFIX) :], body)
            elif path.startswith(FILES_PREFIX):
                self._download(path[len(FILES_PREFIX) :])
            elif path.startswith(RESPONSE_PREFIX):
                self._response_url(path[len(RESPONSE_PREFIX) :], body)
            else:
                self._send_json(404, {"ok": False, "error": "not_found"})
        except BadRequest as exc:
            self._send_json(200, {"ok": False, "error": exc.code})
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            logger.exception("emulator failed to handle %s", path)
            self.close_connection = True
            self._send_json(500, {"ok": False, "error": "internal_error"})

    def _token(self, params: dict[str, Any]) -> str | None:
        header = self.headers.get("Authorization", "")
        token_param = params.pop("token", None)
        if header.lower().startswith("bearer "):
            return header[7:].strip() or None
        return str(token_param) if token_param else None

    def _api(self, method: str, query: str, body: bytes) -> None:
        method = unquote(method).strip("/")
        params = parse_arguments(query, body, self.headers.get("Content-Type", ""))
        token = self._token(params)
        workspace, api = self.server.workspace, self.server.api
        api.deliver_due()  # what Slack posted at post_at while nobody asked
        fault = workspace.take_fault(method)
        workspace.record_call(
            Call(method=method, params=params, token=token, at=time.time(), fault=fault)
        )
        logger.debug("api call %s", method)
        if fault is not None and self._apply_fault_before(fault, method):
            return
        retry_after = api.rate_limit(method, params)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
            self._send_json(429, {"ok": False, "error": "ratelimited"}, headers=headers)
            return
        answer = api.call(method, params, token)
        if fault is not None and fault.answer_after is not None:
            fault.answer_after.wait(ANSWER_AFTER_LIMIT)
        if fault is not None and fault.drop_after_store:
            logger.debug("dropping connection after %s", method)
            self._drop()
            return
        self._send_json(200, answer)

    def _apply_fault_before(self, fault: Fault, method: str) -> bool:
        """Apply the parts of a fault that come before the method runs; True if answered.
        A scripted answer comes before the rate limits, and a scripted 429 is counted."""
        if fault.delay > 0:
            time.sleep(fault.delay)
        if fault.drop_before_store:
            self._drop()
            return True
        error = fault.response_error
        if error is None:
            return False
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if fault.status == 429:
            self.server.workspace.count_rate_limited(method)
        self._send_json(fault.status, {"ok": False, "error": error}, headers=headers)
        return True

    def _upload(self, file_id: str, body: bytes) -> None:
        data = body
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            files = [v for _, v in _multipart_parts(body, content_type) if isinstance(v, bytes)]
            data = files[0] if files else b""
        if not self.server.api.receive_upload(file_id.strip("/"), data):
            self._send(404, b"file not found", content_type="text/plain; charset=utf-8")
            return
        self._send(200, f"OK - {len(data)}".encode(), content_type="text/plain; charset=utf-8")

    def _download(self, rest: str) -> None:
        file_id = rest.split("/", 1)[0]
        with self.server.workspace.lock:
            data = self.server.workspace.files.get(file_id)
        if data is None:
            self._send(404, b"file not found", content_type="text/plain; charset=utf-8")
            return
        self._send(200, data, content_type="application/octet-stream")

    def _response_url(self, response_id: str, body: bytes) -> None:
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("application/json"):
            try:
                payload: Any = json.loads(body.decode("utf-8")) if body else {}
            except ValueError:
                self._send(400, b"invalid_payload", content_type="text/plain; charset=utf-8")
                return
        else:
            payload = dict(parse_qsl(body.decode("utf-8", errors="replace")))
        workspace = self.server.workspace
        refused = _refuse_response(payload)
        if refused is not None:  # answered as Slack answers a webhook: 400 and the code
            error, errors = refused
            workspace.record_refusal("response_url", error, errors)
            self._send(400, error.encode(), content_type="text/plain; charset=utf-8")
            return
        with workspace.lock:
            workspace.responses.append(
                {"response_id": response_id, "payload": payload, "at": time.time()}
            )
        self._send(200, b"ok", content_type="text/plain; charset=utf-8")


def _refuse_response(payload: Any) -> tuple[str, list[str]] | None:
    """Why a ``response_url`` post is refused, or None: the same checks as a bot DM's."""
    if not isinstance(payload, dict):
        return "invalid_payload", []
    if payload.get("delete_original"):
        return None
    blocks = payload.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return "invalid_blocks_format", []
    text = payload.get("text")
    if not text and not blocks:
        return "no_text", []
    if text is not None and len(str(text)) > MAX_TEXT:
        return "msg_too_long", []
    if blocks is not None and not isinstance(blocks, list):
        return "invalid_blocks_format", []
    errors = validate_message(text, blocks)
    if errors:
        return (
            "invalid_blocks" if any("/blocks" in e for e in errors) else "invalid_arguments"
        ), errors
    return None


def start_http_server(
    host: str, port: int, *, workspace: Workspace, api: WebApi
) -> tuple[EmulatorHTTPServer, threading.Thread]:
    """Bind, then serve in a daemon thread; returns the server and its thread."""
    server = EmulatorHTTPServer((host, port), workspace=workspace, api=api)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.02},
        name="slack-emulator-http",
        daemon=True,
    )
    thread.start()
    return server, thread

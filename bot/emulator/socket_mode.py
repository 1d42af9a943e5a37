"""The emulator's Socket Mode endpoint: a loopback WebSocket server speaking Slack's protocol.

``apps.connections.open`` hands out ``ws://127.0.0.1:PORT/link/?ticket=…``; on connect the
server sends ``hello``; :meth:`SocketModeServer.send_envelope` pushes an envelope to the newest
open connection and waits for the client's ack carrying the same ``envelope_id``.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

logger = logging.getLogger(__name__)

LINK_PATH = "/link/"


class _Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.ack: dict[str, Any] | None = None


class SocketModeServer:
    """WebSocket server for Socket Mode clients (``slack_sdk``'s built-in one included)."""

    def __init__(self, *, app_id: str, host: str = "127.0.0.1") -> None:
        self.app_id = app_id
        self.host = host
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connected = threading.Condition(self._lock)
        self._connections: list[ServerConnection] = []
        self._tickets: set[str] = set()
        self._waiters: dict[str, _Waiter] = {}
        self.port: int | None = None

    # lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Bind a free loopback port and serve in a daemon thread."""
        self._server = serve(
            self._handle,
            self.host,
            0,
            compression=None,
            process_request=self._process_request,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            logger=logging.getLogger(f"{__name__}.websockets"),
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="slack-emulator-socket-mode", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close every connection and the listening socket."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            for waiter in self._waiters.values():
                waiter.event.set()
            self._waiters.clear()
            self._connections.clear()

    def new_url(self) -> str | None:
        """A fresh ``ws://`` URL with a one-off ticket (None when not running)."""
        if self._server is None or self.port is None:
            return None
        ticket = str(uuid.uuid4())
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://{self.host}:{self.port}{LINK_PATH}?ticket={ticket}&app_id={self.app_id}"

    # connection state ---------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while at least one client connection is open."""
        with self._lock:
            return bool(self._connections)

    @property
    def connection_count(self) -> int:
        """Number of open client connections."""
        with self._lock:
            return len(self._connections)

    def wait_connected(self, timeout: float) -> bool:
        """Block until a client is connected; False on timeout."""
        with self._connected:
            return self._connected.wait_for(lambda: bool(self._connections), timeout=timeout)

    def disconnect_all(self, reason: str = "refresh_requested", *, notify: bool = True) -> None:
        """Close every connection, first sending Slack's ``disconnect`` message if ``notify``."""
        with self._lock:
            connections = list(self._connections)
        message = json.dumps(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-emulator"}}
        )
        for connection in connections:
            try:
                if notify:
                    connection.send(message)
                connection.close()
            except ConnectionClosed:
                pass

    # protocol -----------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        ticket = (parse_qs(url.query).get("ticket") or [""])[0]
        with self._lock:
            known = ticket in self._tickets
        if url.path.rstrip("/") != LINK_PATH.rstrip("/") or not known:
            logger.info("rejected a Socket Mode connection with an unknown ticket")
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid ticket\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            count = len(self._connections)
            self._connected.notify_all()
        logger.info("Socket Mode client connected (%s open)", count)
        try:
            connection.send(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": count,
                        "debug_info": {
                            "host": "applink-emulator",
                            "build_number": 1,
                            "approximate_connection_time": 18060,
                        },
                        "connection_info": {"app_id": self.app_id},
                    }
                )
            )
            for raw in connection:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
            logger.info("Socket Mode client disconnected")

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            logger.warning("ignored a Socket Mode message that is not JSON")
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not envelope_id:
            logger.debug("ignored a Socket Mode message without envelope_id")
            return
        with self._lock:
            waiter = self._waiters.get(envelope_id)
        if waiter is None:
            logger.info("received an ack for an unknown envelope")
            return
        waiter.ack = message
        waiter.event.set()

    @staticmethod
    def _send_to_first_open(candidates: list[ServerConnection], message: str) -> None:
        """Send on the newest connection that is still open."""
        for connection in candidates:
            try:
                connection.send(message)
                return
            except ConnectionClosed:
                continue
        raise ConnectionError("no Socket Mode client is connected")

    def send_envelope(
        self,
        envelope_type: str,
        payload: Any,
        *,
        accepts_response_payload: bool,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 10.0,
    ) -> tuple[str, dict[str, Any]]:
        """Send one envelope and wait for its ack; returns (envelope_id, ack message).

        Raises:
            ConnectionError: no client is connected.
            TimeoutError: no ack arrived within ``timeout`` seconds.
        """
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        waiter = _Waiter()
        with self._lock:
            candidates = list(reversed(self._connections))
            self._waiters[envelope_id] = waiter
        try:
            self._send_to_first_open(candidates, json.dumps(envelope))
            if not waiter.event.wait(timeout) or waiter.ack is None:
                raise TimeoutError(f"no Socket Mode ack within {timeout} s for a {envelope_type}")
            return envelope_id, waiter.ack
        finally:
            with self._lock:
                self._waiters.pop(envelope_id, None)

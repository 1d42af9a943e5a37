"""Fixtures for the Slack emulator's tests: a started emulator, real clients, a signed app."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.emulator import SlackEmulator

ANA = "U123"
BEN = "U456"


@pytest.fixture(name="emulator")
def emulator_fixture() -> Iterator[SlackEmulator]:
    """A running emulator with two people: Ana (Berlin) and Ben (New York)."""
    with SlackEmulator() as emu:
        emu.add_user(ANA, tz="Europe/Berlin", email="ana@example.com", real_name="Ana Lopez")
        emu.add_user(BEN, tz="America/New_York", email="ben@example.com", real_name="Ben Ode")
        yield emu


@pytest.fixture(name="client")
def client_fixture(emulator: SlackEmulator) -> WebClient:
    """A real WebClient without retry handlers, so every failure surfaces as it happened."""
    return WebClient(base_url=emulator.api_url, token=emulator.bot_token, retry_handlers=[])


@dataclass
class SignedApp:
    """A tiny HTTP app that checks Slack signatures the way Bolt does and records requests."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    answer: dict[str, Any] | None = None


@pytest.fixture(name="signed_app")
def signed_app_fixture(emulator: SlackEmulator) -> Iterator[SignedApp]:
    """Serve ``POST /slack/events`` on a free loopback port; 401 for a bad signature."""
    verifier = SignatureVerifier(emulator.signing_secret)
    recorded: list[dict[str, Any]] = []
    app = SignedApp(url="", requests=recorded)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            valid = verifier.is_valid_request(body, dict(self.headers.items()))
            recorded.append(
                {"path": self.path, "headers": dict(self.headers.items()), "body": body}
            )
            answer = json.dumps(app.answer or {}).encode() if valid else b"invalid signature"
            self.send_response(200 if valid else 401)
            self.send_header("Content-Type", "application/json" if valid else "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

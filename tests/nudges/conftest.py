"""Fixtures for the nudge loop: a feed server on loopback, settings with encryption at
rest and an hourly calendar poll, and a driver that runs the real app on the virtual
clock against the Slack emulator (``nudging.Driver``)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet
from nudging import Driver, FeedServer

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.config import Settings
from bot.emulator import SlackEmulator


@pytest.fixture(name="settings")
def fixture_settings(settings: Settings) -> Settings:
    """The shared settings, with reflections encrypted at rest and an hourly poll (a
    week on the virtual clock polls the feed ~180 times instead of ~2,000)."""
    return replace(
        settings, encryption_keys=(Fernet.generate_key().decode(),), calendar_poll_minutes=60
    )


@pytest.fixture(autouse=True)
def _quick_server_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """waitress polls its sockets with a 1 s timeout, and ``HttpServer.stop`` waits for
    the loop to notice: a second per test. A shorter poll keeps the suite quick."""
    from waitress.adjustments import Adjustments

    monkeypatch.setattr(Adjustments, "asyncore_loop_timeout", 0.05)


class _FeedHandler(http.server.BaseHTTPRequestHandler):
    state: FeedServer

    def do_GET(self) -> None:
        body = self.state.feeds.get(self.path.split("?")[0])
        self.state.hits += 1
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(name="feed_server")
def fixture_feed_server() -> Iterator[FeedServer]:
    """An ICS feed server on a loopback port chosen by the OS (``feeds[path] = bytes``)."""
    state = FeedServer()
    handler = type("Handler", (_FeedHandler,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(name="driver")
def fixture_driver(heedful: Heedful, emulator: SlackEmulator, clock: VirtualClock) -> Driver:
    return Driver(heedful, emulator, clock)

"""The app's HTTP clients (``bot.http_clients``): one per name and app, made on first use,
closed with the app; a new app trusts the certificates of its own time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy.engine import Engine

from bot.clock import VirtualClock
from bot.config import Settings
from bot.emulator import FakeMicrosoft
from bot.http_clients import HttpClients
from bot.services import build_services
from bot.sync import microsoft


class _Client:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_client_is_made_once_per_name_and_again_after_close() -> None:
    clients = HttpClients()
    first = clients.get("graph", _Client)
    assert clients.get("graph", _Client) is first
    other = clients.get("elsewhere", _Client)
    assert other is not first
    clients.close()
    assert first.closed and other.closed
    again = clients.get("graph", _Client)
    assert again is not first and not again.closed


@contextmanager
def _trusted_fake(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMicrosoft]:
    with FakeMicrosoft(clock=clock.now, auto_notify=False) as fake:
        monkeypatch.setenv("SSL_CERT_FILE", fake.ca_file)
        yield fake


def test_each_app_trusts_the_fake_of_its_time_even_on_a_reused_address(
    settings: Settings, engine: Engine, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two fakes one after the other, each with its own self-signed certificate (the
    second may well get the first one's port): the services made for each reach it."""
    for _ in range(2):
        with _trusted_fake(clock, monkeypatch) as fake:
            services = build_services(settings, clock=clock, engine=engine)
            client = microsoft._http(services)
            assert microsoft._http(services) is client  # kept for the app's life
            answer = client.get(f"{fake.graph_url}/me/calendarView/delta")
            assert answer.status_code == 401  # TLS held; Graph wants a token
            services.http.close()
            with pytest.raises(RuntimeError):
                client.get(f"{fake.graph_url}/me")  # closed with the app
            assert isinstance(client, httpx.Client)

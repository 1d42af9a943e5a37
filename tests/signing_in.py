"""The fake Google and the fake Microsoft, set up for the real app, and a browser that signs
in through them: shared by the tests of connected calendars (tests/calendars, tests/nudges).

Heedful's public address (:data:`PUBLIC`) is served by the app's loopback port, as a
reverse proxy would; each fake is told the same (``fake.route``), so its redirects and
notifications reach the app. A test module keeps its own small fixtures, each a line
around these helpers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from waiting import wait_until

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.config import Settings
from bot.emulator import FakeGoogle, FakeMicrosoft, SlackEmulator
from bot.services import Services, build_services
from bot.storage import repository as repo
from bot.storage.db import session_scope

PUBLIC = "https://heedful.test"
GOOGLE_CLIENT = ("heedful-client.apps.googleusercontent.com", "client-secret-1")
MICROSOFT_CLIENT = ("6731de76-14a6-49ae-97bc-6eba6914391e", "client-secret-1")


@contextmanager
def fake_google(
    clock: VirtualClock, monkeypatch: pytest.MonkeyPatch, email: str
) -> Iterator[FakeGoogle]:
    """A running fake Google that knows Heedful's client and ``email``'s account."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake is http on loopback
    with FakeGoogle(clock=clock.now, auto_push=False) as fake:
        fake.add_client(*GOOGLE_CLIENT, [f"{PUBLIC}/oauth/google/callback"])
        fake.add_account(email, time_zone="Europe/Berlin")
        yield fake


@contextmanager
def fake_microsoft(
    clock: VirtualClock, monkeypatch: pytest.MonkeyPatch, email: str
) -> Iterator[FakeMicrosoft]:
    """A running fake Microsoft that knows Heedful's client and ``email``'s account. MSAL
    (requests) and Graph (httpx) trust its self-signed certificate the standard way
    (REQUESTS_CA_BUNDLE, SSL_CERT_FILE)."""
    with FakeMicrosoft(clock=clock.now, auto_notify=False) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)  # MSAL (requests)
        monkeypatch.setenv("SSL_CERT_FILE", fake.ca_file)  # Graph (httpx)
        fake.add_client(*MICROSOFT_CLIENT, [f"{PUBLIC}/oauth/microsoft/callback"])
        fake.add_account(email, time_zone="W. Europe Standard Time")
        yield fake


def with_google(settings: Settings, fake: FakeGoogle) -> Settings:
    """``settings`` with Google configured against ``fake``."""
    return replace(
        settings,
        public_url=PUBLIC,
        google_client_id=GOOGLE_CLIENT[0],
        google_client_secret=GOOGLE_CLIENT[1],
        google_auth_uri=fake.auth_uri,
        google_token_uri=fake.token_uri,
        google_calendar_api_url=fake.calendar_api_url,
    )


def with_microsoft(settings: Settings, fake: FakeMicrosoft) -> Settings:
    """``settings`` with Microsoft configured against ``fake``."""
    return replace(
        settings,
        public_url=PUBLIC,
        microsoft_client_id=MICROSOFT_CLIENT[0],
        microsoft_client_secret=MICROSOFT_CLIENT[1],
        microsoft_authority_url=fake.authority_url,
        microsoft_graph_url=fake.graph_url,
    )


def add_person(services: Services, *, team_id: str, user_id: str, email: str) -> None:
    """The Slack user whose calendars the tests connect (zone Europe/Berlin)."""
    with session_scope(services.engine) as session:
        user = repo.ensure_user(
            session=session, team_id=team_id, user_id=user_id, now=services.clock.now()
        )
        user.tz, user.email = "Europe/Berlin", email
        session.add(user)


def browse(app_url: str, url: str) -> httpx.Response:
    """Open ``url`` as a browser would, following redirects to the fakes and back
    (:data:`PUBLIC` is served at ``app_url``); returns the last answer."""
    for _ in range(5):
        local = url.replace(PUBLIC, app_url, 1) if url.startswith(PUBLIC) else url
        answer = httpx.get(local, follow_redirects=False, timeout=30)
        if answer.status_code not in (302, 303) or "location" not in answer.headers:
            return answer
        url = answer.headers["location"]
    raise AssertionError("too many redirects")


def rows(services: Services, table: Any) -> list[Any]:
    """Every row of a SQLModel ``table``."""
    with services.engine.connect() as conn:
        return list(conn.execute(sa.select(table.__table__)))


@contextmanager
def running_app(settings: Settings, engine: Engine, clock: VirtualClock) -> Iterator[Heedful]:
    """Another real app (other ``settings``) on the test's database, serving HTTP."""
    services = build_services(settings, clock=clock, engine=engine)
    services.install_from_token(settings.slack_bot_token or "")
    app = Heedful(services, run_workers=False)
    app.start()
    try:
        yield app
    finally:
        app.stop()


def home_buttons(view: dict) -> dict[str, dict]:
    """The buttons of a Home view by their action id."""
    return {
        e["action_id"]: e
        for b in view["blocks"]
        for e in [*b.get("elements", []), b.get("accessory") or {}]
        if e.get("type") == "button"
    }


def link_answered(emulator: SlackEmulator, provider: str) -> str:
    """The sign-in link in ``/heedful connect``'s ephemeral answer, once it came."""
    answer = wait_until(
        lambda: [
            r["payload"]["text"]
            for r in emulator.responses
            if f"oauth/{provider}" in r["payload"].get("text", "")
        ],
        what="the ephemeral answer with the link",
    )[0]
    return answer.split("<", 1)[1].split("|", 1)[0].replace("&amp;", "&")

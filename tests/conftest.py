"""Fixtures that compose: a virtual clock, a database (SQLite, or PostgreSQL in a
private schema), the Slack emulator, and the real app wired to both.

PostgreSQL tests skip with a reason when no server answers, unless
``HEEDFUL_REQUIRE_POSTGRES=1`` (CI sets it), where they fail instead.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.config import Settings
from bot.services import Services, build_services
from bot.storage.db import make_engine, upgrade

if TYPE_CHECKING:
    from bot.emulator import SlackEmulator

POSTGRES_URL = os.environ.get(
    "HEEDFUL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SIGNING_SECRET = "test-signing-secret"
# A Monday morning, UTC.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def postgres_reason() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"no PostgreSQL at {POSTGRES_URL}: {type(exc).__name__}"
    return None


def _need_postgres() -> None:
    reason = postgres_reason()
    if reason is None:
        return
    if os.environ.get("HEEDFUL_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (HEEDFUL_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


@pytest.fixture(name="postgres_url")
def fixture_postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh private schema, dropped afterwards."""
    _need_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(name="sqlite_url")
def fixture_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'heedful.db'}"


@pytest.fixture(
    name="db_url", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def fixture_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture(name="engine")
def fixture_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(name="clock")
def fixture_clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture(name="emulator")
def fixture_emulator(
    request: pytest.FixtureRequest, clock: VirtualClock
) -> Iterator[SlackEmulator]:
    """The Slack emulator on the test's virtual clock: what the app schedules with
    ``chat.scheduleMessage`` is posted when the clock passes its ``post_at``. A test that
    runs real ``heedful run`` processes (``run_env``) keeps real time: so do they."""
    from bot.emulator import SlackEmulator

    real_time = "run_env" in request.fixturenames
    emu = SlackEmulator(signing_secret=SIGNING_SECRET, clock=None if real_time else clock.now)
    emu.start()
    emu.add_user("U1", tz="Europe/Berlin", email="ana@example.com", real_name="Ana")
    emu.add_user("U2", tz="America/New_York", email="ben@example.com", real_name="Ben")
    yield emu
    emu.stop()


@pytest.fixture(name="settings")
def fixture_settings(emulator: SlackEmulator, db_url: str) -> Settings:
    return Settings(
        slack_bot_token=emulator.bot_token,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=emulator.api_url,
        database_url=db_url,
        host="127.0.0.1",
        port=0,
        allow_private_feeds=True,  # the tests serve their feeds on loopback
        # A thousand DMs a second: tests that send many DMs at one virtual instant are not
        # about pacing; the pacing tests (tests/app/test_pacing.py) set their own.
        slack_messages_per_minute=60_000,
    )


@pytest.fixture(name="services")
def fixture_services(settings: Settings, engine: Engine, clock: VirtualClock) -> Services:
    services = build_services(settings, clock=clock, engine=engine)
    services.install_from_token(settings.slack_bot_token or "")
    return services


@pytest.fixture(name="heedful")
def fixture_heedful(services: Services) -> Iterator[Heedful]:
    """The real app serving HTTP on a free port; the test drives inbox and outbox."""
    app = Heedful(services, run_workers=False)
    app.start()
    yield app
    app.stop()


# ------------------------------------------------------------------ what Slack would refuse

REFUSALS_MARK = "emulator_refusals"


class _Refusals(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


@pytest.fixture(autouse=True)
def _nothing_slack_would_refuse(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every DM, view and modal a test makes Heedful send passes the emulator's Block Kit
    checks (``bot.emulator.blocks``: slack_sdk.models and Slack's documented limits). The
    sender would fall back to plain text and the test might still pass, so a refusal fails
    the test here, unless it is marked ``emulator_refusals``."""
    watched = logging.getLogger("bot.emulator.refusals")
    handler, level = _Refusals(), watched.level
    watched.addHandler(handler)
    watched.setLevel(logging.WARNING)
    try:
        yield
    finally:
        watched.removeHandler(handler)
        watched.setLevel(level)
    if handler.seen and request.node.get_closest_marker(REFUSALS_MARK) is None:
        pytest.fail("the Slack emulator refused a payload:\n" + "\n".join(handler.seen))

"""Fixtures for the feedback tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asking import Play

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.config import Settings
from bot.emulator import SlackEmulator
from bot.services import build_services
from bot.storage.db import make_engine


@pytest.fixture(name="play")
def fixture_play(heedful: Heedful, emulator: SlackEmulator, clock: VirtualClock) -> Play:
    """The test's one app, played on the virtual clock (see :class:`asking.Play`)."""
    return Play(heedful, emulator, clock)


@pytest.fixture(name="second")
def fixture_second(settings: Settings, clock: VirtualClock, db_url: str) -> Iterator[Heedful]:
    """Another Heedful process on the same database (its own engine and worker id)."""
    engine = make_engine(db_url)
    app = Heedful(
        build_services(settings, clock=clock, engine=engine), serve_http=False, run_workers=False
    )
    yield app
    app.stop()
    engine.dispose()

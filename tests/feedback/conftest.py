"""Fixtures for the feedback tests."""

from __future__ import annotations

import pytest
from asking import Play

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator


@pytest.fixture(name="play")
def fixture_play(heedful: Heedful, emulator: SlackEmulator, clock: VirtualClock) -> Play:
    """The test's one app, played on the virtual clock (see :class:`asking.Play`)."""
    return Play(heedful, emulator, clock)

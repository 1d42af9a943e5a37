"""Fixtures for the digest tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from digesting import Driver

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator


@pytest.fixture(name="driver")
def fixture_driver(
    heedful: Heedful, emulator: SlackEmulator, clock: VirtualClock
) -> Iterator[Driver]:
    """The test's one app, played on the virtual clock (see :class:`digesting.Driver`)."""
    driver = Driver([heedful], emulator, clock)
    yield driver
    driver.close()

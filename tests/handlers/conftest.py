"""Fixtures for the listener tests: the real app on SQLite (the listener layer does not
depend on the database), the Slack emulator, and ``slack``, which drives both the way
Slack does (``handling.Slack``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from handling import Slack

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator


@pytest.fixture(name="db_url")
def fixture_db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture(autouse=True)
def _quick_server_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """waitress polls its sockets every second, and stopping waits for the poll."""
    from waitress.adjustments import Adjustments

    monkeypatch.setattr(Adjustments, "asyncore_loop_timeout", 0.05)


@pytest.fixture(name="slack")
def fixture_slack(
    heedful: Heedful, emulator: SlackEmulator, clock: VirtualClock
) -> Iterator[Slack]:
    slack = Slack(heedful, emulator, clock)
    yield slack
    slack.settle()  # nothing a test started is still running when the app stops

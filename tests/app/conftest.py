"""Fixtures for tests that run real ``heedful run`` processes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from processes import Process

from bot.emulator import SlackEmulator
from bot.storage.db import make_engine, upgrade


@pytest.fixture(name="run_env")
def fixture_run_env(emulator: SlackEmulator, db_url: str) -> dict[str, str]:
    """The environment of a ``heedful run`` child: the emulator's Slack, the test's database."""
    engine = make_engine(db_url)
    upgrade(engine)  # the children find the schema ready, as after `heedful db upgrade`
    engine.dispose()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEEDFUL_"))}
    return {
        **base,
        "SLACK_BOT_TOKEN": emulator.bot_token,
        "SLACK_SIGNING_SECRET": emulator.signing_secret,
        "SLACK_API_URL": emulator.api_url,
        "DATABASE_URL": db_url,
        "HEEDFUL_PORT": "0",
        "HEEDFUL_LOG_LEVEL": "INFO",
        # Unpaced unless a test paces it: these tests are about faults, not the budget.
        "HEEDFUL_SLACK_MESSAGES_PER_MINUTE": "60000",
    }


@pytest.fixture(name="processes")
def fixture_processes() -> Iterator[list[Process]]:
    """Processes a test started; any still running at the end are killed."""
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()

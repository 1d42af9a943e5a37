"""Fixtures for the data-rights tests: encryption at rest on, and a quick HTTP shutdown."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.fernet import Fernet

from bot.config import Settings


@pytest.fixture(name="key")
def fixture_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture(name="settings")
def fixture_settings(settings: Settings, key: str) -> Settings:
    """The shared settings with HEEDFUL_ENCRYPTION_KEY set."""
    return replace(settings, encryption_keys=(key,))


@pytest.fixture(autouse=True)
def _quick_server_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """waitress polls its sockets with a 1 s timeout; a shorter poll keeps tests quick."""
    from waitress.adjustments import Adjustments

    monkeypatch.setattr(Adjustments, "asyncore_loop_timeout", 0.05)

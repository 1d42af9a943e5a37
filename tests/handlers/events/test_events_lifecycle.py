"""handlers/events/lifecycle.py: uninstalled, or its tokens revoked, Heedful stops."""

from __future__ import annotations

import sqlalchemy as sa
from handling import Slack

from bot.storage.models import Installation

INSTALLATION = Installation.__table__


def _pause_reason(slack: Slack) -> str | None:
    with slack.services.engine.connect() as conn:
        return conn.execute(
            sa.select(INSTALLATION.c.pause_reason).where(INSTALLATION.c.team_id == slack.team)
        ).scalar_one_or_none()


def test_a_revoked_bot_token_pauses_the_workspace(slack: Slack) -> None:
    bot = slack.emulator.bot_user_id
    slack.event({"type": "tokens_revoked", "tokens": {"oauth": ["U9"], "bot": []}})
    assert _pause_reason(slack) is None  # a person's token: not Heedful's

    slack.event({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [bot]}})
    assert _pause_reason(slack) == "tokens_revoked"


def test_uninstalling_forgets_the_workspace(slack: Slack) -> None:
    slack.has_a_meeting()
    slack.event({"type": "app_uninstalled"})
    assert slack.user() is None
    with slack.services.engine.connect() as conn:
        assert conn.execute(sa.select(INSTALLATION.c.team_id)).all() == []

"""handlers/events/user_change.py: a person's zone follows their Slack profile."""

from __future__ import annotations

import sqlalchemy as sa
from handling import USER, Slack

from bot.storage.models import SlackUser

USERS = SlackUser.__table__


def test_a_new_zone_in_the_profile_is_taken(slack: Slack) -> None:
    slack.has_a_meeting()
    slack.emulator.update_user(USER, tz="Asia/Tokyo")
    slack.event(slack.emulator.user_change_event(USER))
    assert slack.user().tz == "Asia/Tokyo"


def test_someone_heedful_does_not_know_is_not_added(slack: Slack) -> None:
    slack.has_a_meeting()
    slack.event(slack.emulator.user_change_event("U2"))
    with slack.services.engine.connect() as conn:
        assert conn.execute(sa.select(USERS.c.slack_user_id)).scalars().all() == [USER]

"""handlers/events/app_home_opened.py: the Home tab, published on every visit."""

from __future__ import annotations

from datetime import timedelta

from handling import USER, Slack


def _opened(slack: Slack, tab: str) -> None:
    channel = slack.emulator.dm_channel(USER)
    slack.event({"type": "app_home_opened", "user": USER, "channel": channel, "tab": tab})


def test_a_visit_publishes_the_home_tab_and_asks_slack_for_the_zone_once_a_day(
    slack: Slack,
) -> None:
    home = slack.open_home()
    assert home["type"] == "home"
    assert slack.user().tz == "Europe/Berlin"  # from users.info
    assert len(slack.emulator.calls_to("users.info")) == 1

    slack.open_home()  # an hour later: the zone is fresh
    assert len(slack.emulator.calls_to("users.info")) == 1
    assert len(slack.emulator.calls_to("views.publish")) == 2

    slack.clock.advance(timedelta(hours=25))
    slack.open_home()
    assert len(slack.emulator.calls_to("users.info")) == 2


def test_the_messages_tab_publishes_nothing(slack: Slack) -> None:
    _opened(slack, "messages")
    assert slack.emulator.calls_to("views.publish") == []
    assert slack.emulator.calls_to("users.info") == []

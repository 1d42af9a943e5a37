"""handlers/actions/home.py: the buttons on the Home tab, and the confirm button of
``/heedful forget``."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa
from handling import USER, Slack
from waiting import wait_until

from bot.messages.prompts import load_prompts
from bot.nudges import pause_until
from bot.storage.models import CalendarSource

PROMPTS = load_prompts()
SOURCE = CalendarSource.__table__


def _buttons(view: dict) -> dict[str, str]:
    """action_id → value of every button on a view."""
    found = {}
    for block in view["blocks"]:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                found[element["action_id"]] = element.get("value", "")
    return found


def _home_buttons(slack: Slack) -> dict[str, str]:
    return _buttons(slack.emulator.views[USER])


def _a_calendar(slack: Slack) -> int:
    now = slack.clock.now()
    with slack.services.engine.begin() as conn:
        return conn.execute(
            sa.insert(SOURCE)
            .values(
                team_id=slack.team,
                user_id=USER,
                kind="ics",
                url=slack.services.cipher.encrypt("https://calendar.example.com/ana.ics"),
                label="Ana's work calendar",
                status="ok",
                created_at=now,
                next_check_at=now + timedelta(days=365),
            )
            .returning(SOURCE.c.id)
        ).scalar_one()


def test_resume_unpauses_and_republishes_the_home_tab(slack: Slack) -> None:
    slack.has_a_meeting()
    pause_until(
        slack.services, team_id=slack.team, user_id=USER, until=slack.clock.now() + timedelta(7)
    )
    assert "home_resume" in _buttons(slack.open_home())

    slack.click("home_resume")

    wait_until(lambda: "home_pause" in _home_buttons(slack), what="the Home tab republished")
    assert slack.user().paused_until is None


def test_settings_and_connect_and_erase_open_their_forms(slack: Slack) -> None:
    slack.open_home()
    forms = {"home_settings": "settings_form", "home_connect": "connect_form"}
    forms["home_erase"] = "erase_form"
    for count, (action_id, callback_id) in enumerate(forms.items(), start=1):
        slack.click(action_id)
        opened = slack.calls("views.open", count)
        assert opened[-1].params["view"]["callback_id"] == callback_id


def test_remove_disconnects_that_calendar_and_republishes(slack: Slack) -> None:
    slack.has_a_meeting()
    source_id = _a_calendar(slack)
    assert _buttons(slack.open_home())["home_remove_calendar"] == str(source_id)

    slack.click("home_remove_calendar")

    wait_until(lambda: "home_remove_calendar" not in _home_buttons(slack), what="the calendar gone")
    with slack.services.engine.connect() as conn:
        assert conn.execute(sa.select(SOURCE.c.id)).all() == []


def test_unmute_brings_the_series_back(slack: Slack) -> None:
    slack.click("nudge_mute", message=slack.reminder())
    slack.calls("chat.update")
    assert _buttons(slack.open_home())["home_unmute"] == "ics:1|ben"

    slack.click("home_unmute")

    wait_until(lambda: "home_unmute" not in _home_buttons(slack), what="the series unmuted")
    assert slack.user().prefs["muted_series"] == []


def test_export_uploads_the_persons_data_to_their_dm(slack: Slack) -> None:
    slack.has_a_meeting()
    slack.open_home()
    slack.click("home_export")
    (done,) = slack.calls("files.completeUploadExternal")
    (content,) = slack.emulator.files.values()
    assert json.loads(content)["profile"]["tz"] == "Europe/Berlin"
    assert done.params["initial_comment"] == PROMPTS.text("export.comment")


def test_the_forget_confirm_button_erases_and_says_so_in_place(slack: Slack) -> None:
    slack.has_a_meeting()
    slack.command("forget")
    question = wait_until(lambda: slack.emulator.responses, what="the forget question")[-1]

    slack.click("erase_confirm", message=question["payload"])

    done = wait_until(lambda: slack.emulator.responses[1:], what="the confirmation")[-1]
    assert done["payload"]["text"] == PROMPTS.text("forget.done")
    assert done["payload"]["replace_original"] is True
    assert slack.user() is None

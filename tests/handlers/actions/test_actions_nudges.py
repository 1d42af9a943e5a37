"""handlers/actions/nudges.py: the buttons on a reminder and on a reflection question."""

from __future__ import annotations

import logging

import pytest
from handling import USER, Slack
from waiting import wait_until

from bot.messages.blocks import TAPS
from bot.messages.prompts import load_prompts

PROMPTS = load_prompts()


def _delivery_id(message: dict) -> int:
    return int(message["metadata"]["event_payload"]["delivery_id"])


def test_skip_puts_a_note_in_place_of_the_reminders_buttons(slack: Slack) -> None:
    reminder = slack.reminder()
    assert slack.click("nudge_skip", message=reminder).body == ""

    (update,) = slack.calls("chat.update")
    dm = slack.emulator.dm_channel(USER)
    assert (update.params["channel"], update.params["ts"]) == (dm, reminder["ts"])
    blocks = str(update.params["blocks"])
    assert PROMPTS.text("done.skipped", title="1:1 with Ben") in blocks
    assert "nudge_skip" not in blocks


def test_mute_puts_a_note_in_place_of_the_reminders_buttons(slack: Slack) -> None:
    reminder = slack.reminder()
    slack.click("nudge_mute", message=reminder)
    (update,) = slack.calls("chat.update")
    assert PROMPTS.text("done.muted", title="1:1 with Ben") in str(update.params["blocks"])
    assert slack.user().prefs["muted_series"] == ["ics:1|ben"]


def test_pause_opens_the_pause_form_set_to_tomorrow(slack: Slack) -> None:
    slack.click("nudge_pause", message=slack.reminder())
    (opened,) = slack.calls("views.open")
    assert opened.params["view"]["callback_id"] == "pause_form"
    assert "2026-03-03" in str(opened.params["view"])  # tomorrow, in Ana's zone


def test_a_presence_tap_is_kept_and_said_in_place_of_the_buttons(slack: Slack) -> None:
    question = slack.question()
    slack.click("reflect_tap_5", message=question)
    (update,) = slack.calls("chat.update")
    assert update.params["ts"] == question["ts"]
    label = PROMPTS.text(next(pid for pid, score in TAPS if score == 5))
    said = [PROMPTS.text(p.id, answer=label) for p in PROMPTS if p.id.startswith("done.tapped.")]
    assert any(line in str(update.params["blocks"]) for line in said)  # one of the rotated


def test_write_a_line_opens_the_form_with_the_question(slack: Slack) -> None:
    question = slack.question()
    slack.click("reflect_write", message=question)
    (opened,) = slack.calls("views.open")
    form = opened.params["view"]
    assert form["callback_id"] == "reflection_form"
    assert form["private_metadata"] == str(_delivery_id(question))


@pytest.mark.parametrize("action_id", ["nudge_skip", "reflect_write"])
def test_a_tampered_button_value_is_logged_without_it_and_changes_nothing(
    slack: Slack, caplog: pytest.LogCaptureFixture, action_id: str
) -> None:
    caplog.set_level(logging.INFO)
    canary = "CANARY-not-a-delivery-id-77c1"
    message = slack.question() if action_id == "reflect_write" else slack.reminder()

    result = slack.click(action_id, message=message, value=canary)

    assert (result.status, result.body) == (200, "")  # acked; nothing for the person to see
    (failure,) = wait_until(
        lambda: [r for r in caplog.records if r.name == "handlers.actions.nudges"],
        what="the failure to be logged",
    )
    assert failure.levelno == logging.ERROR and failure.exc_info is not None
    assert canary not in caplog.text
    slack.settle()
    assert slack.emulator.calls_to("chat.update") == []
    assert slack.emulator.calls_to("views.open") == []

"""handlers/views/forms.py: the modals' submissions. A form with a wrong input stays
open with the error beside it; a confirmation is queued once per submitted form."""

from __future__ import annotations

import socket
from typing import Any

import sqlalchemy as sa
from factories import local, settings_values
from handling import USER, Slack
from waiting import wait_until

from bot.home import settings_summary
from bot.messages.prompts import load_prompts
from bot.prefs import Prefs
from bot.storage.models import Reflection

PROMPTS = load_prompts()


def _opened(slack: Slack, action_id: str, message: dict[str, Any] | None = None) -> dict:
    """The form a button opens, as Slack would hand it back on submission."""
    count = len(slack.emulator.opened_views) + 1
    slack.click(action_id, message=message)
    wait_until(lambda: len(slack.emulator.opened_views) >= count, what="the form to open")
    return slack.emulator.opened_views[-1]


def _reflections(slack: Slack) -> list[Any]:
    with slack.services.engine.connect() as conn:
        return conn.execute(sa.select(Reflection.__table__)).all()


def test_a_written_line_is_kept_and_confirmed_once_per_form(slack: Slack) -> None:
    question = slack.question()
    form = _opened(slack, "reflect_write", question)
    values = {"text": {"text_value": "Let Ben finish before I answered."}}

    assert slack.submit(form, values).body == ""  # the form closes
    (reply,) = slack.replies()
    assert reply["ref"] == f"reply:form:{form['id']}"
    assert reply["thread_ts"] == question["ts"]
    assert len(_reflections(slack)) == 1

    slack.submit(form, values)  # the same form again (a double click): one confirmation
    slack.settle()
    assert len(slack.replies()) == 1


def test_a_pause_without_a_date_keeps_the_form_open(slack: Slack) -> None:
    form = _opened(slack, "nudge_pause", slack.reminder())
    refused = slack.submit(form, {"until": {"until_value": {"type": "datepicker"}}})
    assert refused.json == {
        "response_action": "errors",
        "errors": {"until": PROMPTS.text("pause.label")},
    }
    assert slack.user().paused_until is None


def test_a_pause_until_a_date_pauses_and_confirms_once(slack: Slack) -> None:
    form = _opened(slack, "nudge_pause", slack.reminder())
    chosen = {"until": {"until_value": {"type": "datepicker", "selected_date": "2026-03-05"}}}

    assert slack.submit(form, chosen).body == ""
    (reply,) = slack.replies()
    assert reply["ref"] == f"reply:pause:{form['id']}"
    assert reply["text"] == PROMPTS.text("done.paused", until="Thursday 5 March")
    assert slack.user().paused_until == local("2026-03-05", "00:00")


def test_settings_with_no_working_day_keep_the_form_open(slack: Slack) -> None:
    slack.has_a_meeting()
    slack.open_home()
    form = _opened(slack, "home_settings")
    refused = slack.submit(form, settings_values(working_days=[]))
    assert refused.json["errors"] == {"working_days": PROMPTS.text("settings.no_days")}
    assert Prefs.from_json(slack.user().prefs) == Prefs()


def test_settings_are_saved_and_the_home_tab_republished(slack: Slack) -> None:
    slack.has_a_meeting()
    slack.open_home()
    form = _opened(slack, "home_settings")
    chosen = settings_summary(PROMPTS, Prefs(lead_minutes=10))
    summary = PROMPTS.text("home.settings_summary", **chosen)

    assert slack.submit(form, settings_values(lead_minutes=10)).body == ""

    wait_until(lambda: summary in str(slack.emulator.views[USER]), what="the new settings shown")
    assert Prefs.from_json(slack.user().prefs).lead_minutes == 10


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connect_closes_the_form_then_answers_in_the_dm_and_on_the_home_tab(
    slack: Slack,
) -> None:
    slack.open_home()
    form = _opened(slack, "home_connect")
    published = len(slack.emulator.calls_to("views.publish"))
    feed = f"http://127.0.0.1:{_closed_port()}/ana.ics"

    assert slack.submit(form, {"url": {"url_value": feed}}).body == ""

    (*_, republished) = slack.calls("views.publish", published + 1)
    assert republished.params["user_id"] == USER
    (reply,) = slack.replies()
    assert reply["ref"] == f"reply:connect:{form['id']}"


def test_connect_while_the_last_one_is_checked_keeps_the_form_open(slack: Slack) -> None:
    slack.open_home()
    form = _opened(slack, "home_connect")
    held = slack.services.slow_work.reserve((slack.team, USER))
    try:
        refused = slack.submit(form, {"url": {"url_value": "https://calendar.example.com/a"}})
    finally:
        held.release()  # type: ignore[union-attr]
    assert refused.json["errors"] == {"url": PROMPTS.text("slow_work.busy.yours")}


def test_erase_erases_republishes_and_confirms_in_the_dm(slack: Slack) -> None:
    slack.has_a_meeting()
    slack.open_home()
    form = _opened(slack, "home_erase")

    assert slack.submit(form, {}).body == ""

    (posted,) = slack.calls("chat.postMessage")
    assert posted.params["text"] == PROMPTS.text("forget.done")
    assert slack.user() is None
    assert slack.emulator.calls_to("views.publish")[-1].params["user_id"] == USER

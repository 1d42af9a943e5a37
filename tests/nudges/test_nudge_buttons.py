"""The buttons on a nudge: skip this one, mute this series, pause Heedful until a date."""

from __future__ import annotations

import pytest
from nudging import Driver, Event, FeedServer, at, colleagues, local_hhmm

from bot.messages.prompts import load_prompts

MONDAY, TUESDAY, WEDNESDAY = "2026-03-02", "2026-03-03", "2026-03-04"
PROMPTS = load_prompts()
WEEK = [
    Event(
        "standup",
        "Team stand-up",
        f"{MONDAY} 09:30",
        15,
        colleagues(4),
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    ),
    Event("ben", "1:1 Ana / Ben", f"{MONDAY} 10:00", 30, ["ben@example.com"]),
    Event("planning", "Planning", f"{MONDAY} 14:00", 30, colleagues(3)),
    Event("chloe", "1:1 Ana / Chloe", f"{TUESDAY} 11:00", 30, ["chloe@example.com"]),
    Event("dan", "1:1 Ana / Dan", f"{WEDNESDAY} 11:00", 30, ["dan@example.com"]),
]


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer) -> Driver:
    # Four questions a day, the most one may choose: every meeting of the day gets one.
    return driver.starts(at(MONDAY, "08:00"), feed_server, WEEK).questions_a_day(4)


def _about(driver: Driver, title: str) -> list[str]:
    return [s.kind for s in driver.sent if s.occurrence and driver.title(s) == title]


def test_skip_this_one_means_nothing_more_about_that_meeting(ana: Driver) -> None:
    ana.run_until(at(MONDAY, "09:55"))
    reminder = ana.nudge("reminder", "1:1 Ana / Ben")
    (value,) = reminder.action_values("nudge_skip")
    assert value == str(reminder.delivery_id)

    ana.click("nudge_skip", reminder)
    (update,) = ana.emulator.calls_to("chat.update")
    assert update.params["ts"] == reminder.ts
    assert PROMPTS.text("done.skipped", title="1:1 Ana / Ben") in str(update.params["blocks"])
    assert "nudge_skip" not in str(update.params["blocks"])  # its buttons are gone

    # A re-plan (here: an answer to the stand-up's question) does not bring it back.
    ana.run_until(at(MONDAY, "09:50"))
    ana.says("Short and sweet.", thread_ts=ana.nudge("reflection", "Team stand-up").ts)
    ana.run_until(at(MONDAY, "18:00"))
    assert _about(ana, "1:1 Ana / Ben") == ["reminder"]
    assert _about(ana, "Planning") == ["reminder", "reflection"]  # others go on


def test_mute_this_series_silences_the_series_and_nothing_else(ana: Driver) -> None:
    ana.run_until(at(MONDAY, "09:25"))
    reminder = ana.nudge("reminder", "Team stand-up")
    ana.click("nudge_mute", reminder)
    (update,) = ana.emulator.calls_to("chat.update")
    assert PROMPTS.text("done.muted", title="Team stand-up") in str(update.params["blocks"])

    ana.run_until(at(WEDNESDAY, "18:00"), on_sent=ana.answer)
    assert _about(ana, "Team stand-up") == ["reminder"]  # Monday's reminder, then silence
    for title in ("1:1 Ana / Ben", "Planning", "1:1 Ana / Chloe", "1:1 Ana / Dan"):
        assert _about(ana, title) == ["reminder", "reflection"], title


def test_pause_until_a_date_from_the_modal_then_nudges_resume(ana: Driver) -> None:
    ana.run_until(at(MONDAY, "09:25"))
    reminder = ana.nudge("reminder", "Team stand-up")
    ana.click("nudge_pause", reminder)
    (form,) = ana.emulator.opened_views
    assert form["callback_id"] == "pause_form"

    # No date: the form says what is missing and stays open.
    empty = ana.submit(form, {"until": {"until_value": {"type": "datepicker"}}})
    assert empty.json["response_action"] == "errors" and "until" in empty.json["errors"]

    chosen = {"type": "datepicker", "selected_date": WEDNESDAY}
    answer = ana.submit(form, {"until": {"until_value": chosen}})
    assert not answer.body  # closed
    confirmation = PROMPTS.text("done.paused", until="Wednesday 4 March")
    assert confirmation in [r.text for r in ana.replies]
    assert ana.user_row().paused_until == at(WEDNESDAY, "00:00")

    before = len(ana.sent)
    ana.run_until(at(TUESDAY, "23:59"))
    assert ana.sent[before:] == []  # nothing on Monday after the pause, nor on Tuesday

    ana.run_until(at(WEDNESDAY, "18:00"))
    kinds = [(s.kind, ana.title(s)) for s in ana.sent[before:]]
    assert kinds == [
        ("reminder", "Team stand-up"),
        ("reflection", "Team stand-up"),
        ("reminder", "1:1 Ana / Dan"),
        ("reflection", "1:1 Ana / Dan"),
    ]


def test_skipping_the_first_of_two_back_to_back_meetings_drops_its_question(
    driver: Driver, feed_server: FeedServer
) -> None:
    """Dan's 1:1 ends at 16:00 and the sync starts at 16:02: one combined message asks
    about the 1:1 and prepares the sync. Skip the 1:1, and only the reminder is left."""
    driver.clock.set(at(MONDAY, "08:00"))
    driver.open_home()
    driver.connect(
        feed_server,
        [
            Event("dan", "1:1 Ana / Dan", f"{MONDAY} 15:30", 30, ["dan@example.com"]),
            Event("sync", "Project sync", f"{MONDAY} 16:02", 28, colleagues(3)),
        ],
    )
    driver.run_until(at(MONDAY, "15:25"))
    driver.click("nudge_skip", driver.nudge("reminder", "1:1 Ana / Dan"))

    driver.run_until(at(MONDAY, "18:00"))
    (combined,) = [s for s in driver.sent if s.kind == "transition"]
    assert local_hhmm(combined.at) == f"{MONDAY} 16:00"
    assert driver.title(combined) == "Project sync"
    assert "Dan" not in combined.text and "is over" not in combined.text
    assert "reflect_tap" not in str(combined.blocks)  # nothing to answer about Dan
    assert "at 16:02" in combined.text
    assert [s.kind for s in driver.sent if s.kind != "welcome"] == [
        "reminder",
        "transition",
        "reflection",
    ]

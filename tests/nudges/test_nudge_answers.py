"""Every way of answering a reflection question lands on the right meeting, once: a
thread reply, a plain DM, an edit, a tap, the "Write a line" form; late, long and
duplicated answers are handled visibly; the text is encrypted and never logged."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from nudging import Driver, Event, FeedServer, at, colleagues

from bot.messages.blocks import REFLECTION_MAX_CHARS
from bot.messages.prompts import load_prompts
from bot.replies import REACTION

DAY = "2026-03-02"  # a Monday
MEETINGS = [
    Event("one", "1:1 Ana / Ben", f"{DAY} 10:00", 30, ["ben@example.com"]),
    Event("two", "Planning", f"{DAY} 11:00", 30, colleagues(3)),
    Event("three", "Retro", f"{DAY} 14:00", 30, colleagues(3)),
    # Back to back with the retro: the retro's question comes with the next reminder.
    Event("four", "Hiring sync", f"{DAY} 14:32", 28, colleagues(2)),
]
PROMPTS = load_prompts()


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer) -> Driver:
    # Four questions a day, the most one may choose: every meeting of the day gets one.
    return driver.starts(at(DAY, "08:00"), feed_server, MEETINGS).questions_a_day(4)


@pytest.fixture(name="logs")
def fixture_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything the app logs, down to DEBUG (the emulator's own logs are Slack's side)."""
    caplog.set_level(logging.DEBUG)
    yield caplog


def _app_log(logs: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}"
        for r in logs.records
        if not r.name.startswith("bot.emulator")
    )


def _thread(driver: Driver, ts: str) -> list[str]:
    """Heedful's replies in the thread of ``ts``."""
    return [r.text for r in driver.replies if r.message.get("thread_ts") == ts]


def test_a_thread_reply_and_its_edit_are_kept_once_against_the_meeting(
    ana: Driver, logs: pytest.LogCaptureFixture
) -> None:
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")

    ts = ana.says("I finally asked Ben how the move went, and listened.", thread_ts=prompt.ts)
    (row,) = ana.reflections()
    assert (row.delivery_id, row.occurrence_key) == (prompt.delivery_id, prompt.occurrence)
    assert row.occurrence_key == ana.key_of("1:1 Ana / Ben")
    assert (row.source, row.message_ts) == ("thread", ts)
    assert row.text.startswith("fernet:")  # encrypted at rest
    assert ana.text_of(row) == "I finally asked Ben how the move went, and listened."
    # Acknowledged without words: a reaction on her message, no line in the thread. The
    # acknowledgement is a row first, like every DM (keyed by her message's ts).
    assert ana.reactions_on(ts) == [REACTION]
    assert _thread(ana, prompt.ts) == []
    (ack,) = ana.deliveries(kind="ack")
    assert (ack.state, ack.ref) == ("sent", f"ack:{ts}")

    ana.edits(ts, "I asked Ben how the move went. I interrupted once.")
    (row,) = ana.reflections()
    assert ana.text_of(row) == "I asked Ben how the move went. I interrupted once."
    assert row.delivery_id == prompt.delivery_id

    log = _app_log(logs)
    assert "reflection kept for delivery" in log  # the app's logs were captured …
    assert "listened" not in log and "interrupted" not in log  # … without the answer


def test_a_plain_dm_goes_to_the_most_recent_prompt_of_the_last_12_hours(
    ana: Driver, logs: pytest.LogCaptureFixture
) -> None:
    ana.run_until(at(DAY, "12:00"))
    planning = ana.nudge("reflection", "Planning")

    ts = ana.says("Planning went fast; I should slow down for Carla.")
    (row,) = ana.reflections()
    assert (row.delivery_id, row.occurrence_key) == (planning.delivery_id, ana.key_of("Planning"))
    assert (row.source, row.message_ts) == ("dm", ts)
    assert ana.reactions_on(ts) == [REACTION] and _thread(ana, ts) == []  # quietly

    # 12 hours after the last question (the retro's, in the 14:30 transition): nothing is open.
    ana.run_until(at(DAY, "14:31"))
    transition = ana.nudge("transition", "Hiring sync")
    ana.clock.set(transition.at + timedelta(hours=12, minutes=1))
    late = ana.says("Thinking about the retro at night.")
    assert len(ana.reflections()) == 1
    assert _thread(ana, late) == [PROMPTS.text("kept.nothing_open")]
    assert transition.delivery_id not in {r.delivery_id for r in ana.reflections()}

    assert "Carla" not in _app_log(logs) and "at night" not in _app_log(logs)


def test_a_transition_reply_is_about_the_meeting_that_just_ended(ana: Driver) -> None:
    ana.run_until(at(DAY, "14:31"))
    transition = ana.nudge("transition", "Hiring sync")
    assert "Retro is over" in transition.text

    ana.says("I noticed Mia went quiet.", thread_ts=transition.ts)
    (row,) = ana.reflections()
    assert row.delivery_id == transition.delivery_id
    assert row.occurrence_key == ana.key_of("Retro")


def test_a_tap_and_the_form_are_one_answer_for_the_prompt(
    ana: Driver, logs: pytest.LogCaptureFixture
) -> None:
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")
    (fully_there,) = prompt.action_values("reflect_tap_5")
    assert fully_there == f"{prompt.delivery_id}:5"

    ana.click("reflect_tap_5", prompt, value=fully_there)
    (row,) = ana.reflections()
    assert (row.delivery_id, row.occurrence_key) == (prompt.delivery_id, prompt.occurrence)
    assert (row.presence, row.source, ana.text_of(row)) == (5, "tap", "")
    # The buttons gave way to a quiet note, in place.
    (update,) = ana.emulator.calls_to("chat.update")
    assert update.params["ts"] == prompt.ts
    note = PROMPTS.text("done.tapped.a", answer=PROMPTS.text("button.present"))
    assert note in str(update.params["blocks"])  # the first of the rotated wordings

    # The tap and write buttons are gone from the message …
    (current,) = [m for m in ana.emulator.messages("U1") if m["ts"] == prompt.ts]
    assert "reflect_tap" not in str(current["blocks"])
    assert "reflect_write" not in str(current["blocks"])
    # … but a client that has not caught up may still send a change of mind.
    ana.click("reflect_write", prompt, as_sent=True)
    (form,) = ana.emulator.opened_views
    assert form["private_metadata"] == str(prompt.delivery_id)
    question = prompt.section_texts()[0].split("\n", 1)[1]
    assert question in str(form["blocks"])  # the form repeats the question
    three = {"type": "radio_buttons", "selected_option": {"value": "3"}}
    ana.submit(form, {"presence": {"presence_value": three}, "text": {"text_value": "Drifted."}})

    (row,) = ana.reflections()  # a change of mind replaces the tap
    assert (row.delivery_id, row.presence, row.source) == (prompt.delivery_id, 3, "form")
    assert ana.text_of(row) == "Drifted."
    # No message of hers to react to: a short line, quietly, in its thread.
    assert _thread(ana, prompt.ts) == [PROMPTS.text("kept.line.a")]
    assert "Drifted" not in _app_log(logs)


def test_the_form_alone_keeps_an_answer(ana: Driver) -> None:
    ana.run_until(at(DAY, "11:40"))
    prompt = ana.nudge("reflection", "Planning")
    ana.click("reflect_write", prompt)
    form = ana.emulator.opened_views[-1]
    ana.submit(form, {"text": {"text_value": "I checked that Ravi understood."}})
    (row,) = ana.reflections()
    assert (row.delivery_id, row.occurrence_key) == (prompt.delivery_id, ana.key_of("Planning"))
    assert (row.presence, ana.text_of(row)) == (None, "I checked that Ravi understood.")
    assert _thread(ana, prompt.ts) == [PROMPTS.text("kept.line.a")]


@pytest.mark.parametrize(
    ("action_id", "presence"), [("reflect_tap_5", 5), ("reflect_tap_3", 3), ("reflect_tap_1", 1)]
)
def test_each_presence_button_has_its_own_action_id_and_reaches_the_listener(
    ana: Driver, action_id: str, presence: int
) -> None:
    """Slack refuses a block with two equal action_ids (invalid_blocks), and the sender then
    falls back to plain text: the question would arrive without its buttons."""
    ana.run_until(at(DAY, "14:35"))
    for kind, title in (("reflection", "1:1 Ana / Ben"), ("transition", "Hiring sync")):
        sent = ana.nudge(kind, title)
        assert sent.blocks, f"the {kind} went out without its buttons"
        (taps,) = [b for b in sent.blocks if b.get("block_id") == "reflect"]
        ids = [e["action_id"] for e in taps["elements"]]
        assert ids == ["reflect_tap_5", "reflect_tap_3", "reflect_tap_1", "reflect_write"]
    assert ana.emulator.refusals == []

    prompt = ana.nudge("reflection", "1:1 Ana / Ben")
    ana.click(action_id, prompt, value=f"{prompt.delivery_id}:{presence}")

    (row,) = ana.reflections()
    assert (row.delivery_id, row.presence, row.source) == (prompt.delivery_id, presence, "tap")


def test_a_tap_on_a_message_sent_with_the_old_single_action_id_still_counts(
    ana: Driver,
) -> None:
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")

    ana.click("reflect_tap", prompt, value=f"{prompt.delivery_id}:3")

    (row,) = ana.reflections()
    assert (row.delivery_id, row.presence, row.source) == (prompt.delivery_id, 3, "tap")


def test_a_late_answer_is_not_kept_and_the_user_is_told(ana: Driver) -> None:
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")
    ana.clock.set(prompt.at + timedelta(hours=25))

    ts = ana.says("Better late than never.", thread_ts=prompt.ts)
    assert ana.reflections() == []
    assert _thread(ana, prompt.ts) == [PROMPTS.text("kept.closed")]
    assert ts

    ana.click("reflect_tap_5", prompt, value=f"{prompt.delivery_id}:5")
    assert ana.reflections() == []
    (update,) = ana.emulator.calls_to("chat.update")
    assert PROMPTS.text("kept.closed") in str(update.params["blocks"])


def test_an_over_long_answer_is_kept_up_to_the_limit_with_a_note(ana: Driver) -> None:
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")
    long = "I listened. " * 250  # 3,000 characters
    ts = ana.says(long, thread_ts=prompt.ts)
    (row,) = ana.reflections()
    assert ana.text_of(row) == long.strip()[:REFLECTION_MAX_CHARS]
    note = PROMPTS.text("kept.truncated", limit=f"{REFLECTION_MAX_CHARS:,}")
    assert _thread(ana, prompt.ts) == [note]

    # An edit that grows past the limit is cut too, and says so: nothing is cut silently.
    ana.edits(ts, "Short now.")
    assert ana.text_of(ana.reflections()[0]) == "Short now."
    ana.edits(ts, "x" * (REFLECTION_MAX_CHARS + 10))
    assert ana.text_of(ana.reflections()[0]) == "x" * REFLECTION_MAX_CHARS
    assert _thread(ana, prompt.ts) == [note, note]


def test_a_duplicated_event_is_kept_once(ana: Driver) -> None:
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")
    ts = ana.says("Kept once, please.", thread_ts=prompt.ts)
    (envelope,) = [
        r.request
        for r in ana.emulator.inbound
        if r.request.get("type") == "event_callback"
        and r.request["event"].get("text") == "Kept once, please."
    ]

    # Slack retries the same event …
    result = ana.emulator.deliver_envelope(ana.url, envelope, retry_num=1)
    assert result.status == 200
    ana.settle()
    # … and, rarer, sends the same message under a new event id.
    again = copy.deepcopy(envelope)
    again["event_id"] = envelope["event_id"] + "X"
    assert ana.emulator.deliver_envelope(ana.url, again).status == 200
    ana.settle()

    (row,) = ana.reflections()
    assert ana.text_of(row) == "Kept once, please."
    # Acknowledged once too: one reaction, one acknowledgement row, no line.
    assert ana.reactions_on(ts) == [REACTION] and _thread(ana, prompt.ts) == []
    assert len(ana.deliveries(kind="ack")) == 1
    assert ana.emulator.refusals == []


def test_nobody_answers_for_someone_else(ana: Driver) -> None:
    """Ben (U2) cannot put an answer on Ana's question: not by a DM, a thread reply, a
    tap or the form with her delivery id."""
    ana.run_until(at(DAY, "10:40"))
    prompt = ana.nudge("reflection", "1:1 Ana / Ben")
    ben = Driver(ana.heedful, ana.emulator, ana.clock, user="U2")

    ben.says("Ana's 1:1 was fine.")
    ben.says("In her thread.", thread_ts=prompt.ts)
    ben.click("reflect_tap_1", prompt, value=f"{prompt.delivery_id}:1", as_sent=True)
    ben.click("reflect_write", prompt, as_sent=True)
    (form,) = ana.emulator.opened_views
    question = prompt.section_texts()[0].split("\n", 1)[1]
    assert question not in str(form["blocks"])  # which question Ana got is hers too
    ben.submit(form, {"text": {"text_value": "Written by Ben."}})

    assert ana.reflections() == [] and ben.reflections() == []
    nothing_open = PROMPTS.text("kept.nothing_open")
    assert [r.text for r in ben.replies][:2] == [nothing_open, nothing_open]

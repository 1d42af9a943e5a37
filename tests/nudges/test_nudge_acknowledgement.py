"""A kept answer is acknowledged with a reaction on the person's own message, once:
through Slack's rate limits and dropped connections, and with a short, varied line in
its place when the reaction cannot be added (an install without ``reactions:write``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from nudging import Driver, Event, FeedServer, at, colleagues

from bot.messages.prompts import load_prompts
from bot.replies import REACTION

DAY = "2026-03-02"  # a Monday
MEETINGS = [
    Event("one", "1:1 Ana / Ben", f"{DAY} 10:00", 30, ["ben@example.com"]),
    Event("two", "Planning", f"{DAY} 11:00", 30, colleagues(3)),
    Event("three", "1:1 Ana / Cleo", f"{DAY} 14:00", 30, ["cleo@example.com"]),
    Event("four", "Retro", f"{DAY} 16:00", 30, colleagues(3)),
]
PROMPTS = load_prompts()
LINES = sorted(p.id for p in PROMPTS if p.id.startswith("kept.line."))


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer) -> Driver:
    return driver.starts(at(DAY, "08:00"), feed_server, MEETINGS).questions_a_day(4)


def _thread(driver: Driver, ts: str) -> list[str]:
    return [r.text for r in driver.replies if r.message.get("thread_ts") == ts]


def _answer(ana: Driver, title: str, until: str, text: str) -> tuple[str, str]:
    """Run to ``until`` and answer the question about ``title`` in its thread: (the
    question's ts, the answer's ts)."""
    ana.run_until(at(DAY, until))
    question = ana.nudge("reflection", title)
    return question.ts, ana.says(text, thread_ts=question.ts)


def test_without_the_scope_a_short_line_instead_and_never_the_same_twice_in_a_row(
    ana: Driver,
) -> None:
    """An install made before Heedful asked for reactions:write: Slack answers
    missing_scope. The answer is still acknowledged, in words, and the workspace is not
    paused for it (the other DMs go on)."""
    ana.emulator.revoke_scope("reactions:write")
    said = [
        _answer(ana, "1:1 Ana / Ben", "10:40", "Asked Ben about the move."),
        _answer(ana, "Planning", "11:40", "Let Carla finish."),
        _answer(ana, "1:1 Ana / Cleo", "14:40", "Listened more than I spoke."),
    ]
    assert ana.emulator.reactions == []
    lines = [_thread(ana, question) for question, _ in said]
    assert lines == [[PROMPTS.text(i)] for i in LINES[:3]]  # rotated, one each
    assert {call.params.get("name") for call in ana.emulator.calls_to("reactions.add")} == {
        REACTION
    }
    assert all(a.state == "sent" for a in ana.deliveries(kind="ack"))
    ana.run_until(at(DAY, "16:40"))  # the retro's question still came: nothing was paused
    assert ana.nudge("reflection", "Retro")
    assert ana.emulator.refusals == []


def test_a_rate_limited_reaction_waits_out_retry_after_and_is_added_once(ana: Driver) -> None:
    ana.emulator.fault("reactions.add", status=429, retry_after="30")
    question, answer = _answer(ana, "1:1 Ana / Ben", "10:40", "Asked Ben about the move.")
    assert ana.reactions_on(answer) == []
    (ack,) = ana.deliveries(kind="ack")
    assert (ack.state, ack.error) == ("pending", "ratelimited")
    assert ack.available_at - ana.clock.now() == timedelta(seconds=30)
    ana.run_until(ana.clock.now() + timedelta(minutes=1))
    assert ana.reactions_on(answer) == [REACTION]
    assert _thread(ana, question) == []  # no line: the reaction came
    assert len(ana.emulator.calls_to("reactions.add")) == 2
    (ack,) = ana.deliveries(kind="ack")
    assert ack.state == "sent" and ack.attempts == 1  # a rate limit is not a failed attempt


def test_a_connection_dropped_after_the_reaction_landed_is_not_a_second_reaction(
    ana: Driver,
) -> None:
    """The reaction was added but the answer was lost: the retry hears already_reacted,
    which is done, not a failure, and no line is sent in its place."""
    ana.emulator.fault("reactions.add", drop_after_store=True)
    question, answer = _answer(ana, "1:1 Ana / Ben", "10:40", "Asked Ben about the move.")
    assert ana.reactions_on(answer) == [REACTION]  # it landed
    (ack,) = ana.deliveries(kind="ack")
    assert ack.state == "pending"  # the sender did not hear so
    ana.run_until(ana.clock.now() + timedelta(minutes=5))
    assert ana.reactions_on(answer) == [REACTION]
    assert [c.params.get("name") for c in ana.emulator.calls_to("reactions.add")] == [REACTION] * 2
    assert ana.deliveries(kind="ack")[0].state == "sent"
    assert _thread(ana, question) == []


def test_a_server_error_is_retried(ana: Driver) -> None:
    ana.emulator.fault("reactions.add", status=500)
    question, answer = _answer(ana, "1:1 Ana / Ben", "10:40", "Asked Ben about the move.")
    assert ana.reactions_on(answer) == []
    ana.run_until(ana.clock.now() + timedelta(minutes=5))
    assert ana.reactions_on(answer) == [REACTION] and _thread(ana, question) == []


def test_an_answer_deleted_before_its_reaction_is_not_acknowledged_in_words(
    ana: Driver,
) -> None:
    ana.emulator.fault("reactions.add", status=429, retry_after="30")
    question, answer = _answer(ana, "1:1 Ana / Ben", "10:40", "Asked Ben about the move.")
    ana.deletes(answer)
    ana.run_until(ana.clock.now() + timedelta(minutes=1))
    # Slack: message_not_found. The answer went with its message: nothing to say.
    assert ana.reactions_on(answer) == [] and _thread(ana, question) == []
    (ack,) = ana.deliveries(kind="ack")
    assert (ack.state, ack.error) == ("skipped", "answer_gone")


def test_a_tap_is_acknowledged_in_place_in_words_that_change(ana: Driver) -> None:
    notes = []
    for title, until in (("1:1 Ana / Ben", "10:40"), ("Planning", "11:40")):
        ana.run_until(at(DAY, until))
        question = ana.nudge("reflection", title)
        ana.click("reflect_tap_5", question, value=f"{question.delivery_id}:5")
        (current,) = [m for m in ana.emulator.messages("U1") if m["ts"] == question.ts]
        notes.append(current["blocks"][-1]["elements"][0]["text"])
    label = PROMPTS.text("button.present")
    assert notes == [
        PROMPTS.text("done.tapped.a", answer=label),
        PROMPTS.text("done.tapped.b", answer=label),
    ]


def test_a_token_that_no_longer_works_pauses_the_workspace_rather_than_saying_a_line(
    ana: Driver,
) -> None:
    ana.emulator.fault("reactions.add", error="token_revoked")
    question, answer = _answer(ana, "1:1 Ana / Ben", "10:40", "Asked Ben about the move.")
    (ack,) = ana.deliveries(kind="ack")
    assert (ack.state, ack.error) == ("pending", "installation:token_revoked")
    assert ana.reactions_on(answer) == [] and _thread(ana, question) == []

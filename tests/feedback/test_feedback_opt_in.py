"""Feedback turned on from the reflection question: *Ask for feedback next time*, once per
series that could ask for it (a recurring 1:1, or a recurring meeting of six or more) and
does not yet; tapped, it turns feedback on as the Home tab does."""

from __future__ import annotations

from asking import ANA, Play, ask_for_feedback, at, colleagues, leader, meeting, rows, store
from waiting import wait_until

from bot.emulator import SlackEmulator
from bot.messages import blocks as kit
from bot.messages import feedback as fkit
from bot.messages.prompts import load_prompts
from bot.services import Services
from bot.storage.models import FeedbackSeries

SERIES = FeedbackSeries.__table__
MON, TUE, WED, THU = "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"


def _opt_in(dm: object) -> list[dict]:
    """The opt-in button of a question (none, or one)."""
    return [
        e
        for b in dm.blocks  # type: ignore[attr-defined]
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == fkit.ACTION_OPT_IN
    ]


def _answer_each_day(play: Play, emulator: SlackEmulator, days: tuple[str, ...]) -> None:
    """Each day until 19:00, Ana taps "present" on each question (unanswered questions
    would start the back-off and leave meetings unasked)."""
    for day in days:
        play.run_until(at(day, "19:00"))
        for dm in play.dms(ANA, kind="reflection"):
            if kit.tap_action(5) in dm.action_ids():
                emulator.click_button(play.url, ANA, kit.tap_action(5), message=dm.message)
        wait_until(
            lambda: (
                not any(
                    kit.tap_action(5) in dm.action_ids() for dm in play.dms(ANA, kind="reflection")
                )
            ),
            what="every question answered",
        )


def test_the_question_offers_feedback_once_per_eligible_series_and_a_tap_turns_it_on(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people = [e for _, e in colleagues(emulator, 6)]
    leader(services, ANA)
    cleo = [
        meeting(ANA, at(day, "10:00"), ["cleo@example.com"], series="cleo", title="1:1 with Cleo")
        for day in (MON, WED)
    ]
    small = meeting(ANA, at(MON, "14:00"), people[:3], series="small", title="Small group")
    team = [meeting(ANA, at(day, "10:00"), people) for day in (TUE, THU)]
    dan = meeting(ANA, at(TUE, "14:00"), ["dan@example.com"], series="dan", title="1:1 with Dan")
    store(services, ANA, [*cleo, small, *team])
    ask_for_feedback(services, ANA, [dan])  # already on

    _answer_each_day(play, emulator, (MON,))
    asked_cleo, asked_small = play.dms(ANA, kind="reflection")
    assert "1:1 with Cleo" in asked_cleo.words() and "Small group" in asked_small.words()
    (button,) = _opt_in(asked_cleo)  # a recurring 1:1 that does not ask yet
    assert button["value"] == cleo[0].series_key
    assert button["text"]["text"] == load_prompts().text("button.feedback.next_time")
    # After the presence taps (answered: now a line), one button added to the question.
    assert asked_cleo.blocks[-1]["block_id"] == fkit.BLOCK_OPT_IN
    assert fkit.ACTION_WORDS not in asked_cleo.action_ids()
    assert _opt_in(asked_small) == []  # four people: no series that can ask

    result = emulator.click_button(play.url, ANA, fkit.ACTION_OPT_IN, message=asked_cleo.message)
    assert result.status == 200
    note = load_prompts().text("feedback.opted_in")
    wait_until(
        lambda: note in play.dms(ANA, kind="reflection")[0].words(),
        what="the button to become a line",
    )
    on = {r.series_key for r in rows(services, SERIES)}
    assert on == {cleo[0].series_key, dan.series_key}
    (tapped, _) = play.dms(ANA, kind="reflection")
    assert _opt_in(tapped) == [] and "1:1 with Cleo" in tapped.words()  # the rest stays

    _answer_each_day(play, emulator, (TUE, WED, THU))
    questions = play.dms(ANA, kind="reflection")
    assert len(questions) == 6
    asked_team, asked_dan, again_cleo, again_team = questions[2:]
    (button,) = _opt_in(asked_team)  # six colleagues, recurring, not on
    assert button["value"] == team[0].series_key
    assert _opt_in(asked_dan) == []  # already on: the words to send instead
    assert fkit.ACTION_WORDS in asked_dan.action_ids()
    assert _opt_in(again_cleo) == []  # on since the tap: the words to send instead
    assert fkit.ACTION_WORDS in again_cleo.action_ids()
    assert "Team sync" in again_team.words()
    assert _opt_in(again_team) == []  # offered once for the series: not again

"""An answer is a count in the leader's week and nothing that names who gave it; the
leader sees a week's total only once it has closed, and only from 5 answers given by at
least 3 people: in the next week's digest, beside their own rating of those meetings."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from asking import (
    ANA,
    BALLOT,
    DM,
    TALLY,
    TEAM,
    Play,
    ask_for_feedback,
    at,
    colleagues,
    leader,
    meeting,
    rows,
)

from bot import feedback
from bot.emulator import SlackEmulator
from bot.messages import blocks as kit
from bot.messages import feedback as fkit
from bot.messages.prompts import load_prompts
from bot.services import Services

WEEK = "2026-W10"  # Monday 2 to Sunday 8 March 2026
DAYS = ("2026-03-02", "2026-03-03", "2026-03-04")  # Monday to Wednesday
AFTER_CLOSE = at("2026-03-09", "00:30")  # the week closes at the end of Sunday, Berlin


def _weekly(
    play: Play,
    services: Services,
    emulator: SlackEmulator,
    days: Sequence[str],
    evening: Callable[[], None] = lambda: None,
) -> tuple[list[tuple[str, str]], dict[str, list[DM]]]:
    """Ana's weekly sync with five colleagues on each of ``days`` at 11:00 (and on the
    next Monday), feedback on; played to 19:00 of each day, when ``evening`` runs.
    Returns the colleagues and, for each, their questions in order."""
    people = colleagues(emulator, 5)
    leader(services, ANA)
    instances = [meeting(ANA, at(day, "11:00"), [e for _, e in people]) for day in days]
    instances.append(meeting(ANA, at("2026-03-09", "11:00"), [e for _, e in people]))
    ask_for_feedback(services, ANA, instances)
    for day in days:
        play.run_until(at(day, "19:00"))
        evening()
    return people, {user_id: play.dms(user_id) for user_id, _ in people}


def _answer(play: Play, questions: dict[str, list[DM]], plan: dict[int, Sequence[str]]) -> None:
    """``plan``: colleague index (1-based) → the answers to their questions, in order."""
    ids = sorted(questions)
    for n, answers in plan.items():
        for dm, answer in zip(questions[ids[n - 1]], answers, strict=False):
            play.answer(dm, answer)


def test_four_answers_are_never_shown_and_are_deleted_when_the_week_closes(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    _, questions = _weekly(play, services, emulator, DAYS[:1])
    _answer(play, questions, {1: ["heard"], 2: ["heard"], 3: ["somewhat"], 4: ["not_heard"]})
    (tally,) = rows(services, TALLY)
    assert (tally.heard, tally.somewhat, tally.not_heard) == (2, 1, 1)

    play.run_until(AFTER_CLOSE)

    assert feedback.week_totals(services, TEAM, ANA, WEEK) is None
    assert rows(services, TALLY) == [] and rows(services, BALLOT) == []  # gone, unseen


def test_five_answers_from_two_people_are_never_shown(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    _, questions = _weekly(play, services, emulator, DAYS)
    assert all(len(q) == 3 for q in questions.values())  # one a day, three days
    _answer(play, questions, {1: ["heard"] * 3, 2: ["somewhat"] * 2})

    play.run_until(AFTER_CLOSE)

    assert feedback.week_totals(services, TEAM, ANA, WEEK) is None
    assert rows(services, TALLY) == []


def test_five_answers_from_three_people_are_shown_in_next_weeks_digest_beside_her_rating(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    rated = iter((3, 5))

    def rate_the_day() -> None:  # Ana rates her own presence after each meeting: 3, then 5
        latest = play.dms(ANA, kind="reflection")[-1]
        play.tap(latest, kit.tap_action(next(rated)))

    people, questions = _weekly(play, services, emulator, DAYS[:2], rate_the_day)
    _answer(
        play,
        questions,
        {1: ["heard", "heard"], 2: ["heard", "somewhat"], 3: ["not_heard"]},
    )
    # While the week is open, no total is shown, however many answers there are.
    assert feedback.week_totals(services, TEAM, ANA, WEEK) is None
    (open_tally,) = rows(services, TALLY)
    assert open_tally.people is None

    play.run_until(AFTER_CLOSE)
    totals = feedback.week_totals(services, TEAM, ANA, WEEK)
    assert totals is not None
    assert (totals.heard, totals.somewhat, totals.not_heard, totals.people) == (3, 1, 1, 3)
    assert totals.answers == 5 and totals.own_presence == 4.0

    play.run_until(at("2026-03-13", "16:30"), digests=True)
    (digest,) = play.dms(ANA, kind="digest")
    prompts = load_prompts()
    expected = prompts.text("feedback.digest.totals", answers=5, heard=3, somewhat=1, not_heard=1)
    section = next(t for t in _sections(digest) if prompts.text("feedback.digest.header") in t)
    assert expected in section
    assert prompts.text("feedback.digest.own", presence="4") in section
    assert expected in digest.text
    assert digest.blocks[-1]["type"] == "context"  # the privacy line still closes it
    for user_id, email in people:  # nothing in it says who answered what
        assert user_id not in str(digest.message) and email not in str(digest.message)


def test_a_second_tap_on_the_same_question_counts_once(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    _, questions = _weekly(play, services, emulator, DAYS[:1])
    first = sorted(questions)[0]
    (dm,) = questions[first]
    answered = play.answer(dm, "heard")
    assert load_prompts().text("feedback.answered") in str(answered.blocks)
    assert fkit.ACTION_NEVER in answered.action_ids()  # still there after an answer
    # A client that has not caught up taps again, on the question as it was first shown.
    as_shown = DM(dm.user, dm.at, {**dm.message, "edited": answered.message["edited"]})
    play.answer(as_shown, "somewhat")
    (tally,) = rows(services, TALLY)
    assert (tally.heard, tally.somewhat, tally.not_heard) == (1, 0, 0)
    assert len(rows(services, BALLOT)) == 1


def test_no_answer_row_holds_the_respondent_and_the_hashes_go_when_the_week_closes(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    people, questions = _weekly(play, services, emulator, DAYS[:1])
    _answer(play, questions, {n: ["somewhat"] for n in range(1, 6)})

    # No respondent id, address or time of answering in what an answer stored.
    assert set(TALLY.c.keys()) == {
        "id",
        "team_id",
        "leader_id",
        "week",
        "heard",
        "somewhat",
        "not_heard",
        "people",
        "closes_at",
        "closed_at",
    }
    assert set(BALLOT.c.keys()) == {"id", "team_id", "leader_id", "week", "ballot", "person"}
    stored = str([*rows(services, TALLY), *rows(services, BALLOT)])
    for user_id, email in people:
        assert user_id not in stored and email not in stored
        # The hashes are keyed: not a plain digest anyone could compute from an id.
        assert hashlib.sha256(user_id.encode()).hexdigest() not in stored
    ballots = rows(services, BALLOT)
    assert len(ballots) == 5 and len({b.person for b in ballots}) == 5

    play.run_until(AFTER_CLOSE)

    assert rows(services, BALLOT) == []  # the de-duplication hashes are dropped
    (closed,) = rows(services, TALLY)
    assert (closed.somewhat, closed.people) == (5, 5) and closed.closed_at is not None


def test_a_tap_after_the_week_closed_is_not_counted(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    _, questions = _weekly(play, services, emulator, DAYS[:1])
    play.run_until(AFTER_CLOSE)
    late = questions[sorted(questions)[0]][0]

    answered = play.answer(late, "heard")

    assert load_prompts().text("feedback.closed") in str(answered.blocks)
    assert rows(services, TALLY) == [] and rows(services, BALLOT) == []


def test_only_the_person_asked_can_answer_their_question(
    play: Play, services: Services, emulator: SlackEmulator
) -> None:
    _, questions = _weekly(play, services, emulator, DAYS[:1])
    mine = questions[sorted(questions)[0]][0]
    someone_else = sorted(questions)[1]
    # Someone else's tap carrying the first person's question id.
    text, blocks = feedback.on_answer(
        services,
        team_id=TEAM,
        user_id=someone_else,
        action={
            "action_id": fkit.answer_action("not_heard"),
            "value": mine.blocks[1]["elements"][0]["value"],
        },
        message=mine.message,
    )

    assert load_prompts().text("feedback.closed") in str(blocks) and text
    assert rows(services, BALLOT) == [] and rows(services, TALLY) == []


def _question_id(dm: DM) -> str:
    (block,) = [b for b in dm.blocks if b.get("block_id") == fkit.BLOCK_ANSWER]
    return str(block["elements"][0]["value"])


def _sections(dm: DM) -> list[str]:
    return [b["text"]["text"] for b in dm.blocks if b.get("type") == "section"]

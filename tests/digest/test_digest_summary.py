"""``summarize`` on its own (pure): which pattern a week shows, which answers are quoted,
what the chart counts, and which practice the experiment comes from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.calendars.occurrence import MeetingKind
from bot.digest import QUOTE_CHARS, Answer, Meeting, Target, WeekData, summarize
from bot.messages.prompts import load_prompts

PROMPTS = load_prompts()
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 3, 2, tzinfo=BERLIN)
TARGET = Target("T1", "U1", BERLIN, MONDAY, MONDAY + timedelta(days=4, hours=16), "2026-W10")
NOW = TARGET.until


def _week(plan: list[tuple[MeetingKind, bool]], **extra: object) -> WeekData:
    """One meeting a day-hour per entry (kind, answered); ids 1, 2, 3 …"""
    week = WeekData(**extra)  # type: ignore[arg-type]
    for n, (kind, answered) in enumerate(plan, start=1):
        start = (MONDAY + timedelta(days=n % 5, hours=9 + n // 5)).astimezone(UTC)
        week.meetings.append(Meeting(f"m{n}", f"Meeting {n}", start, kind))
        week.asked[n] = f"m{n}"
        if answered:
            week.answers.append(
                Answer(n, f"m{n}", f"Answer number {n}", None, start + timedelta(hours=1))
            )
    return week


def test_the_kind_answered_most_in_proportion_is_the_pattern() -> None:
    one, small, large = MeetingKind.ONE_ON_ONE, MeetingKind.SMALL, MeetingKind.LARGE
    week = _week(
        [(one, True)] * 3
        + [(one, False)]
        + [(small, True)] * 4
        + [(small, False)] * 3
        # a single large meeting, answered: "1 of 1" is no pattern
        + [(large, True)]
    )
    digest = summarize(TARGET, week, PROMPTS, now=NOW)
    assert digest.pattern == (
        "digest.pattern.kind_best",
        {"kind": "one-on-one", "answered": 3, "asked": 4},
    )


def test_every_and_none_is_the_strongest_pattern() -> None:
    one, large = MeetingKind.ONE_ON_ONE, MeetingKind.LARGE
    week = _week([(one, True), (large, False), (one, True), (large, False)])
    digest = summarize(TARGET, week, PROMPTS, now=NOW)
    assert digest.pattern == ("digest.pattern.kind_gap", {"full": "one-on-one", "empty": "large"})


def test_without_answers_the_fullest_day_is_the_pattern() -> None:
    week = WeekData()
    for n in range(4):
        start = (MONDAY + timedelta(days=1, hours=9 + n)).astimezone(UTC)
        week.meetings.append(Meeting(f"m{n}", "Sync", start, MeetingKind.SMALL))
    digest = summarize(TARGET, week, PROMPTS, now=NOW)
    assert digest.pattern == ("digest.pattern.busiest_day", {"day": 1, "count": 4})
    assert digest.answered == 0 and digest.quotes == []


def test_quotes_are_the_fullest_distinct_answers_in_the_order_written() -> None:
    at = (MONDAY + timedelta(hours=10)).astimezone(UTC)
    texts = [
        "ok",  # too short to quote
        "I listened before I answered.",
        "I listened before I answered. ",  # the same words again
        "x" * 1000,  # clipped
        "Asked how the team felt about the reorg.",
        "Short one.",
    ]
    week = WeekData(
        answers=[
            Answer(None, None, t, None, at + timedelta(minutes=n)) for n, t in enumerate(texts)
        ]
    )
    digest = summarize(TARGET, week, PROMPTS, now=NOW)
    quoted = [text for text, _, _ in digest.quotes]
    assert quoted == [
        "I listened before I answered.",
        "x" * (QUOTE_CHARS - 1) + "…",
        "Asked how the team felt about the reorg.",
    ]


def test_the_chart_counts_a_reply_and_a_tap_on_one_question_once() -> None:
    start = (MONDAY + timedelta(hours=10)).astimezone(UTC)
    week = WeekData(
        meetings=[Meeting("m1", "1:1", start, MeetingKind.ONE_ON_ONE)],
        asked={7: "m1"},
        answers=[
            Answer(7, "m1", "A line.", None, start + timedelta(minutes=40)),
            Answer(7, "m1", "", 4, start + timedelta(minutes=41)),
        ],
    )
    digest = summarize(TARGET, week, PROMPTS, now=NOW)
    assert digest.chart[0] == (0, 1, 1)
    assert [d for d, *_ in digest.chart] == [0, 1, 2, 3, 4]  # Monday to Friday
    assert digest.presence_by_day == [(0, 4.0)]
    assert (digest.answered, digest.asked) == (1, 1)


def test_the_experiment_comes_from_the_practice_least_touched() -> None:
    questions = {
        p.id: p.practices[0] for p in PROMPTS if p.id.startswith("question.") and p.practices
    }
    listening = next(q for q, practice in questions.items() if practice == "observe-listen-ask")
    week = _week([(MeetingKind.ONE_ON_ONE, True)], questions={1: listening})
    digest = summarize(TARGET, week, PROMPTS, now=NOW)
    assert digest.practices == ["observe-listen-ask"]
    # "be-present" is the first practice, in the design's order, the week did not touch.
    assert "be-present" in PROMPTS[digest.experiment].practices
    # Shown last week: another one of that practice is chosen.
    again = summarize(
        TARGET,
        _week(
            [(MeetingKind.ONE_ON_ONE, True)],
            questions={1: listening},
            experiments_shown={digest.experiment: NOW - timedelta(days=7)},
        ),
        PROMPTS,
        now=NOW,
    )
    assert again.experiment != digest.experiment
    assert "be-present" in PROMPTS[again.experiment].practices

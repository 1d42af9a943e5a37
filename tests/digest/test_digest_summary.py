"""``summarize`` on its own (pure): which pattern a week shows, which answers are quoted,
what the chart counts, and which practice the experiment comes from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.calendars.occurrence import MeetingKind
from bot.digest import (
    EVIDENCE_CHARS,
    QUOTE_CHARS,
    Answer,
    Digest,
    Meeting,
    Target,
    WeekData,
    summarize,
)
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


# --- From their words (bot.themes) --------------------------------------------------------


def _said(*answers: tuple[str, int | None], **extra: object) -> WeekData:
    """One 1:1 a day per answer, answered with (text, presence tap)."""
    week = WeekData(**extra)  # type: ignore[arg-type]
    for n, (text, tap) in enumerate(answers, start=1):
        start = (MONDAY + timedelta(days=n % 5, hours=9 + n // 5)).astimezone(UTC)
        week.meetings.append(Meeting(f"m{n}", f"1:1 number {n}", start, MeetingKind.ONE_ON_ONE))
        week.asked[n] = f"m{n}"
        week.answers.append(Answer(n, f"m{n}", text, tap, start + timedelta(hours=1)))
    return week


def _experiment_serves(digest: Digest, practice: str) -> bool:
    return digest.experiment is not None and practice in PROMPTS[digest.experiment].practices


def test_a_struggle_in_their_words_beats_the_focus_practice() -> None:
    week = _said(
        ("Had Slack open the whole time.", None),
        ("Thanked the team for the release.", 4),
        focus_practice="feelings",
    )
    digest = summarize(TARGET, week, PROMPTS, now=NOW)
    assert digest.themes == ("single-tasking", "appreciation")
    assert (digest.experiment_practice, digest.focus_practice) == ("single-tasking", "feelings")
    assert _experiment_serves(digest, "single-tasking")
    assert digest.practices == ["single-tasking", "appreciation"]  # the touched line
    assert digest.pattern == (
        "digest.pattern.words_struggle",
        {"theme": "single-tasking", "answers": 1, "quote": "Had Slack open the whole time."},
    )


def test_without_a_struggle_the_focus_practice_then_the_least_touched() -> None:
    thanks = [("Thanked Ana for the fix.", 4), ("I thanked Ben. Kudos to him.", 5)]
    focused = summarize(TARGET, _said(*thanks, focus_practice="feelings"), PROMPTS, now=NOW)
    assert (focused.experiment_practice, focused.focus_practice) == ("feelings", "feelings")
    assert _experiment_serves(focused, "feelings")
    # A theme in two answers is a pattern: their sentence that names it most.
    assert focused.pattern == (
        "digest.pattern.words",
        {"theme": "appreciation", "answers": 2, "quote": "Thanked Ana for the fix."},
    )
    # No focus (none is stored yet), or one that is no practice: as before, the practice
    # the questions answered touched least (no question ids here: the first in order).
    for focus in (None, "posture"):
        digest = summarize(TARGET, _said(*thanks, focus_practice=focus), PROMPTS, now=NOW)
        assert (digest.experiment_practice, digest.focus_practice) == ("observe-listen-ask", None)
        assert _experiment_serves(digest, "observe-listen-ask")


def test_without_words_the_pattern_and_experiment_are_as_before() -> None:
    week = _said(("Fine.", 4), ("Good one.", None))
    digest = summarize(TARGET, week, PROMPTS, now=NOW)
    assert digest.themes == ()
    assert digest.pattern == (
        "digest.pattern.kind_best",
        {"kind": "one-on-one", "answered": 2, "asked": 2},
    )
    assert digest.experiment_practice == "observe-listen-ask"
    # A theme in one answer only, without a struggle, is no pattern either.
    once = summarize(TARGET, _said(("Thanked Ana.", 4), ("Fine.", 4)), PROMPTS, now=NOW)
    assert once.themes == ("appreciation",)
    assert once.pattern is not None and once.pattern[0] == "digest.pattern.kind_best"


def test_a_reply_and_its_tap_are_one_answer() -> None:
    """The tap is stored beside the reply (another row of the same question): a 1 on the
    question makes what the reply names a struggle; on another question it would not."""
    start = (MONDAY + timedelta(hours=10)).astimezone(UTC)
    meetings = [
        Meeting("m1", "1:1", start, MeetingKind.ONE_ON_ONE),
        Meeting("m2", "1:1", start + timedelta(hours=2), MeetingKind.ONE_ON_ONE),
    ]
    reply = Answer(1, "m1", "My laptop was open.", None, start + timedelta(minutes=40))
    same = WeekData(
        meetings=meetings,
        asked={1: "m1", 2: "m2"},
        answers=[reply, Answer(1, "m1", "", 1, start + timedelta(minutes=41))],
    )
    digest = summarize(TARGET, same, PROMPTS, now=NOW)
    assert digest.experiment_practice == "single-tasking"
    assert digest.pattern is not None and digest.pattern[1]["quote"] == "My laptop was open."
    other = WeekData(
        meetings=meetings,
        asked={1: "m1", 2: "m2"},
        answers=[reply, Answer(2, "m2", "", 1, start + timedelta(hours=2, minutes=40))],
    )
    # The tap alone speaks of presence, the laptop line shows no struggle.
    assert summarize(TARGET, other, PROMPTS, now=NOW).experiment_practice == "be-present"


def test_the_quoted_sentence_is_clipped() -> None:
    long = "I kept checking my phone while " + "Ben explained the plan in detail, " * 12
    digest = summarize(TARGET, _said((long, None)), PROMPTS, now=NOW)
    assert digest.pattern is not None
    quote = digest.pattern[1]["quote"]
    assert len(quote) == EVIDENCE_CHARS and quote.endswith("…")
    assert quote.startswith("I kept checking my phone while Ben explained")

"""The digest's pure builders: valid Block Kit within Slack's limits whatever the week
holds, escaped titles, and patterns that read as sentences."""

from __future__ import annotations

from dataclasses import replace

import pytest
from slack_sdk.models.blocks import Block

from bot.digest import Digest
from bot.emulator.blocks import MAX_HEADER_TEXT, validate_message
from bot.messages.digest import build_digest, build_digest_note
from bot.messages.library import PRACTICE_ORDER
from bot.messages.prompts import load_prompts

PROMPTS = load_prompts()
EXPERIMENT = next(p.id for p in PROMPTS if p.id.startswith("experiment."))
WEEK = Digest(
    label="2 March 2026",
    so_far=False,
    meetings=8,
    by_kind={"one-on-one": 3, "small": 2, "large": 2, "external": 1},
    reminders=8,
    asked=8,
    answered=4,
    presence_by_day=[(0, 3.5), (1, 5.0)],
    practices=["observe-listen-ask", "appreciation"],
    quotes=[("Listened first.", "1:1 with <Ben> & co", 0)],
    pattern=("digest.pattern.kind_gap", {"full": "one-on-one", "empty": "large"}),
    experiment=EXPERIMENT,
    chart=[(0, 2, 2), (1, 2, 1), (2, 2, 0), (3, 2, 1), (4, 0, 0)],
)


def _sections(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_the_biggest_week_still_fits_slacks_limits() -> None:
    huge = replace(
        WEEK,
        meetings=140,
        by_kind={"one-on-one": 50, "small": 50, "large": 30, "external": 10},
        practices=list(PRACTICE_ORDER),
        presence_by_day=[(d, 3.0) for d in range(7)],
        quotes=[("R&D <3 " * 40, "T&<" * 500, d) for d in range(3)],
        label="2 March 2026 " * 20,
        chart=[(d, 20, 20) for d in range(7)],
    )
    for message in (build_digest(PROMPTS, huge), build_digest_note(PROMPTS, huge)):
        assert validate_message(message.text, message.blocks) == []
        assert [Block.parse(b).to_dict() for b in message.blocks] == message.blocks
        assert len(message.blocks) <= 50
        assert all(len(text) <= 3000 for text in _sections(message.blocks))
        assert len(message.blocks[0]["text"]["text"]) <= MAX_HEADER_TEXT
        assert message.text
    (chart,) = [t for t in _sections(build_digest(PROMPTS, huge).blocks) if "`Mon`" in t]
    assert "▮" * 12 + "+" in chart  # a very full day is capped, not a wall of bars


@pytest.mark.parametrize(
    "week",
    [
        WEEK,
        replace(WEEK, so_far=True),
        replace(WEEK, pattern=None, experiment=None, quotes=[], practices=[]),
        replace(WEEK, presence_by_day=[], chart=[]),
    ],
)
def test_every_digest_passes_slack_sdk_models_and_slacks_limits(week: Digest) -> None:
    for message in (build_digest(PROMPTS, week), build_digest_note(PROMPTS, week)):
        assert validate_message(message.text, message.blocks) == []
        assert [Block.parse(b).to_dict() for b in message.blocks] == message.blocks


def test_the_persons_own_words_are_escaped_exactly_once() -> None:
    """A reply "R&D <3" is stored as written and shown as written (one escape)."""
    message = build_digest(PROMPTS, replace(WEEK, quotes=[("R&D <3", "Sync", 0)]))
    quotes = _sections(message.blocks)[1]
    assert "> R&amp;D &lt;3\n" in quotes
    assert "&amp;amp;" not in quotes


def test_titles_are_escaped_and_the_fallback_has_the_numbers() -> None:
    message = build_digest(PROMPTS, WEEK)
    quotes = _sections(message.blocks)[1]
    assert "1:1 with &lt;Ben&gt; &amp; co" in quotes
    # An answer whose meeting is not in this week (last Friday's question) has no title.
    untitled = build_digest(PROMPTS, replace(WEEK, quotes=[("Slept on it.", "", 0)]))
    assert _sections(untitled.blocks)[1] == "*In your own words*\n> Slept on it.\n_Monday_"
    assert message.text.splitlines() == [
        "Your week of 2 March 2026",
        "*8 meetings with others*: 3 one-on-one, 2 small, 2 large, 1 with people from outside.",
        "8 reminders before meetings; you reflected after *4 of 8*.",
        "How present you felt, 1 to 5, by day: Mon 3.5 → Tue 5.",
        "Your answers touched: listening and asking, appreciation.",
    ]
    so_far = build_digest(PROMPTS, replace(WEEK, so_far=True))
    assert so_far.blocks[0]["text"]["text"] == "Your week so far (week of 2 March 2026)"


@pytest.mark.parametrize(
    ("pattern", "sentence"),
    [
        (
            ("digest.pattern.kind_gap", {"full": "one-on-one", "empty": "large"}),
            "You reflected after every 1:1 and after none of the large meetings.",
        ),
        (
            ("digest.pattern.kind_gap", {"full": "small", "empty": "external"}),
            "You reflected after every small meeting and after none of the meetings with "
            "people from outside.",
        ),
        (
            ("digest.pattern.kind_best", {"kind": "one-on-one", "answered": 4, "asked": 4}),
            "You reflected most after 1:1s (4 of 4).",
        ),
        (
            ("digest.pattern.presence_kind", {"kind": "small", "other": "large"}),
            "You felt most present in small meetings, least in large meetings.",
        ),
        (
            ("digest.pattern.busiest_day", {"day": 2, "count": 5}),
            "Wednesday was your fullest day, with 5 meetings.",
        ),
        (
            (
                "digest.pattern.words",
                {"theme": "appreciation", "answers": 3, "quote": "Thanked Cleo."},
            ),
            "What your answers came back to most: thanking and recognising people (3 answers)."
            " You wrote:\n> Thanked Cleo.",
        ),
        (
            (
                "digest.pattern.words_struggle",
                {"theme": "single-tasking", "answers": 1, "quote": "Had Slack open."},
            ),
            "What got in the way, in your own words: phones, laptops and messages in meetings"
            " (1 answer). You wrote:\n> Had Slack open.",
        ),
    ],
)
def test_patterns_read_as_sentences(pattern: tuple, sentence: str) -> None:
    sections = _sections(build_digest(PROMPTS, replace(WEEK, pattern=pattern)).blocks)
    assert f"*Worth noticing*\n{sentence}" in sections


def test_the_sentence_a_pattern_quotes_is_escaped_exactly_once() -> None:
    """One of their sentences, stored as typed, is shown as typed: escaped once, so "<3"
    and "<!channel>" are neither a link nor a mention, and an "&amp;" they typed reads
    "&amp;" in Slack."""
    pattern = ("digest.pattern.words_struggle", {"theme": "feelings", "answers": 2})
    quoted = {"quote": "R&D <3 <!channel> &amp; upset"}
    message = build_digest(PROMPTS, replace(WEEK, pattern=(pattern[0], pattern[1] | quoted)))
    (section,) = [s for s in _sections(message.blocks) if s.startswith("*Worth noticing*")]
    assert section.endswith("\n> R&amp;D &lt;3 &lt;!channel&gt; &amp;amp; upset")
    assert validate_message(message.text, message.blocks) == []


def test_the_digest_and_the_note_carry_what_the_experiment_was_chosen_from() -> None:
    week = replace(
        WEEK,
        themes=("single-tasking", "feelings"),
        experiment_practice="single-tasking",
        focus_practice="feelings",
    )
    expected = {
        "themes": ["single-tasking", "feelings"],
        "experiment_practice": "single-tasking",
        "focus_practice": "feelings",
        "why_quoted": False,
        "focus_offer": False,
    }
    assert build_digest(PROMPTS, week).metadata == expected
    assert build_digest(PROMPTS, week).plain().metadata == expected  # kept without blocks
    none = {
        "themes": [],
        "experiment_practice": None,
        "focus_practice": None,
        "why_quoted": False,
        "focus_offer": False,
    }
    assert build_digest_note(PROMPTS, replace(WEEK, answered=0)).metadata == none


def test_the_note_is_short_and_kind() -> None:
    note = build_digest_note(PROMPTS, replace(WEEK, answered=0, quotes=[], practices=[]))
    assert note.text == PROMPTS.text("digest.no_answers", meetings="8 meetings")
    assert [b["type"] for b in note.blocks] == ["header", "section", "section", "context"]
    assert "streak" not in note.text.lower()


def test_one_of_a_thing_is_singular() -> None:
    week = replace(WEEK, meetings=1, by_kind={"one-on-one": 1}, reminders=1, asked=1, answered=1)
    lines = build_digest(PROMPTS, week).text.splitlines()
    assert lines[1] == "*1 meeting with others*: 1 one-on-one."
    assert lines[2] == "1 reminder before meetings; you reflected after *1 of 1*."
    note = build_digest_note(PROMPTS, replace(week, answered=0))
    assert note.text.startswith("You had 1 meeting with others this week and no reflections")

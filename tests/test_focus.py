"""Suggesting a focus practice from a person's words (``bot.focus.suggest_focus``): pure,
deterministic, and every practice reachable from the lexicon in prompts/why.toml."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.focus import NO_MATCH, Why, focus_scores, lexicon, next_focus, suggest_focus
from bot.messages.prompts import PRACTICE_ORDER, Prompt, Prompts, load_prompts

PROMPTS = load_prompts()


@pytest.mark.parametrize(
    ("words", "practice"),
    [
        ("Someone who listens and asks before deciding, for my reports.", "observe-listen-ask"),
        ("Calm and fully there in the room, for the team.", "be-present"),
        ("Laptop shut, phone away, one thing at a time.", "single-tasking"),
        ("I want everyone to leave on the same page, with clarity.", "check-understanding"),
        ("Generous with credit; I thank people and celebrate them.", "appreciation"),
        ("Patient, never rushing anyone; pauses that leave space.", "slow-down"),
        ("Open to feedback about how I come across, blind spots and all.", "ask-feedback"),
        ("Reads the room: faces, posture, tone.", "body-language"),
        ("Kind and caring, a team that feels safe to be human.", "feelings"),
    ],
)
def test_each_practice_can_be_suggested(words: str, practice: str) -> None:
    assert suggest_focus(PROMPTS, words) == practice


def test_matching_ignores_case_and_punctuation_and_counts_every_occurrence() -> None:
    scores = focus_scores(PROMPTS, "LISTEN. Listening! listener—and a Good-Listener, too.")
    assert scores["observe-listen-ask"] == 4  # "listen*": one word going on
    assert focus_scores(PROMPTS, "questionable")["observe-listen-ask"] == 1  # a prefix, as written
    assert focus_scores(PROMPTS, "unhurried")["slow-down"] == 0  # a prefix starts a word
    assert focus_scores(PROMPTS, "body   language")["body-language"] == 1  # words in a row
    assert focus_scores(PROMPTS, "body, language")["body-language"] == 1  # punctuation is a break
    assert focus_scores(PROMPTS, "nobody language")["body-language"] == 0
    assert focus_scores(PROMPTS, "I don’t rush")["slow-down"] == 1  # a curly apostrophe too


def test_a_tie_goes_to_the_practice_named_first_and_nothing_matched_to_the_first() -> None:
    # One word each for listening (first) and feelings (last).
    assert suggest_focus(PROMPTS, "I listen and I care.") == "observe-listen-ask"
    assert suggest_focus(PROMPTS, "I care and I listen.") == "observe-listen-ask"
    assert suggest_focus(PROMPTS, "Thanks, calm.") == "be-present"  # be-present before appreciation
    assert suggest_focus(PROMPTS, "I care, I care, I listen.") == "feelings"  # more wins
    assert NO_MATCH == "observe-listen-ask"
    assert suggest_focus(PROMPTS, "Ein guter Chef für mein Team.") == NO_MATCH
    assert suggest_focus(PROMPTS, "") == NO_MATCH


def test_the_same_words_always_suggest_the_same_practice() -> None:
    words = "Patient and kind, someone who listens, for the new people on my team."
    assert len({suggest_focus(PROMPTS, words) for _ in range(20)}) == 1


def test_every_practice_has_a_lexicon_of_its_own() -> None:
    terms = lexicon(PROMPTS)
    assert list(terms) == list(PRACTICE_ORDER)
    for practice in PRACTICE_ORDER:
        prompt = PROMPTS[f"focus.words.{practice}"]
        assert prompt.practices == (practice,), prompt.id  # tagged with what it suggests
        assert len(terms[practice]) >= 10, practice
    written = [
        term.strip().rstrip("*")
        for practice in PRACTICE_ORDER
        for term in PROMPTS.text(f"focus.words.{practice}").split(",")
    ]
    assert len(written) == len(set(written)), "a term belongs to one practice"


def test_a_library_without_a_lexicon_suggests_the_first_practice() -> None:
    bare = Prompts({"x": Prompt(id="x", variants=("x",), practices=("general",))})
    assert suggest_focus(bare, "listen, listen") == NO_MATCH


def test_weeks_on_a_focus() -> None:
    since = datetime(2026, 3, 2, 9, tzinfo=UTC)
    why = Why(text="", focus="slow-down", focus_since=since, suggested=True)
    assert why.weeks_on_focus(since) == 0
    assert why.weeks_on_focus(since + timedelta(days=20, hours=23)) == 2
    assert why.weeks_on_focus(since + timedelta(weeks=3)) == 3
    assert why.weeks_on_focus(since - timedelta(days=1)) == 0


def test_an_offer_restarts_the_weeks_on_a_focus() -> None:
    since = datetime(2026, 3, 2, 9, tzinfo=UTC)
    why = Why(text="", focus="slow-down", focus_since=since, suggested=True)
    offered = since + timedelta(weeks=3)
    assert why.weeks_on_focus(offered + timedelta(weeks=1), offered_at=offered) == 1
    assert why.weeks_on_focus(offered + timedelta(weeks=3), offered_at=offered) == 3
    # An offer older than the focus (made for the one before) counts for nothing.
    assert (
        why.weeks_on_focus(since + timedelta(weeks=1), offered_at=since - timedelta(weeks=2)) == 1
    )


def test_the_next_focus_is_the_struggle_else_the_words_else_the_next_in_order() -> None:
    words = "Patient, never rushing anyone; pauses that leave space."  # suggests slow-down
    assert next_focus(PROMPTS, focus="be-present", struggling="feelings", text=words) == "feelings"
    assert next_focus(PROMPTS, focus="be-present", struggling="be-present", text=words) == (
        "slow-down"
    )
    assert next_focus(PROMPTS, focus="slow-down", struggling=None, text=words) == "ask-feedback"
    last = PRACTICE_ORDER[-1]
    assert next_focus(PROMPTS, focus=last, struggling=None, text=None) == PRACTICE_ORDER[0]

"""The lexicon of practices (``prompts/lexicon.toml``) as shipped, how its terms match a
person's words (``bot.themes``), and how a week of answers is read: themes, struggles and
the sentence that shows them."""

from __future__ import annotations

import json
import tomllib
from importlib import resources

import pytest

from bot.messages.mrkdwn import unescape
from bot.messages.prompts import PRACTICE_ORDER, WORD_LISTS, load_prompts
from bot.themes import (
    LEXICON_FILE,
    STRUGGLE,
    LexiconError,
    load_lexicon,
    named_in,
    normalise,
    parse_lexicon,
    read_answers,
    sentences,
)


def _document() -> dict:
    return tomllib.loads(resources.files("prompts").joinpath(LEXICON_FILE).read_text("utf-8"))


# --- The shipped lexicon ---------------------------------------------------------------------


def test_every_practice_has_words_and_struggles_and_its_tag() -> None:
    document = _document()
    assert set(document) == {*PRACTICE_ORDER, STRUGGLE}
    for practice in PRACTICE_ORDER:
        table = document[practice]
        assert table["practices"] == [practice]
        assert len(table["words"]) >= 5, practice
        assert len(table["struggles"]) >= 3, practice
    assert document[STRUGGLE]["practices"] == ["general"]
    assert set(document[STRUGGLE]) == {"practices", "struggles", "unless"}


def test_terms_are_plain_lower_case_and_in_one_table_only() -> None:
    seen: dict[str, str] = {}
    for name, table in _document().items():
        for key in ("words", "struggles", "unless"):
            for term in table.get(key, []):
                assert term == " ".join(term.split()) == term.lower(), f"[{name}] {term!r}"
                assert not set(term) & set("<>&|*{}"), f"[{name}] {term!r}"
                assert term not in seen, f"{term!r} is in [{name}] and [{seen[term]}]"
                seen[term] = name


def test_every_term_finds_itself_as_a_person_would_type_it() -> None:
    """A term's own words, capitalised, in a sentence, are found for its practice."""
    for practice in PRACTICE_ORDER:
        table = _document()[practice]
        for term in [*table["words"], *table["struggles"]]:
            found = named_in(f"Today: {term.capitalize()}, twice.")
            assert practice in found, f"{term!r} not found for {practice}"


def test_the_lexicon_is_not_a_prompt_file() -> None:
    """Nobody is shown these words: the prompt library skips the file, and every word the
    digest says about a theme is a prompt of its own (``digest.theme.*``)."""
    assert LEXICON_FILE in WORD_LISTS
    prompts = load_prompts()
    assert not [p.id for p in prompts if p.id.split(".")[0] in {*PRACTICE_ORDER, STRUGGLE}]
    for practice in PRACTICE_ORDER:
        assert prompts[f"digest.theme.{practice}"].practices == (practice,)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[feelings]\npractices = ['feelings']\nwords = ['upset']\n", "missing"),
        ("[x\n", LEXICON_FILE),
    ],
)
def test_a_broken_lexicon_is_refused_with_a_reason(text: str, error: str) -> None:
    with pytest.raises(LexiconError, match=error):
        parse_lexicon(text)


def test_a_table_must_carry_its_tag_and_lower_case_terms() -> None:
    document = _document()

    def toml(tables: dict) -> str:
        lines = []
        for name, table in tables.items():
            lines.append(f"[{name}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
        return "\n".join(lines) + "\n"

    untagged = {**document, "feelings": {"words": ["upset"]}}
    with pytest.raises(LexiconError, match=r"\[feelings\]: tag it"):
        parse_lexicon(toml(untagged))
    shouting = {**document, "feelings": {"practices": ["feelings"], "words": ["UPSET"]}}
    with pytest.raises(LexiconError, match="lower-case"):
        parse_lexicon(toml(shouting))
    assert parse_lexicon(toml({**document, STRUGGLE: {"practices": ["general"]}}))


# --- Matching ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "practice"),
    [
        ("My phone buzzed all through the 1:1.", "single-tasking"),
        ("Phones on the table, face down.", "single-tasking"),  # plural
        ("My phone's screen kept lighting up.", "single-tasking"),  # possessive
        ("Had Slack open the whole time.", "single-tasking"),
        ("HAD SLACK OPEN AGAIN", "single-tasking"),  # case
        ("Answered two emails during the sync.", "single-tasking"),
        ("Checked my e-mail once.", "single-tasking"),
        ("Inbox zero can wait.", "single-tasking"),
        ("I asked what she thought first.", "observe-listen-ask"),
        ("I was curious and it showed.", "observe-listen-ask"),
        ("Said: what do you think?", "observe-listen-ask"),
        ("I thanked the team for the release.", "appreciation"),
        ("I interrupted Dana twice.", "slow-down"),
        ("Rushed through the agenda.", "slow-down"),
        ("We talked over each other.", "slow-down"),
        ("Ben looked upset about the reorg.", "feelings"),
        ("Asked how they feel about the move.", "feelings"),
        ("Frustrated, honestly.", "feelings"),
        ("Her body-language said more than the slides.", "body-language"),
        ("Noticed his posture change.", "body-language"),
        ("Checked I understood before moving on.", "check-understanding"),
        ("I paraphrased what Ana said.", "check-understanding"),
        ("Took a breath at the door.", "be-present"),
        ("I was distracted by the deadline.", "be-present"),
        ("Asked for feedback on how I came across.", "ask-feedback"),
    ],
)
def test_the_issues_examples_name_their_practice(text: str, practice: str) -> None:
    assert practice in named_in(text)


@pytest.mark.parametrize(
    "text",
    [
        "I phoned Ben after the meeting.",  # calling someone is no distraction
        "Headphones on, door closed.",  # a word inside another word
        "Cut them some slack this week.",  # "slack" alone is not the app
        "Nobody wanted to slack off.",
        "Left a voicemail for the vendor.",  # "mail" inside "voicemail"
        "The presentation went fine.",  # "present" inside "presentation"
        "We shipped it.",
    ],
)
def test_a_term_is_a_whole_word_not_a_substring(text: str) -> None:
    assert named_in(text) == {}


def test_curly_apostrophes_and_a_left_out_apostrophe_read_as_straight_ones() -> None:
    for text in ("I couldn’t stop checking my phone.", "I couldnt stop checking my phone."):
        reading = read_answers([(text, None)])
        assert reading.struggles == {"single-tasking": 1}, text
    assert normalise("Didn’t ‘listen’") == "didn't 'listen'"
    assert "feelings" in named_in("I didn’t ask how she felt.")


def test_slack_escaping_neither_hides_a_word_nor_makes_one() -> None:
    """Answers are stored as typed (``bot.reflections`` unescapes Slack's entities once):
    "<", ">" and "&" around a word leave it a whole word, and an entity spelled out by
    the person ("&lt;") holds no word of the lexicon."""
    typed = unescape("My phone&gt;my team &amp; I knew it. &lt;email&gt; again")
    assert typed == "My phone>my team & I knew it. <email> again"
    assert named_in(typed) == {"single-tasking": 2}
    assert named_in("R&D &lt;3 &amp; &gt;") == {}


def test_sentences_are_split_at_stops_and_lines_and_collapsed() -> None:
    text = "Had Slack open.  Asked Ben!\n\n- Thanked Cleo?   Fine…  ok\nlast line"
    assert sentences(text) == [
        "Had Slack open.",
        "Asked Ben!",
        "Thanked Cleo?",
        "Fine…",
        "ok",
        "last line",
    ]


# --- Reading a week --------------------------------------------------------------------------


def test_themes_are_counted_per_answer_most_answers_first() -> None:
    reading = read_answers(
        [
            ("I thanked Ana. Thanked Ben too. Thanks all round.", 5),  # one answer, 3 terms
            ("Asked Cleo what she thought.", 4),
            ("Asked Dana a question first.", None),
        ]
    )
    assert reading.themes == ("observe-listen-ask", "appreciation")
    assert reading.mentions == {"observe-listen-ask": 2, "appreciation": 1}
    assert reading.struggles == {}
    assert reading.struggling is None


def test_a_struggle_is_a_cue_in_the_sentence_that_names_the_practice() -> None:
    reading = read_answers(
        [
            # the struggle word is in another sentence than "asked": no struggle with asking
            ("I asked a good question. Then had Slack open for the rest.", None),
            ("Kept checking Slack.", None),
            ("I couldn't look away from my laptop.", None),  # a cue of [struggle]
        ]
    )
    assert reading.struggles == {"single-tasking": 3}
    assert reading.struggling == "single-tasking"
    assert reading.evidence["single-tasking"] == "Then had Slack open for the rest."
    assert reading.evidence["observe-listen-ask"] == "I asked a good question."


def test_words_of_success_are_no_struggle() -> None:
    reading = read_answers([("I didn't touch my phone once, and closed my laptop.", None)])
    assert reading.themes == ("single-tasking",)
    assert reading.struggling is None


@pytest.mark.parametrize(
    ("text", "struggles"),
    [
        ("I interrupted Ben twice.", {"slow-down": 1}),
        ("I didn't interrupt once.", {}),
        ("Heard something I would have talked over.", {}),
        ("Had Slack open all afternoon.", {"single-tasking": 1}),
        ("Never had Slack open today.", {}),
        ("Without checking e-mail, for once.", {}),
        ("I asked instead of assuming.", {}),
        ("I assumed, as usual.", {"observe-listen-ask": 1}),
        # "couldn't" is three words before "phone", and nothing turns it around
        ("I couldn't stop checking my phone.", {"single-tasking": 1}),
        # a word that turns a struggle around counts only just before it
        ("Never mind the agenda, I rushed every decision we made.", {"slow-down": 1}),
    ],
)
def test_a_struggle_word_turned_around_is_none(text: str, struggles: dict) -> None:
    assert read_answers([(text, None)]).struggles == struggles


def test_a_low_tap_makes_what_the_words_name_a_struggle_and_alone_speaks_of_presence() -> None:
    reading = read_answers(
        [
            ("Thanked the team.", 2),  # they felt absent, and wrote about thanking
            ("", 1),  # a tap alone: presence
            ("Nothing to add.", 2),  # words that name nothing: presence
            ("Listened well.", 5),  # a high tap adds nothing
        ]
    )
    assert reading.struggles == {"appreciation": 1, "be-present": 2}
    assert reading.mentions == {"appreciation": 1, "be-present": 2, "observe-listen-ask": 1}
    assert reading.struggling == "be-present"
    assert "be-present" not in reading.evidence  # no sentence of theirs says it


def test_the_evidence_is_a_struggle_sentence_then_the_fullest_then_the_earliest() -> None:
    reading = read_answers(
        [
            ("My phone was in my bag.", None),
            ("Phone face down, laptop closed, no inbox.", None),
            ("Glanced at my phone twice.", None),
            ("Checked my phone during Ben's update.", None),
        ]
    )
    assert reading.evidence["single-tasking"] == "Glanced at my phone twice."
    calm = read_answers([(t, None) for t in ("My phone was away.", "Laptop shut, phone away.")])
    assert calm.evidence["single-tasking"] == "Laptop shut, phone away."


def test_the_lexicon_is_read_once() -> None:
    assert load_lexicon() is load_lexicon()

"""The phrases that say a person means to do something next time (``prompts/commitments.toml``)
and the sentence :func:`bot.commitments.commitment_sentence` finds in an answer."""

from __future__ import annotations

import pytest

from bot.commitments import PATTERNS_FILE, commitment_sentence, load_patterns, parse_patterns
from bot.messages.prompts import WORD_LISTS


@pytest.mark.parametrize(
    ("answer", "sentence"),
    [
        ("Next time I'll let her finish.", "Next time I'll let her finish."),
        ("Next time I\u2019ll let her finish.", "Next time I\u2019ll let her finish."),
        ("Good talk. I will check in with Ben on Friday.", "I will check in with Ben on Friday."),
        ("I'm going to ask before I assume", "I'm going to ask before I assume"),
        ("I\u2019m going to ask first.", "I\u2019m going to ask first."),
        ("Rushed the end.\nRemember to leave ten minutes.", "Remember to leave ten minutes."),
        ("Will check in with her tomorrow.", "Will check in with her tomorrow."),
        ("She looked tired. So will check in with her.", "So will check in with her."),
        ("Felt distracted; I'll close Slack first", "Felt distracted; I'll close Slack first"),
        ("NEXT TIME: phone in the bag.", "NEXT TIME: phone in the bag."),
        ("I will never know what he meant.", "I will never know what he meant."),  # fine
        ("- i plan to thank the team", "- i plan to thank the team"),
    ],
)
def test_an_intention_is_found_as_its_sentence(answer: str, sentence: str) -> None:
    assert commitment_sentence(answer) == sentence


@pytest.mark.parametrize(
    "answer",
    [
        "She will send the notes.",
        "They're going to move the launch.",
        "They\u2019re going to move the launch.",
        "He'll check in with the client.",
        "We talked about what the team is going to do.",
        "She will check in with him.",
        "Listened well, asked two questions.",
        "Will I ever stop interrupting?",  # a question is no commitment
        "Tillie's update was long.",  # "i'll" inside a word
        "I willingly waited.",
        "",
    ],
)
def test_no_intention_of_theirs(answer: str) -> None:
    assert commitment_sentence(answer) is None


def test_the_first_intention_of_several_is_the_one() -> None:
    answer = "Rushed it. I'll slow down. And I will ask Ben."
    assert commitment_sentence(answer) == "I'll slow down."


def test_the_list_is_a_word_list_not_prompts() -> None:
    assert PATTERNS_FILE in WORD_LISTS
    assert load_patterns() is load_patterns()  # read once


def test_a_document_without_both_lists_is_refused() -> None:
    with pytest.raises(ValueError, match="opening"):
        parse_patterns('[anywhere]\nphrases = ["i will"]\n')
    with pytest.raises(ValueError, match="anywhere"):
        parse_patterns('[anywhere]\nphrases = [" "]\n[opening]\nphrases = ["next time"]\n')
    found = parse_patterns('[anywhere]\nphrases = ["i  will"]\n[opening]\nphrases = ["x"]\n')
    assert commitment_sentence("I will.", found) == "I will."

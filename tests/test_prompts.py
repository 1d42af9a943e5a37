"""The prompt library: every id the code uses exists, fills, and serves a practice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.messages.prompts import PRACTICES, PromptError, load_prompts, parse_prompts

ROOT = Path(__file__).resolve().parents[1]
# prompts.text("home.title", ...) / prompts["x.y"] in the code
USE = re.compile(r"""prompts(?:\.text\(|\[)\s*["']([a-z0-9_.]+)["']""")


def _ids_used_in_code() -> set[str]:
    found: set[str] = set()
    for folder in ("bot", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(USE.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_prompt_the_code_uses_exists() -> None:
    library = load_prompts()
    used = _ids_used_in_code()
    assert used, "the scan found no prompt ids; the pattern is out of date"
    assert sorted(i for i in used if i not in library) == []


def test_every_prompt_serves_a_known_practice() -> None:
    for prompt in load_prompts():
        assert prompt.practices, f"{prompt.id} names no practice"
        assert set(prompt.practices) <= PRACTICES, prompt.id


def test_prompts_have_no_duplicate_wording_and_no_blank_text() -> None:
    seen: dict[str, str] = {}
    for prompt in load_prompts():
        for text in prompt.variants:
            assert text.strip(), prompt.id
            assert text not in seen, f"{prompt.id} repeats {seen.get(text)}"
            seen[text] = prompt.id


def test_placeholders_must_be_filled() -> None:
    library = parse_prompts({"a.toml": '[x]\npractices=["general"]\ntext="In {zone}"\n'})
    assert library.text("x", zone="Europe/Berlin") == "In Europe/Berlin"
    with pytest.raises(PromptError, match="zone"):
        library.text("x")
    with pytest.raises(PromptError, match="nope"):
        library.text("nope")


def test_a_prompt_id_may_be_defined_once() -> None:
    doc = '[x]\npractices=["general"]\ntext="a"\n'
    with pytest.raises(PromptError, match="twice"):
        parse_prompts({"a.toml": doc, "b.toml": doc})


def test_no_prompt_holds_slack_markup_by_accident() -> None:
    """Prompts are mrkdwn: "<your link>" would be read as a link or mention and vanish,
    and a bare "&" is one of Slack's control characters. A prompt never holds "<" or "&";
    ">" only as the quote marker at the start of a line. Links are made by the builders
    (``bot.messages.mrkdwn.link``), from checked URLs."""
    for prompt in load_prompts():
        for text in prompt.variants:
            assert "<" not in text, f"{prompt.id}: {text!r}"
            assert "&" not in text, f"{prompt.id}: {text!r}"
            for line in text.splitlines():
                assert ">" not in line.removeprefix("> "), f"{prompt.id}: {line!r}"

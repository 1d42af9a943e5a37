"""What a person's own words show: the practices their answers talk about, and the one they
struggled with most. Pure: no I/O but reading the lexicon once, nothing logged (the words
are private, and so is what they show).

The words listened for are in ``prompts/lexicon.toml``: per practice, the words that name it
and the words that say it got in the way, plus words that say *something* got in the way
(``[struggle]``). How a term matches is written at the top of that file: case-insensitively,
whole words only, curly quotes read as straight ones, a hyphen or apostrophe inside a word
optional, the last word also in its plural or possessive and in no other form.

A week is read answer by answer, an *answer* being everything the person gave to one
question (a reply, its edit, a tap and a line in the form: ``bot.digest`` groups them):

- a practice is *named* in an answer when one of its terms is in it;
- it is *struggled with* in an answer when a sentence that names it also holds one of its
  struggle words or one of ``[struggle]`` ("had Slack open", "kept checking", "couldn't",
  "distracted"), or when the answer's presence tap is 1 or 2 (they felt absent, and their
  words say what with). A struggle word turned around by one of the ``[struggle]``
  ``unless`` words in the ``UNLESS_WORDS`` words before it ("I didn't interrupt", "never
  had Slack open", "heard what I would have talked over") is none;
- a tap of 1 or 2 on an answer whose words name nothing is itself about presence: it names
  ``be-present`` and counts as a struggle with it. Other taps add nothing.

The week's *themes* are the practices named, the most answers first (then the most terms,
then the design's order); the practice *struggled with most* is the one struggled with in
the most answers (ties: the theme order). Each practice keeps one sentence of theirs as
evidence: one that shows the struggle when there is one, else the one naming it most, the
earliest on a tie.

Stored answers are what the person typed (``bot.reflections`` unescapes Slack's entities
once before storing), so they are read as they are; quoting them is the builder's job,
which escapes once.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from bot.messages.prompts import PRACTICE_ORDER

LEXICON_FILE = "lexicon.toml"
STRUGGLE = "struggle"  # the table of words that say something got in the way
LOW_PRESENCE = 2  # a presence tap of 1 or 2 says the person was not there
UNLESS_WORDS = 3  # how many words before a struggle word can turn it around
MIN_EVIDENCE_CHARS = 3

# Curly quotes and look-alikes as the straight apostrophe; hyphens as "-".
_STRAIGHT = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201b": "'",
        "\u02bc": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "`": "'",
        "\u2010": "-",
        "\u2011": "-",
    }
)
# A sentence ends at . ! ? or … followed by space, or at a line break.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?\u2026])\s+|\s*\n\s*")
_BULLET = re.compile(r"^[-*\u2022\u00b7]+\s+")
_TERM = re.compile(r"^[a-z0-9' -]+$")


class LexiconError(ValueError):
    """``prompts/lexicon.toml`` is missing a practice, or holds something unreadable."""


@dataclass(frozen=True)
class Lexicon:
    """The compiled lexicon: per practice, a pattern of every term that names it and one of
    the terms that say it got in the way; and the pattern of ``[struggle]``."""

    names: Mapping[str, re.Pattern[str]]
    struggles: Mapping[str, re.Pattern[str]]
    cues: re.Pattern[str]
    unless: re.Pattern[str]  # words that turn a struggle word around ("didn't", "never")

    def struggle_in(self, pattern: re.Pattern[str], plain: str) -> bool:
        """Whether ``plain`` (normalised) holds a term of ``pattern`` that no ``unless``
        word just before turns around."""
        for found in pattern.finditer(plain):
            before = " ".join(plain[: found.start()].split()[-UNLESS_WORDS:])
            if not self.unless.search(before):
                return True
        return False


@dataclass(frozen=True)
class Reading:
    """What a week's answers show (see the module docstring)."""

    themes: tuple[str, ...]  # practices named, most answers first
    mentions: Mapping[str, int]  # practice → answers that name it
    struggles: Mapping[str, int]  # practice → answers that struggle with it
    evidence: Mapping[str, str]  # practice → one sentence of theirs that shows it
    struggling: str | None  # the practice struggled with most, if any


def normalise(text: str) -> str:
    """``text`` as terms are matched against it: NFKC, straight quotes, case-folded."""
    return unicodedata.normalize("NFKC", text).translate(_STRAIGHT).casefold()


def sentences(text: str) -> list[str]:
    """The sentences of an answer, each on one line with its spaces collapsed."""
    found = []
    for part in _SENTENCE_BREAK.split(text):
        sentence = _BULLET.sub("", " ".join(part.split()))
        if sentence:
            found.append(sentence)
    return found


def term_pattern(term: str) -> str:
    """The regular expression of one lexicon term, without the word boundaries and the
    last word's ending (``compile_terms`` adds both, once for all terms)."""
    words = []
    for word in term.split():
        pieces = []
        for char in word:
            if char == "'":
                pieces.append("'?")
            elif char == "-":
                pieces.append(r"[-\s]?")
            else:
                pieces.append(re.escape(char))
        words.append("".join(pieces))
    return r"[-\s]+".join(words)  # the words of a phrase apart by spaces or a hyphen


def compile_terms(terms: Iterable[str]) -> re.Pattern[str]:
    """One pattern for a list of terms, whole words only, the last word also in its plural
    or possessive; the longest term first, so that a phrase wins over a word it begins
    with. (The ending is written once, after the alternatives: three times faster to
    compile than once per term.)"""
    alternatives = sorted({term_pattern(t) for t in terms}, key=lambda p: (-len(p), p))
    if not alternatives:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?:'s|e?s'?)?(?!\w)")


def parse_lexicon(text: str) -> Lexicon:
    """A lexicon from the TOML text of ``prompts/lexicon.toml`` (see that file)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"{LEXICON_FILE}: {exc}") from None
    expected = {*PRACTICE_ORDER, STRUGGLE}
    if set(document) != expected:
        missing, extra = expected - set(document), set(document) - expected
        raise LexiconError(f"{LEXICON_FILE}: missing {sorted(missing)}, unknown {sorted(extra)}")
    for name, table in document.items():
        tag = ["general"] if name == STRUGGLE else [name]
        if not isinstance(table, dict) or table.get("practices") != tag:
            raise LexiconError(f"{LEXICON_FILE} [{name}]: tag it practices = {tag}")
        for key, terms in table.items():
            if key == "practices":
                continue
            if key not in ("words", "struggles", "unless") or not isinstance(terms, list):
                raise LexiconError(f"{LEXICON_FILE} [{name}]: unknown key {key!r}")
            bad = [t for t in terms if not isinstance(t, str) or not _TERM.match(t)]
            if bad:
                raise LexiconError(f"{LEXICON_FILE} [{name}].{key}: not a lower-case term {bad}")
    return Lexicon(
        names={
            p: compile_terms([*document[p].get("words", []), *document[p].get("struggles", [])])
            for p in PRACTICE_ORDER
        },
        struggles={p: compile_terms(document[p].get("struggles", [])) for p in PRACTICE_ORDER},
        cues=compile_terms(document[STRUGGLE].get("struggles", [])),
        unless=compile_terms(document[STRUGGLE].get("unless", [])),
    )


@cache
def load_lexicon() -> Lexicon:
    """The lexicon shipped in the ``prompts`` package (read once per process)."""
    return parse_lexicon(resources.files("prompts").joinpath(LEXICON_FILE).read_text("utf-8"))


def named_in(text: str, lexicon: Lexicon | None = None) -> dict[str, int]:
    """Practice → how many of its terms ``text`` holds (practices not named left out)."""
    lexicon = lexicon or load_lexicon()
    plain = normalise(text)
    counts = {p: len(lexicon.names[p].findall(plain)) for p in PRACTICE_ORDER}
    return {p: n for p, n in counts.items() if n}


def read_answers(
    answers: Iterable[tuple[str, int | None]], lexicon: Lexicon | None = None
) -> Reading:
    """What a week's answers show: ``answers`` holds (text, presence tap or None) per
    answer, in the order written (see the module docstring)."""
    lexicon = lexicon or load_lexicon()
    mentions: Counter[str] = Counter()
    struggles: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    best: dict[str, tuple[tuple[bool, int, int, int], str]] = {}
    for n, (text, presence) in enumerate(answers):
        named: set[str] = set()
        strained: set[str] = set()
        for m, sentence in enumerate(sentences(text)):
            plain = normalise(sentence)
            cue = lexicon.struggle_in(lexicon.cues, plain)
            for practice in PRACTICE_ORDER:
                count = len(lexicon.names[practice].findall(plain))
                if not count:
                    continue
                hard = cue or lexicon.struggle_in(lexicon.struggles[practice], plain)
                named.add(practice)
                hits[practice] += count
                if hard:
                    strained.add(practice)
                if len(sentence) < MIN_EVIDENCE_CHARS:
                    continue
                rank = (hard, count, -n, -m)
                if practice not in best or rank > best[practice][0]:
                    best[practice] = (rank, sentence)
        if presence is not None and presence <= LOW_PRESENCE:
            strained |= named or {"be-present"}
            named |= strained
        mentions.update(named)
        struggles.update(strained)

    def order(practice: str) -> tuple[int, int, int]:
        return (-mentions[practice], -hits[practice], PRACTICE_ORDER.index(practice))

    themes = tuple(sorted(mentions, key=order))
    struggling = min(struggles, key=lambda p: (-struggles[p], *order(p)), default=None)
    return Reading(
        themes=themes,
        mentions=dict(mentions),
        struggles=dict(struggles),
        evidence={practice: sentence for practice, (_, sentence) in best.items()},
        struggling=struggling,
    )

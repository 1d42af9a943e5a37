"""What a person's own words show: the practices their answers talk about, and the one they
struggled with most. Pure: no I/O but reading the lexicon once, nothing logged (the words
are private, and so is what they show).

The words listened for are in ``prompts/lexicon.toml``: per practice, the words that name it
and the words that say it got in the way, plus words that say *something* got in the way
(``[struggle]``). How a term matches is written at the top of that file: case-insensitively,
whole words only, curly quotes read as straight ones, a hyphen or apostrophe inside a word
optional, the last word also in its plural or possessive and in no other form. A sentence
is matched as its tokens (``words_of``) against an index of the terms by their first token
(``Lexicon.find``): one pass, a few microseconds, however long the lexicon grows (one
regular expression of all the terms took milliseconds per answer, and most of the digest's
time).

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
from collections.abc import Iterable, Mapping, Sequence
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
_TERM = re.compile(r"^[a-z0-9]+(?:['-]?[a-z0-9]+)*(?: [a-z0-9]+(?:['-]?[a-z0-9]+)*)*$")
_WORD = re.compile(r"\w+(?:'\w+)*")


class LexiconError(ValueError):
    """``prompts/lexicon.toml`` is missing a practice, or holds something unreadable."""


@dataclass(frozen=True)
class Term:
    """One term of the lexicon, as the tokens it matches (``tokens``): the table it is in
    (a practice id or ``struggle``) and its list (``words``, ``struggles`` or ``unless``)."""

    tokens: tuple[str, ...]
    table: str
    kind: str


@dataclass(frozen=True)
class Match:
    """A term found in a sentence, over its tokens ``start`` to ``end`` (excluded)."""

    start: int
    end: int
    term: Term


@dataclass(frozen=True)
class Lexicon:
    """The lexicon as an index: the terms by their first token, in each form it takes (a
    one-word term also by its plurals). Matching a sentence is one pass over its tokens,
    whatever the size of the lexicon."""

    index: Mapping[str, tuple[Term, ...]]

    def find(self, tokens: Sequence[str]) -> list[Match]:
        """Every term in ``tokens`` (``words_of``), overlapping ones too."""
        found = []
        for start, token in enumerate(tokens):
            for term in self.index.get(token, ()):
                end = start + len(term.tokens)
                if end <= len(tokens) and _same(tokens[start:end], term.tokens):
                    found.append(Match(start, end, term))
        return found


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


def words_of(plain: str) -> list[str]:
    """The tokens of normalised text as terms are matched: its words, split at hyphens,
    without apostrophes ("couldn't" → "couldnt", "e-mail" → "e", "mail")."""
    return [word.replace("'", "") for word in _WORD.findall(plain)]


def term_forms(term: str) -> list[tuple[str, ...]]:
    """The token sequences a lexicon term matches: a hyphen inside a word may be written
    ("e-mail": "e", "mail") or left out ("email"), an apostrophe is dropped."""
    forms: list[tuple[str, ...]] = [()]
    for word in term.replace("'", "").split():
        parts = tuple(p for p in word.split("-") if p)
        joined = ("".join(parts),)
        options = [parts] if len(parts) == 1 else [parts, joined]
        forms = [form + option for form in forms for option in options]
    return forms


def _same(tokens: Sequence[str], term: tuple[str, ...]) -> bool:
    """The tokens are the term, its last word also in its plural or possessive ("phones",
    "phone's" without its apostrophe), in no other form ("phoned")."""
    *head, last = term
    return list(tokens[:-1]) == head and tokens[-1] in (last, last + "s", last + "es")


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
    index: dict[str, list[Term]] = {}
    for name, table in document.items():
        for kind in ("words", "struggles", "unless"):
            for text in table.get(kind, []):
                for form in term_forms(text):
                    term = Term(form, name, kind)
                    firsts = [form[0]]
                    if len(form) == 1:  # its first word is its last: plurals too
                        firsts += [form[0] + "s", form[0] + "es"]
                    for first in firsts:
                        index.setdefault(first, []).append(term)
    return Lexicon(index={first: tuple(terms) for first, terms in index.items()})


@cache
def load_lexicon() -> Lexicon:
    """The lexicon shipped in the ``prompts`` package (read once per process)."""
    return parse_lexicon(resources.files("prompts").joinpath(LEXICON_FILE).read_text("utf-8"))


def _longest(matches: Iterable[Match]) -> list[Match]:
    """Matches that do not overlap, the longest first at each place ("had slack open" is
    one term, not also "slack open")."""
    chosen: list[Match] = []
    for match in sorted(matches, key=lambda m: (m.start, -m.end)):
        if not chosen or match.start >= chosen[-1].end:
            chosen.append(match)
    return chosen


@dataclass(frozen=True)
class _Sentence:
    hits: Mapping[str, int]  # practice → terms of it, not overlapping
    hard: frozenset[str]  # practices it shows a struggle with


_NOTHING = _Sentence({}, frozenset())


def _read(sentence: str, lexicon: Lexicon) -> _Sentence:
    found = lexicon.find(words_of(normalise(sentence)))
    if not found:
        return _NOTHING
    by_table: dict[str, list[Match]] = {}
    for match in found:
        by_table.setdefault(match.term.table, []).append(match)
    unless = [m for m in found if m.term.kind == "unless"]

    def stands(match: Match) -> bool:  # no word just before turns it around
        return not any(
            match.start - UNLESS_WORDS <= u.start and u.end <= match.start for u in unless
        )

    cue = any(m.term.kind == "struggles" and stands(m) for m in by_table.get(STRUGGLE, ()))
    hits = {}
    hard = set()
    for practice in PRACTICE_ORDER:
        own = by_table.get(practice)
        if not own:
            continue
        hits[practice] = len(_longest(own))
        if cue or any(m.term.kind == "struggles" and stands(m) for m in own):
            hard.add(practice)
    return _Sentence(hits, frozenset(hard))


def named_in(text: str, lexicon: Lexicon | None = None) -> dict[str, int]:
    """Practice → how many of its terms ``text`` holds (practices not named left out)."""
    lexicon = lexicon or load_lexicon()
    found = lexicon.find(words_of(normalise(text)))
    counts = {p: len(_longest(m for m in found if m.term.table == p)) for p in PRACTICE_ORDER}
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
            read = _read(sentence, lexicon)
            for practice, count in read.hits.items():
                hard = practice in read.hard
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

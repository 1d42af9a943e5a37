"""A person's own why and the one practice they focus on: what is stored, what the Home tab,
the nudges and the weekly digest read, and how a focus is suggested from the words.

The why is what kind of leader they want to be, and for whom, in their words: private text,
encrypted at rest like a reflection (``bot.crypto``), never logged, in their export and gone
on erase (``bot.privacy``). The focus is one of the nine practice ids, with ``focus_since``
(UTC): when that practice was set. Saving the same practice with new words keeps
``focus_since``; picking another practice (or new words suggesting another) restarts it.

**For the weekly digest**: :func:`their_why` returns :class:`Why` (their words, the focus
practice, since when, whether Heedful suggested it) or None when they have not written one;
:meth:`Why.weeks_on_focus` counts whole weeks on the current focus (the "three weeks on one
focus" offer); :func:`whys_of` reads the why of a whole batch of people in one statement
(the digest's way, words decrypted).

**The three-week offer** (``bot.digest``): after three weeks on one focus the digest offers
to keep it or move on to :func:`next_focus`. :func:`keep_focus` answers "keep" (the focus
becomes the person's own choice; the counter restarted when the offer was made, so it comes
back three weeks after it), :func:`set_focus` answers "move on" (a new practice, a new
``focus_since``).

**Suggesting a focus** (:func:`suggest_focus`, pure and deterministic): the words are matched
against a short lexicon per practice kept in ``prompts/why.toml`` (``focus.words.*``; the
matching rules are written at the top of that section). The practice with the most matches
wins; a tie goes to the practice named first in :data:`PRACTICE_ORDER`; words that match
nothing suggest ``observe-listen-ask``, the first practice, which the others grow from.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.crypto import CipherError
from bot.messages.prompts import PRACTICE_ORDER, Prompts
from bot.services import Services
from bot.storage import leader_why
from bot.storage.db import read_only

# What a why may hold, in characters (code points, after trimming). A few sentences: it is
# quoted back to the person in the Home tab and the digest.
WHY_MAX_CHARS = 500
NO_MATCH = PRACTICE_ORDER[0]
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


@dataclass(frozen=True)
class Focus:
    """The practice a person focuses on, and since when (UTC). What the nudges read: no
    private text."""

    practice: str
    since: datetime


@dataclass(frozen=True)
class Why:
    """A person's why, as they wrote it, and their focus."""

    text: str | None  # their words; None when no configured key opens them
    focus: str  # a practice id (PRACTICE_ORDER)
    focus_since: datetime  # UTC: when this practice became the focus
    suggested: bool  # Heedful suggested it from the words; they did not pick it

    def weeks_on_focus(self, now: datetime, *, offered_at: datetime | None = None) -> int:
        """Whole weeks since the focus was set (0 in its first week), or since the digest
        last offered to keep it or move on (``offered_at``), whichever came later."""
        since = max(self.focus_since, offered_at) if offered_at else self.focus_since
        return max(0, (now - since) // timedelta(weeks=1))


def their_why(services: Services, *, team_id: str, user_id: str) -> Why | None:
    """The person's why and focus, or None when they have not written one. The words are
    decrypted; a value no configured key opens gives ``text=None`` (the focus still holds)."""
    with read_only(services.engine) as conn:
        stored = leader_why.why(conn=conn, team_id=team_id, user_id=user_id)
    return None if stored is None else _opened(stored, services.cipher)


def _opened(stored: leader_why.StoredWhy, cipher: Any) -> Why:
    """A stored why with its words decrypted (None when no configured key opens them)."""
    try:
        text: str | None = cipher.decrypt(stored.text)
    except CipherError:
        text = None
    return Why(
        text=text,
        focus=stored.focus_practice,
        focus_since=stored.focus_since,
        suggested=stored.focus_suggested,
    )


def whys_of(
    conn: sa.Connection, cipher: Any, people: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Why]:
    """The why of each (team id, user id) of ``people`` that has one, in one statement
    (the digest reads a batch of people at once). The words are decrypted with
    ``cipher``; a value no configured key opens gives ``text=None``."""
    return {
        (stored.team_id, stored.user_id): _opened(stored, cipher)
        for stored in leader_why.whys(conn=conn, people=people)
    }


def focus_of(conn: sa.Connection, *, team_id: str, user_id: str) -> Focus | None:
    """The person's focus practice, read on ``conn`` (no private text is read)."""
    stored = leader_why.focus(conn=conn, team_id=team_id, user_id=user_id)
    if stored is None or stored.practice not in PRACTICE_ORDER:
        return None
    return Focus(practice=stored.practice, since=stored.since)


def save_why(
    services: Services, *, team_id: str, user_id: str, text: str, focus: str, suggested: bool
) -> None:
    """Store the person's words (encrypted when a key is set) and their focus.

    ``focus_since`` becomes now for a new why or a different practice, and stays as it was
    when the practice is the same. One statement each way, so two saves at once leave one
    row (the unique key) holding the later one."""
    if focus not in PRACTICE_ORDER:
        raise ValueError(f"unknown practice {focus!r}")
    stored = services.cipher.encrypt(text)
    with services.engine.begin() as conn:
        leader_why.save_why(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            text=stored,
            focus_practice=focus,
            suggested=suggested,
            now=services.clock.now(),
        )


def set_focus(services: Services, *, team_id: str, user_id: str, practice: str) -> bool:
    """Make ``practice`` the person's focus, as their own choice, keeping their words:
    ``focus_since`` becomes now unless it already was their focus. False when they have
    no why (nothing is stored: a focus belongs to a why)."""
    if practice not in PRACTICE_ORDER:
        raise ValueError(f"unknown practice {practice!r}")
    with services.engine.begin() as conn:
        return leader_why.set_focus(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            practice=practice,
            now=services.clock.now(),
        )


def keep_focus(services: Services, *, team_id: str, user_id: str, practice: str) -> str | None:
    """ "Keep it" on the digest's offer: ``practice`` stays the focus and becomes the
    person's own choice (``focus_suggested`` false; ``focus_since`` stays, as the Home tab
    shows it). Returns the focus as it now is (another one, when it changed since the
    offer), or None without a why."""
    with services.engine.begin() as conn:
        leader_why.own_focus(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            practice=practice,
            now=services.clock.now(),
        )
        current = focus_of(conn, team_id=team_id, user_id=user_id)
    return current.practice if current is not None else None


def next_focus(prompts: Prompts, *, focus: str, struggling: str | None, text: str | None) -> str:
    """The practice to move on to after ``focus`` (pure): the one the week's words show
    the person struggling with most, else the one their why suggests, else the practice
    after ``focus`` in :data:`PRACTICE_ORDER` (never ``focus`` itself)."""
    if struggling in PRACTICE_ORDER and struggling != focus:
        return struggling
    if text:
        suggested = suggest_focus(prompts, text)
        if suggested != focus:
            return suggested
    return PRACTICE_ORDER[(PRACTICE_ORDER.index(focus) + 1) % len(PRACTICE_ORDER)]


# ----------------------------------------------------------------------------- suggesting


def _words(text: str) -> str:
    """Lower-case words separated by one space: punctuation, hyphens and line breaks are
    word breaks; an apostrophe inside a word is kept ("don't")."""
    return " ".join(_WORD.findall(text.lower().replace("\u2019", "'")))


def _term(term: str) -> re.Pattern[str] | None:
    """One lexicon term as a pattern over :func:`_words` text (see prompts/why.toml)."""
    term = term.strip()
    prefix = term.endswith("*")
    words = _words(term.rstrip("*"))
    if not words:
        return None
    tail = r"\S*" if prefix else ""
    return re.compile(rf"(?<!\S){re.escape(words)}{tail}(?!\S)")


@functools.cache
def lexicon(prompts: Prompts) -> dict[str, tuple[re.Pattern[str], ...]]:
    """Each practice's terms (``focus.words.<practice>``), compiled, in PRACTICE_ORDER."""
    found: dict[str, tuple[re.Pattern[str], ...]] = {}
    for practice in PRACTICE_ORDER:
        prompt_id = f"focus.words.{practice}"
        terms = prompts.text(prompt_id).split(",") if prompt_id in prompts else []
        found[practice] = tuple(p for p in map(_term, terms) if p is not None)
    return found


def focus_scores(prompts: Prompts, text: str) -> dict[str, int]:
    """How many times the words of each practice occur in ``text`` (pure)."""
    words = _words(text)
    return {
        practice: sum(len(pattern.findall(words)) for pattern in patterns)
        for practice, patterns in lexicon(prompts).items()
    }


def suggest_focus(prompts: Prompts, text: str) -> str:
    """The practice to suggest for these words (pure; see the module docstring)."""
    scores = focus_scores(prompts, text)
    best = max(scores.values(), default=0)
    if best == 0:
        return NO_MATCH
    return next(practice for practice in PRACTICE_ORDER if scores.get(practice) == best)

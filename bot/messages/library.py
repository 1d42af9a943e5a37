"""Choosing one wording from the practice library. Pure: no I/O, no clock of its own.

The library lives in ``prompts/presence.toml`` (``cue.*``, ``intention.*``),
``prompts/reflection.toml`` (``question.*``) and ``prompts/experiments.toml``
(``experiment.*``). Each wording is its own prompt, so it has an id that can be rotated and
remembered per user.

A prompt's ``kinds`` say which meetings it fits:

- no kinds: every meeting;
- sizes (``one-on-one``, ``small``, ``large``, ``external``): meetings of those kinds;
- ``recurring`` as well: only recurring meetings, of those sizes, or of any size when
  ``recurring`` is the only kind listed (a wording written for a stand-up or a weekly 1:1,
  "Notice one thing that's changed since last time").

The first of a prompt's ``practices`` is its primary practice.

A person's **focus practice** (``bot.focus``) takes about half of their intentions and half of
their questions (:func:`focus_lean`): every other wording of each group serves it, counted
within each size of meeting from the last wording of that group they were shown at one
since the focus was set (``bot.nudges`` finds it); a size's first turn goes to the focus
unless it already has more than half of the group. The other half keep clear of it and rotate
through the rest, so the practices stay in view. Freshness comes
first: a turn for the focus passes when no wording that serves it and fits the meeting is
unseen for 14 days, so the share can fall below half for someone with many meetings of one
kind; and a turn for the others takes a focus wording only when nothing else is fresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from bot.messages.prompts import PRACTICE_ORDER, Prompt, PromptError, Prompts

GROUPS = ("cue", "intention", "question", "experiment")
KINDS = ("one-on-one", "small", "large", "external", "recurring")
RECURRING = "recurring"
SIZES = tuple(kind for kind in KINDS if kind != RECURRING)


AVOID_WITHIN = timedelta(days=14)


def group_of(prompt: Prompt) -> str:
    """The library group of a prompt: the first part of its id (``intention`` ...)."""
    return prompt.id.partition(".")[0]


def primary_practice(prompt: Prompt) -> str:
    """The practice a wording mainly serves (the first one it names)."""
    if not prompt.practices:
        raise PromptError(f"prompt {prompt.id} names no practice")
    return prompt.practices[0]


def fits(prompt: Prompt, *, kind: str, recurring: bool) -> bool:
    """Whether a wording suits a meeting of this kind (see the module docstring)."""
    return _fits(prompt, kind, recurring)


def _fits(prompt: Prompt, kind: str | None, recurring: bool) -> bool:
    kinds = set(prompt.kinds)
    if RECURRING in kinds and not recurring:
        return False
    sizes = kinds - {RECURRING}
    return kind is None or not sizes or kind in sizes


def _fits_every_kind(prompt: Prompt) -> bool:
    return all(_fits(prompt, size, False) for size in SIZES)


def candidates(
    prompts: Prompts,
    group: str,
    *,
    kind: str | None = None,
    recurring: bool = False,
    practice: str | None = None,
) -> list[Prompt]:
    """The wordings of ``group`` that fit, in library order. Strict: may be empty.

    ``kind=None`` means any size; wordings written only for recurring meetings still need
    ``recurring=True``. ``practice`` matches any practice a wording names.
    """
    return [
        prompt
        for prompt in prompts
        if group_of(prompt) == group
        and _fits(prompt, kind, recurring)
        and (practice is None or practice in prompt.practices)
    ]


def practices_for(
    prompts: Prompts, group: str, *, kind: str | None, recurring: bool
) -> tuple[str, ...]:
    """The practices (in :data:`PRACTICE_ORDER`) that have a wording fitting this meeting.

    What to rotate through: ``rotate_practice(recent, practices_for(...))``.
    """
    named = {
        practice
        for prompt in candidates(prompts, group, kind=kind, recurring=recurring)
        for practice in prompt.practices
    }
    return tuple(practice for practice in PRACTICE_ORDER if practice in named)


def choose(
    prompts: Prompts,
    group: str,
    *,
    kind: str | None,
    recurring: bool,
    shown: Mapping[str, datetime],
    now: datetime,
    salt: str,
    practice: str | None = None,
    avoid_practice: str | None = None,
    avoid_within: timedelta = AVOID_WITHIN,
) -> Prompt:
    """The wording to show one user now.

    Among the wordings that fit the meeting (and serve ``practice`` when any do), prefer
    one this user has never seen, then one not seen within ``avoid_within``, then the one
    seen longest ago; among equally fresh ones, one that does not serve ``avoid_practice``.
    Ties go to a stable hash of ``salt`` and the prompt id, so one meeting (salt = its
    occurrence key) always gets the same wording for the same history, and two meetings on
    one day get different ones. ``shown`` maps prompt id to when this user last
    saw it; pass it as it was before this message (without this message's own record).

    When no wording fits the kind, it falls back to the wordings that fit every kind, then
    to the whole group. Raises :class:`PromptError` only when the group is empty.
    """
    pool = _pool(prompts, group, kind=kind, recurring=recurring, practice=practice)
    horizon = now - avoid_within

    def rank(prompt: Prompt) -> tuple[int, bool, object, bytes, str]:
        seen = shown.get(prompt.id)
        tiebreak = _tiebreak(salt, prompt.id)
        avoided = avoid_practice is not None and avoid_practice in prompt.practices
        if seen is None:
            return (0, avoided, 0, tiebreak, prompt.id)
        if seen <= horizon:
            return (1, avoided, 0, tiebreak, prompt.id)
        return (2, avoided, seen, tiebreak, prompt.id)

    return min(pool, key=rank)


def _pool(
    prompts: Prompts,
    group: str,
    *,
    kind: str | None,
    recurring: bool,
    practice: str | None,
) -> list[Prompt]:
    everything = [prompt for prompt in prompts if group_of(prompt) == group]
    if not everything:
        raise PromptError(f"no {group!r} prompts in prompts/")
    pool = [prompt for prompt in everything if _fits(prompt, kind, recurring)]
    if not pool:
        pool = [prompt for prompt in everything if _fits_every_kind(prompt)] or everything
    if practice is not None:
        pool = [prompt for prompt in pool if practice in prompt.practices] or pool
    return pool


def _tiebreak(salt: str, prompt_id: str) -> bytes:
    """Stable across processes and Python versions (unlike ``hash()``)."""
    return hashlib.blake2b(f"{salt}\x1f{prompt_id}".encode(), digest_size=8).digest()


def rotate_practice(recent_practices: Sequence[str], available: Iterable[str]) -> str:
    """The practice used least recently, for rotating through the practices.

    ``recent_practices`` is this user's history, oldest first (most recent last); it may be
    any length and may name practices no longer available. A practice never used comes
    first, in the order of ``available`` (pass an ordered collection such as
    :data:`PRACTICE_ORDER` or :func:`practices_for`); otherwise the one whose last use is
    the oldest. Raises ``ValueError`` when ``available`` is empty.
    """
    options = list(dict.fromkeys(available))
    if not options:
        raise ValueError("no practices to rotate through")
    last_used = {practice: index for index, practice in enumerate(recent_practices)}
    return min(options, key=lambda practice: last_used.get(practice, -1))


def fresh(
    prompts: Prompts,
    group: str,
    *,
    kind: str | None,
    recurring: bool,
    practice: str,
    shown: Mapping[str, datetime],
    now: datetime,
    avoid_within: timedelta = AVOID_WITHIN,
) -> list[Prompt]:
    """The wordings of ``group`` that fit the meeting, serve ``practice`` and this user has
    not seen within ``avoid_within`` (strict: no fallback to other kinds)."""
    horizon = now - avoid_within
    return [
        prompt
        for prompt in candidates(prompts, group, kind=kind, recurring=recurring, practice=practice)
        if (seen := shown.get(prompt.id)) is None or seen <= horizon
    ]


def focus_lean(
    prompts: Prompts,
    group: str,
    *,
    focus: str | None,
    since: datetime | None,
    last: tuple[str, datetime] | None,
    kind: str | None,
    recurring: bool,
    shown: Mapping[str, datetime],
    now: datetime,
    balance: tuple[int, int] = (0, 0),
) -> tuple[str | None, str | None]:
    """``(practice, avoid_practice)`` for :func:`choose`, for a person focusing on ``focus``.

    ``last`` is the last wording of ``group`` they were shown at a meeting of this size
    (prompt id, when); ``balance`` is how many of the group's wordings shown since the focus
    was set (``since``) served it, and how many there were, at meetings of every size.
    Within a size the turns alternate: it is the focus's turn unless the last wording there
    (since the focus was set) served it, as its first or second practice. The first turn at
    a size goes to the focus unless it already has more than half of the group's wordings,
    so sizes that start and end on the focus do not add up to much more than half. On its turn,
    ``(focus, None)``, as long as a fresh wording serving it fits this meeting
    (:func:`fresh`); otherwise ``(None, focus)``: any practice but the focus. Without a
    focus, ``(None, None)``: as before."""
    if focus is None:
        return None, None
    since_focus = last is not None and (since is None or last[1] >= since)
    if since_focus and last is not None:
        turn = not (last[0] in prompts and focus in prompts[last[0]].practices)
    else:
        served, total = balance
        turn = 2 * served <= total
    if turn and fresh(
        prompts, group, kind=kind, recurring=recurring, practice=focus, shown=shown, now=now
    ):
        return focus, None
    return None, focus

"""Where an open commitment comes back (pure): the one rule ``bot.commitments`` follows when
a reminder quotes a commitment, and ``bot.planner`` follows to rank that meeting's reminder
and question first.

A reminder composed at ``at`` for ``meeting`` may quote an open commitment
(:func:`comes_back_at`) when it was accepted within ``WINDOW`` (30 days) before ``at``, is
not about that very meeting, is not waiting for the question after another meeting it was
quoted for, and the meeting is of the same series or has any of its people. Of several,
the reminder quotes one (:func:`preferred`): the one it quoted before (a retry quotes the
same), else the most recently accepted.

No I/O: the caller reads the commitments (``bot.commitments`` at send time, ``bot.occurrences``
when it loads the plan input) and hands them in as :class:`Pending`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

OPEN = "open"  # the state of a commitment still to come back or be asked about
WINDOW = timedelta(days=30)


class Meeting(Protocol):
    """What the rule reads of a meeting (a ``bot.calendars.occurrence.Occurrence``; this
    module stays below the calendars, importing nothing of theirs)."""

    @property
    def key(self) -> str: ...

    @property
    def series_key(self) -> str: ...

    @property
    def people(self) -> Collection[str]: ...


@dataclass(frozen=True)
class Pending:
    """An open commitment, as the rule needs it (no words of theirs)."""

    id: int
    occurrence_key: str | None  # the meeting it was said about
    series_key: str
    people: frozenset[str]
    accepted_at: datetime
    quoted_for: str | None = None  # the meeting whose reminder quoted it, if any

    @classmethod
    def from_row(cls, row: Any) -> Pending:
        """From a row of the ``commitment`` table (any row with those columns)."""
        return cls(
            id=row.id,
            occurrence_key=row.occurrence_key,
            series_key=row.series_key or "",
            people=frozenset(row.people or ()),
            accepted_at=row.accepted_at,
            quoted_for=row.quoted_for,
        )


def comes_back_at(item: Pending, meeting: Meeting, *, at: datetime) -> bool:
    """Whether a reminder for ``meeting`` composed at ``at`` may quote ``item``."""
    return (
        at - WINDOW <= item.accepted_at <= at
        and item.occurrence_key != meeting.key
        and item.quoted_for in (None, meeting.key)
        and (item.series_key == meeting.series_key or bool(item.people & set(meeting.people)))
    )


def preferred(items: Iterable[Pending], meeting: Meeting) -> list[Pending]:
    """``items`` (that may come back at ``meeting``) in the order a reminder tries them:
    the one quoted for it before first, then the most recently accepted."""
    return sorted(
        items,
        key=lambda c: (c.quoted_for != meeting.key, -c.accepted_at.timestamp(), -c.id),
    )


def where_they_come_back(
    items: Sequence[Pending], reminders: Sequence[tuple[Meeting, datetime, bool]]
) -> dict[str, int]:
    """Which meeting each commitment will come back at: meeting key → commitment id.

    ``reminders`` are the meetings in time order, each with when its reminder will be
    composed and whether it is still to go out. The reminders quote in that order, one
    commitment each (:func:`preferred`), so a commitment taken by an earlier meeting does
    not come back at a later one. One quoted before comes back only where it was quoted,
    whether or not that reminder is still to go."""
    left = list(items)
    found: dict[str, int] = {}
    for meeting, at, to_go in reminders:
        ready = [
            c
            for c in left
            if comes_back_at(c, meeting, at=at) and (to_go or c.quoted_for == meeting.key)
        ]
        if ready:
            chosen = preferred(ready, meeting)[0]
            found[meeting.key] = chosen.id
            left.remove(chosen)
    return found

"""Commitments (table ``commitment``): what a person asked Heedful to bring back, and how
it ended (``bot.commitments`` decides when; ``bot.comeback`` where)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.storage.dialect import insert_ignoring_duplicates
from bot.storage.models import Commitment

COMMITMENT = Commitment.__table__  # type: ignore[attr-defined]
# The states of ``commitment.state`` (``OPEN`` is ``bot.comeback.OPEN``, which imports
# nothing: the two spell the same word).
OPEN, KEPT, PARTLY, DROPPED = "open", "kept", "partly", "dropped"


@dataclass(frozen=True, slots=True)
class OpenCommitment:
    """An open commitment, its sentence still encrypted (``bot.comeback.Pending.from_row``
    reads it as it is)."""

    id: int
    text: str
    occurrence_key: str | None
    series_key: str
    people: list[str]
    accepted_at: datetime
    quoted_for: str | None


def add_commitment(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    reflection_id: int,
    text: str,
    occurrence_key: str | None,
    series_key: str,
    people: Sequence[str],
    now: datetime,
) -> None:
    """Keep an open commitment from the answer ``reflection_id`` (its sentence ``text``
    already encrypted); nothing when that answer has one already."""
    conn.execute(
        insert_ignoring_duplicates(conn, COMMITMENT),
        [
            {
                "team_id": team_id,
                "user_id": user_id,
                "reflection_id": reflection_id,
                "text": text,
                "occurrence_key": occurrence_key,
                "series_key": series_key,
                "people": list(people),
                "state": OPEN,
                "accepted_at": now,
            }
        ],
    )


def open_commitments(
    *, conn: sa.Connection, team_id: str, user_id: str, since: datetime | None = None
) -> list[OpenCommitment]:
    """The person's open commitments (accepted at or after ``since``, when given), newest
    first."""
    c = COMMITMENT.c
    query = sa.select(
        c.id, c.text, c.occurrence_key, c.series_key, c.people, c.accepted_at, c.quoted_for
    ).where(c.team_id == team_id, c.user_id == user_id, c.state == OPEN)
    if since is not None:
        query = query.where(c.accepted_at >= since)
    rows = conn.execute(query.order_by(c.accepted_at.desc(), c.id.desc()))
    return [
        OpenCommitment(
            id=row.id,
            text=row.text,
            occurrence_key=row.occurrence_key,
            series_key=row.series_key,
            people=list(row.people or ()),
            accepted_at=row.accepted_at,
            quoted_for=row.quoted_for,
        )
        for row in rows
    ]


def quote_for(*, conn: sa.Connection, commitment_id: int, meeting_key: str, now: datetime) -> bool:
    """Record an open commitment as quoted by the reminder for ``meeting_key``. False when
    it is closed or another meeting's reminder took it first."""
    c = COMMITMENT.c
    return bool(
        conn.execute(
            sa.update(COMMITMENT)
            .where(c.id == commitment_id, c.quoted_for.is_(None), c.state == OPEN)
            .values(quoted_for=meeting_key, quoted_at=now)
        ).rowcount
    )


@dataclass(frozen=True, slots=True)
class Quoted:
    """The open commitment a reminder quoted, its sentence still encrypted."""

    id: int
    text: str


def quoted_at_meeting(
    *, conn: sa.Connection, team_id: str, user_id: str, meeting_key: str
) -> Quoted | None:
    """The newest open commitment of the person quoted for ``meeting_key``, if any."""
    c = COMMITMENT.c
    row = conn.execute(
        sa.select(c.id, c.text)
        .where(
            c.team_id == team_id,
            c.user_id == user_id,
            c.state == OPEN,
            c.quoted_for == meeting_key,
        )
        .order_by(c.accepted_at.desc(), c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else Quoted(row.id, row.text)


def close_commitment(
    *,
    conn: sa.Connection,
    commitment_id: int,
    team_id: str,
    user_id: str,
    state: str,
    now: datetime,
) -> bool:
    """Close the person's open commitment as ``state`` (``KEPT``, ``PARTLY`` or
    ``DROPPED``). False when it was not theirs or not open."""
    return _change_open(conn, commitment_id, team_id, user_id, {"state": state, "closed_at": now})


def release_quote(*, conn: sa.Connection, commitment_id: int, team_id: str, user_id: str) -> bool:
    """A "not yet": the open commitment may come back at another meeting. False when it
    was not theirs or not open."""
    return _change_open(
        conn, commitment_id, team_id, user_id, {"quoted_for": None, "quoted_at": None}
    )


def _change_open(
    conn: sa.Connection, commitment_id: int, team_id: str, user_id: str, values: dict[str, object]
) -> bool:
    c = COMMITMENT.c
    return bool(
        conn.execute(
            sa.update(COMMITMENT)
            .where(
                c.id == commitment_id,
                c.team_id == team_id,
                c.user_id == user_id,
                c.state == OPEN,
            )
            .values(**values)
        ).rowcount
    )


def kept_closings(
    *,
    conn: sa.Connection,
    team_ids: Iterable[str],
    user_ids: Iterable[str],
    since: datetime,
    until: datetime,
) -> list[tuple[str, str, datetime]]:
    """(team, user, closed at) of every commitment kept in [``since``, ``until``) by the
    people ``user_ids`` of ``team_ids``."""
    c = COMMITMENT.c
    rows = conn.execute(
        sa.select(c.team_id, c.user_id, c.closed_at).where(
            c.state == KEPT,
            c.team_id.in_(set(team_ids)),
            c.user_id.in_(set(user_ids)),
            c.closed_at >= since,
            c.closed_at < until,
        )
    )
    return [(team, user, at) for team, user, at in rows]

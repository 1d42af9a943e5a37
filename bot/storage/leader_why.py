"""A person's why and focus (table ``leader_why``, one row per person): their words,
encrypted as given (never logged), and the practice they focus on since when
(``bot.focus`` decides what to store; ``bot.privacy`` exports and erases it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.storage.dialect import insert_ignoring_duplicates
from bot.storage.models import LeaderWhy, UTCDateTime

LEADER_WHY = LeaderWhy.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StoredWhy:
    """A person's why as stored: ``text`` still encrypted."""

    team_id: str
    user_id: str
    text: str
    focus_practice: str
    focus_since: datetime
    focus_suggested: bool


@dataclass(frozen=True, slots=True)
class StoredFocus:
    """A person's focus practice and since when (UTC): no private text."""

    practice: str
    since: datetime


def _why(row: sa.Row) -> StoredWhy:
    return StoredWhy(
        team_id=row.team_id,
        user_id=row.user_id,
        text=row.text,
        focus_practice=row.focus_practice,
        focus_since=row.focus_since,
        focus_suggested=bool(row.focus_suggested),
    )


def _columns() -> tuple[sa.ColumnElement, ...]:
    t = LEADER_WHY.c
    return (t.team_id, t.user_id, t.text, t.focus_practice, t.focus_since, t.focus_suggested)


def why(*, conn: sa.Connection, team_id: str, user_id: str) -> StoredWhy | None:
    """The person's why, or None when they have not written one."""
    t = LEADER_WHY.c
    row = conn.execute(
        sa.select(*_columns()).where(t.team_id == team_id, t.user_id == user_id)
    ).first()
    return None if row is None else _why(row)


def whys(*, conn: sa.Connection, people: Iterable[tuple[str, str]]) -> list[StoredWhy]:
    """The why of each (team id, user id) of ``people`` that has one, in one statement."""
    owners = list(set(people))
    if not owners:
        return []
    t = LEADER_WHY.c
    rows = conn.execute(sa.select(*_columns()).where(sa.tuple_(t.team_id, t.user_id).in_(owners)))
    return [_why(row) for row in rows]


def focus(*, conn: sa.Connection, team_id: str, user_id: str) -> StoredFocus | None:
    """The person's focus practice (the words are not read), or None without a why."""
    t = LEADER_WHY.c
    row = conn.execute(
        sa.select(t.focus_practice, t.focus_since).where(t.team_id == team_id, t.user_id == user_id)
    ).first()
    return None if row is None else StoredFocus(practice=row.focus_practice, since=row.focus_since)


def _since(practice: str, now: datetime) -> sa.ColumnElement:
    """``focus_since`` as an UPDATE's SET reads it: kept when the stored practice is
    ``practice``, else ``now``."""
    t = LEADER_WHY.c
    return sa.case(
        (t.focus_practice == practice, t.focus_since),
        else_=sa.literal(now, type_=UTCDateTime()),
    )


def save_why(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    text: str,
    focus_practice: str,
    suggested: bool,
    now: datetime,
) -> None:
    """Store the person's words (``text`` already encrypted) and focus: a new row, or the
    row they have with ``focus_since`` kept when the practice is the same and ``now``
    otherwise. One statement each way, so two saves at once leave one row (the unique
    key) holding the later one."""
    t = LEADER_WHY.c
    added = conn.execute(
        insert_ignoring_duplicates(conn, LEADER_WHY)
        .values(
            team_id=team_id,
            user_id=user_id,
            text=text,
            focus_practice=focus_practice,
            focus_since=now,
            focus_suggested=suggested,
            created_at=now,
            updated_at=now,
        )
        .returning(t.id)  # a row only when it was inserted (rowcount is -1 on psycopg)
    ).first()
    if added is not None:
        return
    conn.execute(
        sa.update(LEADER_WHY)
        .where(t.team_id == team_id, t.user_id == user_id)
        .values(
            text=text,
            focus_practice=focus_practice,
            focus_since=_since(focus_practice, now),
            focus_suggested=suggested,
            updated_at=now,
        )
    )


def set_focus(
    *, conn: sa.Connection, team_id: str, user_id: str, practice: str, now: datetime
) -> bool:
    """Make ``practice`` the person's focus as their own choice, keeping their words;
    ``focus_since`` becomes ``now`` unless it already was their focus. False when they
    have no why."""
    t = LEADER_WHY.c
    changed = conn.execute(
        sa.update(LEADER_WHY)
        .where(t.team_id == team_id, t.user_id == user_id)
        .values(
            focus_practice=practice,
            focus_since=_since(practice, now),
            focus_suggested=False,
            updated_at=now,
        )
    ).rowcount
    return changed == 1


def own_focus(
    *, conn: sa.Connection, team_id: str, user_id: str, practice: str, now: datetime
) -> bool:
    """The person's focus, if it still is ``practice``, becomes their own choice
    (``focus_suggested`` false; ``focus_since`` stays). False when it is not."""
    t = LEADER_WHY.c
    changed = conn.execute(
        sa.update(LEADER_WHY)
        .where(t.team_id == team_id, t.user_id == user_id, t.focus_practice == practice)
        .values(focus_suggested=False, updated_at=now)
    ).rowcount
    return bool(changed)

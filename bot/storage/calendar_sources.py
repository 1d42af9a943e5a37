"""Connected calendars (table ``calendar_source``): ICS feeds, and the shared row of each
Google or Microsoft calendar. A feed's address is a secret: it stays encrypted here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.storage.models import CalendarSource

SOURCE = CalendarSource.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Source:
    """A calendar's row, its address still encrypted."""

    id: int
    team_id: str
    user_id: str
    kind: str
    url: str
    label: str | None
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    feed_print: dict[str, Any] | None
    status: str
    error: str | None
    broken_notified_at: datetime | None
    attendees_unknown: bool
    no_attendees_notified_at: datetime | None
    failures: int
    expanded_until: datetime | None
    last_checked_at: datetime | None
    next_check_at: datetime | None
    created_at: datetime | None
    last_changed_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Source:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def sources(*, conn: sa.Connection, team_id: str, user_id: str, kind: str) -> list[Source]:
    """The person's calendars of ``kind``, oldest first."""
    t = SOURCE.c
    query = (
        sa.select(SOURCE)
        .where(t.team_id == team_id, t.user_id == user_id, t.kind == kind)
        .order_by(t.id)
    )
    return [Source.of(row) for row in conn.execute(query)]


def add_source(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    kind: str,
    url: str,
    now: datetime,
    **values: Any,
) -> int:
    """Store a new calendar (``url`` already encrypted) with its first check's ``values``;
    its id."""
    source_id = conn.execute(
        sa.insert(SOURCE)
        .values(team_id=team_id, user_id=user_id, kind=kind, url=url, created_at=now, **values)
        .returning(SOURCE.c.id)
    ).scalar_one()
    return int(source_id)


def update_source(*, conn: sa.Connection, source_id: int, **values: Any) -> bool:
    """Set ``values`` on the calendar; False when it is gone (disconnected meanwhile)."""
    t = SOURCE.c
    return bool(conn.execute(sa.update(SOURCE).where(t.id == source_id).values(**values)).rowcount)


def record_checks(*, conn: sa.Connection, checks: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
    """Set each ``(source id, values)`` of ``checks`` (all with the same columns): one
    statement for them all; a calendar disconnected meanwhile is simply not there."""
    if not checks:
        return
    t = SOURCE.c
    conn.execute(
        sa.update(SOURCE).where(t.id == sa.bindparam("b_id")),
        [{"b_id": source_id, **values} for source_id, values in checks],
    )


def count_failure(*, conn: sa.Connection, source_id: int, error: str) -> None:
    """One more failure in a row of the calendar, and its ``error``."""
    t = SOURCE.c
    conn.execute(
        sa.update(SOURCE).where(t.id == source_id).values(error=error, failures=t.failures + 1)
    )


def mark_broken_notified(*, conn: sa.Connection, source_id: int, now: datetime) -> bool:
    """Note that the owner was told the calendar broke; False when they had been already."""
    t = SOURCE.c
    first = conn.execute(
        sa.update(SOURCE)
        .where(t.id == source_id, t.broken_notified_at.is_(None))
        .values(broken_notified_at=now)
    ).rowcount
    return bool(first)


def mark_no_attendees_notified(*, conn: sa.Connection, source_id: int, now: datetime) -> bool:
    """Note that the owner was told the calendar lists no attendees; False when they had
    been already."""
    t = SOURCE.c
    first = conn.execute(
        sa.update(SOURCE)
        .where(t.id == source_id, t.no_attendees_notified_at.is_(None))
        .values(no_attendees_notified_at=now)
    ).rowcount
    return bool(first)


def delete_source(
    *,
    conn: sa.Connection,
    source_id: int,
    team_id: str | None = None,
    user_id: str | None = None,
    kind: str | None = None,
) -> bool:
    """Forget the calendar ``source_id`` (only if it is of ``team_id``, ``user_id`` and
    ``kind``, when given); False when there is none."""
    t = SOURCE.c
    match = [t.id == source_id]
    if team_id is not None:
        match.append(t.team_id == team_id)
    if user_id is not None:
        match.append(t.user_id == user_id)
    if kind is not None:
        match.append(t.kind == kind)
    return bool(conn.execute(sa.delete(SOURCE).where(*match)).rowcount)


def claim_due(
    *,
    conn: sa.Connection,
    kind: str,
    now: datetime,
    next_check_at: datetime,
    limit: int,
    status: str | None = None,
) -> list[Source]:
    """Take the calendars of ``kind`` (with ``status``, if given) due a check, each by one
    process only: their ``next_check_at`` moves ahead in the same statement (PostgreSQL
    skips the rows another process is taking)."""
    t = SOURCE.c
    due = [t.kind == kind, t.next_check_at <= now]
    if status is not None:
        due.append(t.status == status)
    pick = sa.select(t.id).where(*due).order_by(t.next_check_at).limit(limit)
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        sa.update(SOURCE)
        .where(t.id.in_(pick.scalar_subquery()))
        .values(next_check_at=next_check_at)
        .returning(*SOURCE.c)
    )
    return [Source.of(row) for row in conn.execute(stmt)]


def count(*, conn: sa.Connection, kind: str) -> int:
    """How many calendars of ``kind`` there are (the poll sizes its batch by it)."""
    t = SOURCE.c
    return int(conn.execute(sa.select(sa.func.count()).where(t.kind == kind)).scalar_one())


def set_next_checks(*, conn: sa.Connection, due: Mapping[int, datetime]) -> None:
    """Set each calendar's ``next_check_at`` (id → when), in one executemany."""
    if not due:
        return
    t = SOURCE.c
    stmt = (
        sa.update(SOURCE)
        .where(t.id == sa.bindparam("source_id"))
        .values(next_check_at=sa.bindparam("when"))
    )
    conn.execute(stmt, [{"source_id": i, "when": when} for i, when in due.items()])


def read_again(
    *, conn: sa.Connection, team_id: str, user_id: str, now: datetime, broken: str
) -> int:
    """Have every calendar of the person not ``broken`` read in full at once; how many."""
    t = SOURCE.c
    return conn.execute(
        sa.update(SOURCE)
        .where(t.team_id == team_id, t.user_id == user_id, t.status != broken)
        .values(expanded_until=None, next_check_at=now)
    ).rowcount

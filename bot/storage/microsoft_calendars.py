"""Microsoft calendars (table ``microsoft_calendar``): the Microsoft side of a
``calendar_source`` of kind ``microsoft`` (``bot.sync.microsoft`` decides what to store;
``bot.sync.oauth`` shares the steps alike for every provider).

``token_cache`` (MSAL's cache of the grant) and ``client_state`` (the subscription's
secret) stay encrypted here, as they were given; ``delta_link`` is a key to the
calendar's changes. None is logged."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

import sqlalchemy as sa

from bot.storage.models import CalendarSource, MicrosoftCalendar

MICROSOFT_CALENDAR = MicrosoftCalendar.__table__  # type: ignore[attr-defined]
SOURCE = CalendarSource.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Calendar:
    """A Microsoft calendar's row, its secrets still encrypted."""

    id: int
    source_id: int
    team_id: str
    user_id: str
    account: str
    token_cache: str
    delta_link: str | None
    subscription_id: str | None
    client_state: str | None
    subscription_expires_at: datetime | None
    notified: int
    synced_notified: int
    synced_at: datetime | None
    created_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Self:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class CalendarWithSource(Calendar):
    """A Microsoft calendar's row with what its ``calendar_source`` says of it:
    ``status`` (``ok`` or ``broken``), when its owner was told it broke, and the end of
    the window last read in full."""

    status: str
    broken_notified_at: datetime | None
    expanded_until: datetime | None


def calendar(*, conn: sa.Connection, source_id: int) -> CalendarWithSource | None:
    """The Microsoft calendar of the source ``source_id`` with its source's state, or
    None (no such calendar, or its source is gone)."""
    m, s = MICROSOFT_CALENDAR.c, SOURCE.c
    row = conn.execute(
        sa.select(MICROSOFT_CALENDAR, s.status, s.broken_notified_at, s.expanded_until)
        .join(SOURCE, s.id == m.source_id)
        .where(m.source_id == source_id)
    ).first()
    return None if row is None else CalendarWithSource.of(row)


def calendars(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str | None = None,
    source_id: int | None = None,
) -> list[Calendar]:
    """The workspace's Microsoft calendars (only the person's, or the one of
    ``source_id``, when given), by source id."""
    m = MICROSOFT_CALENDAR.c
    query = sa.select(MICROSOFT_CALENDAR).where(m.team_id == team_id)
    if user_id is not None:
        query = query.where(m.user_id == user_id)
    if source_id is not None:
        query = query.where(m.source_id == source_id)
    return [Calendar.of(row) for row in conn.execute(query.order_by(m.source_id))]


def by_subscriptions(
    *, conn: sa.Connection, subscription_ids: Collection[str]
) -> dict[str, Calendar]:
    """The calendars whose subscription is one of ``subscription_ids``, by subscription."""
    if not subscription_ids:
        return {}
    m = MICROSOFT_CALENDAR.c
    rows = conn.execute(
        sa.select(MICROSOFT_CALENDAR).where(m.subscription_id.in_(list(subscription_ids)))
    )
    return {row.subscription_id: Calendar.of(row) for row in rows}


def add_calendar(
    *,
    conn: sa.Connection,
    source_id: int,
    team_id: str,
    user_id: str,
    now: datetime,
    **values: Any,
) -> None:
    """Store the Microsoft side of the new source ``source_id`` with ``values`` (its
    ``token_cache`` already encrypted)."""
    conn.execute(
        sa.insert(MICROSOFT_CALENDAR).values(
            source_id=source_id, team_id=team_id, user_id=user_id, created_at=now, **values
        )
    )


def update_calendar(*, conn: sa.Connection, source_id: int, **values: Any) -> bool:
    """Set ``values`` (secrets already encrypted) on the calendar of ``source_id``;
    False when it is gone."""
    m = MICROSOFT_CALENDAR.c
    changed = conn.execute(
        sa.update(MICROSOFT_CALENDAR).where(m.source_id == source_id).values(**values)
    ).rowcount
    return bool(changed)


def note_subscription_end(
    *,
    conn: sa.Connection,
    source_id: int,
    subscription_id: str,
    expires_at: datetime | None,
) -> bool:
    """Keep the end Graph gave the subscription ``subscription_id`` on renewal; False
    when the calendar has another subscription by now (or is gone)."""
    m = MICROSOFT_CALENDAR.c
    changed = conn.execute(
        sa.update(MICROSOFT_CALENDAR)
        .where(m.source_id == source_id, m.subscription_id == subscription_id)
        .values(subscription_expires_at=expires_at)
    ).rowcount
    return bool(changed)


def count_notified(*, conn: sa.Connection, source_id: int) -> int | None:
    """One more notification batch stored for the calendar: its number (1, 2, …), or
    None when the calendar is gone."""
    m = MICROSOFT_CALENDAR.c
    number = conn.execute(
        sa.update(MICROSOFT_CALENDAR)
        .where(m.source_id == source_id)
        .values(notified=m.notified + 1)
        .returning(m.notified)
    ).scalar()
    return None if number is None else int(number)


def delete_calendar(*, conn: sa.Connection, source_id: int) -> bool:
    """Forget the Microsoft side of the source ``source_id``; False when there was none."""
    m = MICROSOFT_CALENDAR.c
    deleted = conn.execute(sa.delete(MICROSOFT_CALENDAR).where(m.source_id == source_id))
    return bool(deleted.rowcount)

"""Google calendars (table ``google_calendar``): the Google side of a ``calendar_source``
of kind ``google`` (``bot.sync.google`` decides what to store; ``bot.sync.oauth`` shares
the steps alike for every provider).

``tokens`` (the grant), ``channel_token`` and ``old_channel_token`` stay encrypted here,
as they were given; ``sync_token`` is a key to the calendar's changes. None is logged."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

import sqlalchemy as sa

from bot.storage.models import GoogleCalendar
from bot.storage.provider_calendars import ProviderCalendars

GOOGLE_CALENDAR = GoogleCalendar.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Calendar:
    """A Google calendar's row, its secrets still encrypted."""

    id: int
    source_id: int
    team_id: str
    user_id: str
    account: str
    zone: str
    tokens: str
    sync_token: str | None
    channel_id: str | None
    channel_token: str | None
    resource_id: str | None
    channel_expires_at: datetime | None
    last_message: int
    old_channel_id: str | None
    old_channel_token: str | None
    old_resource_id: str | None
    old_last_message: int
    synced_channel: str | None
    synced_message: int
    synced_at: datetime | None
    created_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Self:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class CalendarWithSource(Calendar):
    """A Google calendar's row with what its ``calendar_source`` says of it: ``status``
    (``ok`` or ``broken``), when its owner was told it broke, and the end of the window
    last read in full."""

    status: str
    broken_notified_at: datetime | None
    expanded_until: datetime | None


def by_channel(*, conn: sa.Connection, channel_id: str) -> Calendar | None:
    """The calendar whose current or old push channel is ``channel_id``, or None."""
    g = GOOGLE_CALENDAR.c
    row = conn.execute(
        sa.select(GOOGLE_CALENDAR).where(
            sa.or_(g.channel_id == channel_id, g.old_channel_id == channel_id)
        )
    ).first()
    return None if row is None else Calendar.of(row)


def note_channel_opened(
    *,
    conn: sa.Connection,
    source_id: int,
    channel_id: str,
    resource_id: str,
    expires_at: datetime | None,
) -> bool:
    """Keep the resource id and end Google gave the channel ``channel_id`` when it was
    opened; False when the calendar has another channel by now (or is gone)."""
    g = GOOGLE_CALENDAR.c
    changed = conn.execute(
        sa.update(GOOGLE_CALENDAR)
        .where(g.source_id == source_id, g.channel_id == channel_id)
        .values(resource_id=resource_id, channel_expires_at=expires_at)
    ).rowcount
    return bool(changed)


def forget_old_channel(*, conn: sa.Connection, source_id: int, channel_id: str | None) -> bool:
    """The replaced channel ``channel_id`` is stopped: its id, token and resource go
    (only while it is still the calendar's old one; None matches no old channel, as
    ``IS NULL``). False when nothing changed."""
    g = GOOGLE_CALENDAR.c
    changed = conn.execute(
        sa.update(GOOGLE_CALENDAR)
        .where(g.source_id == source_id, g.old_channel_id == channel_id)
        .values(
            old_channel_id=None, old_channel_token=None, old_resource_id=None, old_last_message=0
        )
    ).rowcount
    return bool(changed)


def advance_message(
    *, conn: sa.Connection, source_id: int, channel_id: str, current: bool, number: int
) -> bool:
    """Note push message ``number`` on the calendar's current (``current``) or old
    channel ``channel_id``, only if it is above the last one seen there. False when it is
    not (a stale or repeated message) or the channel is no longer that one."""
    g = GOOGLE_CALENDAR.c
    last = g.last_message if current else g.old_last_message
    channel = g.channel_id if current else g.old_channel_id
    moved = conn.execute(
        sa.update(GOOGLE_CALENDAR)
        .where(g.source_id == source_id, last < number, channel == channel_id)
        .values({last.key: number})
    ).rowcount
    return bool(moved)


# The statements every provider shares (``bot.sync.oauth`` takes them as ``store``).
SHARED = ProviderCalendars(GOOGLE_CALENDAR, Calendar, CalendarWithSource)
calendar = SHARED.calendar
calendars = SHARED.calendars
add_calendar = SHARED.add_calendar
update_calendar = SHARED.update_calendar
delete_calendar = SHARED.delete_calendar

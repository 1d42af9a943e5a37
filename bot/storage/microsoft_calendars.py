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

from bot.storage.models import MicrosoftCalendar
from bot.storage.provider_calendars import ProviderCalendars

MICROSOFT_CALENDAR = MicrosoftCalendar.__table__  # type: ignore[attr-defined]


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


# The statements every provider shares (``bot.sync.oauth`` takes them as ``store``).
SHARED = ProviderCalendars(MICROSOFT_CALENDAR, Calendar, CalendarWithSource)
calendar = SHARED.calendar
calendars = SHARED.calendars
add_calendar = SHARED.add_calendar
update_calendar = SHARED.update_calendar
delete_calendar = SHARED.delete_calendar

"""Small factories for our own types (``make_occurrence(...)``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.calendars.occurrence import Occurrence

BERLIN = ZoneInfo("Europe/Berlin")


def local(day: str, hhmm: str, zone: ZoneInfo = BERLIN) -> datetime:
    """An aware datetime from a local date and time, e.g. local("2026-03-02", "10:00")."""
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=zone)


def make_occurrence(
    start: datetime,
    minutes: int = 30,
    *,
    uid: str | None = None,
    title: str = "1:1 with Ben",
    attendees: int = 2,
    source: str = "ics:1",
    **fields: Any,
) -> Occurrence:
    return Occurrence(
        source=source,
        uid=uid or f"{title}-{start.isoformat()}",
        recurrence_id=fields.pop("recurrence_id", None),
        title=title,
        start=start.astimezone(ZoneInfo("UTC")),
        end=(start + timedelta(minutes=minutes)).astimezone(ZoneInfo("UTC")),
        attendees=attendees,
        **fields,
    )

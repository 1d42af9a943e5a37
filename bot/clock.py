"""The one clock.

Every component that needs "now" receives a :class:`Clock`; nothing calls
``datetime.now()`` on its own. Production uses :class:`SystemClock`; the demo and
the tests drive a :class:`VirtualClock`. All values are timezone-aware UTC.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to. Thread-safe."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = ensure_utc(when)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime.

    Naive values are taken to be UTC already: that is how SQLite hands back the
    ``DateTime(timezone=True)`` columns we stored as UTC.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def week_of(moment: datetime, zone: ZoneInfo) -> tuple[datetime, str]:
    """The start (Monday 00:00 local, as UTC) and ISO label ("2026-W13") of the week."""
    local = moment.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    year, week, _ = monday.isocalendar()
    start = datetime.combine(monday, time(0), zone)
    return start, f"{year}-W{week:02d}"


def valid_zone(name: str | None) -> str | None:
    """The IANA zone name if Python knows it, else None."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name

"""The one clock.

Every component that needs "now" receives a :class:`Clock`; nothing calls
``datetime.now()`` on its own. Production uses :class:`SystemClock`; the demo and
the tests drive a :class:`VirtualClock`. All values are timezone-aware UTC.
:class:`SharedClock` is a virtual clock several OS processes read (benchmarks and tests
with worker processes).
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time as _time
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
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


class SharedClock:
    """A virtual clock kept in a small file that several processes map: one process (the
    driver) moves it, every process reads the same time.

    It holds an anchor (a virtual instant and the system's monotonic time when it was
    set) and a speed: ``now() = anchor + (monotonic() - set_at) * speed``. Speed 0 stops
    the clock (:meth:`set`, :meth:`advance`); :meth:`run` lets it go on at ``speed``
    times real time, so hours of virtual time pass in minutes and two processes that
    sleep or work meanwhile still agree on the time. ``time.monotonic`` is the system's
    ``CLOCK_MONOTONIC`` on Linux, the same in every process.

    One writer at a time (the process that created it); readers never see a half-written
    anchor (a sequence number, even when stable, is checked before and after a read).
    """

    _FORMAT = "<qddd"  # sequence, anchor (epoch seconds), set_at (monotonic), speed
    _SIZE = struct.calcsize(_FORMAT)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with open(self.path, "r+b") as handle:
            self._map = mmap.mmap(handle.fileno(), self._SIZE)

    @classmethod
    def create(cls, path: str | os.PathLike[str], start: datetime) -> SharedClock:
        """A new clock file at ``path``, stopped at ``start``."""
        Path(path).write_bytes(b"\0" * cls._SIZE)
        clock = cls(path)
        clock.set(start)
        return clock

    def close(self) -> None:
        self._map.close()

    def _read(self) -> tuple[float, float, float]:
        while True:
            seq, anchor, set_at, speed = struct.unpack_from(self._FORMAT, self._map)
            if seq % 2 == 0 and struct.unpack_from("<q", self._map)[0] == seq:
                return anchor, set_at, speed

    def _write(self, anchor: float, speed: float) -> None:
        seq = struct.unpack_from("<q", self._map)[0]
        struct.pack_into("<q", self._map, 0, seq + 1)
        struct.pack_into("<ddd", self._map, 8, anchor, _time.monotonic(), speed)
        struct.pack_into("<q", self._map, 0, seq + 2)

    def timestamp(self) -> float:
        """The virtual time as epoch seconds."""
        anchor, set_at, speed = self._read()
        return anchor + (_time.monotonic() - set_at) * speed if speed else anchor

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    @property
    def speed(self) -> float:
        return self._read()[2]

    def set(self, when: datetime) -> None:
        """Stop the clock at ``when``."""
        self._write(ensure_utc(when).timestamp(), 0.0)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock ``delta`` forward from where it is now, and stop it there."""
        when = self.now() + delta
        self.set(when)
        return when

    def run(self, speed: float) -> None:
        """Let the clock go on from where it is now at ``speed`` times real time."""
        if speed < 0:
            raise ValueError("a clock does not run backwards")
        self._write(self.timestamp(), speed)


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

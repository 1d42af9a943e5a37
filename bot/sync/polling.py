"""When each calendar is read next, and how many calendars one tick of the poll takes.

Every periodic reader (ICS feeds, and the fallback sync of Google and Microsoft calendars)
claims the calendars whose ``calendar_source.next_check_at`` has come, every
:data:`TICK_SECONDS`. Three decisions live here (issue 13):

**Spread.** A calendar is not due "one interval after it was last claimed" (a backlog
claimed in one tick would then fall due in one second, interval after interval) but at
its own *slot*: ``epoch + phase + k × interval``, with a phase in ``[0, interval)`` fixed by
its id (Fibonacci hashing, so consecutive ids land as far apart as they can). Each claim
sets the next check to the one slot in ``(now, now + interval]``: a calendar claimed on
time is read exactly one interval later, one claimed late keeps its slot (so it is read
again sooner, once, and is back in step), and the due times of 10,000 calendars are
uniform over the interval from the first claim on. The check is never later than one
interval after the claim, so the documented "every ``HEEDFUL_CALENDAR_POLL_MINUTES``"
holds.

**Adaptive interval** (ICS feeds only: Google and Microsoft push their changes, and their
periodic sync is the fallback, at the configured interval). ``P`` is
``HEEDFUL_CALENDAR_POLL_MINUTES``. A feed whose content changed in the last day is polled
every ``P``; one unchanged for a day, every ``2P``; unchanged for a week, every ``4P``;
a stretched interval never exceeds :data:`LONGEST_STRETCH` (30 minutes), and an interval is
never shorter than ``P`` (``P`` is the operator's budget: the batch is sized from it). A
change found by a check brings the feed back to ``P`` at once. "Changed" means the
feed's meetings changed (its stored fingerprints, ``feed_print``, ``bot.sync.feeds``): a
304, the same body or a fresh ``DTSTAMP`` alone is no change.

**Batch.** A tick takes at most ``ceil(calendars × tick / P × HEADROOM)`` calendars (the
ones falling due in a tick, twice over so a backlog clears within half an interval), at
least :data:`FLOOR`, at most :data:`CEILING` (2,000: 10,000 calendars at the default
5 minutes with the headroom), in rounds the caller sizes, and starts no round after the
tick's :data:`TICK_SECONDS` of wall time. When the calendars falling due in a tick exceed
the ceiling, or a tick runs out of time with calendars still due, one process cannot keep
up: it says so in one warning (once per process and kind); more worker processes share
the claim (``FOR UPDATE SKIP LOCKED``), or a longer interval lightens the load.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.services import Services
from bot.storage import calendar_sources
from bot.storage.db import read_only

logger = logging.getLogger(__name__)

TICK_SECONDS = 30.0  # how often the scheduler looks for due calendars
HEADROOM = 2.0  # a tick takes up to twice the calendars falling due in it
FLOOR = 50  # calendars a tick may take, however few there are
CEILING = 2000  # calendars one process takes in a tick, however many there are
QUIET_DAY = timedelta(days=1)  # unchanged this long: polled every 2 × the interval
QUIET_WEEK = timedelta(days=7)  # unchanged this long: every 4 × the interval
LONGEST_STRETCH = timedelta(minutes=30)  # a stretched interval is never longer

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / the golden ratio, odd
_MASK = (1 << 64) - 1
_ONE = timedelta(microseconds=1)

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def poll_interval(settings: Settings) -> timedelta:
    """The configured poll interval ``P`` (``HEEDFUL_CALENDAR_POLL_MINUTES``)."""
    return timedelta(minutes=settings.calendar_poll_minutes)


def feed_interval(base: timedelta, *, last_changed_at: datetime | None, now: datetime) -> timedelta:
    """How often a feed is polled: ``base`` if it changed in the last day (or when is not
    known), 2 × ``base`` after a quiet day, 4 × after a quiet week; a stretched interval is
    at most :data:`LONGEST_STRETCH`, and never shorter than ``base``. Pure."""
    quiet = timedelta(0) if last_changed_at is None else now - last_changed_at
    stretch = 4 if quiet >= QUIET_WEEK else 2 if quiet >= QUIET_DAY else 1
    return max(base, min(base * stretch, LONGEST_STRETCH))


def phase(source_id: int, interval: timedelta) -> timedelta:
    """The calendar's own offset in ``[0, interval)``, in whole seconds. Pure."""
    fraction = ((source_id * _GOLDEN) & _MASK) / 2**64
    return timedelta(seconds=int(fraction * interval.total_seconds()))


def next_check(source_id: int, *, now: datetime, interval: timedelta) -> datetime:
    """The calendar's slot in ``(now, now + interval]``: ``epoch + phase + k × interval``. Pure."""
    step = interval // _ONE
    since = (now - EPOCH - phase(source_id, interval)) // _ONE
    return now + (step - since % step) * _ONE


def tick_quota(calendars: int, *, interval: timedelta, tick: float = TICK_SECONDS) -> int:
    """How many calendars one tick may take: those falling due in a tick, × HEADROOM,
    within [FLOOR, CEILING]. Pure."""
    due = due_per_tick(calendars, interval=interval, tick=tick)
    return max(FLOOR, min(CEILING, math.ceil(due * HEADROOM)))


def due_per_tick(calendars: int, *, interval: timedelta, tick: float = TICK_SECONDS) -> float:
    """How many calendars fall due in a tick when each is read every ``interval``. Pure."""
    return calendars * tick / interval.total_seconds()


@dataclass(frozen=True, slots=True)
class Tick:
    """What one tick did: its ``quota``, the calendars it ``took``, and whether it stopped
    with calendars still due because its time was up (``out_of_time``)."""

    quota: int
    took: int
    out_of_time: bool


def run_tick(
    services: Services,
    *,
    kind: str,
    step: Callable[[int], int],
    round_size: int,
    seconds: float = TICK_SECONDS,
    timer: Callable[[], float] = time.monotonic,
) -> Tick:
    """One tick of a periodic reader: ``step(limit)`` claims and reads up to ``limit``
    calendars of ``kind`` and returns how many it claimed; rounds of ``round_size`` run
    until the tick's quota is taken, nothing more is due, or ``seconds`` have passed."""
    ends = timer() + seconds
    interval = poll_interval(services.settings)
    with read_only(services.engine) as conn:
        calendars = calendar_sources.count(conn=conn, kind=kind)
    quota = tick_quota(calendars, interval=interval)
    falling_due = due_per_tick(calendars, interval=interval)
    if falling_due > CEILING:
        _warn_once(
            kind,
            "ceiling",
            "%s: %d calendars at %s minutes put %d due in each %g-second tick, more than one "
            "process takes (%d): run more worker processes (they share the claim) or raise "
            "HEEDFUL_CALENDAR_POLL_MINUTES",
            kind,
            calendars,
            services.settings.calendar_poll_minutes,
            math.ceil(falling_due),
            TICK_SECONDS,
            CEILING,
        )
    took = 0
    while took < quota:
        want = min(round_size, quota - took)
        got = step(want)
        took += got
        if got < want:  # nothing more is due
            return Tick(quota, took, out_of_time=False)
        if took < quota and timer() >= ends:
            _warn_once(
                kind,
                "time",
                "%s: this process read %d calendars in %g seconds and more are due (%d "
                "calendars, about %d due a tick): run more worker processes (they share the "
                "claim) or raise HEEDFUL_CALENDAR_POLL_MINUTES",
                kind,
                took,
                seconds,
                calendars,
                math.ceil(falling_due),
            )
            return Tick(quota, took, out_of_time=True)
    return Tick(quota, took, out_of_time=False)


def _warn_once(kind: str, what: str, message: str, *args: object) -> None:
    with _warned_lock:
        if (kind, what) in _warned:
            return
        _warned.add((kind, what))
    logger.warning(message, *args)

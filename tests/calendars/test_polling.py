"""How often calendars are polled and how many a tick takes (``bot.sync.polling``, issue 13).

The pure rules first (slots, the adaptive interval's bounds, the batch), then 10,000 feeds
in the database polled by 30-second ticks on a virtual clock, claim only (no fetching), on
SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import sqlalchemy as sa

from bot.clock import VirtualClock
from bot.services import Services
from bot.storage.models import CalendarSource
from bot.sync import feeds, polling
from bot.sync.polling import feed_interval, next_check, tick_quota

SOURCE = CalendarSource.__table__  # type: ignore[attr-defined]
P = timedelta(minutes=5)
TICK = timedelta(seconds=polling.TICK_SECONDS)
NOW = datetime(2026, 3, 2, 9, 0, 7, 123456, tzinfo=UTC)


# --------------------------------------------------------------------------- pure rules


def test_the_next_check_is_the_calendars_own_slot_at_most_one_interval_ahead() -> None:
    for source_id in (1, 2, 3, 77, 10_000, 2**40):
        for interval in (P, 2 * P, timedelta(minutes=1), timedelta(hours=24)):
            when = next_check(source_id, now=NOW, interval=interval)
            assert NOW < when <= NOW + interval
            # Its slot: the same phase in every interval, whole seconds.
            assert when.microsecond == 0
            assert (when - polling.EPOCH) % interval == polling.phase(source_id, interval)
            # Claimed on time, read again exactly one interval later; claimed late, it
            # keeps its slot rather than drifting.
            assert next_check(source_id, now=when, interval=interval) == when + interval
            late = when + interval + timedelta(seconds=41)
            assert next_check(source_id, now=late, interval=interval) == when + 2 * interval


def test_ten_thousand_consecutive_ids_fall_due_evenly_over_the_interval() -> None:
    buckets = Counter(
        int(polling.phase(i, P) / TICK) for i in range(1, 10_001)
    )  # 30-second ticks in 5 minutes
    assert sorted(buckets) == list(range(10))
    assert all(abs(count - 1_000) <= 5 for count in buckets.values())  # within 0.5 %


@pytest.mark.parametrize(
    ("minutes", "quiet", "expected"),
    [
        (5, None, 5),  # last change unknown: the configured interval
        (5, timedelta(0), 5),
        (5, timedelta(hours=23, minutes=59), 5),  # changed in the last day
        (5, timedelta(days=1), 10),  # quiet for a day: 2×
        (5, timedelta(days=6), 10),
        (5, timedelta(days=7), 20),  # quiet for a week: 4×
        (5, timedelta(days=400), 20),
        (10, timedelta(days=1), 20),
        (10, timedelta(days=7), 30),  # 4× would be 40: at most 30 minutes
        (20, timedelta(days=1), 30),
        (30, timedelta(days=30), 30),  # already 30: never stretched
        (60, timedelta(days=30), 60),  # longer than 30: never shortened either
        (1, timedelta(days=1), 2),
        (1, timedelta(0), 1),  # the shortest is the configured one (≥ 1 minute)
    ],
)
def test_a_quiet_feed_is_polled_less_often_within_the_bounds(
    minutes: int, quiet: timedelta | None, expected: int
) -> None:
    base = timedelta(minutes=minutes)
    changed = None if quiet is None else NOW - quiet
    interval = feed_interval(base, last_changed_at=changed, now=NOW)
    assert interval == timedelta(minutes=expected)
    assert base <= interval <= max(base, min(4 * base, polling.LONGEST_STRETCH))


def test_the_batch_is_sized_from_the_calendars_and_the_interval() -> None:
    # 10,000 feeds every 5 minutes: 1,000 fall due in each 30-second tick; the tick takes
    # up to twice that (a backlog clears in half an interval). The old 250 took 20 minutes.
    assert tick_quota(10_000, interval=P) == 2_000
    assert 250 * (P / TICK) < 10_000
    assert tick_quota(10_000, interval=P) * (P / TICK) >= 2 * 10_000
    assert tick_quota(10_000, interval=timedelta(minutes=10)) == 1_000
    assert tick_quota(3, interval=P) == polling.FLOOR  # a few feeds: the floor
    assert tick_quota(0, interval=P) == polling.FLOOR
    assert tick_quota(1_000_000, interval=P) == polling.CEILING  # one process's most
    for calendars in (1, 99, 1_234, 10_000, 19_999):
        quota = tick_quota(calendars, interval=P)
        assert polling.FLOOR <= quota <= polling.CEILING
        if calendars * (TICK / P) * 2 <= polling.CEILING:
            assert quota * (P / TICK) >= calendars  # every feed within the interval


# --------------------------------------------------------------------------- 10,000 feeds


def _add_feeds(services: Services, n: int, *, due: datetime, changed: datetime) -> None:
    """``n`` feeds, all due at the same instant (the worst case: a bulk import, or a
    process back after an outage), inserted set-based."""
    rows = [
        {
            "team_id": "T0001",
            "user_id": f"U{i:05d}",
            "kind": "ics",
            "url": "https://calendar.example.com/feed.ics",
            "status": "ok",
            "failures": 0,
            "next_check_at": due,
            "last_changed_at": changed,
            "created_at": due,
        }
        for i in range(n)
    ]
    with services.engine.begin() as conn:
        conn.execute(sa.insert(SOURCE), rows)


def _tick(services: Services) -> list[int]:
    """One tick of the "calendars" job with the claim only: the ids it took."""
    taken: list[int] = []

    def claim(limit: int) -> int:
        rows = feeds.claim_due_sources(services, limit=limit)
        taken.extend(r.id for r in rows)
        return len(rows)

    polling.run_tick(services, kind="ics", step=claim, round_size=feeds.BATCH, seconds=3600)
    return taken


def test_the_poll_keeps_ten_thousand_feeds_within_the_interval_and_spreads_them(
    services: Services, clock: VirtualClock
) -> None:
    n = 10_000
    start = clock.now()
    _add_feeds(services, n, due=start, changed=start)
    ticks_per_interval = int(P / TICK)
    fair = n / ticks_per_interval  # 1,000 feeds fall due in a 30-second tick
    claims: dict[int, list[int]] = {}  # feed → the ticks it was claimed at
    per_tick: list[int] = []
    for tick in range(3 * ticks_per_interval + 1):
        taken = _tick(services)
        per_tick.append(len(taken))
        for source_id in taken:
            claims.setdefault(source_id, []).append(tick)
        clock.advance(TICK)

    # Every feed was claimed in the first interval, and then never waited longer than one
    # interval between two claims.
    assert len(claims) == n
    assert max(ticks[0] for ticks in claims.values()) < ticks_per_interval
    for ticks in claims.values():
        assert all(b - a <= ticks_per_interval for a, b in pairwise(ticks))
    # No tick took more than twice its fair share, even with all 10,000 due at once.
    assert max(per_tick) <= 2 * fair
    # Once the backlog is read (the first interval), each feed is claimed exactly once an
    # interval, and each tick takes its fair share.
    for first in (ticks_per_interval, 2 * ticks_per_interval):
        window = range(first, first + ticks_per_interval)
        seen = Counter(t for ticks in claims.values() for t in ticks if t in window)
        assert sum(seen.values()) == n
        once = Counter(
            source_id for source_id, ticks in claims.items() for t in ticks if t in window
        )
        assert set(once.values()) == {1}
        assert max(per_tick[t] for t in window) <= 1.05 * fair
    # The due times ahead are spread: no 30-second tick holds more than its share (within
    # a few feeds), and no second more than twice its share (10,000 in 300 seconds).
    with services.engine.connect() as conn:
        due = [row.next_check_at for row in conn.execute(sa.select(SOURCE.c.next_check_at))]
    last = clock.now() - TICK  # the last tick
    assert all(last < when <= last + P for when in due)
    buckets = Counter((when - last - timedelta(microseconds=1)) // TICK for when in due)
    assert len(buckets) == ticks_per_interval
    assert max(buckets.values()) <= 1.05 * fair
    assert max(Counter(due).values()) <= 2 * n / P.total_seconds()


def test_a_feed_quiet_for_a_day_is_claimed_half_as_often(
    services: Services, clock: VirtualClock
) -> None:
    start = clock.now()
    quiet = {"lately": timedelta(minutes=10), "day": timedelta(days=2), "week": timedelta(days=8)}
    for age in quiet.values():
        _add_feeds(services, 200, due=start, changed=start - age)
    claimed: dict[int, list[datetime]] = {}
    ticks = int(4 * P / TICK)  # 20 minutes
    for _ in range(ticks):
        for source_id in _tick(services):
            claimed.setdefault(source_id, []).append(clock.now())
        clock.advance(TICK)
    end = clock.now() - TICK
    with services.engine.connect() as conn:
        rows = conn.execute(sa.select(SOURCE.c.id, SOURCE.c.last_changed_at))
        age_of = {row.id: start - row.last_changed_at for row in rows}
    assert len(claimed) == 600  # the backlog of 600 takes the first ticks (120 a tick)
    interval = {quiet["lately"]: P, quiet["day"]: 2 * P, quiet["week"]: 4 * P}
    for source_id, times in claimed.items():
        every = interval[age_of[source_id]]
        # After its first claim, once in each of its intervals (5, 10 or 20 minutes) ...
        assert len(times) - 1 == pytest.approx((end - times[0]) / every, abs=1)
        # ... at its slot: once the backlog is read (a late claim keeps the slot, so the
        # next one may come sooner, once), exactly that interval apart.
        on_time = [t for t in times if t >= start + P]
        assert all(b - a == every for a, b in pairwise(on_time))


# --------------------------------------------------------------------------- one process's limit


def test_a_tick_that_runs_out_of_time_says_so_once(
    services: Services, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    _add_feeds(services, 300, due=clock.now(), changed=clock.now())
    polling._warned.clear()
    elapsed = iter(range(0, 10_000, 20))  # each round "takes" 20 seconds

    def claim(limit: int) -> int:
        return len(feeds.claim_due_sources(services, limit=limit))

    caplog.set_level(logging.WARNING, logger="bot.sync.polling")
    first = polling.run_tick(
        services, kind="ics", step=claim, round_size=50, timer=lambda: next(elapsed)
    )
    assert (first.quota, first.took, first.out_of_time) == (60, 60, False)  # 300 × 30 s / 5 min × 2

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(polling, "FLOOR", 200)
        second = polling.run_tick(
            services, kind="ics", step=claim, round_size=50, timer=lambda: next(elapsed)
        )
        third = polling.run_tick(
            services, kind="ics", step=claim, round_size=50, timer=lambda: next(elapsed)
        )
    assert (second.took, second.out_of_time) == (100, True)  # two rounds, then 30 s were up
    assert third.out_of_time
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "more worker processes" in warnings[0] and "ics" in warnings[0]


def test_more_calendars_than_one_process_takes_is_said_once(
    services: Services, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    _add_feeds(services, 120, due=clock.now(), changed=clock.now())
    polling._warned.clear()
    caplog.set_level(logging.WARNING, logger="bot.sync.polling")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(polling, "FLOOR", 5)
        patch.setattr(polling, "CEILING", 10)  # 120 feeds put 12 due in each tick
        for _ in range(3):
            tick = polling.run_tick(
                services,
                kind="ics",
                step=lambda limit: len(feeds.claim_due_sources(services, limit=limit)),
                round_size=50,
            )
            assert tick.quota == 10
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "120 calendars" in warning and "more worker processes" in warning

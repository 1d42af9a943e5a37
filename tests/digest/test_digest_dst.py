"""Exactly one digest per user per ISO week, at the user's local day and time, across
the spring DST changes of 2026, with two Heedful instances sharing one database.

Six weeks (2 March to 12 April 2026) hold three switches: New York on 8 March (02:00 →
03:00), Berlin on 29 March (02:00 → 03:00) and Adelaide on 5 April (03:00 → 02:00,
+10:30 → +9:30: a half-hour zone). Kolkata (+5:30) never changes. Besides the default
Friday 16:00, three people chose Sunday 02:30, a time that does not exist in New York
on 8 March nor in Berlin on 29 March, and happens twice in Adelaide on 5 April.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from digesting import Driver, deliveries, make_user, store_meetings
from factories import make_occurrence

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.config import Settings
from bot.emulator import SlackEmulator
from bot.services import Services, build_services
from bot.storage.db import make_engine

FIRST_MONDAY = date(2026, 3, 2)
WEEKS = 6
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
END = datetime(2026, 4, 12, 23, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    user_id: str
    zone: str
    weekday: int = 4  # Friday
    hhmm: str = "16:00"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


PEOPLE = [
    Person("UBERLIN", "Europe/Berlin"),
    Person("UNEWYORK", "America/New_York"),
    Person("UADELAIDE", "Australia/Adelaide"),
    Person("UKOLKATA", "Asia/Kolkata"),
    Person("UBERLINSUN", "Europe/Berlin", 6, "02:30"),
    Person("UNEWYORKSUN", "America/New_York", 6, "02:30"),
    Person("UADELAIDESUN", "Australia/Adelaide", 6, "02:30"),
]
# 02:30 did not exist on these days: the clock went from 02:00 straight to 03:00, and
# the digest goes an hour on, at 03:30 (as 02:30 standard time would have been).
SKIPPED_HOUR = {("Europe/Berlin", date(2026, 3, 29)), ("America/New_York", date(2026, 3, 8))}


def working_days() -> list[date]:
    return [
        FIRST_MONDAY + timedelta(weeks=week, days=offset)
        for week in range(WEEKS)
        for offset in range(5)
    ]


def due_in_run(person: Person) -> set[tuple[int, int]]:
    """The ISO weeks whose digest time falls within the run."""
    found = set()
    for week in range(WEEKS):
        day = FIRST_MONDAY + timedelta(weeks=week, days=person.weekday)
        due = datetime.combine(day, datetime.strptime(person.hhmm, "%H:%M").time(), person.tz)
        if START <= due < END:
            found.add(day.isocalendar()[:2])
    return found


def expected_local(person: Person, day: date) -> tuple[int, str]:
    if (person.zone, day) in SKIPPED_HOUR and person.hhmm == "02:30":
        return day.weekday(), "03:30"
    return person.weekday, person.hhmm


@pytest.fixture(name="second")
def fixture_second(settings: Settings, clock: VirtualClock, db_url: str) -> Iterator[Heedful]:
    """Another Heedful process on the same database (its own engine and worker id)."""
    engine = make_engine(db_url)
    services = build_services(settings, clock=clock, engine=engine)
    app = Heedful(services, serve_http=False, run_workers=False)
    yield app
    app.stop()
    engine.dispose()


def test_one_digest_per_user_week_at_local_time_across_dst_with_two_instances(
    heedful: Heedful,
    second: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
) -> None:
    clock.set(START)
    for person in PEOPLE:
        emulator.add_user(person.user_id, tz=person.zone)
        make_user(
            services,
            person.user_id,
            person.zone,
            digest_weekday=person.weekday,
            digest_time=person.hhmm,
        )
        # A meeting with others every working day at 11:00, local.
        store_meetings(
            services,
            person.user_id,
            [
                make_occurrence(
                    datetime.combine(day, time(11), person.tz),
                    uid=f"sync-{day}",
                    title="Sync",
                    attendees=4,
                )
                for day in working_days()
            ],
        )

    driver = Driver([heedful, second], emulator, clock, plan_every=timedelta(hours=1))
    try:
        driver.run_until(END)
    finally:
        driver.close()
    assert driver.plans > 900  # planned again and again, by both instances
    assert len([m for p in PEOPLE for m in driver.dms(p.user_id)]) == len(PEOPLE) * WEEKS

    for person in PEOPLE:
        digests = driver.dms(person.user_id, "digest")
        weeks = Counter(dm.at.astimezone(person.tz).isocalendar()[:2] for dm in digests)
        assert set(weeks.values()) == {1}, (person, weeks)  # never twice in a week
        # Every week of the run had its digest.
        wanted = due_in_run(person)
        assert len(wanted) == WEEKS
        assert set(weeks) == wanted, person
        for dm in digests:
            local = dm.at.astimezone(person.tz)
            assert (local.weekday(), f"{local:%H:%M}") == expected_local(person, local.date())
            assert dm.payload["due_at"] == dm.at.isoformat()
        # One outbox row per week, each sent once.
        rows = deliveries(services, person.user_id, "digest")
        assert sorted(r.ref for r in rows) == sorted(f"{y}-W{w:02d}" for y, w in wanted)
        assert {r.state for r in rows} == {"sent"}
        assert {r.attempts for r in rows} == {1}

    # Adelaide's 02:30 on 5 April happened twice; the digest went at the first.
    (adelaide,) = [
        dm for dm in driver.dms("UADELAIDESUN", "digest") if dm.at.date() == date(2026, 4, 4)
    ]
    assert adelaide.at == datetime(2026, 4, 4, 16, 0, tzinfo=UTC)  # 02:30 +10:30
    assert adelaide.at.astimezone(ZoneInfo("Australia/Adelaide")).utcoffset() == timedelta(
        hours=10, minutes=30
    )

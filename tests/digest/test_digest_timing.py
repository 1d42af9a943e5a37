"""The weekly digest never lands in a meeting: it goes at the first free moment at or
after the chosen time (in the working day if there is one, else before the day ends),
through the real app on the virtual clock, on both backends. Meetings added, moved or
cancelled after the digest was planned move it; one added in the last minutes is caught
at send time. Berlin's DST change (Sunday 29 March 2026) makes a 23-hour day."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from digesting import TEAM, Driver, at, deliveries, make_user
from factories import make_occurrence

from bot.calendars.occurrence import Occurrence, Response, Status
from bot.clock import VirtualClock
from bot.digest import end_of_day, first_free, free_from
from bot.occurrences import apply_occurrences
from bot.services import Services

BERLIN = "Europe/Berlin"
ANA = "U1"
MONDAY, FRIDAY = "2026-03-02", "2026-03-06"
DST_SUNDAY = "2026-03-29"  # 02:00 → 03:00 in Berlin: a day of 23 hours


def berlin(day: str, hhmm: str) -> datetime:
    return at(day, hhmm, BERLIN)


def _meeting(day: str, hhmm: str, minutes: int, uid: str, **fields: object) -> Occurrence:
    start = datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=ZoneInfo(BERLIN))
    return make_occurrence(start, minutes, uid=uid, title=uid.title(), attendees=4, **fields)


def _calendar(services: Services, *meetings: Occurrence) -> None:
    """The whole calendar, as a feed refresh stores it (what is missing is removed)."""
    apply_occurrences(
        services,
        team_id=TEAM,
        user_id=ANA,
        source="ics:1",
        occurrences=list(meetings),
        window=(berlin(MONDAY, "00:00"), berlin(MONDAY, "00:00") + timedelta(days=60)),
    )


def _digest_at(driver: Driver) -> datetime:
    (digest,) = driver.dms(ANA, "digest")
    return digest.at


def test_the_digest_waits_for_the_meeting_at_its_time(
    services: Services, clock: VirtualClock, driver: Driver
) -> None:
    clock.set(berlin(MONDAY, "07:00"))
    make_user(services, ANA, BERLIN)
    _calendar(
        services,
        _meeting(MONDAY, "10:00", 30, "sync"),
        # Friday 16:00-16:30, and back to back with it a second one until 17:00 …
        _meeting(FRIDAY, "16:00", 30, "retro"),
        _meeting(FRIDAY, "16:30", 30, "demo"),
        # … while what does not keep her busy does not hold the digest back.
        _meeting(FRIDAY, "17:00", 60, "declined", self_response=Response.DECLINED),
        _meeting(FRIDAY, "17:00", 60, "free", transparent=True),
    )
    driver.run_until(berlin(FRIDAY, "19:00"))
    assert _digest_at(driver) == berlin(FRIDAY, "17:00")
    (row,) = deliveries(services, ANA, "digest")
    assert (row.state, row.due_at, row.attempts) == ("sent", berlin(FRIDAY, "17:00"), 1)
    (digest,) = driver.dms(ANA, "digest")
    assert digest.payload["due_at"] == berlin(FRIDAY, "17:00").isoformat()
    # The week it tells of runs until then: both Friday meetings count.
    assert "You had 3 meetings with others" in digest.text


def test_a_calendar_change_after_planning_moves_the_digest_there_and_back(
    services: Services, clock: VirtualClock, driver: Driver
) -> None:
    clock.set(berlin(MONDAY, "07:00"))
    make_user(services, ANA, BERLIN)
    sync = _meeting(MONDAY, "10:00", 30, "sync")
    _calendar(services, sync)
    driver.run_until(berlin(FRIDAY, "09:00"))
    (row,) = deliveries(services, ANA, "digest")
    assert (row.state, row.due_at) == ("pending", berlin(FRIDAY, "16:00"))  # planned ahead

    # A meeting across the digest's time appears on Friday morning: the digest moves.
    review = _meeting(FRIDAY, "15:45", 35, "review")
    _calendar(services, sync, review)
    driver.run_until(berlin(FRIDAY, "12:00"))
    (row,) = deliveries(services, ANA, "digest")
    assert (row.due_at, row.expires_at) == (
        berlin(FRIDAY, "16:20"),
        berlin(FRIDAY, "16:20") + timedelta(hours=12),
    )
    # It is cancelled at noon: the digest goes back to the chosen time.
    _calendar(services, sync, _meeting(FRIDAY, "15:45", 35, "review", status=Status.CANCELLED))
    driver.run_until(berlin(FRIDAY, "18:00"))
    assert _digest_at(driver) == berlin(FRIDAY, "16:00")
    (row,) = deliveries(services, ANA, "digest")
    assert (row.state, row.attempts) == ("sent", 1)


def test_a_meeting_added_at_the_last_minute_is_caught_at_send_time(
    services: Services, clock: VirtualClock, driver: Driver
) -> None:
    clock.set(berlin(MONDAY, "07:00"))
    make_user(services, ANA, BERLIN)
    sync = _meeting(MONDAY, "10:00", 30, "sync")
    _calendar(services, sync)
    driver.run_until(berlin(FRIDAY, "15:50"))
    # No planning round between the change and the send: only the composer can see it.
    driver.plan_every = timedelta(days=30)
    huddle = _meeting(FRIDAY, "15:58", 27, "huddle")
    driver.actions.append((berlin(FRIDAY, "15:57"), lambda: _calendar(services, sync, huddle)))
    driver.run_until(berlin(FRIDAY, "18:00"))
    assert _digest_at(driver) == berlin(FRIDAY, "16:25")
    (row,) = deliveries(services, ANA, "digest")
    # Planned for 16:00, deferred then by the composer (no planning round ran), sent when
    # the huddle ended; a deferral is not a failed attempt (bot.sender), the post is one.
    assert (row.state, row.due_at, row.attempts) == ("sent", berlin(FRIDAY, "16:00"), 1)


def _a_sunday_digest(
    services: Services, clock: VirtualClock, driver: Driver, *sunday: Occurrence, until: datetime
) -> datetime:
    """When the digest chosen for Sunday 16:00 went, with ``sunday``'s meetings on Berlin's
    23-hour DST Sunday (and one meeting earlier that week, for a week with meetings)."""
    clock.set(berlin("2026-03-23", "07:00"))
    make_user(services, ANA, BERLIN, digest_weekday=6, digest_time="16:00")
    _calendar(services, _meeting("2026-03-24", "10:00", 30, "sync"), *sunday)
    driver.run_until(until)
    return _digest_at(driver)


def test_after_the_working_day_or_at_the_chosen_time_when_busy_until_midnight(
    services: Services, clock: VirtualClock, driver: Driver
) -> None:
    """On Berlin's 23-hour DST Sunday, a digest chosen for Sunday 16:00."""
    sent = _a_sunday_digest(
        services,
        clock,
        driver,
        # Busy from 16:00 until 19:30, past the working day (08:00-19:00) …
        _meeting(DST_SUNDAY, "15:30", 120, "offsite"),
        _meeting(DST_SUNDAY, "17:30", 120, "dinner"),
        until=berlin(DST_SUNDAY, "23:00"),
    )
    # … so the first free moment is that evening, before the day ends.
    assert sent == berlin(DST_SUNDAY, "19:30")
    assert sent.hour == 17  # CEST: UTC+2


def test_busy_until_past_midnight_sends_at_the_chosen_time(
    services: Services, clock: VirtualClock, driver: Driver
) -> None:
    sent = _a_sunday_digest(
        services,
        clock,
        driver,
        # Until 00:30 on Monday: no free moment before Sunday's local midnight (22:00 UTC
        # on this short day; a UTC midnight would wrongly allow 00:30).
        _meeting(DST_SUNDAY, "15:00", 570, "hackathon"),
        until=berlin("2026-03-30", "09:00"),
    )
    assert sent == berlin(DST_SUNDAY, "16:00")


def test_free_moments_pure() -> None:
    zone = ZoneInfo(BERLIN)
    t = berlin(FRIDAY, "16:00")
    m = timedelta(minutes=1)
    assert first_free([], t, t + m) == t
    assert first_free([(t - 30 * m, t)], t, t + m) == t  # ended just then
    assert first_free([(t, t + 30 * m)], t, t + 60 * m) == t + 30 * m  # starts then
    # Overlapping and back-to-back spans, in any order.
    spans = [(t + 40 * m, t + 50 * m), (t - 10 * m, t + 20 * m), (t + 20 * m, t + 45 * m)]
    assert first_free(spans, t, t + 60 * m) == t + 50 * m
    assert first_free(spans, t, t + 50 * m) is None
    # A gap between two meetings is free.
    assert first_free([(t, t + 10 * m), (t + 15 * m, t + 30 * m)], t, t + 60 * m) == t + 10 * m
    assert end_of_day(berlin(DST_SUNDAY, "16:00"), zone) == berlin("2026-03-30", "00:00")
    assert end_of_day(berlin(DST_SUNDAY, "16:00"), zone) - berlin(DST_SUNDAY, "00:00") == (
        timedelta(hours=23)
    )
    assert free_from(t, [(t - m, t + 24 * 60 * m)], zone) == t  # busy all day: as chosen

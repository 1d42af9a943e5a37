"""``parse_ics`` on calendar files as real exporters write them, one file per quirk.

Each fixture is asserted on exact UTC starts, recurrence ids and skip reasons, and the
well-formed ones are compared with an independent expansion (bare icalendar +
x-wr-timezone + recurring-ical-events) of the same bytes.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import x_wr_timezone

from bot.calendars.ics import (
    MAX_INSTANCES,
    CalendarError,
    ParsedFeed,
    lists_no_attendees,
    parse_ics,
)
from bot.calendars.occurrence import (
    Category,
    MeetingKind,
    Occurrence,
    Response,
    SkipReason,
    Status,
)

FIXTURES = Path(__file__).parent / "fixtures"
BERLIN = ZoneInfo("Europe/Berlin")
USER = "dana@acme.example"
# Monday 2 March 2026, 00:00 in Berlin; five weeks take in both DST changes (US 8 March,
# EU 29 March).
START = datetime(2026, 3, 2, tzinfo=BERLIN)
FIVE_WEEKS = START + timedelta(weeks=5)
# A guard against a rule that makes dateutil search forever, not a speed check (how fast
# feeds parse is measured in bench/ics.py): a busy shared machine makes tight bounds flaky.
HUNG = 60.0


def parse(
    name: str,
    *,
    start: datetime = START,
    end: datetime = FIVE_WEEKS,
    tz: str = "Europe/Berlin",
    user: tuple[str, ...] = (USER,),
) -> ParsedFeed:
    data = (FIXTURES / name).read_bytes()
    return parse_ics(data, source=name, start=start, end=end, user_emails=user, default_tz=tz)


def z(text: str) -> datetime:
    """``"03-02 08:00"`` → 2026-03-02 08:00 UTC."""
    return datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def rows(feed: ParsedFeed) -> list[tuple[str, datetime, str | None, str]]:
    return [
        (o.title, o.start, o.recurrence_id, o.skip_reason.value if o.skip_reason else "eligible")
        for o in feed.occurrences
    ]


def by_title(feed: ParsedFeed, title: str) -> list[Occurrence]:
    return [o for o in feed.occurrences if o.title == title]


def independent(
    name: str, start: datetime = START, end: datetime = FIVE_WEEKS, tz: str = "Europe/Berlin"
) -> set[tuple[str, datetime]]:
    """(UID, UTC start) of every instance, expanded without Heedful's code.

    Floating times and dates are read in ``tz``: the window is handed over as naive
    local times for them, as recurring-ical-events compares naive with naive.
    """
    zone = ZoneInfo(tz)
    calendar = x_wr_timezone.to_standard(
        icalendar.Calendar.from_ical((FIXTURES / name).read_bytes())
    )
    query = recurring_ical_events.of(calendar)
    local_start = start.astimezone(zone).replace(tzinfo=None)
    local_end = end.astimezone(zone).replace(tzinfo=None)
    found: set[tuple[str, datetime]] = set()
    for component in query.between(start, end):
        value = component["DTSTART"].dt
        if isinstance(value, datetime) and value.tzinfo is not None:
            found.add((str(component["UID"]), value.astimezone(UTC)))
    for component in query.between(local_start, local_end):
        value = component["DTSTART"].dt
        if not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        if value.tzinfo is None:
            found.add((str(component["UID"]), value.replace(tzinfo=zone).astimezone(UTC)))
    return found


def ours(feed: ParsedFeed) -> set[tuple[str, datetime]]:
    return {(o.uid, o.start) for o in feed.occurrences}


# --------------------------------------------------------------------------- exporters


def test_google_export_with_x_wr_timezone_and_utc_times() -> None:
    feed = parse("google_x_wr_timezone.ics")
    assert feed.problems == []
    standup = by_title(feed, "Team standup")
    # A series written in UTC keeps its Berlin wall time (09:00) across the DST change
    # on 29 March: 08:00Z before, 07:00Z after. 11 March is an EXDATE; 16 March moved.
    assert [(o.start, o.recurrence_id) for o in standup] == [
        (z("03-02 08:00"), "2026-03-02T08:00:00Z"),
        (z("03-04 08:00"), "2026-03-04T08:00:00Z"),
        (z("03-09 08:00"), "2026-03-09T08:00:00Z"),
        (z("03-16 09:00"), "2026-03-16T08:00:00Z"),
        (z("03-18 08:00"), "2026-03-18T08:00:00Z"),
        (z("03-23 08:00"), "2026-03-23T08:00:00Z"),
        (z("03-25 08:00"), "2026-03-25T08:00:00Z"),
        (z("03-30 07:00"), "2026-03-30T07:00:00Z"),
        (z("04-01 07:00"), "2026-04-01T07:00:00Z"),
    ]
    first = standup[0]
    assert first.attendees == 4 and first.self_response is Response.ACCEPTED
    assert first.organizer == USER and first.recurring and not first.external
    assert first.conference_url == "https://meet.google.com/kqz-trwm-pbn"
    assert first.eligible and first.kind.value == "small"

    one_on_one = by_title(feed, "1:1 Dana / Ben")
    assert [(o.start, o.status) for o in one_on_one] == [
        (z("03-05 13:00"), Status.CONFIRMED),
        (z("03-12 13:00"), Status.CANCELLED),
        (z("03-19 13:00"), Status.CONFIRMED),
        (z("03-26 13:00"), Status.CONFIRMED),
        (z("04-02 12:00"), Status.CONFIRMED),
    ]
    assert one_on_one[0].kind.value == "one-on-one"
    assert one_on_one[1].skip_reason is SkipReason.CANCELLED

    (customer,) = by_title(feed, "Customer call with Initech")
    assert customer.attendees == 3  # the room is not a person
    assert customer.external and customer.kind.value == "external"
    assert customer.recurrence_id is None and not customer.recurring

    assert by_title(feed, "Quarterly all-hands")[0].skip_reason is SkipReason.DECLINED
    assert by_title(feed, "Focus time")[0].category is Category.FOCUS
    assert by_title(feed, "Out of office")[0].skip_reason is SkipReason.OUT_OF_OFFICE
    closed = by_title(feed, "Berlin office closed")[0]
    assert (closed.start, closed.end, closed.all_day) == (z("03-08 23:00"), z("03-09 23:00"), True)
    assert by_title(feed, "Lunch with Ben")[0].skip_reason is SkipReason.FREE
    assert by_title(feed, "Prep board deck")[0].skip_reason is SkipReason.SOLO
    assert len(feed.occurrences) == 21
    assert sum(o.eligible for o in feed.occurrences) == 14  # 9 standups, 4 1:1s, Initech


def test_outlook_export_with_windows_zone_names() -> None:
    feed = parse("outlook_windows_zones.ics")
    assert feed.problems == []
    assert [(o.title, o.start) for o in feed.occurrences] == [
        ("Platform sync", z("03-03 09:00")),  # W. Europe Standard Time, 10:00 CET
        ("Bangalore standup", z("03-04 05:00")),  # India Standard Time, 10:30 IST
        ("Vendor check-in (Istanbul office)", z("03-05 09:00")),  # "Customized Time Zone" +03
        ("Design review with Contoso", z("03-05 17:00")),  # Pacific Standard Time, 09:00 PST
        ("Dentist", z("03-06 12:00")),
        ("Platform sync", z("03-10 09:00")),
        ("Optional: brown bag on tracing", z("03-10 11:00")),
        ("Team offsite", z("03-11 23:00")),
        ("Platform sync", z("03-24 09:00")),  # 17 March is an EXDATE
        ("Platform sync", z("03-31 08:00")),  # CEST now; UNTIL is this instance's start
    ]
    sync = by_title(feed, "Platform sync")[0]
    assert sync.recurrence_id == "2026-03-03T09:00:00Z"
    assert sync.attendees == 4  # organizer + 3 people; the room does not count
    assert sync.conference_url is not None
    assert sync.conference_url.startswith("https://teams.microsoft.com/l/meetup-join/")
    review = by_title(feed, "Design review with Contoso")[0]
    assert review.external and review.self_response is Response.TENTATIVE
    assert review.conference_url == "https://contoso.zoom.us/j/98765432100?pwd=Q2xvdWRz"
    assert by_title(feed, "Dentist")[0].category is Category.OUT_OF_OFFICE
    assert by_title(feed, "Optional: brown bag on tracing")[0].skip_reason is SkipReason.FREE
    offsite = by_title(feed, "Team offsite")[0]
    assert offsite.all_day and offsite.skip_reason is SkipReason.ALL_DAY
    standup = by_title(feed, "Bangalore standup")[0]
    assert standup.self_response is Response.ACCEPTED  # the user organizes it
    assert standup.eligible


def test_apple_icloud_export() -> None:
    feed = parse("apple_icloud.ics")
    assert feed.problems == []
    assert rows(feed) == [
        ("1:1 Dana / Lena", z("03-03 14:00"), "2026-03-03T14:00:00Z", "eligible"),
        ("Partnership kickoff — Globex", z("03-05 09:30"), None, "eligible"),
        ("Half marathon", z("03-06 23:00"), None, "all-day"),
        # 10 March is an EXDATE; UNTIL ends the series after 31 March (now CEST).
        ("1:1 Dana / Lena", z("03-17 14:00"), "2026-03-17T14:00:00Z", "eligible"),
        ("1:1 Dana / Lena", z("03-24 14:00"), "2026-03-24T14:00:00Z", "eligible"),
        ("1:1 Dana / Lena", z("03-31 13:00"), "2026-03-31T13:00:00Z", "eligible"),
    ]
    one_on_one = feed.occurrences[0]
    # Apple names the owner by urn:uuid with an EMAIL parameter.
    assert one_on_one.attendees == 2 and one_on_one.self_response is Response.ACCEPTED
    assert one_on_one.organizer == USER
    assert one_on_one.conference_url == "https://acme.zoom.us/j/84512367890?pwd=aGVlZGZ1bA"
    kickoff = feed.occurrences[1]
    assert kickoff.external and kickoff.self_response is Response.TENTATIVE
    assert kickoff.attendees == 3


def test_thunderbird_export_with_rdate_and_a_mozilla_tzid() -> None:
    feed = parse("thunderbird.ics")
    assert feed.problems == []
    assert rows(feed) == [
        ("Architecture review", z("03-04 13:00"), "2026-03-04T13:00:00Z", "eligible"),
        # /mozilla.org/20070129_1/America/New_York, 09:00 EDT (US DST began 8 March).
        ("Board call (New York)", z("03-09 13:00"), None, "eligible"),
        ("Architecture review", z("03-18 13:00"), "2026-03-18T13:00:00Z", "eligible"),
        ("Architecture review", z("03-20 13:00"), "2026-03-20T13:00:00Z", "eligible"),  # RDATE
        ("Architecture review", z("04-01 12:00"), "2026-04-01T12:00:00Z", "eligible"),
    ]
    assert feed.occurrences[0].organizer == USER
    assert feed.occurrences[0].self_response is Response.ACCEPTED


# --------------------------------------------------------------------------- quirks


def test_floating_times_are_in_the_users_zone() -> None:
    berlin = parse("floating_times.ics")
    assert rows(berlin) == [
        ("Hiring sync", z("03-03 09:00"), None, "eligible"),
        # Wall time stays 10:00 across the EU change on 29 March.
        ("Mentoring with Lena", z("03-26 09:00"), "2026-03-26T09:00:00Z", "eligible"),
        ("Mentoring with Lena", z("04-02 08:00"), "2026-04-02T08:00:00Z", "eligible"),
    ]
    new_york = parse("floating_times.ics", tz="America/New_York")
    assert [o.start for o in new_york.occurrences] == [
        z("03-03 15:00"),
        z("03-26 14:00"),
        z("04-02 14:00"),
    ]


def test_rrule_with_exdate_and_rdate() -> None:
    feed = parse("rrule_exdate_rdate.ics", end=START + timedelta(weeks=2))
    assert [(o.start, o.recurrence_id) for o in feed.occurrences] == [
        (z("03-02 10:00"), "2026-03-02T10:00:00Z"),
        (z("03-03 10:00"), "2026-03-03T10:00:00Z"),
        # 4 and 5 March: EXDATE (one property, two values)
        (z("03-06 10:00"), "2026-03-06T10:00:00Z"),
        (z("03-07 11:00"), "2026-03-07T11:00:00Z"),  # RDATE, a Saturday at noon
        (z("03-09 10:00"), "2026-03-09T10:00:00Z"),
        (z("03-10 10:00"), "2026-03-10T10:00:00Z"),
        (z("03-11 10:00"), "2026-03-11T10:00:00Z"),
        (z("03-12 10:00"), "2026-03-12T10:00:00Z"),
        (z("03-13 10:00"), "2026-03-13T10:00:00Z"),  # COUNT=10 ends here
    ]
    assert feed.occurrences[0].conference_url == "https://acme.webex.com/meet/dana"
    assert feed.occurrences[0].attendees == 3


def test_recurrence_id_overrides_including_thisandfuture() -> None:
    feed = parse("recurrence_overrides.ics", end=START + timedelta(weeks=6))
    assert rows(feed) == [
        ("Weekly planning", z("03-02 08:00"), "2026-03-02T08:00:00Z", "eligible"),
        # moved from Monday 9 March 09:00 to Tuesday 15:00
        (
            "Weekly planning (moved to Tuesday)",
            z("03-10 14:00"),
            "2026-03-09T08:00:00Z",
            "eligible",
        ),
        ("Weekly planning", z("03-16 08:00"), "2026-03-16T08:00:00Z", "eligible"),
        # RANGE=THISANDFUTURE: one hour later from 23 March on, across the DST change;
        # the recurrence ids keep the original starts.
        ("Weekly planning (new time)", z("03-23 09:00"), "2026-03-23T08:00:00Z", "eligible"),
        ("Weekly planning (new time)", z("03-30 08:00"), "2026-03-30T07:00:00Z", "eligible"),
        ("Weekly planning (new time)", z("04-06 08:00"), "2026-04-06T07:00:00Z", "eligible"),
    ]
    assert [o.end - o.start for o in feed.occurrences][-1] == timedelta(minutes=45)
    assert feed.occurrences[-1].attendees == 2


def test_all_day_events_start_at_midnight_in_the_users_zone() -> None:
    feed = parse("all_day.ics", end=START + timedelta(weeks=2))
    assert [(o.title, o.start, o.end, o.recurrence_id) for o in feed.occurrences] == [
        ("Parents visiting", z("03-01 23:00"), z("03-03 23:00"), None),  # DURATION:P2D
        ("Team day", z("03-05 23:00"), z("03-06 23:00"), None),
        ("Conference trip", z("03-08 23:00"), z("03-11 23:00"), None),
        ("Ben's birthday", z("03-09 23:00"), z("03-10 23:00"), "2026-03-10"),  # yearly
        ("Payday", z("03-12 23:00"), z("03-13 23:00"), None),  # no DTEND: one day
    ]
    assert all(o.all_day and o.skip_reason is SkipReason.ALL_DAY for o in feed.occurrences)
    trip = by_title(feed, "Conference trip")[0]
    assert trip.attendees == 2 and not trip.eligible  # people, but all day


def test_weekly_series_across_dst_changes_keeps_local_time() -> None:
    feed = parse("dst_weekly.ics")
    new_york = by_title(feed, "Sync with the New York team")
    assert [o.start for o in new_york] == [
        z("03-02 16:00"),  # 11:00 EST
        z("03-09 15:00"),  # 11:00 EDT
        z("03-16 15:00"),
        z("03-23 15:00"),
        z("03-30 15:00"),
    ]
    assert all(o.end - o.start == timedelta(minutes=45) for o in new_york)  # DURATION
    assert [o.start for o in by_title(feed, "Berlin leads")] == [
        z("03-19 09:00"),  # 10:00 CET
        z("03-26 09:00"),
        z("04-02 08:00"),  # 10:00 CEST
    ]


def test_cancelled_instances_are_listed_and_never_eligible() -> None:
    feed = parse("cancelled_instances.ics", end=START + timedelta(weeks=2))
    assert rows(feed) == [
        ("Product/engineering check-in", z("03-02 15:00"), "2026-03-02T15:00:00Z", "eligible"),
        # 5 March is an EXDATE: not listed at all
        ("Product/engineering check-in", z("03-09 15:00"), "2026-03-09T15:00:00Z", "cancelled"),
        ("Interview: backend candidate", z("03-11 12:00"), None, "cancelled"),
        ("Product/engineering check-in", z("03-12 15:00"), "2026-03-12T15:00:00Z", "eligible"),
    ]
    cancelled = [o for o in feed.occurrences if o.status is Status.CANCELLED]
    assert len(cancelled) == 2 and not any(o.eligible for o in cancelled)


def test_window_is_half_open() -> None:
    end = START + timedelta(days=7)
    feed = parse("window_bounds.ics", end=end)
    titles = [o.title for o in feed.occurrences]
    assert "Ends exactly when the window starts" not in titles
    assert "Starts exactly at the end" not in titles
    assert "Zero length at the end" not in titles
    assert titles[:2] == ["Overlaps the start", "Zero length at the start"]
    assert titles[-1] == "Starts a minute before the end"
    nightly = by_title(feed, "Nightly on-call handover")
    assert [o.start for o in nightly] == [z(f"03-0{d} 23:30") for d in range(1, 8)]
    assert len(feed.occurrences) == 10


@pytest.mark.parametrize(
    ("name", "end", "tz"),
    [
        ("google_x_wr_timezone.ics", FIVE_WEEKS, "Europe/Berlin"),
        ("outlook_windows_zones.ics", FIVE_WEEKS, "Europe/Berlin"),
        ("apple_icloud.ics", FIVE_WEEKS, "Europe/Berlin"),
        ("thunderbird.ics", FIVE_WEEKS, "Europe/Berlin"),
        ("floating_times.ics", FIVE_WEEKS, "Europe/Berlin"),
        ("floating_times.ics", FIVE_WEEKS, "America/New_York"),
        ("rrule_exdate_rdate.ics", FIVE_WEEKS, "Europe/Berlin"),
        ("recurrence_overrides.ics", FIVE_WEEKS, "Europe/Berlin"),
        ("all_day.ics", FIVE_WEEKS, "Europe/Berlin"),
        ("dst_weekly.ics", FIVE_WEEKS, "Europe/Berlin"),
        ("cancelled_instances.ics", FIVE_WEEKS, "Europe/Berlin"),
        ("window_bounds.ics", START + timedelta(days=7), "Europe/Berlin"),
    ],
)
def test_same_occurrences_as_an_independent_expansion(name: str, end: datetime, tz: str) -> None:
    start = START.replace(tzinfo=ZoneInfo(tz))
    feed = parse(name, start=start, end=end, tz=tz)
    assert feed.problems == []
    assert ours(feed) == independent(name, start, end, tz)


# --------------------------------------------------------------------------- robustness


def test_broken_events_are_problems_and_the_rest_is_read() -> None:
    feed = parse("broken_events.ics", end=START + timedelta(weeks=3))
    assert sorted((p.summary, p.reason) for p in feed.problems) == [
        ("Fortnightly retro", "unparsable RRULE: FREQ=FORTNIGHTLY;BYDAY=WE"),
        ("Imported without a start", "no DTSTART"),
        ("The thirty-first of February", "invalid DTSTART: 20260231T100000Z"),
    ]
    assert all(p.uid and p.uid.startswith("040000008200E000") for p in feed.problems)
    assert [(o.title, o.start) for o in feed.occurrences] == [
        ("Good meeting before the broken ones", z("03-03 08:00")),
        ("Good series with a bad SEQUENCE", z("03-05 08:00")),
        ("Good meeting after the broken ones", z("03-06 14:00")),
        ("Good series with a bad SEQUENCE", z("03-12 08:00")),
        ("Good series with a bad SEQUENCE", z("03-19 08:00")),
    ]


def test_bare_recurring_ical_events_gives_up_on_the_broken_file() -> None:
    """Why we expand per UID: the library aborts the whole calendar on one bad rule."""
    calendar = icalendar.Calendar.from_ical((FIXTURES / "broken_events.ics").read_bytes())
    with pytest.raises(Exception):  # noqa: B017 - whichever error the library raises
        recurring_ical_events.of(calendar).between(START, FIVE_WEEKS)


def test_pathological_rules_are_refused_or_capped_quickly() -> None:
    began = time.monotonic()
    feed = parse("pathological_rules.ics", end=START + timedelta(days=7))
    assert time.monotonic() - began < HUNG
    reasons = {p.uid: p.reason for p in feed.problems}
    assert reasons["every-second-since-last-year"] == (
        "the rule repeats too often to expand (FREQ=SECONDLY)"
    )
    assert reasons["every-minute-this-week"] == (
        f"more than {MAX_INSTANCES} occurrences in the window; kept the first {MAX_INSTANCES}"
    )
    assert reasons["thirtieth-of-february"].startswith("the rule never occurs")
    minutely = [o for o in feed.occurrences if o.uid == "every-minute-this-week"]
    assert len(minutely) == MAX_INSTANCES
    assert minutely[0].start == z("03-02 00:00")
    assert minutely[-1].start == z("03-02 00:00") + timedelta(minutes=MAX_INSTANCES - 1)
    assert [o.title for o in feed.occurrences if o.uid == "ordinary-meeting"] == [
        "Ordinary meeting"
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"   \r\n  ", "empty"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "web page"),
        (b'{"events": []}', "JSON"),
        (b"hello, world", "not an iCalendar file"),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n", "incomplete"),
    ],
)
def test_not_a_calendar_is_a_calendar_error(data: bytes, reason: str) -> None:
    with pytest.raises(CalendarError, match=reason) as caught:
        parse_ics(data, source="x", start=START, end=FIVE_WEEKS)
    assert "\n" not in str(caught.value)


def calendar(*lines: str, head: tuple[str, ...] = ()) -> str:
    return "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *head, *lines, "END:VCALENDAR", ""]
    )


def event(*lines: str, uid: str | None = "e1", start: str = "20260303T100000Z") -> list[str]:
    out = ["BEGIN:VEVENT"]
    if uid:
        out.append(f"UID:{uid}")
    if start:
        out.append(f"DTSTART:{start}")
    return [*out, "DTEND:20260303T110000Z" if start.endswith("Z") else "", *lines, "END:VEVENT"]


def one(text: str, *, user: tuple[str, ...] = (USER,), tz: str = "Europe/Berlin") -> Occurrence:
    feed = parse_ics(text, source="t", start=START, end=FIVE_WEEKS, user_emails=user, default_tz=tz)
    assert feed.problems == [] and len(feed.occurrences) == 1, feed
    return feed.occurrences[0]


def test_a_stray_line_outside_any_event_does_not_lose_the_feed() -> None:
    text = calendar(*event("SUMMARY:kept"), "this line is garbage")
    assert one(text).title == "kept"


def test_people_are_counted_once_and_rooms_not_at_all() -> None:
    text = calendar(
        *event(
            "ORGANIZER:MAILTO:Dana@Acme.Example",
            "ATTENDEE;PARTSTAT=DECLINED:mailto:dana@acme.example",
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:d.weber@acme.example",
            "ATTENDEE;CUTYPE=ROOM:mailto:room@acme.example",
            "ATTENDEE;CUTYPE=RESOURCE:mailto:beamer@acme.example",
            "ATTENDEE:mailto:ben@acme.example",
            "ATTENDEE:mailto:BEN@acme.example",
        )
    )
    occurrence = one(text, user=("dana@acme.example", "D.Weber@acme.example"))
    assert occurrence.attendees == 2  # the user (three addresses) and Ben
    assert occurrence.self_response is Response.DECLINED  # the answer given, not the default
    assert occurrence.organizer == "dana@acme.example" and not occurrence.external


# An event of 2025, outside the window: the feed lists attendees, so it tells solo blocks.
LISTED = [
    "BEGIN:VEVENT",
    "UID:old",
    "DTSTART:20250303T100000Z",
    "DTEND:20250303T110000Z",
    "ATTENDEE:mailto:ben@acme.example",
    "END:VEVENT",
]


def test_solo_blocks_and_organizer_only_events() -> None:
    block = one(calendar(*event("SUMMARY:block"), *LISTED))
    assert (block.attendees, block.skip_reason) == (0, SkipReason.SOLO)
    organizer_only = one(calendar(*event("ORGANIZER:mailto:dana@acme.example"), *LISTED))
    assert organizer_only.attendees == 1
    assert organizer_only.self_response is Response.ACCEPTED
    assert organizer_only.skip_reason is SkipReason.SOLO
    assert not organizer_only.attendees_unknown


def test_a_feed_that_lists_no_attendees_calls_nothing_solo() -> None:
    """Outlook's published calendars leave every ATTENDEE out: attendance is unknown, and
    the other rules still skip what they skip."""
    text = calendar(
        *event("SUMMARY:Sync with Ben", "ORGANIZER:mailto:ben@acme.example"),
        *event("SUMMARY:Prep", uid="prep", start="20260303T130000Z"),
        *event("SUMMARY:Errand", "TRANSP:TRANSPARENT", uid="free", start="20260303T140000Z"),
        *event("SUMMARY:Quiet", "X-MICROSOFT-CDO-BUSYSTATUS:FREE", uid="ms-free"),
        *event("SUMMARY:Focus time", uid="focus", start="20260303T150000Z"),
        *event("SUMMARY:OOO", uid="away", start="20260303T160000Z"),
        *event("SUMMARY:Lunch", "STATUS:CANCELLED", uid="lunch", start="20260303T120000Z"),
        "BEGIN:VEVENT",
        "UID:offsite-day",
        "DTSTART;VALUE=DATE:20260304",
        "SUMMARY:Offsite",
        "END:VEVENT",
    )
    feed = parse_ics(text, source="t", start=START, end=FIVE_WEEKS, user_emails=(USER,))
    found = {o.uid: o for o in feed.occurrences}
    assert all(o.attendees_unknown for o in feed.occurrences)
    assert {uid: o.skip_reason for uid, o in found.items()} == {
        "e1": None,
        "prep": None,
        "free": SkipReason.FREE,
        "ms-free": SkipReason.FREE,
        "focus": SkipReason.FOCUS,
        "away": SkipReason.OUT_OF_OFFICE,
        "lunch": SkipReason.CANCELLED,
        "offsite-day": SkipReason.ALL_DAY,
    }
    # Who attends is unknown: neither a 1:1 nor a large meeting.
    assert found["prep"].kind is MeetingKind.SMALL and found["e1"].kind is MeetingKind.SMALL
    # The person's own answer still wins (a calendar of another kind may give it).
    declined = replace(found["prep"], self_response=Response.DECLINED)
    assert declined.skip_reason is SkipReason.DECLINED

    # The same events in a feed where one other event lists an attendee: today's rule.
    listed = parse_ics(
        text.replace("END:VCALENDAR", "\r\n".join(LISTED) + "\r\nEND:VCALENDAR"),
        source="t",
        start=START,
        end=FIVE_WEEKS,
        user_emails=(USER,),
    )
    known = {o.uid: o for o in listed.occurrences}
    assert not any(o.attendees_unknown for o in listed.occurrences)
    assert known["prep"].skip_reason is SkipReason.SOLO
    assert known["e1"].skip_reason is SkipReason.SOLO  # the organizer alone is one person


def test_whether_a_feed_lists_attendees_is_told_from_the_whole_feed() -> None:
    no_one = calendar(*event("SUMMARY:Prep"))
    assert lists_no_attendees(no_one) and lists_no_attendees(no_one.encode())
    assert not lists_no_attendees(calendar())  # no events: nothing unknown
    assert not lists_no_attendees(calendar(*event("ATTENDEE;CN=Ben:mailto:ben@acme.example")))
    assert not lists_no_attendees(calendar(*event("attendee:mailto:ben@acme.example")))
    folded = calendar(*event("ATTEN\r\n DEE:mailto:ben@acme.example")).encode()
    assert not lists_no_attendees(folded)
    assert lists_no_attendees(calendar(*event("DESCRIPTION:ATTENDEE: nobody")))
    # A part of a feed (a refresh reads only the series that changed) is told what the
    # whole feed says.
    part = parse_ics(
        no_one,
        source="t",
        start=START,
        end=FIVE_WEEKS,
        user_emails=(USER,),
        attendees_unknown=False,
    )
    assert part.occurrences[0].skip_reason is SkipReason.SOLO


def test_external_needs_the_users_domain() -> None:
    text = calendar(*event("ATTENDEE:mailto:dana@acme.example", "ATTENDEE:mailto:x@other.example"))
    assert one(text).external
    assert not one(text, user=()).external
    assert one(text, user=()).self_response is None


def test_google_event_types_and_conference_property() -> None:
    focus = one(calendar(*event("X-GOOGLE-EVENT-TYPE:focusTime", "SUMMARY:Deep work")))
    assert focus.category is Category.FOCUS
    away = one(calendar(*event("X-GOOGLE-EVENT-TYPE:outOfOffice", "SUMMARY:Away")))
    assert away.category is Category.OUT_OF_OFFICE
    ooo = one(calendar(*event("SUMMARY:OOO - school holidays")))
    assert ooo.skip_reason is SkipReason.OUT_OF_OFFICE
    not_focus = one(calendar(*event("SUMMARY:Focus group interviews")))
    assert not_focus.category is None
    conference = one(
        calendar(*event("CONFERENCE;VALUE=URI;FEATURE=VIDEO:https://meet.example/abc"))
    )
    assert conference.conference_url == "https://meet.example/abc"
    other_link = one(calendar(*event("DESCRIPTION:Notes at https://docs.example/x")))
    assert other_link.conference_url is None


@pytest.mark.parametrize(
    "link",
    [
        "https://x.example/a><!channel>",
        "https://meet.example.com/a|Click me",
        "https://meet.example.com/a b",
        "https://meet.example.com:port/a",
        "javascript:alert(1)",
        "https:///no-host",
    ],
)
def test_a_join_link_that_would_break_slack_markup_is_not_kept(link: str) -> None:
    """The sender of an invite writes the link; a reminder shows it as ``<url|Join>``."""
    unsafe = one(calendar(*event(f"X-GOOGLE-CONFERENCE:{link}")))
    assert unsafe.conference_url is None
    fallback = one(
        calendar(
            *event(
                f"X-GOOGLE-CONFERENCE:{link}",
                "LOCATION:Room 4 (https://zoom.us/j/123?pwd=a)",
            )
        )
    )
    assert fallback.conference_url == "https://zoom.us/j/123?pwd=a"
    plain = one(calendar(*event("X-GOOGLE-CONFERENCE:http://meet.example.com/a?b=c#d")))
    assert plain.conference_url == "http://meet.example.com/a?b=c#d"


def test_method_cancel_cancels_everything() -> None:
    text = calendar(*event("SUMMARY:Gone"), head=("METHOD:CANCEL",))
    assert one(text).status is Status.CANCELLED


def test_event_without_uid_gets_a_stable_uid() -> None:
    text = calendar(*event("SUMMARY:No UID", uid=None))
    first, second = one(text), one(text)
    assert first.uid == second.uid and first.uid.startswith("heedful-")


def test_events_without_uid_are_not_merged() -> None:
    text = calendar(
        *event("SUMMARY:A", uid=None),
        *event("SUMMARY:B", uid=None, start="20260304T100000Z"),
    )
    feed = parse_ics(text, source="t", start=START, end=FIVE_WEEKS)
    assert [o.title for o in feed.occurrences] == ["A", "B"]


def test_unknown_tzid_without_vtimezone_floats_in_the_users_zone() -> None:
    text = calendar(*event("DTSTART;TZID=Mars/Olympus_Mons:20260303T100000", start=""))
    assert one(text).start == z("03-03 09:00")


@pytest.mark.parametrize(
    "tzid",
    ['"Western/Central Europe"', "Western/Central Europe", "Europe", "Etc", '"(UTC+01:00) Rome"'],
)
def test_a_tzid_nobody_defines_is_floating_and_the_rest_of_the_feed_is_read(tzid: str) -> None:
    """What icalendar makes of a TZID it cannot find is a floating time: so does Heedful,
    in the user's zone, with its RRULE and EXDATE (``Europe`` is a tzdata directory: it
    used to fail the whole feed)."""
    text = calendar(
        *event(
            f"DTSTART;TZID={tzid}:20260303T100000",
            f"DTEND;TZID={tzid}:20260303T103000",
            "RRULE:FREQ=WEEKLY;COUNT=3",
            f"EXDATE;TZID={tzid}:20260310T100000",
            start="",
        ),
        *event(uid="e2", start="20260303T120000Z"),
    )
    for tz, first in (("Europe/Berlin", "03-03 09:00"), ("America/New_York", "03-03 15:00")):
        feed = parse_ics(text, source="t", start=START, end=FIVE_WEEKS, default_tz=tz)
        assert feed.problems == []
        starts = [o.start for o in feed.occurrences if o.uid == "e1"]
        assert starts[0] == z(first) and len(starts) == 2  # the 10th is excluded
        assert [o.uid for o in feed.occurrences if o.uid == "e2"] == ["e2"]
    floating = icalendar.Calendar.from_ical(text.replace(tzid, "Mars/Olympus_Mons"))
    assert floating.walk("VEVENT")[0]["DTSTART"].dt.tzinfo is None  # icalendar's own reading


def test_a_globally_unique_tzid_without_vendor_is_its_iana_zone() -> None:
    text = calendar(*event("DTSTART;TZID=/Europe/Berlin:20260303T100000", start=""))
    assert one(text, tz="America/New_York").start == z("03-03 09:00")


def test_a_negative_count_beside_until_is_ignored_and_the_series_ends_at_until() -> None:
    """Confluence writes ``COUNT=-1`` beside UNTIL; recurring-ical-events ignores the
    COUNT, and so does Heedful (it used to drop the whole series)."""
    rule = "RRULE:FREQ=WEEKLY;UNTIL=20260317T235959Z;COUNT=-1;BYDAY=TU"
    text = calendar(*event(rule, "SUMMARY:weekly"), *event(uid="e2"))
    feed = parse_ics(text, source="t", start=START, end=FIVE_WEEKS)
    assert feed.problems == []
    ours = [o.start for o in feed.occurrences if o.uid == "e1"]
    assert ours == [z("03-03 10:00"), z("03-10 10:00"), z("03-17 10:00")]
    bare = recurring_ical_events.of(icalendar.Calendar.from_ical(text)).between(START, FIVE_WEEKS)
    assert sorted(c["DTSTART"].dt for c in bare if str(c["UID"]) == "e1") == ours


def test_a_negative_count_does_not_hide_a_rule_that_repeats_too_often() -> None:
    rule = "RRULE:FREQ=SECONDLY;COUNT=-1"
    text = calendar(*event(rule, start="20250101T000000Z"), *event(uid="e2"))
    began = time.monotonic()
    feed = parse_ics(text, source="t", start=START, end=FIVE_WEEKS)
    assert time.monotonic() - began < HUNG
    assert [p.uid for p in feed.problems] == ["e1"] and "too often" in feed.problems[0].reason
    assert [o.uid for o in feed.occurrences] == ["e2"]


def test_custom_zones_with_one_name_do_not_leak_between_feeds() -> None:
    def feed_with(offset: str) -> str:
        return calendar(
            "BEGIN:VTIMEZONE",
            "TZID:Customized Time Zone",
            "BEGIN:STANDARD",
            "DTSTART:16010101T000000",
            f"TZOFFSETFROM:{offset}",
            f"TZOFFSETTO:{offset}",
            "END:STANDARD",
            "END:VTIMEZONE",
            *event(
                "DTSTART;TZID=Customized Time Zone:20260303T120000",
                "DTEND;TZID=Customized Time Zone:20260303T130000",
                start="",
            ),
        )

    assert one(feed_with("+0300")).start == z("03-03 09:00")
    assert one(feed_with("-0500")).start == z("03-03 17:00")
    assert one(feed_with("+0300")).start == z("03-03 09:00")


def test_x_wr_timezone_may_be_a_windows_name() -> None:
    text = calendar(
        *event("SUMMARY:x", start="20260302T080000Z", uid="s"),
        head=("X-WR-TIMEZONE:W. Europe Standard Time",),
    ).replace("DTEND:20260303T110000Z", "RRULE:FREQ=WEEKLY;COUNT=5")
    feed = parse_ics(text, source="t", start=START, end=FIVE_WEEKS)
    assert [o.start for o in feed.occurrences][-1] == z("03-30 07:00")


def test_encodings_and_folds() -> None:
    title = "Réunion équipe — 会議"
    line = f"SUMMARY:{title}".encode()
    # A writer folded in the middle of a multi-byte character.
    folded = line[:12] + b"\r\n " + line[12:]
    data = calendar(*event("X-PLACEHOLDER:1")).encode().replace(b"X-PLACEHOLDER:1", folded)
    assert one(data).title == title  # type: ignore[arg-type]
    latin = calendar(*event("SUMMARY:Café")).encode("cp1252")
    assert one(latin).title == "Café"  # type: ignore[arg-type]
    utf16 = calendar(*event("SUMMARY:Tee")).encode("utf-16")
    assert one(utf16).title == "Tee"  # type: ignore[arg-type]


def test_start_and_end_must_be_aware_and_zone_known() -> None:
    with pytest.raises(ValueError):
        parse_ics(calendar(), source="t", start=datetime(2026, 3, 2), end=FIVE_WEEKS)
    with pytest.raises(ValueError):
        parse_ics(calendar(), source="t", start=START, end=FIVE_WEEKS, default_tz="Nowhere")


def test_a_whole_day_recurring_event_has_a_date_recurrence_id() -> None:
    text = calendar(*event("RRULE:FREQ=DAILY;COUNT=2", start=""), "").replace(
        "BEGIN:VEVENT\r\nUID:e1", "BEGIN:VEVENT\r\nUID:e1\r\nDTSTART;VALUE=DATE:20260303"
    )
    feed = parse_ics(text, source="t", start=START, end=FIVE_WEEKS, default_tz="Europe/Berlin")
    assert [o.recurrence_id for o in feed.occurrences] == ["2026-03-03", "2026-03-04"]
    assert feed.occurrences[0].start.date() == date(2026, 3, 2)  # 23:00Z the day before


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("FREQ=HOURLY;BYMONTH=29;BYMONTHDAY=30", "BYMONTH out of range"),
        ("FREQ=DAILY;BYHOUR=-3", "BYHOUR out of range"),
        ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL out of range"),
        ("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31", "the rule never occurs"),
        ("FREQ=WEEKLY;WKST=XX", "unparsable RRULE"),
    ],
)
def test_rules_that_would_make_dateutil_search_forever(rule: str, reason: str) -> None:
    text = calendar(*event(f"RRULE:{rule}", "SUMMARY:odd"), *event(uid="e2"))
    began = time.monotonic()
    feed = parse_ics(text, source="t", start=START, end=FIVE_WEEKS)
    assert time.monotonic() - began < HUNG
    assert [p.uid for p in feed.problems] == ["e1"] and reason in feed.problems[0].reason
    assert [o.uid for o in feed.occurrences] == ["e2"]


def test_mangled_fixtures_raise_nothing_but_calendar_error() -> None:
    """A small deterministic fuzz: delete, cut, repeat and garble lines of every fixture."""
    rng = random.Random(20260302)
    files = sorted(FIXTURES.glob("*.ics"))
    for _ in range(300):
        lines = rng.choice(files).read_bytes().decode().split("\r\n")
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(lines))
            roll = rng.random()
            if roll < 0.3:
                del lines[at]
            elif roll < 0.6:
                lines[at] = lines[at][: rng.randrange(len(lines[at]) + 1)]
            elif roll < 0.8:
                lines.insert(at, rng.choice(lines))
            else:
                cut = rng.randrange(len(lines[at]) + 1)
                lines[at] = lines[at][:cut] + rng.choice("9;:ZT,-X") + lines[at][cut:]
            if not lines:
                lines = ["BEGIN:VCALENDAR"]
        with contextlib.suppress(CalendarError):  # any other exception fails the test
            parse_ics(
                "\r\n".join(lines), source="f", start=START, end=FIVE_WEEKS, user_emails=[USER]
            )

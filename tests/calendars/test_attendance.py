"""One attendance rule for every calendar kind (bot.calendars.attendance).

The same invitation, written as an iCalendar feed, a webhook body, a Google event and a
Microsoft Graph event, gives the same people, own response, external flag and kind of meeting.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.calendars import google, microsoft
from bot.calendars.attendance import Invitee, attendance, category
from bot.calendars.ics import parse_ics
from bot.calendars.occurrence import Category, MeetingKind, Occurrence, Response, SkipReason
from bot.calendars.webhook import event_occurrence, parse_payload

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC))
ME = "ana@example.com"


def _ics(attendees: list[tuple[str, str, str]], organizer: str) -> Occurrence:
    lines = [
        f"ATTENDEE;CUTYPE={cutype};PARTSTAT={partstat}:mailto:{email}"
        for email, partstat, cutype in attendees
    ]
    text = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//test//EN",
            "BEGIN:VEVENT",
            "UID:evt-1",
            "DTSTAMP:20260301T000000Z",
            "DTSTART:20260302T090000Z",
            "DTEND:20260302T093000Z",
            "SUMMARY:Planning",
            f"ORGANIZER:mailto:{organizer}",
            *lines,
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    (occ,) = parse_ics(
        text, source="ics:1", start=WINDOW[0], end=WINDOW[1], user_emails=[ME]
    ).occurrences
    return occ


def _hook(attendees: list[tuple[str, str, str]], organizer: str) -> Occurrence:
    payload = parse_payload(
        {
            "user": {"slack_id": "U1"},
            "events": [
                {
                    "uid": "evt-1",
                    "title": "Planning",
                    "start": "2026-03-02T09:00:00Z",
                    "end": "2026-03-02T09:30:00Z",
                    "attendees": [
                        {"email": e, "response": p.lower()}
                        for e, p, cutype in attendees
                        if cutype == "INDIVIDUAL"  # the webhook lists people only
                    ],
                    "organizer": organizer,
                }
            ],
        }
    )
    return event_occurrence(payload.events[0], source="hook:1", user_emails=[ME])


_GOOGLE_STATUS = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "NEEDS-ACTION": "needsAction",
}


def _google(attendees: list[tuple[str, str, str]], organizer: str) -> Occurrence:
    item: dict[str, Any] = {
        "id": "evt1abc",
        "status": "confirmed",
        "summary": "Planning",
        "start": {"dateTime": "2026-03-02T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-02T10:30:00+01:00", "timeZone": "Europe/Berlin"},
        "organizer": {"email": organizer, **({"self": True} if organizer == ME else {})},
        "attendees": [
            {
                "email": e,
                "responseStatus": _GOOGLE_STATUS[p],
                **({"self": True} if e == ME else {}),
                **({"resource": True} if cutype == "ROOM" else {}),
            }
            for e, p, cutype in attendees
        ],
    }
    # Google names the calendar's own address only through "self": leave it out of `own`.
    return google.event_occurrence(item, source="google:1", own=[], zone="Europe/Berlin")


_GRAPH_STATUS = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentativelyAccepted",
    "NEEDS-ACTION": "notResponded",
}


def _microsoft(attendees: list[tuple[str, str, str]], organizer: str) -> Occurrence:
    """Graph as an attendee's mailbox writes it: the person's own answer in
    ``responseStatus``, their own entry under ``attendees`` as ``none``."""
    mine = next((p for e, p, _ in attendees if e == ME), None)
    item: dict[str, Any] = {
        "id": "AAMkAD-evt1",
        "type": "singleInstance",
        "subject": "Planning",
        "start": {"dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-02T09:30:00.0000000", "timeZone": "UTC"},
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": organizer == ME,
        "showAs": "busy",
        "responseStatus": {
            "response": "organizer" if organizer == ME else _GRAPH_STATUS[mine or "NEEDS-ACTION"]
        },
        "organizer": {"emailAddress": {"name": "Organizer", "address": organizer}},
        "attendees": [
            {
                "type": "resource" if cutype == "ROOM" else "required",
                "status": {"response": "none" if e == ME else _GRAPH_STATUS[p]},
                "emailAddress": {"name": e.split("@")[0], "address": e},
            }
            for e, p, cutype in attendees
        ],
    }
    return microsoft.event_occurrence(item, source="microsoft:1", own=[ME], zone="UTC")


CASES = {
    "a 1:1 Ben organizes": (
        [(ME, "ACCEPTED", "INDIVIDUAL"), ("ben@example.com", "ACCEPTED", "INDIVIDUAL")],
        "ben@example.com",
        (2, ("ben@example.com",), Response.ACCEPTED, False, MeetingKind.ONE_ON_ONE),
    ),
    "a group with a room and a guest from outside, declined": (
        [
            (ME, "DECLINED", "INDIVIDUAL"),
            ("ben@example.com", "ACCEPTED", "INDIVIDUAL"),
            ("cy@partner.example", "NEEDS-ACTION", "INDIVIDUAL"),
            ("room-4@resource.example.com", "ACCEPTED", "ROOM"),
        ],
        "ben@example.com",
        (
            3,
            ("ben@example.com", "cy@partner.example"),
            Response.DECLINED,
            True,
            MeetingKind.EXTERNAL,
        ),
    ),
    "I organize and am not listed": (
        [
            ("ben@example.com", "TENTATIVE", "INDIVIDUAL"),
            ("cy@example.com", "ACCEPTED", "INDIVIDUAL"),
        ],
        ME,
        (3, ("ben@example.com", "cy@example.com"), Response.ACCEPTED, False, MeetingKind.SMALL),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    "reader", [_ics, _hook, _google, _microsoft], ids=["feed", "webhook", "google", "microsoft"]
)
def test_the_same_invitation_reads_the_same_from_every_calendar(case: str, reader: Any) -> None:
    attendees, organizer, expected = CASES[case]
    occ = reader(attendees, organizer)
    got = (occ.attendees, occ.people, occ.self_response, occ.external, occ.kind)
    assert got == expected
    assert occ.start == START


def test_a_block_with_nobody_else_is_solo() -> None:
    who = attendance([Invitee(ME, Response.ACCEPTED)], organizer=ME, own=[ME])
    assert (who.attendees, who.people) == (1, ())
    nobody = attendance([], organizer=None, own=[ME])
    assert (nobody.attendees, nobody.self_response) == (0, None)


def test_an_answer_beats_needs_action_when_listed_twice() -> None:
    who = attendance(
        [Invitee("ANA@example.com"), Invitee("ana@home.example", Response.TENTATIVE)],
        organizer="ben@example.com",
        own=["ana@example.com", "ana@home.example"],
    )
    assert (who.attendees, who.self_response) == (2, Response.TENTATIVE)


def test_calendar_addresses_are_not_people() -> None:
    who = attendance(
        [Invitee(ME), Invitee("c_abc123@group.calendar.google.com")],
        organizer="c_abc123@group.calendar.google.com",
        own=[ME],
    )
    assert (who.attendees, who.organizer, who.people) == (1, None, ())


@pytest.mark.parametrize(
    ("title", "kind", "busy", "expected"),
    [
        ("Focus time", "", "", Category.FOCUS),
        ("Deep work", "focusTime", "", Category.FOCUS),
        ("Away", "outOfOffice", "", Category.OUT_OF_OFFICE),
        ("OOO", "", "", Category.OUT_OF_OFFICE),
        ("Holiday", "", "OOF", Category.OUT_OF_OFFICE),
        ("Office", "workingLocation", "", Category.WORKING_LOCATION),
        ("Focus group with customers", "default", "", None),
    ],
)
def test_blocks_that_are_not_meetings(
    title: str, kind: str, busy: str, expected: Category | None
) -> None:
    assert category(title, kind=kind, busy=busy) == expected


def test_google_instances_keep_their_series_and_original_start() -> None:
    item = {
        "id": "series1_20260302T090000Z",
        "recurringEventId": "series1",
        "originalStartTime": {"dateTime": "2026-03-02T10:00:00+01:00"},
        "status": "confirmed",
        "summary": "Weekly",
        "start": {"dateTime": "2026-03-02T10:15:00+01:00"},
        "end": {"dateTime": "2026-03-02T10:45:00+01:00"},
        "attendees": [
            {"email": ME, "self": True, "responseStatus": "accepted"},
            {"email": "b@x.io"},
        ],
        "eventType": "default",
        "hangoutLink": "https://meet.google.com/abc-defg-hij",
    }
    occ = google.event_occurrence(item, source="google:1", own=[], zone="UTC")
    assert (occ.uid, occ.recurrence_id, occ.recurring) == ("series1", "2026-03-02T09:00:00Z", True)
    assert occ.conference_url == "https://meet.google.com/abc-defg-hij"
    gone = google.cancellation(
        {
            "id": item["id"],
            "status": "cancelled",
            **{k: item[k] for k in ("recurringEventId", "originalStartTime")},
        }
    )
    assert (gone.uid, gone.recurrence_id) == ("series1", "2026-03-02T09:00:00Z")
    assert google.cancellation({"id": "series1", "status": "cancelled"}).recurrence_id is None


def test_google_working_location_and_all_day_are_skipped() -> None:
    item = {
        "id": "where1",
        "summary": "Home",
        "eventType": "workingLocation",
        "start": {"date": "2026-03-02"},
        "end": {"date": "2026-03-03"},
    }
    occ = google.event_occurrence(item, source="google:1", own=[ME], zone="Europe/Berlin")
    assert occ.all_day and occ.start == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert occ.skip_reason is SkipReason.ALL_DAY
    assert occ.category is Category.WORKING_LOCATION


def test_an_unreadable_google_event_says_why() -> None:
    with pytest.raises(google.UnreadableEvent, match="no start"):
        google.event_occurrence({"id": "x1"}, source="google:1", own=[], zone="UTC")

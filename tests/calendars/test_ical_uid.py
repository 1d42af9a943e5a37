"""Every calendar hands on the event's iCalendar UID (``Occurrence.ical_uid``), the
identity by which ``bot.copies`` knows one meeting on two calendars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.calendars import google, microsoft
from bot.calendars.ics import parse_ics
from bot.calendars.webhook import event_occurrence, parse_payload

ME = "ana@example.com"
START = datetime(2026, 3, 2, tzinfo=UTC)


def _feed(*events: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Heedful tests//EN", *events]
    return ("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n").encode()


def _vevent(summary: str, start: str, *extra: str) -> str:
    return "\r\n".join(
        [
            "BEGIN:VEVENT",
            *extra,
            "DTSTAMP:20260301T120000Z",
            f"SUMMARY:{summary}",
            f"DTSTART:{start}",
            "DURATION:PT30M",
            "END:VEVENT",
        ]
    )


def test_a_feed_hands_on_its_uid_for_every_instance_and_none_it_made_up() -> None:
    data = _feed(
        _vevent(
            "Standup", "20260302T090000Z", "UID:standup-1@example.com", "RRULE:COUNT=2;FREQ=DAILY"
        ),
        _vevent("No UID", "20260302T120000Z"),
    )
    parsed = parse_ics(data, source="ics:1", start=START, end=START + timedelta(days=7))
    found = {(o.title, o.recurrence_id): o.ical_uid for o in parsed.occurrences}
    assert found == {
        ("Standup", "2026-03-02T09:00:00Z"): "standup-1@example.com",
        ("Standup", "2026-03-03T09:00:00Z"): "standup-1@example.com",
        ("No UID", None): None,
    }
    assert all(o.uid for o in parsed.occurrences)  # a made-up UID still keys the row


def test_google_hands_on_the_icaluid_of_the_event_or_of_its_series() -> None:
    item = {
        "id": "abc123def",
        "iCalUID": "standup-1@example.com",
        "status": "confirmed",
        "summary": "Standup",
        "start": {"dateTime": "2026-03-02T10:00:00+01:00"},
        "end": {"dateTime": "2026-03-02T10:30:00+01:00"},
    }
    single = google.event_occurrence(item, source="google:1", own=[ME], zone="Europe/Berlin")
    assert (single.uid, single.ical_uid) == ("abc123def", "standup-1@example.com")
    instance = google.event_occurrence(
        {
            **item,
            "id": "abc123def_20260302T090000Z",
            "recurringEventId": "abc123def",
            "originalStartTime": {"dateTime": "2026-03-02T10:00:00+01:00"},
        },
        source="google:1",
        own=[ME],
        zone="Europe/Berlin",
    )
    assert instance.ical_uid == "standup-1@example.com"  # the series' UID
    del item["iCalUID"]
    bare = google.event_occurrence(item, source="google:1", own=[ME], zone="Europe/Berlin")
    assert bare.ical_uid is None


def test_a_webhook_hands_on_its_uid() -> None:
    payload = parse_payload(
        {
            "user": {"email": ME},
            "events": [
                {
                    "uid": "standup-1@example.com",
                    "title": "Standup",
                    "start": "2026-03-02T09:00:00Z",
                    "end": "2026-03-02T09:30:00Z",
                }
            ],
        }
    )
    occurrence = event_occurrence(payload.events[0], source="hook:1", user_emails=[ME])
    assert occurrence.ical_uid == "standup-1@example.com"


def test_microsoft_hands_on_the_icaluid_of_each_instance() -> None:
    item = {
        "id": "AAMkAGI1-occurrence-1",
        "iCalUId": "040000008200E00074C5B7101A82E0080000000010",
        "type": "occurrence",
        "seriesMasterId": "AAMkAGI1-master",
        "originalStart": "2026-03-02T09:00:00Z",
        "subject": "Standup",
        "start": {"dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-02T09:30:00.0000000", "timeZone": "UTC"},
    }
    occurrence = microsoft.event_occurrence(
        item, source="microsoft:1", own=[ME], zone="Europe/Berlin"
    )
    # Graph's iCalUId is the instance's own (not the series'), kept as it is.
    assert occurrence.uid == "AAMkAGI1-master"
    assert occurrence.ical_uid == "040000008200E00074C5B7101A82E0080000000010"
    del item["iCalUId"]
    bare = microsoft.event_occurrence(item, source="microsoft:1", own=[ME], zone="Europe/Berlin")
    assert bare.ical_uid is None

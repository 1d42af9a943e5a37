"""The sample of ``heedful demo``: a calendar whose meetings recur, and what its person says.

The calendar (:func:`sample_events`) is read through the real path, so any number of
days shows real weeks: a daily stand-up, weekly 1:1s and a design review right after one
of them (back to back), a fortnightly all-hands, sprint retro and customer call, a sprint
planning and a hiring debrief in the other weeks, and what Heedful stays silent for:
a weekly vendor sync the person declined, a weekly call at 02:00, a weekly focus
block, and in the first week a cancelled stand-up and an all-day offsite prep (the
stand-up also moves once). Times are local, so a series keeps its hour across a change
to or from summer time, as calendars do.

It is served as an ICS feed (:func:`sample_calendar`, ``DTSTART;TZID=``) or, with
``heedful demo --calendar google``, loaded into the fake Google as the same events
(:func:`load_into_google`: series with ``recurrence: ["RRULE:…"]``, the moved and the
cancelled stand-up as changed instances), or with ``--calendar microsoft`` into the fake
Microsoft (:func:`load_into_microsoft`: each series a weekly series of Graph, the changed
stand-ups as changed occurrences); either then changes two meetings while the week plays
(:func:`sample_changes`).

The played person's answers are in ``prompts/demo.toml`` (``demo.answer.<practice>``):
a few for each practice, so that an answer fits the practice of the question it answers
and none repeats within a week. They name nobody, so they also fit a calendar of one's
own (``--ics``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DOMAIN = "example.com"
PRODID = "-//Heedful//demo//EN"
WEEKDAYS = "MO,TU,WE,TH,FR"


@dataclass(frozen=True)
class SampleEvent:
    """One event of the sample: a series (``rule``), a single event, or a changed
    instance of a series (``recurrence_id``, its original local start)."""

    uid: str
    title: str
    start: datetime  # local, in the person's zone
    minutes: int
    people: tuple[str, ...] = ()  # the others invited; the first organises
    rule: str = ""
    mine: str = "ACCEPTED"  # the person's own answer (ICS PARTSTAT)
    recurrence_id: datetime | None = None
    status: str = ""  # "CANCELLED" for a cancelled instance
    link: str | None = None
    all_day: bool = False
    event_type: str = ""  # Google's eventType, when it has one


@dataclass(frozen=True)
class SampleChange:
    """What happens to one instance of a series while the days play, at ``at``: it moves
    to ``moved_to``, or (None) is cancelled."""

    at: datetime
    uid: str
    title: str
    original: datetime  # the instance's local start
    moved_to: datetime | None


def _utc(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


def _monday(first_day: date) -> date:
    return first_day - timedelta(days=first_day.weekday())


def sample_events(first_day: date, zone: ZoneInfo) -> list[SampleEvent]:
    """The sample calendar's events, from the week of ``first_day`` on.

    Its series start on that week's Monday and never end; the one-off events are in
    that first week.
    """
    monday = _monday(first_day)
    team = tuple(f"{name}@{DOMAIN}" for name in ("ben", "cleo", "dana", "eli"))
    crowd = tuple(f"person{i}@{DOMAIN}" for i in range(24))

    def local(day: int, hhmm: str) -> datetime:
        hours, minutes = (int(x) for x in hhmm.split(":"))
        return datetime.combine(monday + timedelta(days=day), time(hours, minutes), zone)

    weekly = "FREQ=WEEKLY"
    fortnightly = "FREQ=WEEKLY;INTERVAL=2"
    e = SampleEvent
    return [
        # Every week.
        e(
            "standup",
            "Team stand-up",
            local(0, "09:30"),
            15,
            team,
            rule=f"FREQ=WEEKLY;BYDAY={WEEKDAYS}",
            link="https://meet.example.com/standup",
        ),
        e("ben-1", "1:1 with Ben", local(0, "11:00"), 30, team[:1], rule=weekly),
        e(
            "vendor",
            "Vendor sync",
            local(1, "13:00"),
            30,
            ("sales@vendor.test",),
            rule=weekly,
            mine="DECLINED",
        ),
        e("cleo-1", "1:1 with Cleo", local(1, "15:00"), 30, team[1:2], rule=weekly),
        e("design", "Design review", local(1, "15:32"), 45, team, rule=weekly),
        e("focus", "Focus time", local(2, "12:00"), 90, rule=weekly, event_type="focusTime"),
        e("dana-1", "1:1 with Dana", local(2, "16:00"), 30, team[2:3], rule=weekly),
        e(
            "apac",
            "APAC sync",
            local(3, "02:00"),
            30,
            (f"wei@{DOMAIN}", f"ravi@{DOMAIN}"),
            rule=weekly,
        ),
        e("eli-1", "1:1 with Eli", local(4, "10:00"), 30, team[3:4], rule=weekly),
        # Every other week: the first week and every second one after it …
        e(
            "northwind",
            "Call with Northwind",
            local(0, "14:00"),
            45,
            ("kim@northwind.test",),
            rule=fortnightly,
        ),
        e("all-hands", "All-hands", local(1, "10:00"), 60, crowd, rule=fortnightly),
        e("retro", "Sprint retro", local(4, "14:00"), 45, team, rule=fortnightly),
        # … and the weeks between.
        e("sprint", "Sprint planning", local(7, "14:00"), 60, team, rule=fortnightly),
        e("hiring", "Hiring debrief", local(10, "11:00"), 45, team[:3], rule=fortnightly),
        # The first week only: the stand-up moves on Wednesday and is cancelled on
        # Thursday; a quarter planning, and a day of offsite prep (all day).
        e(
            "standup",
            "Team stand-up (moved)",
            local(2, "10:15"),
            15,
            team,
            recurrence_id=local(2, "09:30"),
        ),
        e(
            "standup",
            "Team stand-up",
            local(3, "09:30"),
            15,
            team,
            recurrence_id=local(3, "09:30"),
            status="CANCELLED",
        ),
        e("planning", "Quarter planning", local(3, "11:00"), 60, team),
        e("offsite", "Offsite prep day", local(2, "00:00"), 24 * 60, all_day=True),
    ]


def sample_calendar(first_day: date, zone: ZoneInfo, email: str) -> str:
    """The sample calendar for ``email`` in ``zone`` as an ICS feed (:func:`sample_events`)."""
    tzid = zone.key
    stamp = _utc(datetime.combine(_monday(first_day), time(0, 0), zone))
    events: list[str] = []
    for event in sample_events(first_day, zone):
        if event.all_day:
            end_day = event.start.date() + timedelta(minutes=event.minutes)
            events.append(
                "\r\n".join(
                    [
                        "BEGIN:VEVENT",
                        f"UID:{event.uid}@demo.heedful",
                        f"DTSTAMP:{stamp}",
                        f"SUMMARY:{event.title}",
                        f"DTSTART;VALUE=DATE:{event.start:%Y%m%d}",
                        f"DTEND;VALUE=DATE:{end_day:%Y%m%d}",
                        "END:VEVENT",
                    ]
                )
            )
            continue
        end = event.start + timedelta(minutes=event.minutes)
        lines = [
            "BEGIN:VEVENT",
            f"UID:{event.uid}@demo.heedful",
            f"DTSTAMP:{stamp}",
            f"SUMMARY:{event.title}",
            f"DTSTART;TZID={tzid}:{event.start:%Y%m%dT%H%M%S}",
            f"DTEND;TZID={tzid}:{end:%Y%m%dT%H%M%S}",
        ]
        if event.recurrence_id is not None:
            lines.append(f"RECURRENCE-ID;TZID={tzid}:{event.recurrence_id:%Y%m%dT%H%M%S}")
        if event.rule:
            lines.append(f"RRULE:{event.rule}")
        if event.status:
            lines.append(f"STATUS:{event.status}")
        if event.people:
            lines.append(f"ORGANIZER:mailto:{event.people[0]}")
            lines.append(f"ATTENDEE;PARTSTAT={event.mine}:mailto:{email}")
            lines += [f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{p}" for p in event.people]
        if event.link:
            lines.append(f"X-GOOGLE-CONFERENCE:{event.link}")
        lines.append("END:VEVENT")
        events.append("\r\n".join(lines))
    body = "\r\n".join(events)
    return (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:{PRODID}\r\nCALSCALE:GREGORIAN\r\n"
        f"{body}\r\nEND:VCALENDAR\r\n"
    )


# --------------------------------------------------------------------------- Google


def google_event_id(uid: str) -> str:
    """A Google event id for a sample uid: Google allows only a-v and 0-9 (base32hex)."""
    return base64.b32hexencode(uid.encode()).decode().lower().rstrip("=")


def google_instance_id(uid: str, original: datetime) -> str:
    """The id Google gives one instance of a series: ``<series id>_<UTC start>``."""
    return f"{google_event_id(uid)}_{original.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def load_into_google(fake: Any, first_day: date, zone: ZoneInfo, email: str) -> None:
    """The sample calendar in ``email``'s primary calendar of a :class:`FakeGoogle`: the
    same titles, times, people and answers as the feed, each series one recurring event
    and the changed instances changed in it, as a person's edits would leave them."""
    events = sample_events(first_day, zone)
    for event in (e for e in events if e.recurrence_id is None):
        fields: dict[str, Any] = {"id": google_event_id(event.uid), "summary": event.title}
        if event.all_day:
            fields["start"] = event.start.date()
            fields["end"] = event.start.date() + timedelta(minutes=event.minutes)
        else:
            fields["start"] = event.start
            fields["end"] = event.start + timedelta(minutes=event.minutes)
            fields["time_zone"] = zone.key
        if event.rule:
            fields["recurrence"] = [f"RRULE:{event.rule}"]
        if event.people:
            fields["organizer"] = event.people[0]
            fields["attendees"] = [
                {"email": email, "responseStatus": event.mine.lower()},
                *({"email": p, "responseStatus": "accepted"} for p in event.people),
            ]
        if event.link:
            fields["hangoutLink"] = event.link
        if event.event_type:
            fields["eventType"] = event.event_type
        fake.add_event(email, **fields)
    for event in (e for e in events if e.recurrence_id is not None):
        instance = google_instance_id(event.uid, event.recurrence_id)
        if event.status == "CANCELLED":
            fake.cancel_event(email, instance)
        else:
            end = event.start + timedelta(minutes=event.minutes)
            fake.update_event(email, instance, summary=event.title, start=event.start, end=end)


def sample_changes(first_day: date, zone: ZoneInfo, start: datetime) -> list[SampleChange]:
    """What changes in the Google calendar while the days play: on the first Tuesday
    morning played, that week's 1:1 with Dana (Wednesday) moves 30 minutes later and
    its 1:1 with Eli (Friday) is cancelled."""
    monday = _monday(first_day)
    at = datetime.combine(monday + timedelta(days=1), time(8, 30), zone)
    while at < start:
        monday, at = monday + timedelta(weeks=1), at + timedelta(weeks=1)
    dana = datetime.combine(monday + timedelta(days=2), time(16, 0), zone)
    eli = datetime.combine(monday + timedelta(days=4), time(10, 0), zone)
    return [
        SampleChange(at, "dana-1", "1:1 with Dana", dana, dana + timedelta(minutes=30)),
        SampleChange(at, "eli-1", "1:1 with Eli", eli, None),
    ]


# --------------------------------------------------------------------------- Microsoft


def _pattern(rule: str) -> dict[str, Any]:
    """The sample's weekly RRULEs as the fake Microsoft's ``series`` (Graph's weekly
    recurrence pattern: ``interval``, ``daysOfWeek``)."""
    parts = dict(part.split("=", 1) for part in rule.split(";"))
    if parts.get("FREQ") != "WEEKLY":
        raise ValueError(f"the sample has only weekly series, not {rule}")
    names = {d[:2].upper(): d for d in ("monday", "tuesday", "wednesday", "thursday", "friday")}
    pattern: dict[str, Any] = {"interval": int(parts.get("INTERVAL", "1"))}
    if "BYDAY" in parts:
        pattern["days"] = [names[d] for d in parts["BYDAY"].split(",")]
    return pattern


def load_into_microsoft(
    fake: Any, first_day: date, zone: ZoneInfo, email: str, *, until: date
) -> dict[str, str]:
    """The sample calendar in ``email``'s Outlook calendar of a :class:`FakeMicrosoft`,
    whose mailbox is in ``zone``: the same titles, times, people and answers as the feed.
    Each series is one weekly series of Graph (``daysOfWeek``, ``interval``) with as many
    occurrences as reach ``until``, the changed stand-ups changed in it as a person's
    edits would leave them. Returns each sample uid's Graph id (a series master's for a
    series)."""
    events = sample_events(first_day, zone)
    ids: dict[str, str] = {}
    for event in (e for e in events if e.recurrence_id is None):
        fields: dict[str, Any] = {"subject": event.title}
        if event.all_day:
            fields["start"] = event.start.date()
            fields["end"] = event.start.date() + timedelta(minutes=event.minutes)
            fields["is_all_day"] = True
        else:
            fields["start"] = event.start
            fields["end"] = event.start + timedelta(minutes=event.minutes)
        if event.rule:
            pattern = _pattern(event.rule)
            weeks = (until - event.start.date()).days // (7 * pattern["interval"]) + 1
            pattern["count"] = weeks * len(pattern.get("days", [None]))
            fields["series"] = pattern
        if event.people:
            fields["organizer"] = event.people[0]
            fields["response"] = event.mine.lower()
            fields["attendees"] = [
                email,
                *({"email": p, "response": "accepted"} for p in event.people),
            ]
        if event.link:
            fields["join_url"] = event.link
        ids[event.uid] = fake.add_event(email, **fields)["id"]
    for event in (e for e in events if e.recurrence_id is not None):
        instance = microsoft_instance_id(fake, email, ids[event.uid], event.recurrence_id)
        if event.status == "CANCELLED":
            fake.cancel_event(email, instance)
        else:
            end = event.start + timedelta(minutes=event.minutes)
            fake.update_event(email, instance, subject=event.title, start=event.start, end=end)
    return ids


def microsoft_instance_id(fake: Any, email: str, series_id: str, original: datetime) -> str:
    """The Graph id of the occurrence of a series that was to start at ``original``."""
    wanted = original.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for instance in fake.instances(email, series_id):
        if instance.get("originalStart") == wanted:
            return str(instance["id"])
    raise KeyError(f"the series has no occurrence at {wanted}")

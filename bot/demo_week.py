"""The sample week of ``heedful demo``: every kind of meeting, as an ICS feed."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DOMAIN = "example.com"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


def sample_week(monday: date, zone: ZoneInfo, email: str) -> str:
    """An ICS calendar for the week starting ``monday`` in ``zone`` for ``email``."""
    team = [f"{name}@{DOMAIN}" for name in ("ben", "cleo", "dana", "eli")]
    crowd = [f"person{i}@{DOMAIN}" for i in range(24)]

    def at(day: int, hhmm: str) -> datetime:
        hours, minutes = (int(x) for x in hhmm.split(":"))
        return datetime.combine(monday + timedelta(days=day), time(hours, minutes), zone)

    events: list[str] = []

    def event(
        uid: str,
        title: str,
        start: datetime,
        minutes: int,
        people: list[str],
        *,
        extra: str = "",
        mine: str = "ACCEPTED",
    ) -> None:
        lines = [
            "BEGIN:VEVENT",
            f"UID:{uid}@demo.heedful",
            f"DTSTAMP:{_stamp(start)}",
            f"SUMMARY:{title}",
            f"DTSTART:{_stamp(start)}",
            f"DTEND:{_stamp(start + timedelta(minutes=minutes))}",
            f"ORGANIZER:mailto:{people[0] if people else email}",
        ]
        if people:
            lines.append(f"ATTENDEE;PARTSTAT={mine}:mailto:{email}")
            lines += [f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{p}" for p in people]
        if extra:
            lines.append(extra)
        lines.append("END:VEVENT")
        events.append("\r\n".join(lines))

    standup = at(0, "09:30")
    event(
        "standup",
        "Team stand-up",
        standup,
        15,
        team,
        extra="RRULE:FREQ=DAILY;COUNT=5\r\nX-GOOGLE-CONFERENCE:https://meet.example.com/standup",
    )
    # The stand-up moves on Wednesday and is cancelled on Thursday.
    moved = (
        f"BEGIN:VEVENT\r\nUID:standup@demo.heedful\r\nDTSTAMP:{_stamp(standup)}\r\n"
        f"RECURRENCE-ID:{_stamp(at(2, '09:30'))}\r\nSUMMARY:Team stand-up (moved)\r\n"
        f"DTSTART:{_stamp(at(2, '10:15'))}\r\nDTEND:{_stamp(at(2, '10:30'))}\r\n"
        + "".join(f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{p}\r\n" for p in [email, *team])
        + "END:VEVENT"
    )
    cancelled = (
        f"BEGIN:VEVENT\r\nUID:standup@demo.heedful\r\nDTSTAMP:{_stamp(standup)}\r\n"
        f"RECURRENCE-ID:{_stamp(at(3, '09:30'))}\r\nSUMMARY:Team stand-up\r\nSTATUS:CANCELLED\r\n"
        f"DTSTART:{_stamp(at(3, '09:30'))}\r\nDTEND:{_stamp(at(3, '09:45'))}\r\nEND:VEVENT"
    )
    events += [moved, cancelled]
    event("ben-1", "1:1 with Ben", at(0, "11:00"), 30, team[:1])
    event("client-call", "Intro call with Northwind", at(0, "14:00"), 45, ["kim@northwind.test"])
    event("all-hands", "All-hands", at(1, "10:00"), 60, crowd)
    event("vendor", "Vendor pitch", at(1, "13:00"), 30, ["sales@vendor.test"], mine="DECLINED")
    event("cleo-1", "1:1 with Cleo", at(1, "15:00"), 30, team[1:2])
    event("design", "Design review", at(1, "15:32"), 45, team)
    event(
        "offsite",
        "Offsite prep day",
        at(2, "00:00"),
        0,
        [],
        extra=f"DTSTART;VALUE=DATE:{monday + timedelta(days=2):%Y%m%d}",
    )
    event("focus", "Focus time", at(2, "12:00"), 90, [])
    event("dana-1", "1:1 with Dana", at(2, "16:00"), 30, team[2:3])
    event("apac", "APAC sync", at(3, "02:00"), 30, ["wei@" + DOMAIN, "ravi@" + DOMAIN])
    event("planning", "Quarter planning", at(3, "11:00"), 60, team)
    event("eli-1", "1:1 with Eli", at(4, "10:00"), 30, team[3:4])
    event("retro", "Sprint retro", at(4, "14:00"), 45, team)
    body = "\r\n".join(events)
    # The all-day event carries a second DTSTART line from `extra`; drop the timed one.
    body = body.replace(
        f"DTSTART:{_stamp(at(2, '00:00'))}\r\nDTEND:{_stamp(at(2, '00:00'))}\r\n", ""
    )
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Heedful//demo//EN\r\nCALSCALE:GREGORIAN\r\n"
        f"{body}\r\nEND:VCALENDAR\r\n"
    )

"""The sample of ``heedful demo``: a calendar whose meetings recur, and what its person says.

The calendar is an ICS feed, read through the real path, so any number of days shows
real weeks: a daily stand-up, weekly 1:1s and a design review right after one of them
(back to back), a fortnightly all-hands, sprint retro and customer call, a sprint
planning and a hiring debrief in the other weeks, and what Heedful stays silent for:
a weekly vendor sync the person declined, a weekly call at 02:00, a weekly focus
block, and in the first week a cancelled stand-up and an all-day offsite prep (the
stand-up also moves once). Times are local (``DTSTART;TZID=``), so a series keeps its
hour across a change to or from summer time, as calendars do.

The played person's answers are in ``prompts/demo.toml`` (``demo.answer.<practice>``):
a few for each practice, so that an answer fits the practice of the question it answers
and none repeats within a week. They name nobody, so they also fit a calendar of one's
own (``--ics``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DOMAIN = "example.com"
PRODID = "-//Heedful//demo//EN"
WEEKDAYS = "MO,TU,WE,TH,FR"


def _utc(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


def sample_calendar(first_day: date, zone: ZoneInfo, email: str) -> str:
    """The sample calendar for ``email`` in ``zone``, from the week of ``first_day`` on.

    Its series start on that week's Monday and never end; the one-off events are in
    that first week.
    """
    monday = first_day - timedelta(days=first_day.weekday())
    tzid = zone.key
    team = [f"{name}@{DOMAIN}" for name in ("ben", "cleo", "dana", "eli")]
    crowd = [f"person{i}@{DOMAIN}" for i in range(24)]
    stamp = _utc(datetime.combine(monday, time(0, 0), zone))
    events: list[str] = []

    def local(day: int, hhmm: str) -> datetime:
        hours, minutes = (int(x) for x in hhmm.split(":"))
        return datetime.combine(monday + timedelta(days=day), time(hours, minutes))

    def event(
        uid: str,
        title: str,
        day: int,
        hhmm: str,
        minutes: int,
        people: list[str],
        *,
        rule: str = "",
        mine: str = "ACCEPTED",
        recurrence_id: datetime | None = None,
        status: str = "",
        extra: tuple[str, ...] = (),
    ) -> None:
        start = local(day, hhmm)
        end = start + timedelta(minutes=minutes)
        lines = [
            "BEGIN:VEVENT",
            f"UID:{uid}@demo.heedful",
            f"DTSTAMP:{stamp}",
            f"SUMMARY:{title}",
            f"DTSTART;TZID={tzid}:{start:%Y%m%dT%H%M%S}",
            f"DTEND;TZID={tzid}:{end:%Y%m%dT%H%M%S}",
        ]
        if recurrence_id is not None:
            lines.append(f"RECURRENCE-ID;TZID={tzid}:{recurrence_id:%Y%m%dT%H%M%S}")
        if rule:
            lines.append(f"RRULE:{rule}")
        if status:
            lines.append(f"STATUS:{status}")
        if people:
            lines.append(f"ORGANIZER:mailto:{people[0]}")
            lines.append(f"ATTENDEE;PARTSTAT={mine}:mailto:{email}")
            lines += [f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{p}" for p in people]
        lines += [*extra, "END:VEVENT"]
        events.append("\r\n".join(lines))

    weekly = "FREQ=WEEKLY"
    fortnightly = "FREQ=WEEKLY;INTERVAL=2"
    standup_link = "X-GOOGLE-CONFERENCE:https://meet.example.com/standup"
    # Every week.
    event(
        "standup",
        "Team stand-up",
        0,
        "09:30",
        15,
        team,
        rule=f"FREQ=WEEKLY;BYDAY={WEEKDAYS}",
        extra=(standup_link,),
    )
    event("ben-1", "1:1 with Ben", 0, "11:00", 30, team[:1], rule=weekly)
    event(
        "vendor", "Vendor sync", 1, "13:00", 30, ["sales@vendor.test"], rule=weekly, mine="DECLINED"
    )
    event("cleo-1", "1:1 with Cleo", 1, "15:00", 30, team[1:2], rule=weekly)
    event("design", "Design review", 1, "15:32", 45, team, rule=weekly)
    event("focus", "Focus time", 2, "12:00", 90, [], rule=weekly)
    event("dana-1", "1:1 with Dana", 2, "16:00", 30, team[2:3], rule=weekly)
    event("apac", "APAC sync", 3, "02:00", 30, [f"wei@{DOMAIN}", f"ravi@{DOMAIN}"], rule=weekly)
    event("eli-1", "1:1 with Eli", 4, "10:00", 30, team[3:4], rule=weekly)
    # Every other week: the first week and every second one after it …
    event(
        "northwind", "Call with Northwind", 0, "14:00", 45, ["kim@northwind.test"], rule=fortnightly
    )
    event("all-hands", "All-hands", 1, "10:00", 60, crowd, rule=fortnightly)
    event("retro", "Sprint retro", 4, "14:00", 45, team, rule=fortnightly)
    # … and the weeks between.
    event("sprint", "Sprint planning", 7, "14:00", 60, team, rule=fortnightly)
    event("hiring", "Hiring debrief", 10, "11:00", 45, team[:3], rule=fortnightly)
    # The first week only: the stand-up moves on Wednesday and is cancelled on Thursday;
    # a quarter planning, and a day of offsite prep (all day).
    event("standup", "Team stand-up (moved)", 2, "10:15", 15, team, recurrence_id=local(2, "09:30"))
    event(
        "standup",
        "Team stand-up",
        3,
        "09:30",
        15,
        team,
        recurrence_id=local(3, "09:30"),
        status="CANCELLED",
    )
    event("planning", "Quarter planning", 3, "11:00", 60, team)
    events.append(
        "\r\n".join(
            [
                "BEGIN:VEVENT",
                "UID:offsite@demo.heedful",
                f"DTSTAMP:{stamp}",
                "SUMMARY:Offsite prep day",
                f"DTSTART;VALUE=DATE:{monday + timedelta(days=2):%Y%m%d}",
                f"DTEND;VALUE=DATE:{monday + timedelta(days=3):%Y%m%d}",
                "END:VEVENT",
            ]
        )
    )
    body = "\r\n".join(events)
    return (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:{PRODID}\r\nCALSCALE:GREGORIAN\r\n"
        f"{body}\r\nEND:VCALENDAR\r\n"
    )

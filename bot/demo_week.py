"""The sample of ``heedful demo``: a calendar whose meetings recur, and what its person says.

The calendar is an ICS feed, read through the real path, so any number of days shows
real weeks: a daily stand-up, weekly 1:1s and a design review right after one of them
(back to back), a fortnightly all-hands, sprint retro and customer call, a sprint
planning and a hiring debrief in the other weeks, and what Heedful stays silent for:
a weekly vendor sync the person declined, a weekly call at 02:00, a weekly focus
block, and in the first week a cancelled stand-up and an all-day offsite prep (the
stand-up also moves once). Times are local (``DTSTART;TZID=``), so a series keeps its
hour across a change to or from summer time, as calendars do.

``ANSWERS`` are the played person's words, a few for each practice, so that an answer
fits the practice of the question it answers and none repeats within a week. They name
nobody, so they also fit a calendar of one's own (``--ics``). They are sample data, like
the meeting titles, not Heedful's words: those are in ``prompts/``.
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


# The played person's answers, by the practice of the question they answer
# (``bot.messages.prompts.PRACTICE_ORDER``). At most a few questions of one practice
# come in a week (the questions rotate through the practices), and four answers each
# leave room to spare: with none left, the person leaves the question unanswered
# rather than repeat themself.
ANSWERS: dict[str, tuple[str, ...]] = {
    "observe-listen-ask": (
        "I asked what worried them before giving my view. They talked for ten minutes.",
        "Asked one more question instead of proposing a fix. The real issue came out.",
        "I assumed the delay was about workload. It wasn't; I only found out because I asked.",
        "I waited through a silence and heard something I would have talked over.",
    ),
    "be-present": (
        "Three breaths before joining. Arrived calmer than usual.",
        "Present at the start, drifting by the end. I noticed, at least.",
        "I was still in the previous meeting for the first five minutes.",
        "Fully there for once: no second screen, no half-written reply.",
    ),
    "single-tasking": (
        "Had Slack open the whole time. Closed it halfway and it felt different.",
        "Phone face down in the bag. I didn't miss it.",
        "I answered two e-mails and missed a question asked of me.",
        "Closed every tab but the agenda. Easier than I thought.",
    ),
    "check-understanding": (
        "I summed up what I heard and got it half wrong. Glad I checked.",
        "Repeated the decision back in one sentence. We had understood it differently.",
        "I asked them to say what they'd take away. It matched mine, this time.",
        'Checked what "soon" meant. It meant next quarter, not next week.',
    ),
    "appreciation": (
        "Thanked them for the prep, by name and for what exactly. A smile.",
        "Said out loud that the analysis changed my mind. It clearly mattered.",
        "Forgot to thank anyone. Sent a short note afterwards.",
        "Named the quiet work that made it possible, not just the outcome.",
    ),
    "slow-down": (
        "Rushed the last item. Next time, fewer topics.",
        "Paused before the decision; someone raised the risk we had skipped.",
        "I talked fast to fit everything in and lost them halfway.",
        "Let the silence sit after my question. Worth the awkward seconds.",
    ),
    "ask-feedback": (
        'Asked how my comments landed. "A bit blunt", which I needed to hear.',
        "Asked what I could do differently. One clear answer: interrupt less.",
        "I think I came across as impatient. I'll ask tomorrow rather than guess.",
        "Asked for one thing to keep and one to change. Both useful.",
    ),
    "body-language": (
        "Noticed someone went quiet when the numbers came up. Will check in with them.",
        "Arms crossed when the deadline came up. I named it, gently.",
        "I was frowning at my notes; it read as disapproval. Looked up more after that.",
        "Leaned back and listened; the conversation opened up.",
    ),
    "feelings": (
        "Said out loud that the reorg feels unsettling. The room relaxed a little.",
        "Asked how they were really doing. The answer was longer than the agenda.",
        "I felt irritated and kept it in. It leaked into my tone anyway.",
        "Named the frustration I sensed; five minutes on it, and we moved on lighter.",
    ),
}

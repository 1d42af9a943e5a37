"""The digest's numbers agree with each other over a realistic week, through the real app
and the emulator on both backends: a calendar that changes under the nudges already sent
(a meeting cancelled, one declined and one moved to next week after their reminders, one
whose other attendees were removed after it was answered), a back-to-back pair, a
meeting at the digest's own time, answers given twice or not at all.

"2 meetings" beside "3 reminders" came from counting reminders by when they were sent
and meetings as the calendar now has them. Now every count is of the week's meetings
(``bot.digest``): reminders ≤ meetings, answered ≤ asked ≤ meetings, the kinds and the
chart's ▮ add up to the meetings, its ✎ to the answered, and no day has more ✎ than ▮.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from digesting import DM, TEAM, Driver, at, deliveries, make_user
from factories import make_occurrence

from bot.app import Heedful
from bot.calendars.occurrence import Occurrence, Response, Status
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.messages.prompts import load_prompts
from bot.occurrences import apply_occurrences
from bot.reflections import capture_form
from bot.sender import SentDM
from bot.services import Services
from bot.storage.models import DeliveryKind

REMINDER, REFLECTION, TRANSITION = (
    DeliveryKind.REMINDER,
    DeliveryKind.REFLECTION,
    DeliveryKind.TRANSITION,
)

BERLIN = "Europe/Berlin"
ANA = "U1"
DAYS = ("2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06")  # Mon-Fri
PROMPTS = load_prompts()


def berlin(day: int, hhmm: str) -> datetime:
    return at(DAYS[day], hhmm, BERLIN)


def _meeting(
    day: int, hhmm: str, minutes: int, uid: str, attendees: int, **kw: object
) -> Occurrence:
    start = datetime.fromisoformat(f"{DAYS[day]}T{hhmm}").replace(tzinfo=ZoneInfo(BERLIN))
    return make_occurrence(start, minutes, uid=uid, title=uid, attendees=attendees, **kw)


CALENDAR = {
    **{f"standup-{d}": _meeting(d, "09:30", 15, f"standup-{d}", 5) for d in range(5)},
    "ben": _meeting(0, "10:00", 30, "ben", 2),
    "planning": _meeting(0, "14:00", 30, "planning", 6),
    "allhands": _meeting(1, "11:00", 60, "allhands", 40),
    "vendor": _meeting(1, "15:00", 30, "vendor", 3, external=True),
    "cleo": _meeting(2, "13:00", 30, "cleo", 2),
    "design": _meeting(2, "13:32", 30, "design", 5),  # back to back: a transition
    "dana": _meeting(3, "10:00", 30, "dana", 2),
    "budget": _meeting(3, "15:00", 30, "budget", 5),
    "retro": _meeting(4, "11:00", 30, "retro", 6),
    "demo": _meeting(4, "16:00", 30, "demo", 8),  # at the digest's time: it waits
}
# What changes after the nudges went out: (when, meeting, how).
CHANGES = [
    (berlin(1, "08:00"), "planning", {"attendees": 1}),  # others removed, after her answer
    (berlin(1, "14:57"), "vendor", {"status": Status.CANCELLED}),  # after its reminder
    (berlin(3, "09:57"), "dana", {"self_response": Response.DECLINED}),  # after its reminder
    (berlin(3, "14:56"), "budget", {"start": berlin(3, "15:00") + timedelta(days=5)}),
]
# Questions left unanswered (never three in a row, so the back-off stays out of it).
UNANSWERED = {"allhands", "standup-3", "retro"}


def _sync(services: Services, calendar: dict[str, Occurrence]) -> None:
    apply_occurrences(
        services,
        team_id=TEAM,
        user_id=ANA,
        source="ics:1",
        occurrences=list(calendar.values()),
        window=(berlin(0, "00:00"), berlin(0, "00:00") + timedelta(days=30)),
    )


def _change(services: Services, calendar: dict[str, Occurrence], name: str, how: dict) -> None:
    meeting = calendar[name]
    if "start" in how:
        how = {**how, "end": how["start"] + (meeting.end - meeting.start)}
    calendar[name] = replace(meeting, **how)
    _sync(services, calendar)


def _answers(heedful: Heedful, emulator: SlackEmulator, services: Services, driver: Driver):
    """Ana replies in the thread three minutes after each question (through a signed
    event), except after UNANSWERED; after Ben's 1:1 she also taps a presence."""

    def on_sent(sent: SentDM) -> None:
        row = sent.row
        if row.kind not in (REFLECTION, TRANSITION):
            return
        about = (row.payload or {}).get("previous") or row.occurrence_key
        name = about.split("|")[1]
        if name in UNANSWERED:
            return

        def reply() -> None:
            emulator.user_says(f"{heedful.url}/slack/events", ANA, f"About {name}.", sent.ts)
            heedful.process_inbox()
            if name == "ben":  # a second way of answering the same question
                capture_form(
                    services,
                    team_id=TEAM,
                    user_id=ANA,
                    delivery_id=row.id,
                    presence=3,
                    source="tap",
                )

        driver.later(timedelta(minutes=3), reply)

    driver.on_sent.append(on_sent)


@dataclass(frozen=True)
class Numbers:
    meetings: int
    kinds: dict[str, int]
    reminders: int
    answered: int
    asked: int
    chart: list[tuple[str, int, int]]  # day, ▮, ✎
    pattern: str | None


def _numbers(digest: DM) -> Numbers:
    first, second, *_ = digest.sections()[0].splitlines()
    meetings = re.fullmatch(r"\*(\d+) meetings? with others\*: (.*)\.", first)
    nudges = re.fullmatch(
        r"(\d+) reminders? before meetings; you reflected after \*(\d+) of (\d+)\*\.", second
    )
    assert meetings and nudges, (first, second)
    kinds = {}
    for part in meetings.group(2).split(", "):
        n, kind = part.split(" ", 1)
        kinds[kind] = int(n)
    chart = []
    for line in (digest.section(PROMPTS.text("digest.chart_header")) or "").splitlines():
        day, rest = re.fullmatch(r"`(\w+)` (.*)", line).groups()
        chart.append((day, rest.count("▮"), rest.count("✎")))
    return Numbers(
        int(meetings.group(1)),
        kinds,
        int(nudges.group(1)),
        int(nudges.group(2)),
        int(nudges.group(3)),
        chart,
        digest.section(PROMPTS.text("digest.pattern_header")),
    )


def assert_consistent(n: Numbers) -> None:
    """Every count of the digest agrees with every other."""
    assert sum(n.kinds.values()) == n.meetings
    assert n.reminders <= n.meetings
    assert n.answered <= n.asked <= n.meetings
    assert sum(bars for _, bars, _ in n.chart) == n.meetings
    assert sum(pens for _, _, pens in n.chart) == n.answered
    assert all(pens <= bars for _, bars, pens in n.chart)
    if n.pattern and (found := re.search(r"\((\d+) of (\d+)\)", n.pattern)):
        answered, asked = (int(x) for x in found.groups())
        assert answered <= min(n.answered, asked) and asked <= n.asked


def test_every_count_agrees_with_every_other_over_a_realistic_week(
    heedful: Heedful,
    emulator: SlackEmulator,
    services: Services,
    clock: VirtualClock,
    driver: Driver,
) -> None:
    clock.set(berlin(0, "07:00"))
    # Four questions a day, the most one may choose: the counts, not the cap, are tested.
    make_user(services, ANA, BERLIN, max_reflections_per_day=4)
    calendar = dict(CALENDAR)
    _sync(services, calendar)
    for when, name, how in CHANGES:
        driver.actions.append(
            (when, lambda name=name, how=how: _change(services, calendar, name, how))
        )
    _answers(heedful, emulator, services, driver)
    driver.run_until(berlin(4, "18:00"))

    # The nudges that went out include those for the meetings that later went away.
    reminded = {
        r.occurrence_key.split("|")[1]
        for r in deliveries(services, ANA)
        if r.state == "sent" and r.kind in (REMINDER, TRANSITION)
    }
    assert {"planning", "vendor", "dana", "budget"} <= reminded

    (digest,) = driver.dms(ANA, "digest")
    numbers = _numbers(digest)
    assert_consistent(numbers)
    assert digest.at == berlin(4, "16:30")  # after the demo, not in it
    # And they are the week's: eleven meetings with others (the planning became solo;
    # the vendor call was cancelled, Dana's 1:1 declined, the budget moved out), each
    # reminded; ten asked about before 16:30 (not the demo, whose question comes at
    # 16:32), seven answered (Ben's twice, counted once).
    assert numbers == Numbers(
        meetings=11,
        kinds={"one-on-one": 2, "small": 8, "large": 1},
        reminders=11,
        answered=7,
        asked=10,
        chart=[("Mon", 2, 2), ("Tue", 2, 1), ("Wed", 3, 3), ("Thu", 1, 0), ("Fri", 3, 1)],
        pattern=PROMPTS.text(
            "digest.pattern.kind_best",
            kind=PROMPTS.text("digest.kinds.one-on-one"),
            answered=2,
            asked=2,
        ),
    )


def test_a_meeting_on_two_calendars_counts_once(
    heedful: Heedful, emulator: SlackEmulator, services: Services, driver: Driver
) -> None:
    """The week's calendar on a feed and again through a second calendar (its own ids,
    the same starts and titles): the planner nudges each meeting once (``bot.copies``),
    and the digest counts it once."""
    driver.clock.set(berlin(0, "07:00"))
    make_user(services, ANA, BERLIN, max_reflections_per_day=4)
    _sync(services, CALENDAR)
    window = (berlin(0, "00:00"), berlin(0, "00:00") + timedelta(days=30))
    copies = [replace(m, source="hook:2", uid=f"copy-{m.uid}") for m in CALENDAR.values()]
    apply_occurrences(
        services, team_id=TEAM, user_id=ANA, source="hook:2", occurrences=copies, window=window
    )
    driver.run_until(berlin(4, "18:00"))

    reminded = [
        r.occurrence_key
        for r in deliveries(services, ANA)
        if r.state == "sent" and r.kind in (REMINDER, TRANSITION)
    ]
    (digest,) = driver.dms(ANA, "digest")
    # No answers this week: the opening says how many meetings with others there were.
    counted = re.search(r"(\d+) meetings? with others", digest.sections()[0])
    assert counted, digest.sections()[0]
    # Fifteen meetings with others, each on both calendars: fifteen, not thirty, and
    # each reminded once, through one of its copies.
    assert int(counted.group(1)) == len(CALENDAR) == 15
    meetings = {key.split("|")[1].removeprefix("copy-") for key in reminded}
    assert len(reminded) == len(meetings) == 15

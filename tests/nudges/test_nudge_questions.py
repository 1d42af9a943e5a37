"""Fewer, sharper questions, through the real app on the virtual clock: two a day by
default, spent on the meetings that matter most (1:1s, a first meeting with someone,
people from outside, small groups, large last), boilerplate only with the first three
questions, every answer acknowledged with a reaction, and no fixed sentence more than
three times in the week, the weekly digest included.

Ana connects her calendar on Monday 2 March and then is away for two weeks (the
questions of those weeks expire unsent). Heedful has read her calendar since then, so in
the week of 16 March it can tell who she has met before: Zoe, a new hire, and Yuki, from
a company she has not worked with, are new faces.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from nudging import (
    BERLIN,
    Driver,
    Event,
    FeedServer,
    Sent,
    at,
    colleagues,
    local_hhmm,
    sentences,
    sentences_by_week,
)

from bot.messages.prompts import load_prompts
from bot.replies import REACTION

CONNECTED = "2026-03-02"
MON, TUE, WED, THU, FRI = (f"2026-03-{d}" for d in (16, 17, 18, 19, 20))
TEAM = colleagues(4)
CALENDAR = [
    # Every week since she connected: she has met all of these people.
    Event(
        "standup",
        "Team stand-up",
        f"{CONNECTED} 09:30",
        15,
        TEAM,
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    ),
    Event(
        "ben", "1:1 Ana / Ben", f"{CONNECTED} 10:00", 30, ["ben@example.com"], rrule="FREQ=WEEKLY"
    ),
    Event(
        "partner",
        "Partner call",
        f"{CONNECTED} 16:00",
        30,
        ["kim@partner.test", "dana@example.com"],
        rrule="FREQ=WEEKLY;BYDAY=MO,TU",
    ),
    Event("all-hands", "All-hands", f"{CONNECTED} 14:00", 60, colleagues(20), rrule="FREQ=WEEKLY"),
    Event(
        "chloe",
        "1:1 Ana / Chloe",
        "2026-03-04 10:00",
        30,
        ["chloe@example.com"],
        rrule="FREQ=WEEKLY",
    ),
    Event("dan", "1:1 Ana / Dan", "2026-03-04 15:00", 30, ["dan@example.com"], rrule="FREQ=WEEKLY"),
    # The week of 16 March.
    Event("zoe", "Welcome Zoe", f"{TUE} 11:00", 30, ["zoe@example.com", "colleague1@example.com"]),
    Event("newco", "Intro with Newco", f"{WED} 11:00", 30, ["yuki@newco.test", TEAM[0]]),
    Event("design", "Design review", f"{THU} 11:00", 30, TEAM[:3]),
    Event("townhall", "Town hall", f"{THU} 14:00", 30, colleagues(30)),
    Event("zoe-sync", "Sync with Zoe", f"{THU} 16:00", 30, ["zoe@example.com", TEAM[1]]),
]
# The questions of the week, as the planner ranks them (two a day).
ASKED = {
    MON: ["1:1 Ana / Ben", "Partner call"],  # a 1:1, people from outside; not the stand-up
    TUE: ["Welcome Zoe", "Partner call"],  # a first meeting with someone, then outside
    WED: ["1:1 Ana / Chloe", "1:1 Ana / Dan"],  # 1:1s before a first meeting from outside
    THU: ["Team stand-up", "Design review"],  # small groups, earlier first: Zoe is met now
    FRI: ["Team stand-up"],  # the only meeting
}


def test_two_questions_a_day_spent_on_the_meetings_that_matter_most(
    driver: Driver, feed_server: FeedServer
) -> None:
    driver.starts(at(CONNECTED, "08:00"), feed_server, CALENDAR)
    driver.clock.set(at(MON, "07:00"))  # two weeks later: her calendar is known

    said: dict[str, str] = {}  # question ts → answer ts

    def answer(sent: Sent) -> None:
        if sent.kind in ("reflection", "transition"):
            said[sent.ts] = driver.says(f"A line at {local_hhmm(sent.at)}.", thread_ts=sent.ts)

    hour = driver.clock.now()
    while hour < at(FRI, "20:00"):  # as the scheduler does: the digest is planned hourly
        driver.heedful.plan_digests()
        hour += timedelta(hours=1)
        driver.run_until(hour, on_sent=answer)

    week = [s for s in driver.sent if s.at >= at(MON, "00:00")]
    asked = [s for s in week if s.kind in ("reflection", "transition")]
    by_day: dict[str, list[str]] = {}
    for sent in asked:
        by_day.setdefault(local_hhmm(sent.at)[:10], []).append(driver.title(sent))
    assert by_day == ASKED
    assert max(Counter(local_hhmm(s.at)[:10] for s in asked).values()) <= 2
    # Nothing of the two weeks away reached her: those nudges expired.
    assert [s.kind for s in driver.sent if s.at < at(MON, "00:00")] == ["welcome"]

    # Every answer acknowledged with one reaction on it, and not a word more.
    assert sorted(r["ts"] for r in driver.emulator.reactions) == sorted(said.values())
    assert {r["name"] for r in driver.emulator.reactions} == {REACTION}
    assert driver.replies == []

    # The boilerplate comes with her first three questions only.
    prompts = load_prompts()
    boilerplate = sentences(prompts.text("reflection.how")) + sentences(
        prompts.text("form.private")
    )
    weeks = sentences_by_week(driver, exempt=[e.summary for e in CALENDAR] + ["https://"])
    assert set(weeks) == {(2026, 10), (2026, 12)}  # the welcome; the week of 16 March
    counted = weeks[(2026, 12)]
    assert {b: counted[b] for b in boilerplate} == {b: 3 for b in boilerplate}
    # No fixed sentence more than three times in the week, the digest included.
    (digest,) = [s for s in week if s.kind == "digest"]
    assert local_hhmm(digest.at) == f"{FRI} 16:00"
    assert {t: n for t, n in counted.items() if n > 3} == {}
    assert digest.at.astimezone(BERLIN).weekday() == 4

"""The centrepiece: a real-looking week, connected as an ICS feed through the real path
and driven on the virtual clock, gets exactly the DMs the nudge loop promises.

Ana (U1, Europe/Berlin) has, from Monday 23 March 2026 to Monday 30 March (Berlin
springs forward on Sunday 29 March): several 1:1s, a daily stand-up (one instance moved,
one cancelled), an all-hands of 20, an external call, a declined meeting, an all-day
event, a solo focus block, a 02:00 call with Tokyo, a back-to-back pair two minutes
apart, early and late meetings at the edges of her day, weekend meetings, and one day
with more meetings than the daily caps allow. She answers every question in its thread.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa
from nudging import (
    BERLIN,
    Driver,
    Event,
    FeedServer,
    Sent,
    assert_valid_message,
    at,
    colleagues,
    local_hhmm,
    sentences,
    sentences_by_week,
)

from bot.calendars.occurrence import Occurrence
from bot.messages.library import fits, group_of
from bot.messages.prompts import load_prompts
from bot.occurrences import occurrence_from_row
from bot.replies import REACTION
from bot.storage.models import OccurrenceRow

STANDUP = ("standup@example.com", "Team stand-up")
TEAM = colleagues(4)

WEEK = [
    # A daily stand-up: Wednesday's moved to 11:00, Thursday's cancelled.
    Event(
        "standup@example.com",
        "Team stand-up",
        "2026-03-23 09:30",
        15,
        TEAM,
        rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    ),
    Event(
        "standup@example.com",
        "Team stand-up",
        "2026-03-25 11:00",
        15,
        TEAM,
        recurrence_id="2026-03-25 09:30",
    ),
    Event(
        "standup@example.com",
        "Team stand-up",
        "2026-03-26 09:30",
        15,
        TEAM,
        recurrence_id="2026-03-26 09:30",
        status="CANCELLED",
    ),
    # A weekly 1:1 on Mondays at 10:00, before and after the change to summer time.
    Event(
        "ben@example.com",
        "1:1 Ana / Ben",
        "2026-03-23 10:00",
        30,
        ["ben@example.com"],
        rrule="FREQ=WEEKLY;BYDAY=MO",
    ),
    # Monday
    Event("allhands", "All-hands", "2026-03-23 14:00", 60, colleagues(19)),
    Event("deepwork", "Deep work: Q2 plan", "2026-03-23 16:00", 90),
    # Tuesday
    Event("chloe", "1:1 Ana / Chloe", "2026-03-24 11:00", 30, ["chloe@example.com"]),
    Event(
        "partner",
        "Partner call with Globex",
        "2026-03-24 15:00",
        45,
        ["dana@example.com", "guest@partner.org"],
        location="https://meet.google.com/abc-defg-hij",
    ),
    Event("offsite", "Offsite planning day", "2026-03-24", people=colleagues(3), all_day=True),
    # Wednesday: a declined review, then two meetings two minutes apart.
    Event("review", "Design review", "2026-03-25 13:00", 30, colleagues(3), partstat="DECLINED"),
    Event("dan", "1:1 Ana / Dan", "2026-03-25 16:00", 30, ["dan@example.com"]),
    Event("sync", "Project sync", "2026-03-25 16:32", 28, colleagues(3)),
    # Thursday: a call at 02:00, and more meetings than the daily caps.
    Event(
        "tokyo", "Call with Tokyo", "2026-03-26 02:00", 30, ["kenji@example.com", "yui@example.com"]
    ),
    Event("sales", "Sales all-hands", "2026-03-26 08:30", 15, colleagues(14)),
    Event("eve", "1:1 Ana / Eve", "2026-03-26 09:00", 20, ["eve@example.com"]),
    Event("hiring", "Hiring panel", "2026-03-26 10:00", 20, colleagues(3)),
    Event("finn", "1:1 Ana / Finn", "2026-03-26 11:00", 20, ["finn@example.com"]),
    Event("townhall", "Town hall", "2026-03-26 12:00", 30, colleagues(24)),
    Event("gina", "1:1 Ana / Gina", "2026-03-26 13:30", 20, ["gina@example.com"]),
    Event("roadmap", "Roadmap", "2026-03-26 14:30", 20, colleagues(4)),
    Event("hugo", "1:1 Ana / Hugo", "2026-03-26 15:30", 20, ["hugo@example.com"]),
    Event("quarterly", "Quarterly review", "2026-03-26 16:30", 30, colleagues(11)),
    # Friday: at the edges of the day.
    Event("early", "Early call", "2026-03-27 07:50", 30, colleagues(2)),
    Event("ivy", "1:1 Ana / Ivy", "2026-03-27 10:00", 30, ["ivy@example.com"]),
    Event("retro", "Late retro", "2026-03-27 18:40", 30, colleagues(3)),
    # The weekend, the night the clocks change.
    Event("brunch", "Brunch planning", "2026-03-28 11:00", 60, colleagues(2)),
    Event("sunday", "Sunday call", "2026-03-29 10:00", 30, ["ben@example.com"]),
]

# (local due time, kind, meeting title, local start named in the text). Two questions a
# day (the default), spent as the planner ranks: 1:1s, then people from outside, then small
# groups, large last, the earlier first (a first meeting with someone needs two weeks of
# calendar Heedful has not read yet).
EXPECTED = [
    ("2026-03-23 09:25", "reminder", "Team stand-up", "09:30"),
    ("2026-03-23 09:47", "reflection", "Team stand-up", None),
    ("2026-03-23 09:55", "reminder", "1:1 Ana / Ben", "10:00"),
    ("2026-03-23 10:32", "reflection", "1:1 Ana / Ben", None),
    ("2026-03-23 13:55", "reminder", "All-hands", "14:00"),
    ("2026-03-24 09:25", "reminder", "Team stand-up", "09:30"),
    ("2026-03-24 10:55", "reminder", "1:1 Ana / Chloe", "11:00"),
    ("2026-03-24 11:32", "reflection", "1:1 Ana / Chloe", None),
    ("2026-03-24 14:55", "reminder", "Partner call with Globex", "15:00"),
    ("2026-03-24 15:47", "reflection", "Partner call with Globex", None),
    ("2026-03-25 10:55", "reminder", "Team stand-up", "11:00"),  # the moved instance
    ("2026-03-25 11:17", "reflection", "Team stand-up", None),
    ("2026-03-25 15:55", "reminder", "1:1 Ana / Dan", "16:00"),
    ("2026-03-25 16:30", "transition", "Project sync", "16:32"),  # asks about Dan's 1:1
    # Thursday: 6 reminders (four 1:1s, two small meetings), 2 questions (the first 1:1s).
    ("2026-03-26 08:55", "reminder", "1:1 Ana / Eve", "09:00"),
    ("2026-03-26 09:22", "reflection", "1:1 Ana / Eve", None),
    ("2026-03-26 09:55", "reminder", "Hiring panel", "10:00"),
    ("2026-03-26 10:55", "reminder", "1:1 Ana / Finn", "11:00"),
    ("2026-03-26 11:22", "reflection", "1:1 Ana / Finn", None),
    ("2026-03-26 13:25", "reminder", "1:1 Ana / Gina", "13:30"),
    ("2026-03-26 14:25", "reminder", "Roadmap", "14:30"),
    ("2026-03-26 15:25", "reminder", "1:1 Ana / Hugo", "15:30"),
    # Friday: no reminder at 07:45, no question at 19:12.
    ("2026-03-27 08:22", "reflection", "Early call", None),
    ("2026-03-27 09:25", "reminder", "Team stand-up", "09:30"),
    ("2026-03-27 09:55", "reminder", "1:1 Ana / Ivy", "10:00"),
    ("2026-03-27 10:32", "reflection", "1:1 Ana / Ivy", None),
    ("2026-03-27 18:35", "reminder", "Late retro", "18:40"),
    # Monday after the change to summer time: still 10:00 local.
    ("2026-03-30 09:25", "reminder", "Team stand-up", "09:30"),
    ("2026-03-30 09:47", "reflection", "Team stand-up", None),
    ("2026-03-30 09:55", "reminder", "1:1 Ana / Ben", "10:00"),
    ("2026-03-30 10:32", "reflection", "1:1 Ana / Ben", None),
]


def _meetings(driver: Driver) -> dict[str, Occurrence]:
    with driver.services.engine.connect() as conn:
        rows = conn.execute(sa.select(OccurrenceRow.__table__)).all()
    return {row.key: occurrence_from_row(row) for row in rows}


def _contexts(sent: Sent) -> list[str]:
    return [
        e.get("text", "") for b in sent.blocks if b.get("type") == "context" for e in b["elements"]
    ]


def _titles(driver: Driver) -> dict[str, str]:
    t = OccurrenceRow.__table__.c
    with driver.services.engine.connect() as conn:
        return dict(conn.execute(sa.select(t.key, t.title)).all())


def test_a_week_of_meetings_gets_exactly_the_promised_dms(
    driver: Driver, feed_server: FeedServer
) -> None:
    clock = driver.clock
    clock.set(at("2026-03-23", "07:00"))
    driver.open_home()  # Heedful learns Ana's zone and address from Slack
    connected = driver.connect(feed_server, WEEK)  # fetch, parse, opt in, plan
    assert connected.upcoming == 25  # eligible meetings in the next 7 days, weekend included

    answers: dict[str, str] = {}  # prompt ts → the answer given in its thread
    said: dict[str, str] = {}  # prompt ts → the ts of the answer

    def answer(sent: Sent) -> None:
        if sent.kind in ("reflection", "transition"):
            text = f"I noticed something at {local_hhmm(sent.at)}."
            answers[sent.ts] = text
            said[sent.ts] = driver.says(text, thread_ts=sent.ts)

    driver.run_until(at("2026-03-30", "20:00"), on_sent=answer)

    titles = _titles(driver)
    nudges = [s for s in driver.sent if s.kind != "welcome"]
    got = [
        (
            local_hhmm(s.at),
            s.kind,
            titles[s.occurrence],
        )
        for s in nudges
    ]
    assert got == [(due, kind, title) for due, kind, title, _ in EXPECTED]

    # Each at its promised time: sent when due, and the metadata says so.
    for sent, (due, _, _, start) in zip(nudges, EXPECTED, strict=True):
        assert local_hhmm(sent.due_at) == due == local_hhmm(sent.at)
        assert_valid_message(sent)
        if start is not None:  # the meeting's local start time, in the text and the header
            assert f" at {start}" in sent.text and f" at {start}" in sent.section_texts()[0]

    for sent in driver.sent:  # the welcome too
        assert_valid_message(sent)

    # Never two DMs for one delivery, nor for one (kind, meeting).
    assert len({s.delivery_id for s in driver.sent}) == len(driver.sent)
    assert max(Counter((s.kind, s.occurrence) for s in nudges).values()) == 1

    # Within Ana's day and week, in her zone.
    for sent in nudges:
        local = sent.at.astimezone(BERLIN)
        assert local.weekday() < 5 and "08:00" <= f"{local:%H:%M}" < "19:00"

    # The DST change: 09:55 local is 08:55 UTC before it and 07:55 UTC after it.
    ben = [s for s in nudges if s.kind == "reminder" and "Ben" in titles[s.occurrence]]
    assert [f"{s.at:%H:%M}" for s in ben] == ["08:55", "07:55"]

    # The external call carries its join link.
    (partner,) = [s for s in nudges if s.kind == "reminder" and "Globex" in s.text]
    assert any("https://meet.google.com/abc-defg-hij" in str(b) for b in partner.blocks)
    # The moved stand-up is still the instance of Wednesday 09:30 (08:30 UTC), moved.
    (moved,) = [s for s in nudges if local_hhmm(s.at) == "2026-03-25 10:55"]
    assert moved.occurrence.endswith("|standup@example.com|2026-03-25T08:30:00Z")

    # Wording varies: no intention twice, no question twice, cues rotate through the library.
    reminders = [s for s in nudges if s.kind in ("reminder", "transition")]
    intentions = [s.line("ear") for s in reminders]
    assert None not in intentions and len(set(intentions)) == len(intentions)
    cues = [s.line("wind_blowing_face") for s in reminders]
    library = load_prompts()
    cue_count = sum(1 for p in library if group_of(p) == "cue")
    first_round = cues[:cue_count]
    assert len(set(first_round)) == len(first_round)
    questions = [s.section_texts()[0].split("\n", 1)[1] for s in nudges if s.kind == "reflection"]
    assert len(set(questions)) == len(questions)

    # Each wording fits its meeting: a 1:1 is not an all-hands.
    by_text = {p.render(): p for p in library if group_of(p) in ("intention", "question")}
    meetings = _meetings(driver)
    for sent in reminders:
        meeting = meetings[sent.occurrence]
        prompt = by_text[sent.line("ear")]
        assert fits(prompt, kind=meeting.kind.value, recurring=meeting.recurring), prompt.id
    for sent in [s for s in nudges if s.kind == "reflection"]:
        meeting = meetings[sent.occurrence]
        prompt = by_text[sent.section_texts()[0].split("\n", 1)[1]]
        assert fits(prompt, kind=meeting.kind.value, recurring=meeting.recurring), prompt.id
    kinds = {t: meetings[k].kind.value for k, t in titles.items()}
    assert (kinds["All-hands"], kinds["Partner call with Globex"]) == ("large", "external")
    assert (kinds["1:1 Ana / Ben"], kinds["Team stand-up"]) == ("one-on-one", "small")

    # Every answer was kept once, against the meeting the question was about.
    prompts = {s.ts: s for s in nudges if s.kind in ("reflection", "transition")}
    kept = driver.reflections()
    assert len(kept) == len(prompts) == len(answers)
    for row in kept:
        prompt = next(p for p in prompts.values() if p.delivery_id == row.delivery_id)
        assert driver.text_of(row) == answers[prompt.ts]
        expected_meeting = prompt.occurrence
        if prompt.kind == "transition":
            expected_meeting = next(k for k, title in titles.items() if title == "1:1 Ana / Dan")
        assert row.occurrence_key == expected_meeting
        assert row.source == "thread"
    # … and acknowledged without a word: a reaction on each answer, no line anywhere.
    for ts in answers:
        assert driver.reactions_on(said[ts]) == [REACTION]
    assert len(driver.emulator.reactions) == len(answers)
    assert driver.replies == []

    # At most two questions a day (the default), a transition's included.
    asked = [s for s in nudges if s.kind in ("reflection", "transition")]
    per_day = Counter(s.at.astimezone(BERLIN).date() for s in asked)
    assert max(per_day.values()) == 2

    # How to answer and who can read it: with the first three questions only.
    how, private = library.text("reflection.how"), library.text("form.private")
    guided = [how in " ".join(s.section_texts() + _contexts(s)) for s in asked]
    assert guided == [True] * 3 + [False] * (len(asked) - 3)
    assert [private in " ".join(_contexts(s)) for s in asked] == guided
    assert [how in s.text for s in asked if s.kind == "reflection"][:4] == [True, True, True, False]

    # No fixed sentence more than three times a week: every sentence of every DM (text
    # and blocks, thread replies too), leaving out those that name a meeting.
    weeks = sentences_by_week(driver, exempt=[*titles.values(), "https://"])
    assert set(weeks) == {(2026, 13), (2026, 14)}
    for counted in weeks.values():
        assert {t: n for t, n in counted.items() if n > 3} == {}
    for sentence in sentences(how) + sentences(private):
        assert weeks[(2026, 13)][sentence] == 3, sentence

    # The feed was polled all week (hourly here) and re-read daily, as the scheduler does.
    assert feed_server.hits > 7 * 24

    # The welcome DM went out once, on the first Home visit.
    assert [s.kind for s in driver.sent].count("welcome") == 1
    assert clock.now() - at("2026-03-30", "20:00") < timedelta(minutes=1)

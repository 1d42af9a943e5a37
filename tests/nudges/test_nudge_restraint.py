"""Never nagging: the adaptive back-off, a pause until a date, nothing before opt-in, and
quiet hours that follow the user's zone when it changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import make_occurrence
from nudging import NEW_YORK, Driver, Event, FeedServer, at, colleagues, local_hhmm

from bot.messages.prompts import load_prompts
from bot.occurrences import apply_occurrences

MONDAY, TUESDAY, WEDNESDAY = "2026-03-02", "2026-03-03", "2026-03-04"
PROMPTS = load_prompts()


def _one_on_ones(*days: str) -> list[Event]:
    """Four 1:1s a day, two hours apart (under both daily caps, at four questions a day)."""
    return [
        Event(
            f"{day}-{hour}",
            f"1:1 {day[-2:]} {hour}:00",
            f"{day} {hour:02d}:00",
            20,
            [f"p{hour}@example.com"],
        )
        for day in days
        for hour in (9, 11, 13, 15)
    ]


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver) -> Driver:
    driver.clock.set(at(MONDAY, "08:00"))
    driver.open_home()
    return driver.questions_a_day(4)  # four 1:1s a day, each asked about until the back-off


def _asked(driver: Driver, since: int = 0) -> list[str]:
    """Local due times of the reflection questions sent."""
    return [local_hhmm(s.at) for s in driver.sent[since:] if s.kind == "reflection"]


def test_after_three_unanswered_questions_every_other_meeting_until_an_answer(
    ana: Driver, feed_server: FeedServer
) -> None:
    ana.connect(feed_server, _one_on_ones(MONDAY, TUESDAY, WEDNESDAY))

    ana.run_until(at(TUESDAY, "12:00"))
    assert _asked(ana) == [
        "2026-03-02 09:22",
        "2026-03-02 11:22",
        "2026-03-02 13:22",  # three unanswered in a row: from now on, every other meeting
        "2026-03-03 09:22",
    ]
    # Reminders are not part of the back-off.
    assert sum(s.kind == "reminder" for s in ana.sent) == 6

    last = [s for s in ana.sent if s.kind == "reflection"][-1]
    ana.says("I was there for Tuesday's 9:00.", thread_ts=last.ts)  # an answer: every meeting again
    mark = len(ana.sent)
    ana.run_until(at(WEDNESDAY, "18:00"))
    assert _asked(ana, mark) == [
        "2026-03-03 13:22",
        "2026-03-03 15:22",
        "2026-03-04 09:22",  # three unanswered again …
        "2026-03-04 13:22",  # … so every other one
    ]


def test_pause_for_ten_days_then_nudges_resume_that_morning(
    ana: Driver, feed_server: FeedServer
) -> None:
    resume_day = "2026-03-12"  # a Thursday, ten days on
    ana.clock.set(at(MONDAY, "12:00"))  # the feed is re-read around noon every day
    ana.connect(feed_server, _one_on_ones(MONDAY, "2026-03-11", resume_day))
    answer = ana.command("pause for 10 days")
    paused = PROMPTS.text("done.paused", until="Thursday 12 March")
    assert paused in str(ana.emulator.responses[-1]["payload"]) or paused in answer.body

    ana.run_until(at(resume_day, "08:00"))
    assert [s for s in ana.sent if s.kind != "welcome"] == []

    ana.run_until(at(resume_day, "10:00"), on_sent=ana.answer)
    assert [(local_hhmm(s.at), s.kind) for s in ana.sent if s.kind != "welcome"] == [
        ("2026-03-12 08:55", "reminder"),
        ("2026-03-12 09:22", "reflection"),
    ]


def test_nothing_before_the_user_opts_in_by_connecting_a_calendar(
    driver: Driver, feed_server: FeedServer
) -> None:
    """Ben's meetings reach Heedful through a team-level push source before he has
    connected anything: he gets no nudge until he connects a calendar himself."""
    ben = Driver(driver.heedful, driver.emulator, driver.clock, user="U2")
    ben.clock.set(at(MONDAY, "07:00", NEW_YORK))
    ben.open_home()
    welcome = [s.kind for s in ben.sent]
    assert welcome == ["welcome"]

    meetings = [
        make_occurrence(at(day, "10:00", NEW_YORK), uid=f"{day}-sync", source="hook:1")
        for day in (MONDAY, TUESDAY)
    ]
    apply_occurrences(
        ben.services, team_id="T0001", user_id="U2", source="hook:1", occurrences=meetings
    )
    assert ben.deliveries(kind="reminder") == []

    ben.run_until(at(MONDAY, "20:00", NEW_YORK))
    assert [s.kind for s in ben.sent] == ["welcome"]

    # Connecting a calendar (even one with nothing in it) opts him in.
    ben.connect(feed_server, [])
    ben.run_until(at(TUESDAY, "12:00", NEW_YORK))
    assert [(s.kind, local_hhmm(s.at, NEW_YORK)) for s in ben.sent[1:]] == [
        ("reminder", "2026-03-03 09:55"),
        ("reflection", "2026-03-03 10:32"),
    ]


def test_a_new_time_zone_from_slack_replans_in_that_zone(
    ana: Driver, feed_server: FeedServer
) -> None:
    """13:00 in Berlin is 07:00 in New York; 20:00 in Berlin is 14:00 in New York."""
    ana.connect(
        feed_server,
        [
            Event("lunch", "Lunch with the Berlin team", f"{MONDAY} 13:00", 30, colleagues(3)),
            Event("ny", "Sync with New York", f"{MONDAY} 20:00", 30, ["sam@example.com"]),
        ],
    )
    ana.run_until(at(MONDAY, "09:00"))
    pending = {r.occurrence_key for r in ana.deliveries(state="pending")}
    assert pending == {ana.key_of("Lunch with the Berlin team")}

    ana.emulator.update_user("U1", tz="America/New_York")
    result = ana.emulator.deliver_event(ana.url, ana.emulator.user_change_event("U1"))
    assert result.status == 200
    ana.settle()
    assert ana.user_row().tz == "America/New_York"
    pending = {r.occurrence_key for r in ana.deliveries(state="pending")}
    assert pending == {ana.key_of("Sync with New York")}

    ana.run_until(at(MONDAY, "16:00", NEW_YORK))
    sent = [(s.kind, local_hhmm(s.at, NEW_YORK)) for s in ana.sent if s.kind != "welcome"]
    assert sent == [("reminder", "2026-03-02 13:55"), ("reflection", "2026-03-02 14:32")]
    reminder = ana.nudge("reminder", "Sync with New York")
    assert "at 14:00" in reminder.text  # her new local time
    assert reminder.at - at(MONDAY, "20:00") == timedelta(minutes=-5)

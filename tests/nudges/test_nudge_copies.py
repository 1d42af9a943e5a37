"""One meeting on two calendars, through the real app: Ana connects a feed and her Google
calendar, both holding her meetings, and Heedful DMs her once per meeting (``bot.copies``,
rule 0 of ``bot.planner``), on the virtual clock against the Slack emulator and the fake
Google."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from nudging import TEAM, USER_EMAIL, Driver, Event, FeedServer, at, ics
from signing_in import PUBLIC, browse, fake_google, with_google

from bot.clock import VirtualClock
from bot.config import Settings
from bot.copies import normal_title
from bot.emulator import FakeGoogle
from bot.sync import google

MONDAY = "2026-03-02"
BEN = "ben@example.com"
NUDGES = ("reminder", "reflection", "transition")


@pytest.fixture(name="fake")
def fixture_fake(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    with fake_google(clock, monkeypatch, USER_EMAIL) as fake:
        yield fake


@pytest.fixture(name="settings")
def fixture_google_settings(settings: Settings, fake: FakeGoogle) -> Settings:
    return with_google(settings, fake)


class Ana:
    """Ana, her feed (``events``, republished by :meth:`feed`) and her Google calendar."""

    def __init__(self, driver: Driver, feed_server: FeedServer, fake: FakeGoogle) -> None:
        self.driver, self.feed_server, self.fake = driver, feed_server, fake
        self.path = ""
        self.google: list[dict[str, Any]] = []  # the Google events, as the API shows them

    def starts(self, events: list[Event], google_events: list[dict[str, Any]]) -> Ana:
        """Monday 07:00: Home opened, the feed connected, then Google signed in to."""
        self.driver.clock.set(at(MONDAY, "07:00"))
        self.driver.open_home()
        connected = self.driver.connect(self.feed_server, events)
        assert connected.source_id
        self.path = next(iter(self.feed_server.feeds))
        self.google = [self.fake.add_event(USER_EMAIL, **fields) for fields in google_events]
        heedful = self.driver.heedful
        self.fake.route(PUBLIC, heedful.url)
        url = google.connect_link(heedful.services, team_id=TEAM, user_id=self.driver.user)
        answer = browse(heedful.url, url)  # a browser, to the fake and back
        assert answer.status_code == 200 and "Connected" in answer.text
        self.driver.settle()
        return self

    def feed(self, events: list[Event]) -> None:
        """The feed now says ``events``; Heedful reads it at once (as a poll would)."""
        self.feed_server.feeds[self.path] = ics(events)
        self.driver.clock.set(self.driver._next_poll() or self.driver.clock.now())
        self.driver.run_until(self.driver.clock.now())

    def push(self) -> None:
        """Google announces the calendar's changes; Heedful stores the push, then syncs."""
        assert all(d.status == 200 for d in self.fake.push(USER_EMAIL))
        self.driver.settle()

    def nudges(self) -> list[tuple[str, str]]:
        """Every reminder and question sent so far: (kind, meeting title)."""
        return sorted((s.kind, self.driver.title(s)) for s in self.driver.sent if s.kind in NUDGES)

    def sent(self) -> list[tuple[str, str]]:
        """Every reminder and question sent so far, in order: (kind, the kind of calendar
        of the copy it was sent for)."""
        return [
            (s.kind, str(s.occurrence).split(":")[0]) for s in self.driver.sent if s.kind in NUDGES
        ]

    def pending(self) -> list[tuple[str, str]]:
        """The nudges waiting in the outbox: (kind, the kind of calendar of its copy)."""
        return sorted(
            (d.kind, d.occurrence_key.split(":")[0])
            for d in self.driver.deliveries(state="pending")
            if d.kind in NUDGES
        )


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer, fake: FakeGoogle) -> Ana:
    return Ana(driver, feed_server, fake)


def on_google(title: str, start: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "summary": title,
        "start": start,
        "end": start + timedelta(minutes=30),
        "attendees": [USER_EMAIL, {"email": BEN, "responseStatus": "accepted"}],
        "organizer": BEN,
        **fields,
    }


def test_a_meeting_on_both_calendars_gets_one_reminder_and_one_question(ana: Ana) -> None:
    """The 1:1 carries one iCalendar UID on both; the review only the same title."""
    ana.starts(
        [
            Event("one-on-one@example.com", "1:1 with Ben", f"{MONDAY} 10:00", people=[BEN]),
            Event("review-7@example.com", "Design review", f"{MONDAY} 14:00", people=[BEN]),
        ],
        [
            on_google("1:1 with Ben", at(MONDAY, "10:00"), iCalUID="one-on-one@example.com"),
            on_google("design  REVIEW", at(MONDAY, "14:00"), iCalUID="040000008200E00074C5"),
        ],
    )
    assert len(ana.pending()) == 4  # two meetings, not four: a reminder and a question each
    sent = ana.driver.run_until(at(MONDAY, "20:00"), on_sent=ana.driver.answer)
    assert sorted((s.kind, normal_title(ana.driver.title(s))) for s in sent) == [
        ("reflection", "1:1 with ben"),
        ("reflection", "design review"),
        ("reminder", "1:1 with ben"),
        ("reminder", "design review"),
    ]
    # The Google copy spoke for both (read through its API: the freshest copy).
    assert {s.occurrence.split(":")[0] for s in sent} == {"google"}


def test_a_same_title_at_another_time_or_another_meeting_at_the_same_time_stay_two(
    ana: Ana,
) -> None:
    ana.starts(
        [
            Event("sync-1@example.com", "Weekly sync", f"{MONDAY} 11:00", people=[BEN]),
            Event("budget-1@example.com", "Budget", f"{MONDAY} 15:00", people=[BEN]),
        ],
        [
            on_google("Weekly sync", at(MONDAY, "16:00"), iCalUID="sync-1@example.com"),
            on_google("Hiring", at(MONDAY, "15:00"), iCalUID="hiring-1@example.com"),
        ],
    )
    ana.driver.questions_a_day(4)  # four meetings: the cap plays no part
    ana.driver.run_until(at(MONDAY, "20:00"), on_sent=ana.driver.answer)
    reminded = [title for kind, title in ana.nudges() if kind == "reminder"]
    assert reminded == ["Budget", "Hiring", "Weekly sync", "Weekly sync"]


def test_a_decline_on_either_calendar_withdraws_the_meetings_nudges(ana: Ana) -> None:
    feed = [
        Event("one-on-one@example.com", "1:1 with Ben", f"{MONDAY} 10:00", people=[BEN]),
        Event("review-7@example.com", "Design review", f"{MONDAY} 14:00", people=[BEN]),
    ]
    ana.starts(
        feed,
        [
            on_google("1:1 with Ben", at(MONDAY, "10:00"), iCalUID="one-on-one@example.com"),
            on_google("Design review", at(MONDAY, "14:00"), iCalUID="review-7@example.com"),
        ],
    )
    assert len(ana.pending()) == 4
    # Declined in Google: the feed, polled hourly, still says accepted.
    ana.fake.set_response(USER_EMAIL, ana.google[0]["id"], USER_EMAIL, "declined")
    ana.push()
    assert ana.pending() == [("reflection", "google"), ("reminder", "google")]
    # The review declined in the feed only (an Outlook invitation seen first through it).
    ana.feed([feed[0], replace(feed[1], partstat="DECLINED")])
    assert ana.pending() == []
    ana.driver.run_until(at(MONDAY, "20:00"))
    assert ana.nudges() == []


def test_when_the_calendar_that_reminded_goes_the_other_asks_and_does_not_remind_again(
    ana: Ana,
) -> None:
    ana.starts(
        [Event("one-on-one@example.com", "1:1 with Ben", f"{MONDAY} 10:00", people=[BEN])],
        [on_google("1:1 with Ben", at(MONDAY, "10:00"), iCalUID="one-on-one@example.com")],
    )
    ana.driver.run_until(at(MONDAY, "09:56"))
    assert ana.sent() == [("reminder", "google")]
    # Google disconnected before the meeting: its copy and its pending question go.
    assert google.disconnect(ana.driver.services, team_id=TEAM, user_id=ana.driver.user)
    assert ana.pending() == [("reflection", "ics")]  # the feed's copy takes the question
    ana.driver.run_until(at(MONDAY, "20:00"), on_sent=ana.driver.answer)
    assert ana.sent() == [("reminder", "google"), ("reflection", "ics")]

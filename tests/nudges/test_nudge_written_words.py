"""The person's own words are kept as they wrote them: Slack's escaping undone once, a
NUL character dropped rather than the whole reply lost. With and without encryption at
rest (without it, PostgreSQL itself sees the text, and refuses a NUL), on both backends."""

from __future__ import annotations

from dataclasses import replace

import pytest
from nudging import Driver, Event, FeedServer, at, colleagues

from bot.config import Settings

DAY = "2026-03-02"  # a Monday
MEETINGS = [
    Event("one", "1:1 Ana / Ben", f"{DAY} 10:00", 30, ["ben@example.com"]),
    Event("two", "Planning", f"{DAY} 11:00", 30, colleagues(3)),
]


@pytest.fixture(name="settings", params=["encrypted", "plaintext"])
def fixture_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if request.param == "plaintext":
        return replace(settings, encryption_keys=())
    return settings


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer) -> Driver:
    return driver.starts(at(DAY, "08:00"), feed_server, MEETINGS)


def test_the_persons_words_are_stored_as_written_and_a_nul_does_not_lose_them(
    ana: Driver,
) -> None:
    """Slack sends "R&D <3" as "R&amp;D &lt;3"; what is kept is what she typed (shown
    escaped once, in the digest). A NUL (PostgreSQL's text cannot hold one) is dropped."""
    ana.run_until(at(DAY, "11:40"))
    one = ana.nudge("reflection", "1:1 Ana / Ben")
    two = ana.nudge("reflection", "Planning")
    assert one.ts and two.ts

    ts = ana.says("R&D <3 went\x00 well", thread_ts=one.ts)
    (row,) = ana.reflections()
    assert ana.text_of(row) == "R&D <3 went well"
    ana.edits(ts, "R&D <3 went well, & I listened\x00")
    (row,) = ana.reflections()
    assert ana.text_of(row) == "R&D <3 went well, & I listened"

    # A form's value comes unescaped already: kept exactly, "&amp;" included.
    ana.click("reflect_write", two)
    (form,) = ana.emulator.opened_views
    ana.submit(form, {"text": {"text_value": "Typed &amp; on purpose\x00"}})
    texts = sorted(ana.text_of(r) for r in ana.reflections())
    assert texts == ["R&D <3 went well, & I listened", "Typed &amp; on purpose"]

"""What Heedful shows stays within Slack's limits and its markup: the Home tab whatever
the calendar holds (and a Home tab Slack refuses is one logged, finished event, not a
retry loop); a word typed after ``/heedful`` is echoed as text, never as markup."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from nudging import Driver, Event, FeedServer, at, colleagues

from bot.emulator.blocks import validate_view
from bot.messages.prompts import load_prompts
from bot.storage.models import InboxItem

MONDAY = "2026-03-02"
# Each about 500 characters, with the three characters Slack escapes.
LONG = "R&D <budget> review - " * 24
MEETINGS = [
    Event(f"m{n}", f"{n} {LONG}", f"{MONDAY} {9 + n:02d}:00", 30, colleagues(3)) for n in range(8)
]
BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer) -> Driver:
    return driver.starts(at(MONDAY, "08:00"), feed_server, MEETINGS)


def _inbox(driver: Driver) -> list[tuple[str, str, int, str | None]]:
    t = InboxItem.__table__.c  # type: ignore[attr-defined]
    with driver.heedful.services.engine.connect() as conn:
        rows = conn.execute(sa.select(t.kind, t.state, t.attempts, t.error).order_by(t.id)).all()
    return [tuple(row) for row in rows]


def test_eight_meetings_with_long_titles_fit_the_home_tab(ana: Driver) -> None:
    assert len(MEETINGS[0].summary) > 500
    ana.open_home()

    home = ana.emulator.views["U1"]
    assert validate_view(home, kind="home") == []
    texts = [b["text"]["text"] for b in home["blocks"] if b["type"] == "section"]
    (upcoming,) = [t for t in texts if "R&amp;D &lt;budget&gt;" in t]
    assert len(upcoming) <= 3000
    assert all(len(t) <= 3000 for t in texts)
    assert not any(BROKEN_ENTITY.search(t) for t in texts)  # no entity cut in half
    assert "…" in upcoming  # the titles were shortened, visibly
    assert ana.emulator.refusals == []
    assert {state for kind, state, _, _ in _inbox(ana) if kind == "app_home_opened"} == {"done"}


def test_a_home_tab_slack_refuses_is_logged_once_and_not_retried(
    ana: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    published = len(ana.emulator.calls_to("views.publish"))
    ana.emulator.fault("views.publish", error="invalid_arguments")
    caplog.set_level(logging.WARNING, logger="handlers.events.app_home_opened")

    ana.open_home()
    ana.clock.advance(timedelta(minutes=30))  # past every retry the inbox would make
    ana.heedful.process_inbox()

    assert len(ana.emulator.calls_to("views.publish")) == published + 1
    *_, last = _inbox(ana)
    assert last == ("app_home_opened", "done", 1, None)
    (line,) = [r for r in caplog.records if r.name == "handlers.events.app_home_opened"]
    assert "invalid_arguments" in line.getMessage()


@pytest.mark.parametrize("word", ["<!channel>", "<https://x.example|click>", "R&D"])
def test_an_unknown_word_is_echoed_as_text_not_markup(ana: Driver, word: str) -> None:
    prompts = load_prompts()
    escaped = word.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    ana.command(word)

    (answer,) = [r["payload"] for r in ana.emulator.responses]
    expected = prompts.text("command.unknown", word=escaped) + "\n" + prompts.text("command.help")
    assert answer["text"] == expected
    assert ana.emulator.refusals == []

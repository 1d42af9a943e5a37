"""A wording counts as shown when its message is posted (issue 13): a reminder that meets
a 429 (or any failure) records none, so the rotation never skips a wording the person
never saw; the post that gets through records its wordings once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from nudging import Driver, Event, FeedServer, at, colleagues

from bot.storage.models import Delivery, PromptShown

MONDAY = "2026-03-02"


@pytest.fixture(name="ana")
def fixture_ana(driver: Driver, feed_server: FeedServer) -> Driver:
    # Known 10 minutes ahead: the reminder is posted by the sender, not handed to Slack.
    return driver.starts(
        at(MONDAY, "08:00"),
        feed_server,
        [Event("m1", "Roadmap", f"{MONDAY} 08:10", 30, colleagues(3))],
    )


def _shown(ana: Driver) -> list[tuple[str, int | None]]:
    t = PromptShown.__table__.c  # type: ignore[attr-defined]
    with ana.heedful.services.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(t.prompt_id, t.delivery_id))]


def _reminder(ana: Driver) -> Any:
    t = Delivery.__table__.c  # type: ignore[attr-defined]
    with ana.heedful.services.engine.connect() as conn:
        return conn.execute(sa.select(Delivery.__table__).where(t.kind == "reminder")).one()


def test_a_429_records_no_wording_and_the_post_that_gets_through_records_them_once(
    ana: Driver,
) -> None:
    reminder = _reminder(ana)
    before = _shown(ana)
    ana.emulator.fault("chat.postMessage", status=429, retry_after=30)
    ana.clock.set(reminder.due_at)
    ana.heedful.send_due()
    assert _reminder(ana).state == "pending"  # rate limited: it waits
    assert _shown(ana) == before  # nothing was shown

    ana.clock.advance(timedelta(seconds=31))
    ana.heedful.send_due()
    assert _reminder(ana).state == "sent"
    added = [row for row in _shown(ana) if row not in before]
    assert len(added) == 2  # its breath cue and its intention
    assert {delivery for _, delivery in added} == {reminder.id}
    assert all(prompt.startswith(("cue.", "intention.")) for prompt, _ in added)

"""Google and Outlook both connected, one meeting on both: one reminder, not two.

The real app over HTTP against the fake Google and the fake Microsoft at once; a meeting
on both calendars is recognised by its iCalendar UID or by its start and title
(``bot.copies``), and a change announced by either calendar reaches the one nudge.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from signing_in import (
    PUBLIC,
    add_person,
    browse,
    fake_google,
    fake_microsoft,
    with_google,
    with_microsoft,
)

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.config import Settings
from bot.emulator import FakeGoogle, FakeMicrosoft, SlackEmulator
from bot.services import Services
from bot.storage.models import Delivery, OccurrenceRow
from bot.sync import google, microsoft

TEAM, USER = "T0001", "U1"
ANA, BEN = "ana@example.com", "ben@example.com"


@pytest.fixture(name="fakes")
def fixture_fakes(
    clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeGoogle, FakeMicrosoft]]:
    with (
        fake_google(clock, monkeypatch, ANA) as gfake,
        fake_microsoft(clock, monkeypatch, ANA) as mfake,
    ):
        yield gfake, mfake


@pytest.fixture(name="settings")
def fixture_both_settings(settings: Settings, fakes: tuple[FakeGoogle, FakeMicrosoft]) -> Settings:
    gfake, mfake = fakes
    return with_microsoft(with_google(settings, gfake), mfake)


@pytest.fixture(name="app")
def fixture_app(
    heedful: Heedful, fakes: tuple[FakeGoogle, FakeMicrosoft], services: Services
) -> Heedful:
    for fake in fakes:
        fake.route(PUBLIC, heedful.url)
    add_person(services, team_id=TEAM, user_id=USER, email=ANA)
    return heedful


def sign_in(app: Heedful, link: str) -> None:
    """Open Heedful's link as a browser would, through the provider's consent and back."""
    answer = browse(app.url, link)
    assert answer.status_code == 200 and "Connected" in answer.text
    app.process_inbox()


def connect_both(app: Heedful) -> None:
    services = app.services
    sign_in(app, google.connect_link(services, team_id=TEAM, user_id=USER))
    sign_in(app, microsoft.connect_link(services, team_id=TEAM, user_id=USER))


def pending_reminders(services: Services) -> dict[str, str]:
    """Title of each meeting with a pending reminder → the kind of calendar of its copy."""
    with services.engine.connect() as conn:
        occurrences = OccurrenceRow.__table__.c  # type: ignore[attr-defined]
        deliveries = Delivery.__table__.c  # type: ignore[attr-defined]
        titles = {
            r.key: r.title for r in conn.execute(sa.select(occurrences.key, occurrences.title))
        }
        found = conn.execute(
            sa.select(deliveries.occurrence_key).where(
                deliveries.kind == "reminder", deliveries.state == "pending"
            )
        )
        keys = [key for (key,) in found]
    assert len(keys) == len({titles[k] for k in keys}), keys  # one per meeting
    return {titles[k]: k.split(":", 1)[0] for k in keys}


def on_both(
    gfake: FakeGoogle, mfake: FakeMicrosoft, title: str, start: Any, **both: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    end = start + timedelta(minutes=30)
    gevent = gfake.add_event(
        ANA,
        summary=title,
        start=start,
        end=end,
        attendees=[ANA, BEN],
        organizer=BEN,
        **({"iCalUID": both["ical_uid"]} if "ical_uid" in both else {}),
    )
    mevent = mfake.add_event(
        ANA, subject=title, start=start, end=end, attendees=[BEN], organizer=BEN, **both
    )
    return gevent, mevent


def test_a_meeting_on_both_calendars_is_reminded_once(
    app: Heedful,
    fakes: tuple[FakeGoogle, FakeMicrosoft],
    clock: VirtualClock,
    emulator: SlackEmulator,
) -> None:
    gfake, mfake = fakes
    now = clock.now()
    # One invitation on both calendars (the same UID), another copied by title only,
    # and a meeting on Outlook alone.
    on_both(gfake, mfake, "1:1 with Ben", now + timedelta(hours=3), ical_uid="ben-1@example.com")
    _, design = on_both(gfake, mfake, "Design review", now + timedelta(hours=5))
    mfake.add_event(
        ANA,
        subject="Vendor call",
        start=now + timedelta(hours=7),
        end=now + timedelta(hours=8),
        attendees=[BEN],
        organizer=BEN,
    )
    connect_both(app)
    assert pending_reminders(app.services) == {
        "1:1 with Ben": "google",
        "Design review": "google",
        "Vendor call": "microsoft",
    }

    # The 1:1's reminder falls due: one DM, not two.
    clock.set(now + timedelta(hours=3) - timedelta(minutes=4))
    app.send_due()
    reminders = [
        m
        for m in emulator.messages(USER)
        if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == "reminder"
    ]
    assert len(reminders) == 1

    # Outlook says the design review is cancelled: the one nudge for it goes, though
    # Google has not heard yet.
    mfake.cancel_event(ANA, design["id"])
    assert [d.status for d in mfake.notify(ANA)] == [202]
    app.process_inbox()
    assert pending_reminders(app.services) == {"Vendor call": "microsoft"}

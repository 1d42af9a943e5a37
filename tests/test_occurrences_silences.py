"""``meetings.silences``: the meetings Heedful says nothing about, as the planner and the
outbox both have it, with the planner's reason; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from factories import local, make_occurrence

from bot.calendars.occurrence import Response
from bot.clock import VirtualClock
from bot.occurrences import apply_occurrences, opt_in, replan_user, silences
from bot.prefs import Prefs
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import Delivery

MONDAY = "2026-03-02"
TEAM, USER = "T0001", "U1"
DEL = Delivery.__table__.c  # type: ignore[attr-defined]


@pytest.fixture(name="user")
def fixture_user(services: Services, clock: VirtualClock) -> str:
    clock.set(local(MONDAY, "07:00"))
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session=session, team_id=TEAM, user_id=USER, now=clock.now())
        user.tz = "Europe/Berlin"
    return USER


def _silences(services: Services) -> dict[str, str]:
    found = silences(services, team_id=TEAM, user_id=USER)
    return {key.split("|")[1]: why for key, why in found.items()}


def test_silences_come_from_the_planner_and_the_outbox(services: Services, user: str) -> None:
    meetings = [
        make_occurrence(local(MONDAY, "10:00"), uid="a"),
        make_occurrence(local(MONDAY, "14:00"), uid="b"),
        make_occurrence(local(MONDAY, "11:00"), uid="declined", self_response=Response.DECLINED),
        make_occurrence(local("2026-03-03", "02:00"), uid="night"),
    ]
    apply_occurrences(services, team_id=TEAM, user_id=USER, source="ics:1", occurrences=meetings)
    assert _silences(services) == {}  # not connected yet: Heedful nudges nobody
    opt_in(services, team_id=TEAM, user_id=USER)
    replan_user(services, team_id=TEAM, user_id=USER)
    assert _silences(services) == {"declined": "declined", "night": "outside-hours"}

    # a's reminder went out; then the person allows no nudges at all any more.
    with services.engine.begin() as conn:
        conn.execute(
            sa.update(Delivery.__table__)
            .where(DEL.kind == "reminder", DEL.ref.like("%|a|%"))
            .values(state="sent")
        )
    with session_scope(services.engine) as session:
        person = repo.get_user(session=session, team_id=TEAM, user_id=USER)
        assert person is not None
        prefs = Prefs(max_reminders_per_day=0, max_reflections_per_day=0)
        person.prefs = prefs.to_json()
        session.add(person)
    replan_user(services, team_id=TEAM, user_id=USER)
    # The planner wants nothing for a and b now; a was spoken for, b is silent.
    assert _silences(services) == {
        "b": "daily-cap",
        "declined": "declined",
        "night": "outside-hours",
    }

"""Keeping pending nudges in step with the calendar, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from hashlib import sha256

import pytest
import sqlalchemy as sa
from factories import local, make_occurrence

from bot.calendars.occurrence import Response, Status
from bot.clock import VirtualClock
from bot.occurrences import (
    apply_occurrences,
    occurrence_from_row,
    opt_in,
    remove_source,
    replan_user,
    stored_uid,
)
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import Delivery, OccurrenceRow

MONDAY = "2026-03-02"
WRITE = re.compile(r'\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)', re.IGNORECASE)
TEAM, USER = "T0001", "U1"


@pytest.fixture(name="user")
def fixture_user(services: Services, clock: VirtualClock) -> str:
    clock.set(local(MONDAY, "07:00"))
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session=session, team_id=TEAM, user_id=USER, now=clock.now())
        user.tz = "Europe/Berlin"
    opt_in(services, team_id=TEAM, user_id=USER)
    return USER


def deliveries(services: Services) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, uid) → (state, local due HH:MM)."""
    t = Delivery.__table__.c
    with services.engine.connect() as conn:
        rows = conn.execute(sa.select(t.kind, t.ref, t.state, t.due_at)).all()
    zone = local(MONDAY, "00:00").tzinfo
    return {
        (r.kind, r.ref.split("|")[1]): (r.state, r.due_at.astimezone(zone).strftime("%H:%M"))
        for r in rows
    }


def apply(services: Services, *occurrences, window=None):
    return apply_occurrences(
        services, team_id=TEAM, user_id=USER, source="ics:1", occurrences=occurrences, window=window
    )


def test_nothing_is_planned_before_the_user_opts_in(
    services: Services, clock: VirtualClock
) -> None:
    clock.set(local(MONDAY, "07:00"))
    with session_scope(services.engine) as session:
        repo.ensure_user(session=session, team_id=TEAM, user_id=USER, now=clock.now())
    apply(services, make_occurrence(local(MONDAY, "10:00"), uid="a"))
    assert deliveries(services) == {}


def test_a_new_meeting_adds_its_nudges(services: Services, user: str) -> None:
    result = apply(services, make_occurrence(local(MONDAY, "10:00"), uid="a"))
    assert (result.added, result.sync.added) == (1, 2)
    assert deliveries(services) == {
        ("reminder", "a"): ("pending", "09:55"),
        ("reflection", "a"): ("pending", "10:32"),
    }


def test_a_moved_meeting_moves_its_pending_nudges(services: Services, user: str) -> None:
    meeting = make_occurrence(local(MONDAY, "10:00"), uid="a")
    apply(services, meeting)
    moved = make_occurrence(local(MONDAY, "14:00"), uid="a")
    result = apply(services, moved)
    assert result.updated == 1 and result.sync.moved == 2
    assert deliveries(services) == {
        ("reminder", "a"): ("pending", "13:55"),
        ("reflection", "a"): ("pending", "14:32"),
    }


@pytest.mark.parametrize(
    "change", [{"status": Status.CANCELLED}, {"self_response": Response.DECLINED}]
)
def test_a_cancelled_or_declined_meeting_withdraws_its_nudges_and_can_come_back(
    services: Services, user: str, change: dict
) -> None:
    meeting = make_occurrence(local(MONDAY, "10:00"), uid="a")
    apply(services, meeting)
    apply(services, replace(meeting, **change))
    assert {state for state, _ in deliveries(services).values()} == {"skipped"}

    apply(services, meeting)  # re-accepted / restored
    assert {state for state, _ in deliveries(services).values()} == {"pending"}


def test_what_was_sent_is_never_touched_or_sent_again(
    services: Services, user: str, clock: VirtualClock
) -> None:
    meeting = make_occurrence(local(MONDAY, "10:00"), uid="a")
    apply(services, meeting)
    t = Delivery.__table__.c
    with services.engine.begin() as conn:
        conn.execute(sa.update(Delivery.__table__).where(t.kind == "reminder").values(state="sent"))
    apply(services, make_occurrence(local(MONDAY, "11:00"), uid="a"))  # moved after the reminder
    assert deliveries(services) == {
        ("reminder", "a"): ("sent", "09:55"),
        ("reflection", "a"): ("pending", "11:32"),
    }
    apply(services, replace(meeting, status=Status.CANCELLED))
    assert deliveries(services)[("reminder", "a")] == ("sent", "09:55")


def test_a_full_snapshot_removes_meetings_missing_from_it(services: Services, user: str) -> None:
    a = make_occurrence(local(MONDAY, "10:00"), uid="a")
    b = make_occurrence(local(MONDAY, "15:00"), uid="b")
    apply(services, a, b)
    window = (local(MONDAY, "00:00"), local(MONDAY, "00:00") + timedelta(days=14))
    result = apply(services, a, window=window)
    assert result.removed == 1
    assert deliveries(services)[("reminder", "b")][0] == "skipped"
    with services.engine.connect() as conn:
        keys = conn.execute(sa.select(OccurrenceRow.__table__.c.uid)).scalars().all()
    assert keys == ["a"]


def test_removing_a_source_withdraws_its_nudges(services: Services, user: str) -> None:
    apply(services, make_occurrence(local(MONDAY, "10:00"), uid="a"))
    remove_source(services, team_id=TEAM, user_id=USER, source="ics:1")
    assert {state for state, _ in deliveries(services).values()} == {"skipped"}


def test_pausing_withdraws_and_resuming_restores(
    services: Services, user: str, clock: VirtualClock
) -> None:
    apply(services, make_occurrence(local(MONDAY, "10:00"), uid="a"))
    with session_scope(services.engine) as session:
        row = repo.get_user(session=session, team_id=TEAM, user_id=USER)
        row.paused_until = local(MONDAY, "12:00")
    replan_user(services, team_id=TEAM, user_id=USER)
    assert {state for state, _ in deliveries(services).values()} == {"skipped"}
    with session_scope(services.engine) as session:
        repo.get_user(session=session, team_id=TEAM, user_id=USER).paused_until = None
    replan_user(services, team_id=TEAM, user_id=USER)
    assert {state for state, _ in deliveries(services).values()} == {"pending"}


def test_an_event_that_cannot_be_stored_is_skipped_and_reported_and_the_rest_is_kept(
    services: Services, user: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = make_occurrence(local(MONDAY, "10:00"), uid="good")
    floating = replace(
        make_occurrence(local(MONDAY, "11:00"), uid="floating\x00"),
        start=local(MONDAY, "11:00").replace(tzinfo=None),
    )
    result = apply(services, floating, good)
    assert (result.added, result.skipped) == (1, 1)
    assert set(deliveries(services)) == {("reminder", "good"), ("reflection", "good")}
    (line,) = [r for r in caplog.records if "skipped event" in r.getMessage()]
    assert line.levelname == "WARNING" and "'floating'" in line.getMessage()


def test_what_is_stored_fits_every_column_and_reads_back_under_the_same_key(
    services: Services, user: str
) -> None:
    start = local(MONDAY, "10:00")
    hostile = make_occurrence(
        start,
        uid="u" * 400,
        recurrence_id="r" * 100,
        title="T\x00" * 400,
        organizer="o" * 330 + "@example.com",
        conference_url="https://meet.example.com/" + "c" * 990,
        source="hook:1",
        ical_uid="i" * 400,
    )
    apply_occurrences(services, team_id=TEAM, user_id=USER, source="hook:1", occurrences=[hostile])
    columns = OccurrenceRow.__table__.c  # type: ignore[attr-defined]
    with services.engine.connect() as conn:
        (row,) = conn.execute(sa.select(OccurrenceRow.__table__)).all()  # type: ignore[attr-defined]
    for column in columns:
        value = getattr(row, column.name)
        if isinstance(value, str):
            assert len(value) <= column.type.length and "\x00" not in value, column.name
    assert (row.organizer, row.conference_url) == (None, None)
    assert row.title == "T" * 400
    assert occurrence_from_row(row).key == row.key
    assert stored_uid("hook:1", "u" * 400) == row.uid
    # A long iCalendar UID keeps its digest form, the same for every copy (bot.copies).
    assert row.ical_uid.startswith("i") and row.ical_uid.endswith(sha256(b"i" * 400).hexdigest())


# ------------------------------------------------------------------ questions a day


def _sent(services: Services, kind: str, uid: str) -> None:
    """What the sender records once a delivery reached Slack."""
    t = Delivery.__table__.c
    with services.engine.begin() as conn:
        conn.execute(
            sa.update(Delivery.__table__)
            .where(t.kind == kind, t.ref.like(f"%|{uid}|%"))
            .values(state="sent")
        )


def _asked(services: Services) -> dict[str, str]:
    return {
        uid: state
        for (kind, uid), (state, _) in deliveries(services).items()
        if kind == "reflection" and state in ("pending", "sent")
    }


def test_who_else_was_invited_is_kept_for_small_meetings_only(
    services: Services, user: str
) -> None:
    small = make_occurrence(
        local(MONDAY, "10:00"), uid="s", attendees=3, people=("b@x.test", "a@x.test")
    )
    crowd = [f"p{i}@x.test" for i in range(20)]
    large = make_occurrence(local(MONDAY, "11:00"), uid="l", attendees=21, people=tuple(crowd))
    apply(services, small, large)
    t = OccurrenceRow.__table__.c
    with services.engine.connect() as conn:
        people = dict(conn.execute(sa.select(t.uid, t.people)).all())
    assert people == {"s": ["a@x.test", "b@x.test"], "l": []}
    # A change of who is invited is a change of the meeting.
    result = apply(services, replace(small, people=("a@x.test", "c@x.test")))
    assert result.updated == 1


def test_a_first_meeting_with_someone_outranks_a_routine_group(
    services: Services, user: str, clock: VirtualClock
) -> None:
    """Three weeks of calendar are known; on Monday a planning with the usual team, a
    call with a guest the user has met, and a meeting with someone new. Two questions:
    the new face and (the earlier of the rest) the guest's call."""
    team = ("ben@x.test", "cleo@x.test")
    earlier = [
        make_occurrence(
            local("2026-02-09", "10:00") + timedelta(days=d),
            uid=f"old{d}",
            attendees=4,
            people=(*team, "kim@guest.test"),
        )
        for d in (0, 7, 14)
    ]
    apply(services, *earlier)
    today = [
        make_occurrence(local(MONDAY, "09:00"), uid="planning", attendees=3, people=team),
        make_occurrence(
            local(MONDAY, "11:00"),
            uid="guest",
            attendees=3,
            people=("ben@x.test", "kim@guest.test"),
            external=True,
        ),
        make_occurrence(
            local(MONDAY, "14:00"), uid="new-face", attendees=3, people=("ben@x.test", "zoe@x.test")
        ),
        make_occurrence(local(MONDAY, "16:00"), uid="review", attendees=4, people=team),
    ]
    apply(services, *today)
    assert _asked(services) == {"guest": "pending", "new-face": "pending"}


def test_what_went_out_keeps_its_place_and_a_replan_never_sends_a_third(
    services: Services, user: str, clock: VirtualClock
) -> None:
    team = ("ben@x.test", "cleo@x.test")
    a = make_occurrence(local(MONDAY, "09:00"), uid="a", attendees=3, people=team)
    b = make_occurrence(local(MONDAY, "11:00"), uid="b", attendees=3, people=team)
    c = make_occurrence(local(MONDAY, "15:00"), uid="c", attendees=3, people=team)
    apply(services, a, b, c)
    assert _asked(services) == {"a": "pending", "b": "pending"}
    clock.set(local(MONDAY, "09:32"))
    _sent(services, "reflection", "a")
    clock.set(local(MONDAY, "11:32"))
    _sent(services, "reflection", "b")
    # 12:00: two 1:1s are added for the afternoon. They outrank the groups, but the
    # day's two questions went out: nothing more is asked, nothing sent is touched.
    clock.set(local(MONDAY, "12:00"))
    one = make_occurrence(local(MONDAY, "13:00"), uid="one", people=("dan@x.test",))
    two = make_occurrence(local(MONDAY, "16:00"), uid="two", people=("eve@x.test",))
    apply(services, a, b, c, one, two)
    assert _asked(services) == {"a": "sent", "b": "sent"}
    # The next day is a day of its own.
    tuesday = make_occurrence(local("2026-03-03", "10:00"), uid="tue", people=("dan@x.test",))
    apply(services, tuesday)
    assert _asked(services) == {"a": "sent", "b": "sent", "tue": "pending"}


def test_after_one_question_went_out_the_second_place_goes_to_the_best_of_the_rest(
    services: Services, user: str, clock: VirtualClock
) -> None:
    team = ("ben@x.test", "cleo@x.test")
    a = make_occurrence(local(MONDAY, "09:00"), uid="a", attendees=3, people=team)
    b = make_occurrence(local(MONDAY, "11:00"), uid="b", attendees=3, people=team)
    apply(services, a, b)
    clock.set(local(MONDAY, "09:32"))
    _sent(services, "reflection", "a")
    clock.set(local(MONDAY, "10:00"))
    one = make_occurrence(local(MONDAY, "13:00"), uid="one", people=("dan@x.test",))
    apply(services, a, b, one)
    assert _asked(services) == {"a": "sent", "one": "pending"}
    assert deliveries(services)[("reflection", "b")][0] == "skipped"  # withdrawn


@pytest.mark.parametrize("meetings", [3, 30])
def test_a_feed_read_writes_its_meetings_and_nudges_in_a_fixed_number_of_statements(
    services: Services, user: str, meetings: int
) -> None:
    """Issue 13: moving every meeting of a feed costs the same statements for 3 meetings
    as for 30 (set-based writes), not one per meeting or per nudge."""
    window = (local(MONDAY, "00:00"), local(MONDAY, "00:00") + timedelta(days=7))
    days = [local(MONDAY, "09:00") + timedelta(days=i % 5, hours=i // 5) for i in range(meetings)]
    apply(services, *[make_occurrence(t, uid=f"m{i}") for i, t in enumerate(days)], window=window)
    written: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        found = WRITE.match(statement)
        if found:
            written.append(f"{found.group(1).split()[0].upper()} {found.group(2)}")

    sa.event.listen(services.engine, "before_cursor_execute", count)
    try:
        moved = [
            make_occurrence(t + timedelta(minutes=15), uid=f"m{i}") for i, t in enumerate(days)
        ]
        apply(services, *moved, window=window)
    finally:
        sa.event.remove(services.engine, "before_cursor_execute", count)
    moved_rows = {s for (s, _) in deliveries(services).values() if s == "pending"}
    assert moved_rows == {"pending"}
    # occurrence: one update for all; delivery: one re-plan for all; feedback bookkeeping.
    assert written.count("UPDATE occurrence") == 1
    assert written.count("UPDATE delivery") <= 2
    assert len(written) <= 6, written

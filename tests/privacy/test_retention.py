"""The daily purge of past meetings and settled deliveries (``bot.privacy.purge_expired``),
on SQLite and PostgreSQL: sixty days of meetings keep the row count flat, and what the
digest, the planner, the sender and the export still read is kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from factories import make_occurrence

from bot import occurrences, privacy
from bot.calendars.occurrence import Occurrence
from bot.clock import VirtualClock
from bot.digest import Target, load_weeks, plan_digests
from bot.feedback import OPT_IN_SHOWN
from bot.occurrences import apply_occurrences, opt_in
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    FeedbackMeeting,
    OccurrenceRow,
    PromptShown,
    SlackUser,
)

TEAM = "T0001"
BERLIN = ZoneInfo("Europe/Berlin")
PEOPLE = ("U1", "U2", "U3")
DEL = Delivery.__table__
OCC = OccurrenceRow.__table__
FIRST_DAY = date(2026, 3, 2)  # a Monday


def _at(day: date, hhmm: str) -> datetime:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), BERLIN).astimezone(UTC)


def _join(services: Services, clock: VirtualClock, user_id: str) -> None:
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session=session, team_id=TEAM, user_id=user_id, now=clock.now())
        user.tz = "Europe/Berlin"
    opt_in(services, team_id=TEAM, user_id=user_id)


def _a_day(day: date, user_id: str) -> list[Occurrence]:
    """A working day: a stand-up with the team, a 1:1 with one of eight colleagues in
    turn, an all-hands and a solo block."""
    source = f"ics:{user_id}"
    colleague = f"p{day.toordinal() % 8}@example.com"
    return [
        make_occurrence(
            _at(day, "09:00"),
            15,
            uid=f"standup-{user_id}",
            recurrence_id=day.isoformat(),
            title="Stand-up",
            attendees=4,
            people=("a@example.com", "b@example.com", "c@example.com"),
            recurring=True,
            source=source,
        ),
        make_occurrence(
            _at(day, "11:00"),
            uid=f"one-on-one-{user_id}-{day}",
            title="1:1",
            attendees=2,
            people=(colleague,),
            source=source,
        ),
        make_occurrence(
            _at(day, "14:00"), 60, uid=f"all-{day}", title="All hands", attendees=40, source=source
        ),
        make_occurrence(
            _at(day, "16:00"), 60, uid=f"focus-{user_id}-{day}", title="Focus", source=source
        ),
    ]


def _settle_due(services: Services, now: datetime) -> None:
    """Everything due by ``now`` went out (as the sender would mark it)."""
    d = DEL.c
    with services.engine.begin() as conn:
        conn.execute(
            sa.update(DEL)
            .where(d.state == DeliveryState.PENDING, d.due_at <= now)
            .values(
                state=DeliveryState.SENT,
                sent_at=d.due_at,
                channel="D1",
                message_ts=d.id,
                updated_at=now,
            )
        )


def _rows(services: Services) -> tuple[int, int]:
    with services.engine.connect() as conn:
        meetings = conn.execute(sa.select(sa.func.count()).select_from(OCC)).scalar_one()
        sent = conn.execute(sa.select(sa.func.count()).select_from(DEL)).scalar_one()
    return meetings, sent


def _run(services: Services, clock: VirtualClock, days: int) -> list[tuple[int, int]]:
    """``days`` days of meetings for three people, each planned in the morning, sent as
    due, then purged at night; the row counts after each night's purge."""
    clock.set(_at(FIRST_DAY, "06:00"))
    for user_id in PEOPLE:
        _join(services, clock, user_id)
    counts = []
    for n in range(days):
        day = FIRST_DAY + timedelta(days=n)
        clock.set(_at(day, "06:00"))
        if day.weekday() < 5:
            for user_id in PEOPLE:
                apply_occurrences(
                    services,
                    team_id=TEAM,
                    user_id=user_id,
                    source=f"ics:{user_id}",
                    occurrences=_a_day(day, user_id),
                )
        for hhmm in ("12:00", "18:00", "23:00"):
            clock.set(_at(day, hhmm))
            plan_digests(services)
            _settle_due(services, clock.now())
        clock.set(_at(day, "23:30"))
        privacy.purge_expired(services)
        counts.append(_rows(services))
    return counts


def test_sixty_days_of_meetings_keep_the_row_count_flat(
    services: Services, clock: VirtualClock
) -> None:
    counts = _run(services, clock, 60)
    meetings = [m for m, _ in counts]
    sent = [d for _, d in counts]
    # Growing for the two weeks kept, then flat: what a day adds, the purge takes.
    assert meetings[19] > meetings[5] and sent[19] > sent[5]
    steady = [m + d for m, d in counts[20:]]
    assert max(steady) - min(steady) <= 0.1 * min(steady), steady
    assert max(sent[20:]) - min(sent[20:]) <= len(PEOPLE)  # a digest a week
    # Meetings: flat but for the latest 1:1 with each of the eight colleagues, kept for
    # whom they met, which settle in once the turns have gone round before the cutoff.
    assert meetings[-1] - meetings[20] <= len(PEOPLE) * 8
    assert len(set(meetings[40:])) == 1
    # Without the purge, sixty days would hold more than twice as many meetings.
    days_with_meetings = sum(1 for n in range(60) if (FIRST_DAY + timedelta(n)).weekday() < 5)
    assert meetings[-1] < days_with_meetings * len(PEOPLE) * 4 / 2


def test_what_the_planner_and_the_digest_read_survives_the_purge(
    services: Services, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privacy, "PURGE_BATCH", 7)  # many small batches
    monkeypatch.setattr(privacy, "PURGE_PEOPLE", 2)
    _run(services, clock, 38)  # to a Wednesday
    clock.advance(timedelta(days=1))  # Thursday night: nothing new, the purge goes on
    now = clock.now()
    # Last week's digest, as the composer loads it, counts the same before and after.
    monday = datetime.combine(
        now.astimezone(BERLIN).date() - timedelta(days=now.astimezone(BERLIN).weekday() + 7),
        time(0),
        BERLIN,
    )
    last_week = [
        Target(TEAM, u, BERLIN, monday, monday + timedelta(days=7), "last week") for u in PEOPLE
    ]
    old_week = [
        Target(TEAM, u, BERLIN, monday - timedelta(days=21), monday - timedelta(days=14), "old")
        for u in PEOPLE
    ]
    users = {u: _user(services, u) for u in PEOPLE}
    before = load_weeks(services, last_week)
    planned_before = {u: occurrences._plan_input(services, users[u]) for u in PEOPLE}
    rows = _rows(services)
    privacy.purge_expired(services)
    after = load_weeks(services, last_week)
    for target in last_week:
        assert before[target].meetings, target
        assert after[target].meetings == before[target].meetings
        assert after[target].reminded == before[target].reminded
        assert after[target].asked == before[target].asked
    assert _rows(services) < rows  # it did delete
    # The weeks before the two kept are gone, but for the latest 1:1 with a colleague.
    old = load_weeks(services, old_week)
    assert {m.title for t in old_week for m in old[t].meetings} <= {"1:1"}
    # Whom each person met, and since when their calendar is known, are as they were.
    for user_id in PEOPLE:
        planned = occurrences._plan_input(services, users[user_id])
        assert planned.known_people == planned_before[user_id].known_people
        assert planned.history_since == planned_before[user_id].history_since
        assert planned.known_people  # the stand-up's and the eight colleagues
        assert planned.history_since == _at(FIRST_DAY, "09:00")


def _user(services: Services, user_id: str) -> SlackUser:
    with session_scope(services.engine) as session:
        user = repo.get_user(session=session, team_id=TEAM, user_id=user_id)
        assert user is not None
        session.expunge(user)
        return user


def _delivery(
    services: Services,
    *,
    kind: DeliveryKind,
    ref: str,
    state: DeliveryState,
    at: datetime,
    occurrence_key: str | None = None,
) -> int:
    with services.engine.begin() as conn:
        return conn.execute(
            sa.insert(DEL)
            .values(
                team_id=TEAM,
                user_id="U1",
                kind=kind,
                ref=ref,
                occurrence_key=occurrence_key,
                due_at=at,
                available_at=at,
                state=state,
                sent_at=at if state == DeliveryState.SENT else None,
                scheduled_message_id="Q1" if state == DeliveryState.SCHEDULED else None,
                payload={},
                created_at=at,
                updated_at=at,
            )
            .returning(DEL.c.id)
        ).scalar_one()


def _meeting(services: Services, name: str, start: datetime) -> str:
    occ = make_occurrence(start, uid=name, title=name, source="ics:U1")
    apply_occurrences(services, team_id=TEAM, user_id="U1", source="ics:U1", occurrences=[occ])
    return occ.key


def test_live_deliveries_their_meetings_and_the_guards_are_kept(
    services: Services, clock: VirtualClock
) -> None:
    start = _at(FIRST_DAY, "06:00")
    clock.set(start)
    with session_scope(services.engine) as session:  # not opted in: nothing is planned
        repo.ensure_user(session=session, team_id=TEAM, user_id="U1", now=start)
    _meeting(services, "first", _at(FIRST_DAY, "10:00"))
    pending = _meeting(services, "pending", _at(FIRST_DAY, "11:00"))
    scheduled = _meeting(services, "scheduled", _at(FIRST_DAY, "12:00"))
    asking = _meeting(services, "asking", _at(FIRST_DAY, "13:00"))
    done = _meeting(services, "done", _at(FIRST_DAY, "14:00"))
    _meeting(services, "later", _at(FIRST_DAY, "15:00"))
    at = _at(FIRST_DAY, "09:00")
    # Ten questions over ten days: the first three (guided) and the latest six stay.
    questions = [
        _delivery(
            services,
            kind=DeliveryKind.REFLECTION,
            ref=f"q{n}",
            state=DeliveryState.SENT,
            at=at + timedelta(days=n),
        )
        for n in range(10)
    ]
    ids = {
        "welcome": _delivery(
            services, kind=DeliveryKind.WELCOME, ref="welcome", state=DeliveryState.SENT, at=at
        ),
        "pending": _delivery(
            services,
            kind=DeliveryKind.REMINDER,
            ref=pending,
            state=DeliveryState.PENDING,
            at=at,
            occurrence_key=pending,
        ),
        "scheduled": _delivery(
            services,
            kind=DeliveryKind.REMINDER,
            ref=scheduled,
            state=DeliveryState.SCHEDULED,
            at=at,
            occurrence_key=scheduled,
        ),
        "done": _delivery(
            services,
            kind=DeliveryKind.REMINDER,
            ref=done,
            state=DeliveryState.SENT,
            at=at,
            occurrence_key=done,
        ),
        "expired": _delivery(
            services, kind=DeliveryKind.REMINDER, ref="x", state=DeliveryState.EXPIRED, at=at
        ),
        "offered": _delivery(
            services, kind=DeliveryKind.TRANSITION, ref="o", state=DeliveryState.SENT, at=at
        ),
    }
    with services.engine.begin() as conn:
        conn.execute(
            sa.insert(PromptShown.__table__).values(
                team_id=TEAM,
                user_id="U1",
                prompt_id=OPT_IN_SHOWN,
                delivery_id=ids["offered"],
                shown_at=at,
            )
        )
        conn.execute(
            sa.insert(FeedbackMeeting.__table__).values(
                team_id=TEAM,
                user_id="U1",
                occurrence_key=asking,
                series_key=asking,
                people=[],
                state="waiting",
                updated_at=at,
            )
        )
    clock.set(start + timedelta(days=40))
    assert privacy.purge_expired(services) > 0

    with services.engine.connect() as conn:
        left = set(conn.execute(sa.select(DEL.c.id)).scalars())
        titles = set(conn.execute(sa.select(OCC.c.title)).scalars())
    assert left == {
        ids["welcome"],
        ids["pending"],
        ids["scheduled"],
        ids["offered"],
        *questions[:3],
        *questions[4:],
    }
    assert titles == {"first", "pending", "scheduled", "asking"}

    export = privacy.export_user(services, team_id=TEAM, user_id="U1")
    assert {m["title"] for m in export["meetings"]} == titles
    assert {d["id"] for d in export["deliveries"]} == left
    assert privacy.export_json(services, team_id=TEAM, user_id="U1")
    assert privacy.purge_expired(services) == 0  # nothing more to do

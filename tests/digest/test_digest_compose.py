"""The digest composer on its own: a fixed number of statements per batch however many
people it holds, each person's own span, transitions, and the experiment remembered
once (not for a note, not again when a delivery is retried)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from digesting import TEAM, at, deliveries, make_user, store_meetings
from factories import make_occurrence
from sqlalchemy import event

from bot.clock import VirtualClock
from bot.digest import DigestComposer, Target, load_weeks, plan_digests, week_of
from bot.messages import Message
from bot.sender import Skip
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.models import PromptShown, Reflection

BERLIN = "Europe/Berlin"
SHOWN = PromptShown.__table__
REF = Reflection.__table__


def _sent(services: Services, user: str, kind: str, key: str, when: Any, **extra: Any) -> int:
    """A delivery that was sent at ``when``; returns its id."""
    with services.engine.begin() as conn:
        repo.enqueue_deliveries(
            conn=conn,
            rows=[
                {
                    "team_id": TEAM,
                    "user_id": user,
                    "kind": kind,
                    "ref": f"{key}#{when.isoformat()}",
                    "occurrence_key": key,
                    "due_at": when,
                    **extra,
                }
            ],
            now=when,
        )
        d = repo.DELIVERY.c
        conn.execute(
            sa.update(repo.DELIVERY)
            .where(d.user_id == user, d.ref == f"{key}#{when.isoformat()}")
            .values(state="sent", sent_at=when)
        )
        return conn.execute(
            sa.select(d.id).where(d.user_id == user, d.ref == f"{key}#{when.isoformat()}")
        ).scalar_one()


def _answer(services: Services, user: str, delivery_id: int, key: str, when: Any, text: str):
    with services.engine.begin() as conn:
        conn.execute(
            sa.insert(REF).values(
                team_id=TEAM,
                user_id=user,
                delivery_id=delivery_id,
                occurrence_key=key,
                text=services.cipher.encrypt(text),
                presence=4,
                created_at=when,
                updated_at=when,
            )
        )


def _a_week(services: Services, user: str, *, answered: bool = True) -> None:
    """Two meetings on Monday and one question answered (or not)."""
    one = make_occurrence(at("2026-03-02", "10:00", BERLIN), uid=f"{user}-1", title="1:1")
    team = make_occurrence(
        at("2026-03-02", "14:00", BERLIN), uid=f"{user}-2", title="Team", attendees=5
    )
    store_meetings(services, user, [one, team])
    _sent(services, user, "reminder", one.key, one.start - timedelta(minutes=5))
    asked = _sent(services, user, "reflection", one.key, one.end + timedelta(minutes=2))
    if answered:
        _answer(services, user, asked, one.key, one.end + timedelta(minutes=5), "Listened first.")


@pytest.fixture(name="statements")
def fixture_statements(services: Services) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(services.engine, "before_cursor_execute", count)
    yield seen
    event.remove(services.engine, "before_cursor_execute", count)


def _digest_rows(services: Services) -> list[Any]:
    d = repo.DELIVERY.c
    with services.engine.connect() as conn:
        rows = conn.execute(sa.select(repo.DELIVERY).where(d.kind == "digest").order_by(d.user_id))
        return [repo.ClaimedDelivery.of(row) for row in rows]


def test_a_batch_takes_the_same_statements_for_three_people_or_thirty(
    services: Services, clock: VirtualClock, statements: list[str]
) -> None:
    clock.set(at("2026-03-02", "07:00", BERLIN))
    for n in range(30):
        make_user(services, f"U{n:03d}", BERLIN)
        _a_week(services, f"U{n:03d}", answered=n % 3 != 0)
    clock.set(at("2026-03-06", "15:30", BERLIN))
    assert plan_digests(services) == 30
    rows = _digest_rows(services)
    clock.set(at("2026-03-06", "16:00", BERLIN))

    composer = DigestComposer(services)
    statements.clear()
    few = composer.compose_batch(rows[:3])
    for_few = len(statements)
    statements.clear()
    many = composer.compose_batch(rows[3:])
    # zones, what they are busy with now, 5 reads, 1 insert (+ transaction control)
    assert len(statements) == for_few
    reads = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    # + last week's totals from others (bot.feedback), + focus practices (bot.focus),
    # + the week's kept commitments (bot.commitments)
    assert len(reads) == 7 + 2 + 1
    assert all(isinstance(m, Message) for m in [*few.values(), *many.values()])
    notes = [m for m in many.values() if "no reflections" in m.text]
    assert len(notes) == 9  # every third person answered nothing: the kind note


def test_each_person_gets_their_own_span_even_twice_in_one_batch(
    services: Services, clock: VirtualClock
) -> None:
    """Last week's digest, late, and this week's, for one person in one batch."""
    clock.set(at("2026-03-02", "07:00", BERLIN))
    make_user(services, "U1", BERLIN)
    _a_week(services, "U1")
    week2 = make_occurrence(at("2026-03-10", "11:00", BERLIN), uid="w2", title="Next", attendees=3)
    store_meetings(services, "U1", [week2])
    zone = ZoneInfo(BERLIN)
    first = Target(TEAM, "U1", zone, *_span("2026-03-02", "2026-03-06"), "2026-W10", 1)
    second = Target(TEAM, "U1", zone, *_span("2026-03-09", "2026-03-13"), "2026-W11", 2)
    weeks = load_weeks(services, [first, second])
    assert sorted(m.title for m in weeks[first].meetings) == ["1:1", "Team"]
    assert [m.title for m in weeks[second].meetings] == ["Next"]
    assert (len(weeks[first].reminded), len(weeks[first].asked), len(weeks[first].answers)) == (
        1,
        1,
        1,
    )
    assert (weeks[second].reminded, weeks[second].asked, weeks[second].answers) == (set(), {}, [])


def _span(monday: str, friday: str) -> tuple[Any, Any]:
    return at(monday, "00:00", BERLIN), at(friday, "16:00", BERLIN)


def test_a_transition_asks_about_the_meeting_before_and_counts_as_a_reminder(
    services: Services, clock: VirtualClock
) -> None:
    clock.set(at("2026-03-02", "07:00", BERLIN))
    make_user(services, "U1", BERLIN)
    first = make_occurrence(at("2026-03-02", "10:00", BERLIN), uid="a", title="1:1 with Ben")
    second = make_occurrence(
        at("2026-03-02", "10:32", BERLIN), uid="b", title="Review", attendees=6
    )
    store_meetings(services, "U1", [first, second])
    transition = _sent(
        services, "U1", "transition", second.key, first.end, payload={"previous": first.key}
    )
    _answer(services, "U1", transition, first.key, first.end + timedelta(minutes=3), "Good.")
    span = _span("2026-03-02", "2026-03-06")
    target = Target(TEAM, "U1", ZoneInfo(BERLIN), *span, "2026-W10")
    week = load_weeks(services, [target])[target]
    assert week.reminded == {second.key}
    assert week.asked == {transition: first.key}


def test_the_experiment_is_carried_for_remembering_once_and_not_for_a_note(
    services: Services, clock: VirtualClock
) -> None:
    """The experiment a digest shows is remembered when the digest is posted (the sender
    records ``Message.shown``), never by composing: a retry composes the same words and
    the same wordings, and a composed digest that Slack refused showed nothing."""
    clock.set(at("2026-03-02", "07:00", BERLIN))
    make_user(services, "U1", BERLIN)
    make_user(services, "U2", BERLIN)
    _a_week(services, "U1")
    _a_week(services, "U2", answered=False)
    clock.set(at("2026-03-06", "15:30", BERLIN))
    plan_digests(services)
    clock.set(at("2026-03-06", "16:00", BERLIN))
    rows = _digest_rows(services)
    composer = DigestComposer(services)
    first = composer.compose_batch(rows)
    # A retry of the same deliveries (a Slack hiccup): the same words, nothing added.
    clock.advance(timedelta(seconds=30))
    again = composer.compose_batch(rows)
    assert [m.blocks for m in first.values()] == [m.blocks for m in again.values()]
    assert [m.shown for m in first.values()] == [m.shown for m in again.values()]
    s = SHOWN.c
    with services.engine.connect() as conn:
        remembered = conn.execute(
            sa.select(s.user_id, s.prompt_id).where(s.prompt_id.like("experiment.%"))
        ).all()
    assert remembered == []  # composing shows nobody anything
    full = first[next(r.id for r in rows if r.user_id == "U1")]
    note = first[next(r.id for r in rows if r.user_id == "U2")]
    assert len([p for p in full.shown if p.startswith("experiment.")]) == 1
    assert not [p for p in note.shown if p.startswith("experiment.")]
    assert any(":seedling:" in (b.get("text") or {}).get("text", "") for b in full.blocks)


def test_no_meetings_is_a_skip_and_an_unknown_person_too(
    services: Services, clock: VirtualClock
) -> None:
    clock.set(at("2026-03-06", "15:30", BERLIN))
    make_user(services, "U1", BERLIN)
    plan_digests(services)
    (row,) = deliveries(services, "U1", "digest")
    composer = DigestComposer(services)
    with pytest.raises(Skip, match="no_meetings"):
        composer(row)
    stranger = SimpleNamespace(**{**row._mapping, "user_id": "UNKNOWN", "id": row.id + 1})
    with pytest.raises(Skip, match="unknown_user"):
        composer(stranger)


def test_week_of_is_the_iso_week_of_the_local_monday() -> None:
    # Sunday 23:30 UTC is already Monday in Auckland: the new week there, not in New York.
    sunday = at("2026-03-08", "23:30", "UTC")
    start, label = week_of(sunday, ZoneInfo("Pacific/Auckland"))
    assert label == "2026-W11"
    assert start == at("2026-03-09", "00:00", "Pacific/Auckland")
    assert week_of(sunday, ZoneInfo("America/New_York"))[1] == "2026-W10"
    # The last days of December can belong to week 1 of the next ISO year.
    _, label = week_of(at("2026-12-29", "12:00", BERLIN), ZoneInfo(BERLIN))
    assert label == "2026-W53"
    _, label = week_of(at("2027-01-01", "12:00", BERLIN), ZoneInfo(BERLIN))
    assert label == "2026-W53"

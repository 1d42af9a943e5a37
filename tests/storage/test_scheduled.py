"""The prescheduler's SQL (``bot.storage.scheduled``) on SQLite and PostgreSQL: claims,
the fence around an in-flight call, the deletion queue and the sweep."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.clock import VirtualClock
from bot.storage import repository as repo
from bot.storage import scheduled as store
from bot.storage.models import Delivery, DeliveryState, SlackUnschedule

KINDS = ("reminder", "reflection")
LEASE = timedelta(minutes=2)


def _enqueue(engine: Engine, clock: VirtualClock, ref: str, due_in: timedelta) -> int:
    with engine.begin() as conn:
        repo.enqueue_deliveries(
            conn=conn,
            rows=[
                {
                    "team_id": "T1",
                    "user_id": "U1",
                    "kind": "reminder",
                    "ref": ref,
                    "due_at": clock.now() + due_in,
                }
            ],
            now=clock.now(),
        )
        t = Delivery.__table__.c
        return int(conn.execute(sa.select(t.id).where(t.ref == ref)).scalar_one())


def _claim(engine: Engine, clock: VirtualClock, worker: str = "w1") -> list[store.Claimed]:
    now = clock.now()
    return store.claim(
        engine,
        now=now,
        worker=worker,
        kinds=KINDS,
        earliest=now + timedelta(minutes=10),
        latest=now + timedelta(hours=36),
        limit=10,
        lease=LEASE,
        rate_method="chat.scheduleMessage",
    )


def _state(engine: Engine, delivery_id: int) -> str:
    t = Delivery.__table__.c
    with engine.connect() as conn:
        return str(conn.execute(sa.select(t.state).where(t.id == delivery_id)).scalar_one())


def test_only_rows_due_between_the_lead_and_the_horizon_are_claimed_nearest_first(
    engine: Engine, clock: VirtualClock
) -> None:
    soon = _enqueue(engine, clock, "soon", timedelta(minutes=5))
    later = _enqueue(engine, clock, "later", timedelta(hours=3))
    first = _enqueue(engine, clock, "first", timedelta(hours=1))
    far = _enqueue(engine, clock, "far", timedelta(days=3))

    claimed = [c.row.id for c in _claim(engine, clock)]

    assert claimed == [first, later]
    assert [_state(engine, i) for i in (soon, far)] == ["pending", "pending"]
    assert _state(engine, first) == DeliveryState.SCHEDULING.value
    assert _claim(engine, clock, "w2") == []  # leased: no one else takes them


def test_a_row_withdrawn_while_its_call_is_in_flight_is_fenced_out(
    engine: Engine, clock: VirtualClock
) -> None:
    row_id = _enqueue(engine, clock, "a", timedelta(hours=1))
    _claim(engine, clock)
    assert store.begin_call(
        engine,
        row_id,
        worker="w1",
        channel="D1",
        digest="x" * 32,
        lease_until=clock.now() + timedelta(minutes=2),
    )

    t = Delivery.__table__.c
    with engine.begin() as conn:  # the meeting is cancelled meanwhile
        assert store.unschedule(conn, t.id == row_id, now=clock.now()) == {row_id}
    result = store.Result(row_id, DeliveryState.SCHEDULED, channel="D1", message_id="Q1")

    assert not store.finish(engine, result, worker="w1", now=clock.now())
    assert _state(engine, row_id) == "pending"
    # What Slack took for it goes: the row no longer wants it.
    due = clock.now() + timedelta(hours=1)
    assert store.fenced_out(engine, result, team_id="T1", post_at=due, now=clock.now()) == "queued"
    assert store.pending_deletions(engine) == 1


def test_unscheduling_queues_the_deletion_without_text_or_person(
    engine: Engine, clock: VirtualClock
) -> None:
    row_id = _enqueue(engine, clock, "a", timedelta(hours=1))
    _claim(engine, clock)
    result = store.Result(row_id, DeliveryState.SCHEDULED, channel="D1", message_id="Q1")
    assert store.finish(engine, result, worker="w1", now=clock.now())

    t = Delivery.__table__.c
    with engine.begin() as conn:
        store.unschedule(conn, t.user_id == "U1", now=clock.now())
        store.unschedule(conn, t.user_id == "U1", now=clock.now())  # nothing left: no-op
    queue = SlackUnschedule.__table__
    with engine.connect() as conn:
        rows = conn.execute(sa.select(queue)).mappings().all()
    assert [(r["team_id"], r["channel"], r["scheduled_message_id"]) for r in rows] == [
        ("T1", "D1", "Q1")
    ]
    assert set(rows[0].keys()).isdisjoint({"user_id", "text"})
    assert _state(engine, row_id) == "pending"


def test_the_sweep_marks_what_slack_posted_as_sent_at_its_due_time(
    engine: Engine, clock: VirtualClock
) -> None:
    row_id = _enqueue(engine, clock, "a", timedelta(hours=1))
    _claim(engine, clock)
    result = store.Result(row_id, DeliveryState.SCHEDULED, channel="D1", message_id="Q1")
    store.finish(engine, result, worker="w1", now=clock.now())
    assert store.settle_posted(engine, now=clock.now()) == {}

    clock.advance(timedelta(hours=1, seconds=3))
    assert store.settle_posted(engine, now=clock.now()) == {"reminder": 1}
    t = Delivery.__table__.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.state, t.sent_at, t.due_at).where(t.id == row_id)).one()
    assert (row.state, row.sent_at) == ("sent", row.due_at)

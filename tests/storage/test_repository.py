from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from waiting import wait_until

from bot.clock import VirtualClock
from bot.storage import repository as repo
from bot.storage.db import make_engine, pending_migrations, upgrade
from bot.storage.models import Delivery, DeliveryState

LEASE = timedelta(minutes=2)


def _deliveries(n: int, clock: VirtualClock, *, offset: timedelta = timedelta(0)) -> list[dict]:
    due = clock.now() + offset
    return [
        {"team_id": "T1", "user_id": f"U{i}", "kind": "notice", "ref": "r", "due_at": due}
        for i in range(n)
    ]


def _states(engine: Engine) -> dict[str, int]:
    t = Delivery.__table__.c
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(t.state, sa.func.count()).group_by(t.state)).all())


def test_migrations_build_exactly_the_models(engine: Engine) -> None:
    assert pending_migrations(engine) == []
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == []


def test_enqueue_is_idempotent_on_the_delivery_key(engine: Engine, clock: VirtualClock) -> None:
    with engine.begin() as conn:
        assert repo.enqueue_deliveries(conn=conn, rows=_deliveries(3, clock), now=clock.now()) == 3
    with engine.begin() as conn:
        assert repo.enqueue_deliveries(conn=conn, rows=_deliveries(4, clock), now=clock.now()) == 1
    assert _states(engine) == {"pending": 4}


def test_claim_takes_only_due_rows_once(engine: Engine, clock: VirtualClock) -> None:
    with engine.begin() as conn:
        repo.enqueue_deliveries(conn=conn, rows=_deliveries(5, clock), now=clock.now())
        later = _deliveries(2, clock, offset=timedelta(minutes=5))
        for row in later:
            row["ref"] = "later"
        repo.enqueue_deliveries(conn=conn, rows=later, now=clock.now())

    first = repo.claim_deliveries(engine=engine, now=clock.now(), worker="a", limit=3, lease=LEASE)
    second = repo.claim_deliveries(
        engine=engine, now=clock.now(), worker="b", limit=10, lease=LEASE
    )
    assert len(first) == 3 and len(second) == 2
    assert {r.id for r in first}.isdisjoint({r.id for r in second})
    # A claim is not an attempt: only what Slack answered (or did not) counts.
    assert all(r.state == "claimed" and r.attempts == 0 for r in first + second)
    assert (
        repo.claim_deliveries(engine=engine, now=clock.now(), worker="c", limit=10, lease=LEASE)
        == []
    )


def test_an_expired_lease_is_reclaimed_and_marked_for_reconciling(
    engine: Engine, clock: VirtualClock
) -> None:
    with engine.begin() as conn:
        repo.enqueue_deliveries(conn=conn, rows=_deliveries(1, clock), now=clock.now())
    (row,) = repo.claim_deliveries(
        engine=engine, now=clock.now(), worker="dead", limit=1, lease=LEASE
    )
    assert not row.needs_reconcile

    clock.advance(LEASE - timedelta(seconds=1))
    assert (
        repo.claim_deliveries(engine=engine, now=clock.now(), worker="b", limit=1, lease=LEASE)
        == []
    )

    clock.advance(timedelta(seconds=2))
    (again,) = repo.claim_deliveries(
        engine=engine, now=clock.now(), worker="b", limit=1, lease=LEASE
    )
    assert again.id == row.id and again.claimed_by == "b" and again.attempts == 0
    assert again.needs_reconcile

    # The fencing check: the dead worker cannot renew (so will not post) a row it lost.
    kwargs = {"now": clock.now(), "lease": LEASE}
    assert repo.renew_lease(engine=engine, delivery_id=row.id, worker="dead", **kwargs) is False
    assert repo.renew_lease(engine=engine, delivery_id=row.id, worker="b", **kwargs) is True

    # The dead worker's late answer does not overwrite the new claimer's row.
    stale = repo.DeliveryOutcome(row.id, DeliveryState.SENT, message_ts="1.0")
    assert (
        repo.finish_deliveries(engine=engine, outcomes=[stale], worker="dead", now=clock.now()) == 0
    )
    fresh = repo.DeliveryOutcome(row.id, DeliveryState.SENT, message_ts="2.0", channel="D1")
    assert repo.finish_deliveries(engine=engine, outcomes=[fresh], worker="b", now=clock.now()) == 1
    assert _states(engine) == {"sent": 1}


def test_paused_workspaces_are_not_claimed(engine: Engine, clock: VirtualClock) -> None:
    with engine.begin() as conn:
        repo.upsert_installation(conn=conn, team_id="T1", now=clock.now(), bot_token="xoxb-1")
    with engine.begin() as conn:
        repo.enqueue_deliveries(conn=conn, rows=_deliveries(2, clock), now=clock.now())
    repo.pause_installation(engine=engine, team_id="T1", reason="token_revoked", now=clock.now())
    assert (
        repo.claim_deliveries(engine=engine, now=clock.now(), worker="a", limit=10, lease=LEASE)
        == []
    )

    with engine.begin() as conn:  # reinstalled: the pause lifts
        repo.upsert_installation(conn=conn, team_id="T1", now=clock.now(), bot_token="xoxb-2")
    assert (
        len(
            repo.claim_deliveries(engine=engine, now=clock.now(), worker="a", limit=10, lease=LEASE)
        )
        == 2
    )


def test_inbox_keeps_one_row_per_provider_id(engine: Engine, clock: VirtualClock) -> None:
    kwargs = {"source": "slack", "external_id": "Ev1", "body": "{}", "now": clock.now()}
    assert repo.store_inbox(engine=engine, **kwargs) is True
    assert repo.store_inbox(engine=engine, **kwargs) is False
    (row,) = repo.claim_inbox(engine=engine, now=clock.now(), worker="w", lease=LEASE)
    repo.finish_inbox(engine=engine, item_id=row.id, worker="w", now=clock.now())
    assert repo.store_inbox(engine=engine, **kwargs) is False  # processed ids stay deduplicated
    assert repo.claim_inbox(engine=engine, now=clock.now(), worker="w", lease=LEASE) == []


@pytest.mark.postgres
def test_two_instances_installing_at_once_both_start(
    postgres_url: str, clock: VirtualClock
) -> None:
    """Two ``heedful run`` instances starting together on one fresh PostgreSQL database both
    record the install. (SQLite runs one writer at a time, so only PostgreSQL can race.)

    The first holds its new row uncommitted while the second writes the same workspace:
    the second waits on the key, then updates the row instead of failing on it.
    """
    first = make_engine(postgres_url)
    upgrade(first)
    second = make_engine(postgres_url, connect_args={"application_name": "second-install"})
    failures: list[BaseException] = []

    def install_second() -> None:
        try:
            with second.begin() as conn:
                repo.upsert_installation(conn=conn, team_id="T1", now=clock.now(), bot_token="b")
        except BaseException as exc:
            failures.append(exc)

    def second_waits_on_the_key() -> bool:
        with first.connect() as conn:
            return bool(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND application_name = 'second-install'"
                    )
                ).scalar_one()
            )

    with first.begin() as conn:
        repo.upsert_installation(conn=conn, team_id="T1", now=clock.now(), bot_token="a")
        thread = threading.Thread(target=install_second)
        thread.start()
        wait_until(second_waits_on_the_key, what="the second install waiting on the key")
    thread.join(30)
    assert failures == [] and not thread.is_alive()
    with first.connect() as conn:
        rows = conn.execute(sa.select(repo.INSTALLATION.c.bot_token)).scalars().all()
    assert rows == ["b"]
    first.dispose()
    second.dispose()


def test_migration_0007_drops_the_old_default_of_four_questions_written_out(db_url: str) -> None:
    """Before 0007 no form offered "questions a day": a stored 4 is the old default
    written out with the other settings, and gives way to the new default (2); any other
    value stays (and reads as at most 4)."""
    from bot.prefs import Prefs

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0006")
        users = sa.table(
            "slack_user",
            sa.column("team_id", sa.String()),
            sa.column("slack_user_id", sa.String()),
            sa.column("prefs", sa.JSON()),
        )
        stored = {
            "U1": {"max_reflections_per_day": 4, "lead_minutes": 10},
            "U2": {"max_reflections_per_day": 3},
            "U3": {"max_reflections_per_day": 12},
            "U4": {},
        }
        with engine.begin() as conn:
            conn.execute(
                sa.insert(users),
                [{"team_id": "T1", "slack_user_id": u, "prefs": p} for u, p in stored.items()],
            )
        upgrade(engine)
        with engine.connect() as conn:
            after = dict(conn.execute(sa.select(users.c.slack_user_id, users.c.prefs)).all())
    finally:
        engine.dispose()
    assert after == {
        "U1": {"lead_minutes": 10},
        "U2": {"max_reflections_per_day": 3},
        "U3": {"max_reflections_per_day": 12},
        "U4": {},
    }
    assert [Prefs.from_json(after[u]).max_reflections_per_day for u in sorted(after)] == [
        2,
        3,
        4,
        2,
    ]

"""The microsoft_calendar table's SQL (``bot.storage.microsoft_calendars``) on SQLite and
PostgreSQL: the row joined with its source, subscriptions, the notification counter."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.clock import VirtualClock
from bot.storage import calendar_sources
from bot.storage import microsoft_calendars as store


def _calendar(
    engine: Engine, clock: VirtualClock, *, team_id: str = "T1", user_id: str = "U1", **values
) -> int:
    with engine.begin() as conn:
        source_id = calendar_sources.add_source(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kind="microsoft",
            url="",
            now=clock.now(),
            status="ok",
        )
        store.add_calendar(
            conn=conn,
            source_id=source_id,
            team_id=team_id,
            user_id=user_id,
            now=clock.now(),
            token_cache=f"sealed-{source_id}",
            **values,
        )
    return source_id


def _get(engine: Engine, source_id: int) -> store.CalendarWithSource:
    with engine.connect() as conn:
        found = store.calendar(conn=conn, source_id=source_id)
    assert found is not None
    return found


def test_a_calendar_is_read_with_its_own_source(engine: Engine, clock: VirtualClock) -> None:
    other = _calendar(engine, clock, user_id="U2")
    mine = _calendar(engine, clock, account="ana@example.com", delta_link="d")
    told = clock.now() - timedelta(hours=1)
    with engine.begin() as conn:
        calendar_sources.update_source(
            conn=conn, source_id=mine, status="broken", broken_notified_at=told
        )

    row = _get(engine, mine)

    assert (row.source_id, row.user_id, row.account, row.delta_link) == (
        mine,
        "U1",
        "ana@example.com",
        "d",
    )
    assert (row.token_cache, row.status, row.broken_notified_at) == (
        f"sealed-{mine}",
        "broken",
        told,
    )
    assert (row.notified, row.synced_notified, row.expanded_until) == (0, 0, None)
    assert _get(engine, other).status == "ok" and _get(engine, other).broken_notified_at is None
    with engine.connect() as conn:
        assert store.calendar(conn=conn, source_id=mine + other + 100) is None


def test_calendars_are_those_of_the_workspace_person_or_source_asked(
    engine: Engine, clock: VirtualClock
) -> None:
    a = _calendar(engine, clock, user_id="U1")
    b = _calendar(engine, clock, user_id="U2")
    _calendar(engine, clock, team_id="T2", user_id="U1")

    with engine.connect() as conn:
        assert [c.source_id for c in store.calendars(conn=conn, team_id="T1")] == [a, b]
        mine = store.calendars(conn=conn, team_id="T1", user_id="U1")
        assert [c.source_id for c in mine] == [a]
        assert store.calendars(conn=conn, team_id="T1", source_id=b)[0].user_id == "U2"
        assert store.calendars(conn=conn, team_id="T1", user_id="U1", source_id=b) == []


def test_calendars_are_found_by_their_subscriptions(engine: Engine, clock: VirtualClock) -> None:
    a = _calendar(engine, clock, subscription_id="s-a")
    b = _calendar(engine, clock, subscription_id="s-b")
    _calendar(engine, clock, subscription_id="s-c")
    _calendar(engine, clock)

    with engine.connect() as conn:
        found = store.by_subscriptions(conn=conn, subscription_ids={"s-a", "s-b", "s-x"})
        assert store.by_subscriptions(conn=conn, subscription_ids=set()) == {}

    assert {k: v.source_id for k, v in found.items()} == {"s-a": a, "s-b": b}


def test_an_update_touches_only_its_calendar(engine: Engine, clock: VirtualClock) -> None:
    other = _calendar(engine, clock)
    mine = _calendar(engine, clock)

    with engine.begin() as conn:
        assert store.update_calendar(conn=conn, source_id=mine, token_cache="new", delta_link="d")
        assert not store.update_calendar(conn=conn, source_id=mine + other + 100, delta_link="x")

    assert (_get(engine, mine).token_cache, _get(engine, mine).delta_link) == ("new", "d")
    assert (_get(engine, other).token_cache, _get(engine, other).delta_link) == (
        f"sealed-{other}",
        None,
    )


def test_a_renewed_end_is_kept_only_while_the_subscription_is_the_same(
    engine: Engine, clock: VirtualClock
) -> None:
    source_id = _calendar(engine, clock, subscription_id="s2")
    ends = clock.now() + timedelta(days=3)

    with engine.begin() as conn:
        replaced = store.note_subscription_end(
            conn=conn, source_id=source_id, subscription_id="s1", expires_at=ends
        )
        assert store.calendar(conn=conn, source_id=source_id).subscription_expires_at is None  # type: ignore[union-attr]
        current = store.note_subscription_end(
            conn=conn, source_id=source_id, subscription_id="s2", expires_at=ends
        )

    assert (replaced, current) == (False, True)
    assert _get(engine, source_id).subscription_expires_at == ends


def test_each_notification_batch_gets_the_next_number(engine: Engine, clock: VirtualClock) -> None:
    other = _calendar(engine, clock)
    mine = _calendar(engine, clock)

    with engine.begin() as conn:
        numbers = [store.count_notified(conn=conn, source_id=mine) for _ in range(3)]
        gone = store.count_notified(conn=conn, source_id=mine + other + 100)

    assert (numbers, gone) == ([1, 2, 3], None)
    assert (_get(engine, mine).notified, _get(engine, other).notified) == (3, 0)


def test_a_deleted_calendar_is_gone_and_only_it(engine: Engine, clock: VirtualClock) -> None:
    other = _calendar(engine, clock)
    mine = _calendar(engine, clock)

    with engine.begin() as conn:
        assert store.delete_calendar(conn=conn, source_id=mine)
        assert not store.delete_calendar(conn=conn, source_id=mine)
        assert store.calendar(conn=conn, source_id=mine) is None
        assert store.calendar(conn=conn, source_id=other) is not None

"""The google_calendar table's SQL (``bot.storage.google_calendars``) on SQLite and
PostgreSQL: the row joined with its source, the channel guards, the push counter."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.clock import VirtualClock
from bot.storage import calendar_sources
from bot.storage import google_calendars as store


def _calendar(
    engine: Engine, clock: VirtualClock, *, team_id: str = "T1", user_id: str = "U1", **values
) -> int:
    with engine.begin() as conn:
        source_id = calendar_sources.add_source(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kind="google",
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
            tokens=f"sealed-{source_id}",
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
    mine = _calendar(engine, clock, account="ana@example.com", zone="Europe/Berlin")
    until = clock.now() + timedelta(days=14)
    with engine.begin() as conn:
        calendar_sources.update_source(
            conn=conn, source_id=mine, status="broken", expanded_until=until
        )

    row = _get(engine, mine)

    assert (row.source_id, row.user_id, row.account, row.zone) == (
        mine,
        "U1",
        "ana@example.com",
        "Europe/Berlin",
    )
    assert (row.tokens, row.status, row.expanded_until) == (f"sealed-{mine}", "broken", until)
    assert row.broken_notified_at is None and row.created_at == clock.now()
    assert _get(engine, other).status == "ok" and _get(engine, other).expanded_until is None
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


def test_a_push_channel_is_found_by_its_current_or_old_id(
    engine: Engine, clock: VirtualClock
) -> None:
    _calendar(engine, clock, channel_id="other", old_channel_id="other-old")
    mine = _calendar(engine, clock, channel_id="new", old_channel_id="old")

    with engine.connect() as conn:
        by_new = store.by_channel(conn=conn, channel_id="new")
        by_old = store.by_channel(conn=conn, channel_id="old")
        assert store.by_channel(conn=conn, channel_id="unknown") is None
    assert by_new is not None and by_old is not None
    assert by_new.source_id == by_old.source_id == mine


def test_an_update_touches_only_its_calendar(engine: Engine, clock: VirtualClock) -> None:
    other = _calendar(engine, clock)
    mine = _calendar(engine, clock)

    with engine.begin() as conn:
        assert store.update_calendar(conn=conn, source_id=mine, tokens="new", sync_token="s")
        assert not store.update_calendar(conn=conn, source_id=mine + other + 100, tokens="x")

    assert (_get(engine, mine).tokens, _get(engine, mine).sync_token) == ("new", "s")
    assert (_get(engine, other).tokens, _get(engine, other).sync_token) == (f"sealed-{other}", None)


def test_a_channel_is_noted_open_only_while_it_is_the_current_one(
    engine: Engine, clock: VirtualClock
) -> None:
    source_id = _calendar(engine, clock, channel_id="c2")
    ends = clock.now() + timedelta(days=7)

    with engine.begin() as conn:
        stale = store.note_channel_opened(
            conn=conn, source_id=source_id, channel_id="c1", resource_id="r1", expires_at=ends
        )
        current = store.note_channel_opened(
            conn=conn, source_id=source_id, channel_id="c2", resource_id="r2", expires_at=ends
        )

    assert (stale, current) == (False, True)
    row = _get(engine, source_id)
    assert (row.resource_id, row.channel_expires_at) == ("r2", ends)


def test_an_old_channel_is_forgotten_only_when_it_is_the_one_named(
    engine: Engine, clock: VirtualClock
) -> None:
    old = {"old_channel_token": "t", "old_resource_id": "r", "old_last_message": 4}
    source_id = _calendar(engine, clock, channel_id="c2", old_channel_id="c1", **old)
    first = _calendar(engine, clock, channel_id="c1")  # its first channel: no old one

    with engine.begin() as conn:
        assert not store.forget_old_channel(conn=conn, source_id=source_id, channel_id="c0")
        assert store.calendar(conn=conn, source_id=source_id).old_channel_id == "c1"  # type: ignore[union-attr]
        assert store.forget_old_channel(conn=conn, source_id=source_id, channel_id="c1")
        # None stands for "no old channel" (IS NULL), as the first opening passes it
        assert store.forget_old_channel(conn=conn, source_id=first, channel_id=None)

    row = _get(engine, source_id)
    assert (row.old_channel_id, row.old_channel_token, row.old_resource_id) == (None, None, None)
    assert (row.old_last_message, row.channel_id) == (0, "c2")


def test_a_push_message_number_only_moves_up_on_its_own_channel(
    engine: Engine, clock: VirtualClock
) -> None:
    source_id = _calendar(
        engine, clock, channel_id="new", last_message=5, old_channel_id="old", old_last_message=9
    )

    def advance(channel_id: str, current: bool, number: int) -> bool:
        with engine.begin() as conn:
            return store.advance_message(
                conn=conn,
                source_id=source_id,
                channel_id=channel_id,
                current=current,
                number=number,
            )

    assert advance("new", True, 6)
    assert not advance("new", True, 6)  # repeated
    assert not advance("new", True, 3)  # stale
    assert not advance("old", True, 7)  # not the current channel
    assert not advance("old", False, 9)
    assert advance("old", False, 10)
    assert not advance("new", False, 20)  # not the old channel
    row = _get(engine, source_id)
    assert (row.last_message, row.old_last_message) == (6, 10)


def test_a_deleted_calendar_is_gone_and_only_it(engine: Engine, clock: VirtualClock) -> None:
    other = _calendar(engine, clock)
    mine = _calendar(engine, clock)

    with engine.begin() as conn:
        assert store.delete_calendar(conn=conn, source_id=mine)
        assert not store.delete_calendar(conn=conn, source_id=mine)
        assert store.calendar(conn=conn, source_id=mine) is None
        assert store.calendar(conn=conn, source_id=other) is not None

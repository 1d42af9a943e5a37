"""The leader_why table's SQL (``bot.storage.leader_why``) on SQLite and PostgreSQL: one
row per person, a focus that keeps its start while the practice stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.clock import VirtualClock
from bot.storage import leader_why as store


def _save(
    engine: Engine,
    clock: VirtualClock,
    text: str,
    practice: str,
    *,
    user_id: str = "U1",
    suggested: bool = True,
) -> None:
    with engine.begin() as conn:
        store.save_why(
            conn=conn,
            team_id="T1",
            user_id=user_id,
            text=text,
            focus_practice=practice,
            suggested=suggested,
            now=clock.now(),
        )


def _why(engine: Engine, user_id: str = "U1") -> store.StoredWhy | None:
    with engine.connect() as conn:
        return store.why(conn=conn, team_id="T1", user_id=user_id)


def test_saving_again_keeps_the_start_of_the_same_practice_and_moves_it_for_another(
    engine: Engine, clock: VirtualClock
) -> None:
    start = clock.now()
    _save(engine, clock, "sealed-1", "observe-listen-ask")
    clock.advance(timedelta(days=3))
    _save(engine, clock, "sealed-2", "observe-listen-ask", suggested=False)

    kept = _why(engine)
    assert kept == store.StoredWhy(
        team_id="T1",
        user_id="U1",
        text="sealed-2",
        focus_practice="observe-listen-ask",
        focus_since=start,
        focus_suggested=False,
    )

    clock.advance(timedelta(days=3))
    _save(engine, clock, "sealed-3", "be-present")
    moved = _why(engine)
    assert moved is not None
    assert (moved.text, moved.focus_practice, moved.focus_since, moved.focus_suggested) == (
        "sealed-3",
        "be-present",
        clock.now(),
        True,
    )
    assert _why(engine, "U2") is None


def test_whys_are_read_for_the_people_asked_only(engine: Engine, clock: VirtualClock) -> None:
    for user_id in ("U1", "U2", "U3"):
        _save(engine, clock, f"sealed-{user_id}", "be-present", user_id=user_id)

    with engine.connect() as conn:
        found = store.whys(
            conn=conn, people=[("T1", "U1"), ("T1", "U3"), ("T1", "U1"), ("T2", "U2")]
        )
        assert store.whys(conn=conn, people=[]) == []

    assert sorted((w.user_id, w.text) for w in found) == [("U1", "sealed-U1"), ("U3", "sealed-U3")]


def test_a_focus_is_read_without_the_words(engine: Engine, clock: VirtualClock) -> None:
    _save(engine, clock, "sealed", "be-present")

    with engine.connect() as conn:
        found = store.focus(conn=conn, team_id="T1", user_id="U1")
        assert store.focus(conn=conn, team_id="T1", user_id="U2") is None

    assert found == store.StoredFocus(practice="be-present", since=clock.now())


def test_setting_a_focus_needs_a_why_and_restarts_only_another_practice(
    engine: Engine, clock: VirtualClock
) -> None:
    start = clock.now()
    _save(engine, clock, "sealed", "be-present")
    clock.advance(timedelta(days=1))

    def set_focus(practice: str, user_id: str = "U1") -> bool:
        with engine.begin() as conn:
            return store.set_focus(
                conn=conn, team_id="T1", user_id=user_id, practice=practice, now=clock.now()
            )

    assert not set_focus("be-present", "U2")
    assert set_focus("be-present")
    same = _why(engine)
    assert same is not None
    assert (same.focus_since, same.focus_suggested, same.text) == (start, False, "sealed")
    clock.advance(timedelta(days=1))
    assert set_focus("observe-listen-ask")
    other = _why(engine)
    assert other is not None
    assert (other.focus_practice, other.focus_since) == ("observe-listen-ask", clock.now())


def test_owning_a_focus_changes_nothing_once_the_focus_moved_on(
    engine: Engine, clock: VirtualClock
) -> None:
    start = clock.now()
    _save(engine, clock, "sealed", "be-present")
    clock.advance(timedelta(days=21))

    def own(practice: str) -> bool:
        with engine.begin() as conn:
            return store.own_focus(
                conn=conn, team_id="T1", user_id="U1", practice=practice, now=clock.now()
            )

    assert not own("observe-listen-ask")
    assert _why(engine) is not None and _why(engine).focus_suggested  # type: ignore[union-attr]
    assert own("be-present")
    owned = _why(engine)
    assert owned is not None
    assert (owned.focus_practice, owned.focus_since, owned.focus_suggested) == (
        "be-present",
        start,
        False,
    )

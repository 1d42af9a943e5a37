"""The SQL of table ``occurrence`` (``bot.storage.occurrences``) on SQLite and PostgreSQL:
each read finds exactly the person's rows it names, each write changes only those."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.clock import VirtualClock
from bot.storage import occurrences as store
from bot.storage.models import MAX_TITLE

H = timedelta(hours=1)


def _row(
    key: str,
    start: datetime,
    *,
    user: str = "U1",
    team: str = "T1",
    source: str = "ics:1",
    length: timedelta = H,
    **values: Any,
) -> dict[str, Any]:
    uid, _, rid = key.partition("/")
    row: dict[str, Any] = {
        "team_id": team,
        "user_id": user,
        "source": source,
        "key": f"{source}|{key}",
        "series_key": f"{source}|{uid}",
        "uid": uid,
        "recurrence_id": rid or None,
        "title": key,
        "start_at": start,
        "end_at": start + length,
        "all_day": False,
        "status": "confirmed",
        "attendees": 2,
        "people": ["ben@example.com"],
        "organizer": None,
        "self_response": "accepted",
        "transparent": False,
        "conference_url": None,
        "external": False,
        "recurring": bool(rid),
        "category": None,
        "skip_reason": None,
        "ical_uid": None,
        "updated_at": start,
        "event_id": None,
    }
    row.update(values)
    return row


def _store(engine: Engine, *rows: dict[str, Any]) -> None:
    with engine.begin() as conn:
        store.insert_occurrences(conn=conn, rows=rows)


def _keys(rows: Any) -> list[str]:
    return sorted(r.key for r in rows)


def _all(engine: Engine, user: str = "U1") -> list[str]:
    with engine.connect() as conn:
        return _keys(
            store.ending_from(
                conn=conn,
                team_id="T1",
                user_id=user,
                since=datetime(2000, 1, 1, tzinfo=UTC),
                before=datetime(2100, 1, 1, tzinfo=UTC),
            )
        )


def test_a_stored_row_reads_back_equal_to_the_values_that_wrote_it(
    engine: Engine, clock: VirtualClock
) -> None:
    values = _row("a", clock.now(), people=["ana@example.com", "ben@example.com"], event_id="e1")
    _store(engine, values)
    with engine.connect() as conn:
        found = store.by_key(conn=conn, team_id="T1", user_id="U1", key="ics:1|a")
    assert found is not None
    assert isinstance(found.id, int)
    # bot.occurrences rewrites a row only when one of these differs: none may.
    assert {name: getattr(found, name) for name in values} == values
    assert store.column_length("title") == MAX_TITLE


def test_stored_for_source_takes_the_window_of_the_source_and_the_keys_named(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    _store(
        engine,
        _row("before", now - 2 * H),
        _row("in", now),
        _row("at-end", now + 3 * H),
        _row("other-source", now, source="ics:2"),
        _row("named", now - 5 * H, source="ics:2"),
        _row("in", now, user="U2"),
    )
    window = (now - H, now + 3 * H)
    with engine.connect() as conn:
        found = store.stored_for_source(
            conn=conn,
            team_id="T1",
            user_id="U1",
            source="ics:1",
            window=window,
            keys=["ics:2|named", "ics:1|nowhere"],
        )
        assert sorted(found) == ["ics:1|in", "ics:2|named"]
        assert found["ics:1|in"].user_id == "U1"
        unwindowed = store.stored_for_source(
            conn=conn, team_id="T1", user_id="U1", source="ics:1", window=None, keys=[]
        )
        assert sorted(unwindowed) == ["ics:1|at-end", "ics:1|before", "ics:1|in"]


def test_update_and_delete_change_only_the_rows_named(engine: Engine, clock: VirtualClock) -> None:
    now = clock.now()
    _store(
        engine,
        _row("a", now),
        _row("b", now),
        _row("c", now, source="ics:2"),
        _row("a", now, user="U2"),
    )
    with engine.connect() as conn:
        a = store.by_key(conn=conn, team_id="T1", user_id="U1", key="ics:1|a")
        b = store.by_key(conn=conn, team_id="T1", user_id="U1", key="ics:1|b")
    assert a is not None and b is not None
    with engine.begin() as conn:
        store.update_occurrences(
            conn=conn, changes=[(a.id, {"title": "Renamed"}), (b.id, {"title": "b"})]
        )
    with engine.connect() as conn:
        assert store.series_titles(
            conn=conn, team_id="T1", user_id="U1", series_keys=["ics:1|a", "ics:1|b"]
        ) == {"ics:1|a": "Renamed", "ics:1|b": "b"}
        assert (
            store.series_title(conn=conn, team_id="T1", user_id="U2", series_key="ics:1|a") == "a"
        )
    with engine.begin() as conn:
        assert store.delete_occurrences(conn=conn, ids=[b.id]) == 1
        assert store.delete_occurrences(conn=conn, ids=[]) == 0
    assert _all(engine) == ["ics:1|a", "ics:2|c"]
    with engine.begin() as conn:
        assert store.delete_source(conn=conn, team_id="T1", user_id="U1", source="ics:1") == 1
    assert _all(engine) == ["ics:2|c"]
    assert _all(engine, "U2") == ["ics:1|a"]


def test_event_ids_are_kept_by_key_and_found_by_source(engine: Engine, clock: VirtualClock) -> None:
    now = clock.now()
    _store(
        engine,
        _row("a", now),
        _row("b", now, event_id="old"),
        _row("c", now),
        _row("a", now, user="U2"),
    )
    with engine.begin() as conn:
        store.set_event_ids(
            conn=conn,
            team_id="T1",
            user_id="U1",
            event_ids=[("ics:1|a", "ea"), ("ics:1|b", "eb"), ("ics:1|gone", "eg")],
        )
        store.set_event_ids(conn=conn, team_id="T1", user_id="U1", event_ids=[])
    with engine.connect() as conn:

        def by_ids(user: str, source: str, ids: list[str]) -> list[str]:
            return _keys(
                store.by_event_ids(
                    conn=conn, team_id="T1", user_id=user, source=source, event_ids=ids
                )
            )

        assert by_ids("U1", "ics:1", ["ea", "eb", "eb", "eg"]) == ["ics:1|a", "ics:1|b"]
        assert by_ids("U1", "ics:1", ["old"]) == []  # replaced
        assert by_ids("U1", "ics:2", ["ea"]) == []
        assert by_ids("U2", "ics:1", ["ea"]) == []  # another person's row of the same key


def test_rows_are_found_by_key_and_by_uid(engine: Engine, clock: VirtualClock) -> None:
    now = clock.now()
    _store(
        engine,
        _row("s/1", now),
        _row("s/2", now + H),
        _row("t/1", now),
        _row("t/2", now + H),
        _row("u", now),
        _row("s/1", now, source="ics:2"),
        _row("s/1", now, user="U2"),
    )
    with engine.connect() as conn:
        assert store.by_key(conn=conn, team_id="T1", user_id="U1", key="ics:1|nothing") is None
        mine = store.by_keys(conn=conn, team_id="T1", user_id="U1", keys=["ics:1|s/1", "ics:2|s/1"])
        assert [(r.key, r.user_id) for r in sorted(mine, key=lambda r: r.key)] == [
            ("ics:1|s/1", "U1"),
            ("ics:2|s/1", "U1"),
        ]
        assert store.by_keys(conn=conn, team_id="T1", user_id="U1", keys=[]) == []

        def by_uids(series: list[str], instances: list[tuple[str, str]]) -> list[str]:
            return _keys(
                store.by_uids(
                    conn=conn,
                    team_id="T1",
                    user_id="U1",
                    source="ics:1",
                    series=series,
                    instances=instances,
                )
            )

        assert by_uids(["s"], []) == ["ics:1|s/1", "ics:1|s/2"]
        assert by_uids([], [("t", "2")]) == ["ics:1|t/2"]
        assert by_uids(["u"], [("t", "1"), ("s", "9")]) == ["ics:1|t/1", "ics:1|u"]
        assert by_uids([], []) == []


def test_the_windows_read_bound_each_end_as_documented(engine: Engine, clock: VirtualClock) -> None:
    now = clock.now()
    _store(
        engine,
        _row("ends-at-since", now - H),
        _row("ended", now - 2 * H),
        _row("late", now + 4 * H),
        _row("starts-at-before", now + 2 * H),
        _row("inside", now + H),
        _row("first", now - 3 * H),
        _row("other", now + H, user="U2"),
    )
    with engine.connect() as conn:
        planned = store.ending_from(
            conn=conn, team_id="T1", user_id="U1", since=now, before=now + 2 * H
        )
        assert _keys(planned) == ["ics:1|ends-at-since", "ics:1|inside"]
        seen = store.overlapping(
            conn=conn, team_id="T1", user_id="U1", start=now, end=now + 2 * H + timedelta(seconds=1)
        )
        assert [r.key for r in seen] == ["ics:1|inside", "ics:1|starts-at-before"]  # by start
        assert store.first_start(conn=conn, team_id="T1", user_id="U1") == now - 3 * H
        assert store.first_start(conn=conn, team_id="T1", user_id="U9") is None


def test_people_met_are_those_of_small_meetings_not_skipped_in_the_span(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    _store(
        engine,
        _row("kept", now - 2 * H, people=["ana@x", "ben@x"]),
        _row("empty", now - 2 * H, people=[]),
        _row("skipped", now - 2 * H, people=["sam@x"], skip_reason="solo"),
        _row("large", now - 2 * H, people=["lea@x"], attendees=9),
        _row("as-large-as-may-be", now - 3 * H, people=["max@x"], attendees=8),
        _row("too-early", now - 5 * H, people=["old@x"]),
        _row("at-since", now - 4 * H, people=["cal@x"]),
        _row("at-before", now, people=["now@x"]),
        _row("other", now - 2 * H, people=["eve@x"], user="U2"),
    )
    with engine.connect() as conn:
        met = store.people_met(
            conn=conn,
            team_id="T1",
            user_id="U1",
            since=now - 4 * H,
            before=now,
            max_attendees=8,
        )
    assert met == frozenset({"ana@x", "ben@x", "cal@x", "max@x"})


@pytest.mark.parametrize(
    ("values", "busy"),
    [
        ({}, True),
        ({"self_response": None}, True),
        ({"self_response": "tentative"}, True),
        ({"self_response": "declined"}, False),
        ({"status": "cancelled"}, False),
        ({"transparent": True}, False),
        ({"all_day": True}, False),
    ],
)
def test_busy_spans_are_the_entries_that_keep_the_person_busy(
    engine: Engine, clock: VirtualClock, values: dict[str, Any], busy: bool
) -> None:
    now = clock.now()
    _store(engine, _row("x", now, **values))
    with engine.connect() as conn:
        spans = store.busy_spans(
            conn=conn,
            team_ids=["T1"],
            user_ids=["U1"],
            starting_from=now - H,
            starting_before=now + H,
            ending_after=now,
        )
    assert spans == ([("T1", "U1", now, now + H)] if busy else [])


def test_busy_spans_keep_to_the_people_and_the_times_named(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    _store(
        engine,
        _row("a", now - H, length=2 * H),
        _row("b", now + H, user="U2"),
        _row("c", now + H, team="T2"),
        _row("ended-at-now", now - H),
        _row("too-early", now - 3 * H, length=10 * H),
        _row("at-the-end", now + 2 * H),
        _row("someone-else", now, user="U3"),
    )
    with engine.connect() as conn:
        spans = store.busy_spans(
            conn=conn,
            team_ids=["T1", "T2", "T1"],
            user_ids=["U1", "U2"],
            starting_from=now - 2 * H,
            starting_before=now + 2 * H,
            ending_after=now,
        )
    assert sorted(spans) == [
        ("T1", "U1", now - H, now + H),
        ("T1", "U2", now + H, now + 2 * H),
        ("T2", "U1", now + H, now + 2 * H),
    ]
    with engine.connect() as conn:
        assert store.series_titles(conn=conn, team_id="T1", user_id="U1", series_keys=[]) == {}


def test_a_series_is_named_by_the_greatest_of_its_titles(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    _store(
        engine,
        _row("s/1", now, title="Beta"),
        _row("s/2", now + H, title="Gamma"),
        _row("s/3", now + 2 * H, title="Alpha"),
        _row("t", now, title="Other"),
        _row("s/1", now, title="Zeta", user="U2"),
    )
    with engine.connect() as conn:
        titles = store.series_titles(
            conn=conn, team_id="T1", user_id="U1", series_keys=["ics:1|s", "ics:1|none"]
        )
        one = store.series_title(conn=conn, team_id="T1", user_id="U1", series_key="ics:1|s")
        none = store.series_title(conn=conn, team_id="T1", user_id="U1", series_key="ics:1|x")
    assert titles == {"ics:1|s": "Gamma"}
    assert one in {"Alpha", "Beta", "Gamma"}
    assert none is None


def test_a_snapshot_of_some_series_reads_only_those_series(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    _store(engine, _row("a", now), _row("b", now), _row("b/1", now + H), _row("c", now))
    with engine.connect() as conn:
        found = store.stored_for_source(
            conn=conn,
            team_id="T1",
            user_id="U1",
            source="ics:1",
            window=(now - H, now + 3 * H),
            keys=[],
            series_keys={"ics:1|b"},
        )
    assert sorted(found) == ["ics:1|b", "ics:1|b/1"]


def test_the_series_lists_of_home_find_the_person_s_series(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    day = timedelta(days=1)
    _store(
        engine,
        _row("one/1", now + day, recurring=True, attendees=2, title="1:1 Ana"),
        _row("one/2", now + 2 * day, recurring=True, attendees=2, title="1:1 Ana"),
        _row("big/1", now + 3 * H, recurring=True, attendees=9, title="All hands"),
        _row("mid/1", now + H, recurring=True, attendees=4),  # neither small nor large
        _row("once", now + H, attendees=2),  # not recurring
        _row("skipped/1", now + H, recurring=True, skip_reason="declined"),
        _row("later/1", now + 20 * day, recurring=True),  # past the horizon
        _row("past/1", now - day, recurring=True, title="Retro"),
        _row("theirs/1", now + H, recurring=True, user="U2"),
    )
    with engine.connect() as conn:
        upcoming = store.upcoming_recurring(
            conn=conn,
            team_id="T1",
            user_id="U1",
            since=now,
            until=now + 14 * day,
            at_most_attendees=2,
            at_least_attendees=6,
            limit=10,
        )
        assert [(s.series_key, s.title, s.attendees) for s in upcoming] == [
            ("ics:1|big", "All hands", 9),
            ("ics:1|one", "1:1 Ana", 2),
        ]
        assert upcoming[0].first == now + 3 * H
        assert [
            s.series_key
            for s in store.upcoming_recurring(
                conn=conn,
                team_id="T1",
                user_id="U1",
                since=now,
                until=now + 14 * day,
                at_most_attendees=2,
                at_least_attendees=6,
                limit=1,
            )
        ] == ["ics:1|big"]
        others = store.series_summaries(
            conn=conn, team_id="T1", user_id="U1", series_keys=["ics:1|past", "ics:1|theirs"]
        )
        assert [(s.series_key, s.title) for s in others] == [("ics:1|past", "Retro")]
        assert store.has_series(conn=conn, team_id="T1", user_id="U1", series_key="ics:1|past")
        assert not store.has_series(
            conn=conn, team_id="T1", user_id="U1", series_key="ics:1|theirs"
        )

"""The feedback tables' SQL (``bot.storage.feedback``) on SQLite and PostgreSQL: series,
the meetings to ask and their leases, the weekly tallies and ballots, opt-outs and the
workspace's secret. Each test scopes its rows to one person, week or workspace next to
others that must not be touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.clock import VirtualClock
from bot.storage import feedback as store
from bot.storage.models import OccurrenceRow, Reflection

OCC = OccurrenceRow.__table__  # type: ignore[attr-defined]
REF = Reflection.__table__  # type: ignore[attr-defined]
LEASE = timedelta(minutes=15)


def _meeting(engine: Engine, **values: Any) -> int:
    """A ``feedback_meeting`` row as a test wants it (waiting, for T1/U1, by default)."""
    row = {
        "team_id": "T1",
        "user_id": "U1",
        "series_key": "s",
        "people": ["a@example.com"],
        "state": store.WAITING,
        "asked": 0,
        "updated_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        **values,
    }
    with engine.begin() as conn:
        return int(
            conn.execute(sa.insert(store.MEETING).returning(store.MEETING.c.id), row).scalar_one()
        )


def _meetings(engine: Engine) -> dict[int, Any]:
    with engine.connect() as conn:
        return {row.id: row for row in conn.execute(sa.select(store.MEETING))}


def _occurrence(engine: Engine, key: str, end: datetime, **values: Any) -> int:
    row = {
        "team_id": "T1",
        "user_id": "U1",
        "source": "ics:1",
        "key": key,
        "series_key": "s",
        "uid": key,
        "title": f"Meeting {key}",
        "start_at": end - timedelta(hours=1),
        "end_at": end,
        **values,
    }
    with engine.begin() as conn:
        return int(conn.execute(sa.insert(OCC).returning(OCC.c.id), row).scalar_one())


# ------------------------------------------------------------------------------ series


def test_series_are_turned_on_once_and_read_per_person(engine: Engine, clock: VirtualClock) -> None:
    now = clock.now()
    with engine.begin() as conn:
        for _ in range(2):  # the second is ignored
            store.add_series(conn=conn, team_id="T1", user_id="U1", series_key="a", now=now)
        store.add_series(conn=conn, team_id="T1", user_id="U1", series_key="b", now=now)
        store.add_series(conn=conn, team_id="T1", user_id="U2", series_key="c", now=now)
        store.add_series(conn=conn, team_id="T2", user_id="U1", series_key="d", now=now)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.SERIES)).scalar() == 4
        mine = {"conn": conn, "team_id": "T1", "user_id": "U1"}
        assert store.series_on(**mine, series_key="a")
        assert not store.series_on(**mine, series_key="c")  # another person's
        assert not store.series_on(**mine, series_key="d")  # another workspace's
        assert store.series_with_feedback(**mine) == {"a", "b"}
        assert store.series_with_feedback(**mine, among=["b", "c", "x"]) == {"b"}
        assert store.series_with_feedback(**mine, among=[]) == set()


def test_removing_a_series_forgets_only_its_waiting_meetings(
    engine: Engine, clock: VirtualClock
) -> None:
    with engine.begin() as conn:
        store.add_series(conn=conn, team_id="T1", user_id="U1", series_key="s", now=clock.now())
        store.add_series(conn=conn, team_id="T1", user_id="U2", series_key="s", now=clock.now())
    waiting = _meeting(engine, occurrence_key="s|1")
    asked = _meeting(engine, occurrence_key="s|0", state=store.ASKED, people=[])
    other_series = _meeting(engine, occurrence_key="t|1", series_key="t")
    other_person = _meeting(engine, occurrence_key="s|1", user_id="U2")
    with engine.begin() as conn:
        store.remove_series(conn=conn, team_id="T1", user_id="U1", series_key="s")
    assert waiting not in _meetings(engine)
    assert {asked, other_series, other_person} == set(_meetings(engine))
    with engine.connect() as conn:
        assert not store.series_on(conn=conn, team_id="T1", user_id="U1", series_key="s")
        assert store.series_on(conn=conn, team_id="T1", user_id="U2", series_key="s")


# ---------------------------------------------------------------------------- meetings


def test_kept_meetings_are_added_once_changed_and_forgotten_only_while_waiting(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    new = [store.NewMeeting("s|1", "s", ["a@x.org"]), store.NewMeeting("s|2", "s", ["b@x.org"])]
    with engine.begin() as conn:
        store.add_meetings(conn=conn, team_id="T1", user_id="U1", meetings=new, now=now)
        # Kept already: left as it is.
        again = [store.NewMeeting("s|1", "s", ["changed@x.org"])]
        store.add_meetings(conn=conn, team_id="T1", user_id="U1", meetings=again, now=now)
        store.add_meetings(conn=conn, team_id="T1", user_id="U1", meetings=[], now=now)
    theirs = _meeting(engine, occurrence_key="s|1", user_id="U2")
    with engine.connect() as conn:
        kept = store.kept_meetings(
            conn=conn, team_id="T1", user_id="U1", occurrence_keys=["s|1", "s|2", "s|3"]
        )
    assert set(kept) == {"s|1", "s|2"}
    assert kept["s|1"].people == ["a@x.org"] and kept["s|1"].state == store.WAITING
    assert theirs not in {m.id for m in kept.values()}
    stored = _meetings(engine)[kept["s|1"].id]
    assert stored.asked == 0 and stored.series_key == "s" and stored.updated_at == now

    first, second = kept["s|1"].id, kept["s|2"].id
    later = now + timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(
            sa.update(store.MEETING).where(store.MEETING.c.id == second).values(state=store.WORKING)
        )
        store.update_people(conn=conn, meeting_id=first, people=["c@x.org"], now=later)
        store.update_people(conn=conn, meeting_id=second, people=["c@x.org"], now=later)
    rows = _meetings(engine)
    assert rows[first].people == ["c@x.org"] and rows[first].updated_at == later
    assert rows[second].people == ["b@x.org"]  # being asked: as it was

    with engine.begin() as conn:
        store.forget_waiting(conn=conn, meeting_ids=[first, second])
        store.forget_waiting(conn=conn, meeting_ids=[])
    assert set(_meetings(engine)) == {second, theirs}


def test_meetings_to_ask_are_free_due_and_ended_or_gone(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    ended_by = now - timedelta(minutes=5)
    _occurrence(engine, "s|ended", ended_by - timedelta(minutes=1), skip_reason="declined")
    _occurrence(engine, "s|running", now + timedelta(minutes=10))
    _occurrence(engine, "s|ended2", ended_by)
    # The same key in someone else's calendar does not count as this meeting's occurrence.
    _occurrence(engine, "s|gone", ended_by, user_id="U2")
    ended = _meeting(engine, occurrence_key="s|ended")
    _meeting(engine, occurrence_key="s|running")
    gone = _meeting(engine, occurrence_key="s|gone")
    _meeting(engine, occurrence_key="s|later", not_before=now + timedelta(minutes=1))
    due_now = _meeting(engine, occurrence_key="s|due", not_before=now)
    _meeting(engine, occurrence_key="s|held", state=store.WORKING, lease_until=now + LEASE)
    lapsed = _meeting(
        engine,
        occurrence_key="s|lapsed",
        state=store.WORKING,
        lease_until=now - timedelta(minutes=1),
    )
    just_ended = _meeting(engine, occurrence_key="s|ended2")
    _meeting(engine, occurrence_key="s|asked", state=store.ASKED)
    _meeting(engine, occurrence_key="s|skipped", state=store.SKIPPED)

    with engine.connect() as conn:
        found = store.meetings_to_ask(conn=conn, now=now, ended_by=ended_by, limit=10)
        assert [m.id for m in found] == [ended, gone, due_now, lapsed, just_ended]
        first = found[0]
        assert (first.team_id, first.user_id, first.series_key) == ("T1", "U1", "s")
        assert first.occurrence_key == "s|ended" and first.people == ["a@example.com"]
        assert first.occurrence_id is not None and first.title == "Meeting s|ended"
        assert first.end_at == ended_by - timedelta(minutes=1)
        assert first.start_at == first.end_at - timedelta(hours=1)
        assert first.skip_reason == "declined"
        assert found[1].occurrence_id is None and found[1].end_at is None
        limited = store.meetings_to_ask(conn=conn, now=now, ended_by=ended_by, limit=2)
        assert [m.id for m in limited] == [ended, gone]


def test_a_meeting_is_held_by_one_lease_and_settled_once(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    meeting = _meeting(engine, occurrence_key="s|1")
    lease = now + LEASE
    with engine.begin() as conn:
        assert store.claim_meeting(conn=conn, meeting_id=meeting, now=now, lease_until=lease)
        assert not store.claim_meeting(conn=conn, meeting_id=meeting, now=now, lease_until=lease)
        # Held: neither forgotten nor settled by someone without the lease.
        store.forget_free(conn=conn, meeting_id=meeting, now=now)
        assert not store.settle_meeting(
            conn=conn, meeting_id=meeting, lease_until=None, state=store.SKIPPED, now=now
        )
        other = now + timedelta(minutes=1)
        assert not store.settle_meeting(
            conn=conn, meeting_id=meeting, lease_until=other, state=store.SKIPPED, now=now
        )
        # A release with another lease does nothing; with its own, it waits again.
        retry = now + timedelta(minutes=5)
        store.release_meeting(conn=conn, meeting_id=meeting, lease_until=other, not_before=retry)
    assert _meetings(engine)[meeting].state == store.WORKING
    with engine.begin() as conn:
        store.release_meeting(conn=conn, meeting_id=meeting, lease_until=lease, not_before=retry)
    row = _meetings(engine)[meeting]
    assert (row.state, row.lease_until, row.not_before) == (store.WAITING, None, retry)

    # A lapsed lease can be taken over.
    with engine.begin() as conn:
        assert store.claim_meeting(conn=conn, meeting_id=meeting, now=now, lease_until=lease)
        later = lease + timedelta(seconds=1)
        assert store.claim_meeting(conn=conn, meeting_id=meeting, now=later, lease_until=later)
        assert store.settle_meeting(
            conn=conn,
            meeting_id=meeting,
            lease_until=later,
            state=store.ASKED,
            now=later,
            reason="r" * 40,
            week="2026-W10",
        )
        store.set_asked(conn=conn, meeting_id=meeting, asked=7)
        assert not store.settle_meeting(
            conn=conn, meeting_id=meeting, lease_until=None, state=store.SKIPPED, now=later
        )
    row = _meetings(engine)[meeting]
    assert (row.state, row.reason, row.week, row.people, row.asked) == (
        store.ASKED,
        "r" * store.MAX_REASON,
        "2026-W10",
        [],
        7,
    )
    assert (row.lease_until, row.not_before, row.updated_at) == (None, None, later)


def test_a_free_meeting_is_settled_or_forgotten_without_a_lease(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    skipped = _meeting(engine, occurrence_key="s|1", week="2026-W09")
    gone = _meeting(engine, occurrence_key="s|2")
    with engine.begin() as conn:
        assert store.settle_meeting(
            conn=conn,
            meeting_id=skipped,
            lease_until=None,
            state=store.SKIPPED,
            now=now,
            reason="late",
        )
        store.forget_free(conn=conn, meeting_id=gone, now=now)
    rows = _meetings(engine)
    assert set(rows) == {skipped}
    assert (rows[skipped].state, rows[skipped].reason) == (store.SKIPPED, "late")
    assert rows[skipped].week == "2026-W09"  # no week given: left as it was


def test_settled_meetings_are_forgotten_after_a_while(engine: Engine, clock: VirtualClock) -> None:
    now = clock.now()
    old = now - timedelta(days=61)
    _meeting(engine, occurrence_key="s|1", state=store.ASKED, updated_at=old)
    _meeting(engine, occurrence_key="s|2", state=store.SKIPPED, updated_at=old)
    waiting = _meeting(engine, occurrence_key="s|3", updated_at=old)
    recent = _meeting(engine, occurrence_key="s|4", state=store.ASKED, updated_at=now)
    with engine.begin() as conn:
        store.forget_settled(conn=conn, before=now - timedelta(days=60))
    assert set(_meetings(engine)) == {waiting, recent}


def test_own_presence_is_the_leaders_own_rating_of_the_meetings_asked_about(
    engine: Engine, clock: VirtualClock
) -> None:
    now = clock.now()
    week = "2026-W10"
    _meeting(engine, occurrence_key="s|1", state=store.ASKED, week=week)
    _meeting(engine, occurrence_key="s|2", state=store.ASKED, week=week)
    _meeting(engine, occurrence_key="s|3", state=store.SKIPPED, week=week)
    _meeting(engine, occurrence_key="s|4", state=store.ASKED, week="2026-W09")
    _meeting(engine, occurrence_key="s|5", state=store.ASKED, week=week, user_id="U2")
    answers = [
        ("U1", "s|1", 4),
        ("U1", "s|2", None),  # answered without a rating
        ("U1", "s|3", 1),  # skipped: nobody was asked
        ("U1", "s|4", 1),  # another week
        ("U2", "s|1", 1),  # someone else's answer about the same meeting
        ("U2", "s|5", 2),
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(REF),
            [
                {
                    "team_id": "T1",
                    "user_id": user,
                    "occurrence_key": key,
                    "presence": presence,
                    "text": "",
                    "source": "dm",
                    "created_at": now,
                    "updated_at": now,
                }
                for user, key, presence in answers
            ],
        )
    with engine.connect() as conn:
        taps = store.own_presence(conn=conn, weeks=[("T1", "U1", week), ("T1", "U2", "2026-W09")])
    assert taps == [store.Presence("T1", "U1", week, 4)]


# ----------------------------------------------------------------------------- tallies


def _count(engine: Engine, week: str, answer: str, closes_at: datetime, leader: str = "U1") -> None:
    with engine.begin() as conn:
        store.count_answer(
            conn=conn, team_id="T1", leader_id=leader, week=week, answer=answer, closes_at=closes_at
        )


def test_answers_are_counted_per_leader_and_week(engine: Engine, clock: VirtualClock) -> None:
    closes = clock.now() + timedelta(days=3)
    for answer in ("heard", "heard", "somewhat", "not_heard", "heard"):
        _count(engine, "2026-W10", answer, closes)
    _count(engine, "2026-W11", "somewhat", closes + timedelta(days=7))
    _count(engine, "2026-W11", "not_heard", closes + timedelta(days=7), leader="U2")
    with pytest.raises(ValueError):
        _count(engine, "2026-W10", "people", closes)
    with engine.connect() as conn:
        (tally,) = store.tallies(conn=conn, weeks=[("T1", "U1", "2026-W10")])
        # Not the cross product of the teams, leaders and weeks asked for.
        both = store.tallies(conn=conn, weeks=[("T1", "U1", "2026-W10"), ("T1", "U2", "2026-W11")])
        assert store.tallies(conn=conn, weeks=[]) == []
        assert store.tally_weeks(conn=conn, team_id="T1", leader_id="U1") == [
            "2026-W10",
            "2026-W11",
        ]
        assert store.tally_weeks(conn=conn, team_id="T2", leader_id="U1") == []
    assert (tally.heard, tally.somewhat, tally.not_heard) == (3, 1, 1)
    assert (tally.people, tally.closes_at, tally.closed_at) == (None, closes, None)
    assert {(t.leader_id, t.week) for t in both} == {("U1", "2026-W10"), ("U2", "2026-W11")}


def test_weeks_close_with_their_people_or_go(engine: Engine, clock: VirtualClock) -> None:
    now = clock.now()
    for week, days in (("2026-W08", 3), ("2026-W07", 10), ("2026-W09", 0), ("2026-W10", -1)):
        _count(engine, week, "heard", now - timedelta(days=days))
        _count(engine, week, "somewhat", now - timedelta(days=days))
    with engine.connect() as conn:
        due = store.weeks_due(conn=conn, now=now, limit=10)
        assert [d.week for d in due] == ["2026-W07", "2026-W08", "2026-W09"]  # earliest first
        assert [d.week for d in store.weeks_due(conn=conn, now=now, limit=1)] == ["2026-W07"]
    by_week = {d.week: d for d in due}
    with engine.begin() as conn:
        assert store.lock_open_answers(conn=conn, tally_id=by_week["2026-W08"].id) == 2
        store.close_tally(conn=conn, tally_id=by_week["2026-W08"].id, people=2, now=now)
        assert store.lock_open_answers(conn=conn, tally_id=by_week["2026-W08"].id) is None
        store.delete_tally(conn=conn, tally_id=by_week["2026-W09"].id)
    with engine.connect() as conn:
        weeks = [("T1", "U1", w) for w in ("2026-W07", "2026-W08", "2026-W09", "2026-W10")]
        left = {t.week: t for t in store.tallies(conn=conn, weeks=weeks)}
        assert set(left) == {"2026-W07", "2026-W08", "2026-W10"}
        assert (left["2026-W08"].people, left["2026-W08"].closed_at) == (2, now)
        assert [d.week for d in store.weeks_due(conn=conn, now=now, limit=10)] == ["2026-W07"]
    _count(engine, "2026-W06", "heard", now - timedelta(days=17))  # due, not yet closed
    with engine.begin() as conn:
        store.close_tally(conn=conn, tally_id=by_week["2026-W07"].id, people=3, now=now)
        # Closed weeks that closed before the retention limit go; open ones never.
        store.forget_closed_tallies(conn=conn, closing_before=now - timedelta(days=5))
    with engine.connect() as conn:
        left = {t.week for t in store.tallies(conn=conn, weeks=[*weeks, ("T1", "U1", "2026-W06")])}
        assert left == {"2026-W06", "2026-W08", "2026-W10"}


# ----------------------------------------------------------------------------- ballots


def test_a_ballot_counts_once_and_people_are_counted_distinct(engine: Engine) -> None:
    def ballot(leader: str, week: str, ballot: str, person: str) -> bool:
        with engine.begin() as conn:
            return store.add_ballot(
                conn=conn, team_id="T1", leader_id=leader, week=week, ballot=ballot, person=person
            )

    w10, w11 = ("T1", "U1", "2026-W10"), ("T1", "U1", "2026-W11")
    assert ballot("U1", "2026-W10", "b1", "p1")
    assert not ballot("U1", "2026-W10", "b1", "p1")  # the same tap again
    assert ballot("U1", "2026-W10", "b2", "p1")  # the same person, another meeting
    assert ballot("U1", "2026-W10", "b3", "p2")
    assert ballot("U1", "2026-W11", "b4", "p3")
    assert ballot("U2", "2026-W10", "b5", "p4")
    with engine.connect() as conn:
        assert store.people_answered(conn=conn, weeks=[w10]) == {w10: 2}
        # Only the weeks asked for (not U2's 2026-W10), and none without ballots.
        wanted = [w10, w11, ("T1", "U2", "2026-W11")]
        assert store.people_answered(conn=conn, weeks=wanted) == {w10: 2, w11: 1}
        assert store.people_answered(conn=conn, weeks=[]) == {}
    with engine.begin() as conn:
        store.delete_ballots(conn=conn, team_id="T1", leader_id="U1", week="2026-W10")
    with engine.connect() as conn:
        assert store.people_answered(conn=conn, weeks=[*wanted, ("T1", "U2", "2026-W10")]) == {
            w11: 1,
            ("T1", "U2", "2026-W10"): 1,
        }


def test_erasing_a_leader_takes_their_weeks_and_ballots_only(
    engine: Engine, clock: VirtualClock
) -> None:
    closes = clock.now() + timedelta(days=1)
    for leader in ("U1", "U2"):
        _count(engine, "2026-W10", "heard", closes, leader=leader)
        with engine.begin() as conn:
            store.add_ballot(
                conn=conn,
                team_id="T1",
                leader_id=leader,
                week="2026-W10",
                ballot=f"b-{leader}",
                person="p",
            )
    with engine.begin() as conn:
        assert store.erase_leader(conn=conn, team_id="T1", leader_id="U1") == 2
        assert store.erase_leader(conn=conn, team_id="T2", leader_id="U2") == 0
    with engine.connect() as conn:
        weeks = [("T1", "U1", "2026-W10"), ("T1", "U2", "2026-W10")]
        assert [t.leader_id for t in store.tallies(conn=conn, weeks=weeks)] == ["U2"]
        assert store.people_answered(conn=conn, weeks=weeks) == {("T1", "U2", "2026-W10"): 1}


# ------------------------------------------------------------------------ opt-outs, key


def test_opt_outs_are_kept_once_per_workspace(engine: Engine, clock: VirtualClock) -> None:
    with engine.begin() as conn:
        for _ in range(2):
            store.add_opt_out(conn=conn, team_id="T1", person="h1", now=clock.now())
        store.add_opt_out(conn=conn, team_id="T2", person="h2", now=clock.now())
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.OPT_OUT)).scalar() == 2
        assert store.opted_out(conn=conn, team_id="T1", people=["h1", "h2", "h3"]) == {"h1"}
        assert store.opted_out(conn=conn, team_id="T1", people=[]) == set()


def test_the_team_secret_is_made_once(engine: Engine, clock: VirtualClock) -> None:
    made: list[str] = []

    def new_secret() -> str:
        made.append(f"secret-{len(made)}")
        return made[-1]

    with engine.begin() as conn:
        first = store.team_secret(conn=conn, team_id="T1", new_secret=new_secret, now=clock.now())
    with engine.begin() as conn:
        again = store.team_secret(conn=conn, team_id="T1", new_secret=new_secret, now=clock.now())
        other = store.team_secret(conn=conn, team_id="T2", new_secret=new_secret, now=clock.now())
    assert first == again == "secret-0" and other == "secret-1"
    assert made == ["secret-0", "secret-1"]

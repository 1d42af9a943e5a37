"""Feedback from others (tables ``feedback_series``, ``feedback_meeting``, ``feedback_tally``,
``feedback_ballot``, ``feedback_opt_out`` and ``feedback_key``): the series a leader opted
in, the meetings whose invitees are to be asked, a week's answers as counts, the keyed
hashes that count each person once, *never ask me again*, and the workspace's secret.

``bot.feedback`` decides when to ask, when a week is shown (never below its thresholds)
and what is said; this module only reads and writes. Two reads join a table of another
module, as ``bot.storage.deliveries`` does: the meetings to ask with their occurrence
(:func:`meetings_to_ask`) and the leader's own presence after them (:func:`own_presence`,
the leader's own answers only, never their text)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.storage.dialect import dialect_insert, insert_ignoring_duplicates
from bot.storage.models import (
    FeedbackBallot,
    FeedbackKey,
    FeedbackMeeting,
    FeedbackOptOut,
    FeedbackSeries,
    FeedbackTally,
    OccurrenceRow,
    Reflection,
)

SERIES = FeedbackSeries.__table__  # type: ignore[attr-defined]
MEETING = FeedbackMeeting.__table__  # type: ignore[attr-defined]
TALLY = FeedbackTally.__table__  # type: ignore[attr-defined]
BALLOT = FeedbackBallot.__table__  # type: ignore[attr-defined]
OPT_OUT = FeedbackOptOut.__table__  # type: ignore[attr-defined]
KEY = FeedbackKey.__table__  # type: ignore[attr-defined]
_OCC = OccurrenceRow.__table__  # type: ignore[attr-defined]
_REF = Reflection.__table__  # type: ignore[attr-defined]

# The states of ``feedback_meeting.state``.
WAITING, WORKING, ASKED, SKIPPED = "waiting", "working", "asked", "skipped"
# The answers, each a count column of ``feedback_tally``.
ANSWERS = ("heard", "somewhat", "not_heard")
MAX_REASON = 32  # ``feedback_meeting.reason``

Week = tuple[str, str, str]  # team, leader, week label ("2026-W10")


# ----------------------------------------------------------------------------- series


def series_on(*, conn: sa.Connection, team_id: str, user_id: str, series_key: str) -> bool:
    """Whether the person has feedback on for the series."""
    s = SERIES.c
    found = conn.execute(
        sa.select(s.id).where(
            s.team_id == team_id, s.user_id == user_id, s.series_key == series_key
        )
    ).first()
    return found is not None


def series_with_feedback(
    *, conn: sa.Connection, team_id: str, user_id: str, among: Iterable[str] | None = None
) -> set[str]:
    """The keys of the person's series with feedback on (only those ``among``, when given)."""
    s = SERIES.c
    query = sa.select(s.series_key).where(s.team_id == team_id, s.user_id == user_id)
    if among is not None:
        query = query.where(s.series_key.in_(sorted(set(among))))
    return set(conn.execute(query).scalars())


def add_series(
    *, conn: sa.Connection, team_id: str, user_id: str, series_key: str, now: datetime
) -> None:
    """Turn feedback on for the series (nothing when it is on already)."""
    conn.execute(
        insert_ignoring_duplicates(conn, SERIES),
        [{"team_id": team_id, "user_id": user_id, "series_key": series_key, "created_at": now}],
    )


def remove_series(*, conn: sa.Connection, team_id: str, user_id: str, series_key: str) -> None:
    """Turn feedback off for the series, and forget its meetings nobody was asked about
    yet (with their invitees); asked ones stay for the leader's own rating."""
    s, m = SERIES.c, MEETING.c
    conn.execute(
        sa.delete(SERIES).where(
            s.team_id == team_id, s.user_id == user_id, s.series_key == series_key
        )
    )
    conn.execute(
        sa.delete(MEETING).where(
            m.team_id == team_id,
            m.user_id == user_id,
            m.series_key == series_key,
            m.state == WAITING,
        )
    )


# ---------------------------------------------------------------------------- meetings


@dataclass(frozen=True, slots=True)
class KeptMeeting:
    """A meeting whose invitees are kept: its state and the addresses to ask."""

    id: int
    occurrence_key: str
    state: str
    people: list[str]


def kept_meetings(
    *, conn: sa.Connection, team_id: str, user_id: str, occurrence_keys: Iterable[str]
) -> dict[str, KeptMeeting]:
    """The person's kept meetings among ``occurrence_keys``, by occurrence key."""
    m = MEETING.c
    rows = conn.execute(
        sa.select(m.id, m.occurrence_key, m.state, m.people).where(
            m.team_id == team_id, m.user_id == user_id, m.occurrence_key.in_(list(occurrence_keys))
        )
    )
    return {
        row.occurrence_key: KeptMeeting(
            row.id, row.occurrence_key, row.state, list(row.people or [])
        )
        for row in rows
    }


@dataclass(frozen=True, slots=True)
class NewMeeting:
    """A meeting of an opted-in series, with the addresses to ask about it."""

    occurrence_key: str
    series_key: str
    people: list[str]


def add_meetings(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    meetings: Sequence[NewMeeting],
    now: datetime,
) -> None:
    """Keep ``meetings`` as waiting (one already kept is left as it is)."""
    if not meetings:
        return
    conn.execute(
        insert_ignoring_duplicates(conn, MEETING),
        [
            {
                "team_id": team_id,
                "user_id": user_id,
                "occurrence_key": meeting.occurrence_key,
                "series_key": meeting.series_key,
                "people": list(meeting.people),
                "state": WAITING,
                "asked": 0,
                "updated_at": now,
            }
            for meeting in meetings
        ],
    )


def update_people(
    *, conn: sa.Connection, meeting_id: int, people: Sequence[str], now: datetime
) -> None:
    """New addresses to ask for a meeting, while it is still waiting."""
    m = MEETING.c
    conn.execute(
        sa.update(MEETING)
        .where(m.id == meeting_id, m.state == WAITING)
        .values(people=list(people), updated_at=now)
    )


def forget_waiting(*, conn: sa.Connection, meeting_ids: Iterable[int]) -> None:
    """Forget the meetings ``meeting_ids`` that are still waiting."""
    ids = list(meeting_ids)
    if not ids:
        return
    m = MEETING.c
    conn.execute(sa.delete(MEETING).where(m.id.in_(ids), m.state == WAITING))


def _free(now: datetime) -> sa.ColumnElement[bool]:
    """A meeting no process holds: waiting, or working past its lease."""
    m = MEETING.c
    return sa.or_(m.state == WAITING, sa.and_(m.state == WORKING, m.lease_until < now))


@dataclass(frozen=True, slots=True)
class MeetingToAsk:
    """A meeting whose invitees may be asked now, with its occurrence as the calendar
    has it (``occurrence_id`` None, and the rest of it too, when it left the calendar)."""

    id: int
    team_id: str
    user_id: str
    occurrence_key: str
    series_key: str
    people: list[str]
    occurrence_id: int | None
    title: str | None
    start_at: datetime | None
    end_at: datetime | None
    skip_reason: str | None


def meetings_to_ask(
    *, conn: sa.Connection, now: datetime, ended_by: datetime, limit: int
) -> list[MeetingToAsk]:
    """Up to ``limit`` meetings no process holds and not put off past ``now``, whose
    occurrence ended by ``ended_by`` or is gone, oldest kept first."""
    m, o = MEETING.c, _OCC.c
    rows = conn.execute(
        sa.select(
            m.id,
            m.team_id,
            m.user_id,
            m.occurrence_key,
            m.series_key,
            m.people,
            o.id.label("occurrence_id"),
            o.title,
            o.start_at,
            o.end_at,
            o.skip_reason,
        )
        .select_from(
            MEETING.outerjoin(
                _OCC,
                sa.and_(
                    o.team_id == m.team_id,
                    o.user_id == m.user_id,
                    o.key == m.occurrence_key,
                ),
            )
        )
        .where(
            _free(now),
            sa.or_(m.not_before.is_(None), m.not_before <= now),
            sa.or_(o.id.is_(None), o.end_at <= ended_by),
        )
        .order_by(m.id)
        .limit(limit)
    )
    return [
        MeetingToAsk(
            id=row.id,
            team_id=row.team_id,
            user_id=row.user_id,
            occurrence_key=row.occurrence_key,
            series_key=row.series_key,
            people=list(row.people or []),
            occurrence_id=row.occurrence_id,
            title=row.title,
            start_at=row.start_at,
            end_at=row.end_at,
            skip_reason=row.skip_reason,
        )
        for row in rows
    ]


def forget_free(*, conn: sa.Connection, meeting_id: int, now: datetime) -> None:
    """Forget a meeting, unless a process holds it."""
    m = MEETING.c
    conn.execute(sa.delete(MEETING).where(m.id == meeting_id, _free(now)))


def claim_meeting(
    *, conn: sa.Connection, meeting_id: int, now: datetime, lease_until: datetime
) -> bool:
    """Hold a meeting no process holds until ``lease_until``. False when another took it."""
    m = MEETING.c
    claimed = conn.execute(
        sa.update(MEETING)
        .where(m.id == meeting_id, _free(now))
        .values(state=WORKING, lease_until=lease_until, updated_at=now)
    ).rowcount
    return claimed == 1


def release_meeting(
    *, conn: sa.Connection, meeting_id: int, lease_until: datetime, not_before: datetime
) -> None:
    """Give back a meeting held with the lease ``lease_until``, to be tried at ``not_before``."""
    m = MEETING.c
    conn.execute(
        sa.update(MEETING)
        .where(m.id == meeting_id, m.state == WORKING, m.lease_until == lease_until)
        .values(state=WAITING, lease_until=None, not_before=not_before)
    )


def settle_meeting(
    *,
    conn: sa.Connection,
    meeting_id: int,
    lease_until: datetime | None,
    state: str,
    now: datetime,
    reason: str | None = None,
    week: str | None = None,
) -> int:
    """Finish a meeting as ``state`` (``ASKED`` or ``SKIPPED``), its addresses forgotten;
    ``week`` is stored when given. With ``lease_until``, only while it is held with that
    lease; without, only while no process holds it. Returns 1 when it did, else 0."""
    m = MEETING.c
    held = (
        sa.and_(m.state == WORKING, m.lease_until == lease_until)
        if lease_until is not None
        else _free(now)
    )
    values: dict[str, object] = {
        "state": state,
        "reason": reason[:MAX_REASON] if reason else None,
        "people": [],
        "lease_until": None,
        "not_before": None,
        "updated_at": now,
    }
    if week is not None:
        values["week"] = week
    return int(
        conn.execute(sa.update(MEETING).where(m.id == meeting_id, held).values(values)).rowcount
    )


def set_asked(*, conn: sa.Connection, meeting_id: int, asked: int) -> None:
    """How many people were asked about the meeting."""
    conn.execute(sa.update(MEETING).where(MEETING.c.id == meeting_id).values(asked=asked))


def forget_settled(*, conn: sa.Connection, before: datetime) -> None:
    """Forget the asked or skipped meetings settled before ``before``."""
    m = MEETING.c
    conn.execute(sa.delete(MEETING).where(m.state.in_((ASKED, SKIPPED)), m.updated_at < before))


@dataclass(frozen=True, slots=True)
class Presence:
    """One presence rating (1–5) the leader gave after a meeting asked about in ``week``."""

    team_id: str
    user_id: str
    week: str
    presence: int


def own_presence(*, conn: sa.Connection, weeks: Sequence[Week]) -> list[Presence]:
    """The presence ratings the leaders gave in their own answers about the meetings
    asked about in ``weeks``."""
    m, r = MEETING.c, _REF.c
    rows = conn.execute(
        sa.select(m.team_id, m.user_id, m.week, r.presence)
        .join_from(
            MEETING,
            _REF,
            sa.and_(
                r.team_id == m.team_id,
                r.user_id == m.user_id,
                r.occurrence_key == m.occurrence_key,
            ),
        )
        .where(
            m.state == ASKED,
            m.team_id.in_(sorted({w[0] for w in weeks})),
            m.user_id.in_(sorted({w[1] for w in weeks})),
            m.week.in_(sorted({w[2] for w in weeks})),
            r.presence.is_not(None),
        )
    )
    wanted = set(weeks)
    return [
        Presence(team, user, week, int(presence))
        for team, user, week, presence in rows
        if (team, user, week) in wanted
    ]


# ------------------------------------------------------------------------------ tallies


@dataclass(frozen=True, slots=True)
class Tally:
    """A leader's week of answers as stored: counts only. ``people`` is None until the
    week is closed (``closed_at``)."""

    id: int
    team_id: str
    leader_id: str
    week: str
    heard: int
    somewhat: int
    not_heard: int
    people: int | None
    closes_at: datetime
    closed_at: datetime | None


def tallies(*, conn: sa.Connection, weeks: Sequence[Week]) -> list[Tally]:
    """The stored tallies of ``weeks``, open or closed (shown or not is the caller's call)."""
    if not weeks:
        return []
    wanted = set(weeks)
    t = TALLY.c
    rows = conn.execute(
        sa.select(
            t.id,
            t.team_id,
            t.leader_id,
            t.week,
            t.heard,
            t.somewhat,
            t.not_heard,
            t.people,
            t.closes_at,
            t.closed_at,
        ).where(
            t.team_id.in_(sorted({w[0] for w in wanted})),
            t.leader_id.in_(sorted({w[1] for w in wanted})),
            t.week.in_(sorted({w[2] for w in wanted})),
        )
    )
    return [
        Tally(
            id=row.id,
            team_id=row.team_id,
            leader_id=row.leader_id,
            week=row.week,
            heard=row.heard,
            somewhat=row.somewhat,
            not_heard=row.not_heard,
            people=row.people,
            closes_at=row.closes_at,
            closed_at=row.closed_at,
        )
        for row in rows
        if (row.team_id, row.leader_id, row.week) in wanted
    ]


def tally_weeks(*, conn: sa.Connection, team_id: str, leader_id: str) -> list[str]:
    """The labels of the leader's stored weeks, oldest first."""
    t = TALLY.c
    query = sa.select(t.week).where(t.team_id == team_id, t.leader_id == leader_id)
    return list(conn.execute(query.order_by(t.week)).scalars())


def count_answer(
    *,
    conn: sa.Connection,
    team_id: str,
    leader_id: str,
    week: str,
    answer: str,
    closes_at: datetime,
) -> None:
    """One more ``answer`` (one of ``ANSWERS``) in the leader's week, created with its
    closing time when it is the first."""
    if answer not in ANSWERS:
        raise ValueError(f"not an answer: {answer!r}")
    t = TALLY.c
    values = {
        "team_id": team_id,
        "leader_id": leader_id,
        "week": week,
        "heard": 0,
        "somewhat": 0,
        "not_heard": 0,
        "closes_at": closes_at,
        answer: 1,
    }
    stmt = dialect_insert(conn.dialect.name, TALLY).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.team_id, t.leader_id, t.week],
            set_={answer: t[answer] + 1},
        )
    )


@dataclass(frozen=True, slots=True)
class DueWeek:
    """An open week whose end has come."""

    id: int
    team_id: str
    leader_id: str
    week: str


def weeks_due(*, conn: sa.Connection, now: datetime, limit: int) -> list[DueWeek]:
    """Up to ``limit`` open weeks that closed by ``now``, the earliest closed first."""
    t = TALLY.c
    rows = conn.execute(
        sa.select(t.id, t.team_id, t.leader_id, t.week)
        .where(t.closed_at.is_(None), t.closes_at <= now)
        .order_by(t.closes_at)
        .limit(limit)
    )
    return [DueWeek(row.id, row.team_id, row.leader_id, row.week) for row in rows]


def lock_open_answers(*, conn: sa.Connection, tally_id: int) -> int | None:
    """The number of answers of a week that is still open, locked until the transaction
    ends (PostgreSQL); None when it was closed or deleted meanwhile."""
    t = TALLY.c
    row = conn.execute(
        sa.select(t.heard, t.somewhat, t.not_heard)
        .where(t.id == tally_id, t.closed_at.is_(None))
        .with_for_update()
    ).first()
    return None if row is None else int(sum(row))


def close_tally(*, conn: sa.Connection, tally_id: int, people: int, now: datetime) -> None:
    """Close a week, keeping how many people answered."""
    t = TALLY.c
    conn.execute(sa.update(TALLY).where(t.id == tally_id).values(people=people, closed_at=now))


def delete_tally(*, conn: sa.Connection, tally_id: int) -> None:
    """Delete a week whole."""
    conn.execute(sa.delete(TALLY).where(TALLY.c.id == tally_id))


def forget_closed_tallies(*, conn: sa.Connection, closing_before: datetime) -> None:
    """Delete the closed weeks that closed before ``closing_before``."""
    t = TALLY.c
    conn.execute(sa.delete(TALLY).where(t.closed_at.is_not(None), t.closes_at < closing_before))


# ------------------------------------------------------------------------------ ballots


def add_ballot(
    *,
    conn: sa.Connection,
    team_id: str,
    leader_id: str,
    week: str,
    ballot: str,
    person: str,
) -> bool:
    """Keep the keyed hashes of an answer. False when ``ballot`` was kept already (the
    answer is counted once)."""
    new = conn.execute(
        insert_ignoring_duplicates(conn, BALLOT).returning(BALLOT.c.id),
        [
            {
                "team_id": team_id,
                "leader_id": leader_id,
                "week": week,
                "ballot": ballot,
                "person": person,
            }
        ],
    ).first()
    return new is not None


def people_answered(*, conn: sa.Connection, weeks: Sequence[Week]) -> dict[Week, int]:
    """How many people (distinct ``person`` hashes) answered in each of ``weeks`` that has
    ballots; a week without any is absent."""
    if not weeks:
        return {}
    wanted = set(weeks)
    b = BALLOT.c
    rows = conn.execute(
        sa.select(b.team_id, b.leader_id, b.week, sa.func.count(sa.distinct(b.person)))
        .where(
            b.team_id.in_(sorted({w[0] for w in wanted})),
            b.leader_id.in_(sorted({w[1] for w in wanted})),
            b.week.in_(sorted({w[2] for w in wanted})),
        )
        .group_by(b.team_id, b.leader_id, b.week)
    )
    counted = {(team, leader, week): int(people) for team, leader, week, people in rows}
    return {key: people for key, people in counted.items() if key in wanted}


def delete_ballots(*, conn: sa.Connection, team_id: str, leader_id: str, week: str) -> None:
    """Drop the keyed hashes of a week."""
    b = BALLOT.c
    conn.execute(
        sa.delete(BALLOT).where(b.team_id == team_id, b.leader_id == leader_id, b.week == week)
    )


def erase_leader(*, conn: sa.Connection, team_id: str, leader_id: str) -> int:
    """Delete the leader's weeks and ballots. Returns how many rows went."""
    t, b = TALLY.c, BALLOT.c
    removed = conn.execute(
        sa.delete(TALLY).where(t.team_id == team_id, t.leader_id == leader_id)
    ).rowcount
    removed += conn.execute(
        sa.delete(BALLOT).where(b.team_id == team_id, b.leader_id == leader_id)
    ).rowcount
    return int(removed)


# ----------------------------------------------------------------------- opt-outs, key


def add_opt_out(*, conn: sa.Connection, team_id: str, person: str, now: datetime) -> None:
    """Keep *never ask me again* for the keyed hash ``person`` (once)."""
    conn.execute(
        insert_ignoring_duplicates(conn, OPT_OUT),
        [{"team_id": team_id, "person": person, "created_at": now}],
    )


def opted_out(*, conn: sa.Connection, team_id: str, people: Iterable[str]) -> set[str]:
    """Which of the keyed hashes ``people`` asked never to be asked again."""
    o = OPT_OUT.c
    query = sa.select(o.person).where(o.team_id == team_id, o.person.in_(list(people)))
    return set(conn.execute(query).scalars())


def team_secret(
    *, conn: sa.Connection, team_id: str, new_secret: Callable[[], str], now: datetime
) -> str:
    """The workspace's secret as stored (encrypted); made with ``new_secret()`` and kept
    on first use (a secret another process kept first wins)."""
    k = KEY.c
    query = sa.select(k.secret).where(k.team_id == team_id)
    stored = conn.execute(query).scalar()
    if stored is None:
        conn.execute(
            insert_ignoring_duplicates(conn, KEY),
            [{"team_id": team_id, "secret": new_secret(), "created_at": now}],
        )
        stored = conn.execute(query).scalar_one()
    return str(stored)

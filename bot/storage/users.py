"""People (table ``slack_user``): who they are, how to reach them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from bot.storage.models import SlackUser

USER = SlackUser.__table__  # type: ignore[attr-defined]


def get_user(*, session: Session, team_id: str, user_id: str) -> SlackUser | None:
    return session.exec(
        select(SlackUser).where(SlackUser.team_id == team_id, SlackUser.slack_user_id == user_id)
    ).first()


def ensure_user(*, session: Session, team_id: str, user_id: str, now: datetime) -> SlackUser:
    """The user's row, created on first sight."""
    user = get_user(session=session, team_id=team_id, user_id=user_id)
    if user is None:
        user = SlackUser(team_id=team_id, slack_user_id=user_id, created_at=now)
        session.add(user)
        session.flush()
    return user


def set_unreachable(
    *, conn: sa.Connection, team_id: str, user_id: str, reason: str, now: datetime
) -> None:
    """Slack said this person cannot get our DMs (deactivated, DMs closed, …). Callers go
    through ``bot.storage.scheduled.mark_unreachable``, which also takes back what Slack
    holds for them ahead of time."""
    t = SlackUser.__table__.c  # type: ignore[attr-defined]
    conn.execute(
        sa.update(SlackUser.__table__)  # type: ignore[attr-defined]
        .where(t.team_id == team_id, t.slack_user_id == user_id)
        .values(unreachable_reason=reason[:64], unreachable_at=now)
    )


def remember_dm_channels(*, conn: sa.Connection, found: Sequence[tuple[str, str, str]]) -> None:
    """Store (team, user, DM channel id) triples learnt from Slack's answers, in one batch."""
    table = SlackUser.__table__  # type: ignore[attr-defined]
    t = table.c
    stmt = (
        sa.update(table)
        .where(
            t.team_id == sa.bindparam("b_team"),
            t.slack_user_id == sa.bindparam("b_user"),
            t.dm_channel_id.is_(None),
        )
        .values(dm_channel_id=sa.bindparam("b_channel"))
    )
    conn.execute(stmt, [{"b_team": a, "b_user": b, "b_channel": c} for a, b, c in found])


@dataclass(frozen=True, slots=True)
class Reach:
    """How to reach a person: their known DM channel, or why they cannot be reached."""

    dm_channel_id: str | None
    unreachable_reason: str | None


def reach(
    *, conn: sa.Connection, team_ids: Iterable[str], user_ids: Iterable[str]
) -> dict[tuple[str, str], Reach]:
    """``Reach`` by (team, user) for the known people among ``user_ids`` in ``team_ids``."""
    t = USER.c
    query = sa.select(t.team_id, t.slack_user_id, t.dm_channel_id, t.unreachable_reason).where(
        t.slack_user_id.in_(set(user_ids)), t.team_id.in_(set(team_ids))
    )
    return {(team, user): Reach(channel, why) for team, user, channel, why in conn.execute(query)}


@dataclass(frozen=True, slots=True)
class Person:
    """A person's row, as the use cases read it."""

    team_id: str
    slack_user_id: str
    tz: str | None
    email: str | None
    prefs: dict[str, Any]
    dm_channel_id: str | None
    opted_in_at: datetime | None
    paused_until: datetime | None
    unreachable_reason: str | None

    @classmethod
    def of(cls, row: Any) -> Person:
        return cls(
            team_id=row.team_id,
            slack_user_id=row.slack_user_id,
            tz=row.tz,
            email=row.email,
            prefs=dict(row.prefs or {}),
            dm_channel_id=row.dm_channel_id,
            opted_in_at=row.opted_in_at,
            paused_until=row.paused_until,
            unreachable_reason=row.unreachable_reason,
        )


def person(*, conn: sa.Connection, team_id: str, user_id: str) -> Person | None:
    """The person ``user_id`` of ``team_id``, None when Heedful has never seen them."""
    t = USER.c
    row = conn.execute(
        sa.select(USER).where(t.team_id == team_id, t.slack_user_id == user_id)
    ).first()
    return None if row is None else Person.of(row)


def people(
    *, conn: sa.Connection, team_id: str, slack_id: str | None = None, email: str | None = None
) -> list[Person]:
    """The workspace's people: the one with ``slack_id``, or those whose stored address is
    ``email`` (any case), or all of them."""
    t = USER.c
    query = sa.select(USER).where(t.team_id == team_id)
    if slack_id is not None:
        query = query.where(t.slack_user_id == slack_id)
    if email is not None:
        query = query.where(sa.func.lower(t.email) == email)
    return [Person.of(row) for row in conn.execute(query)]


def lock_person(*, conn: sa.Connection, team_id: str, user_id: str) -> bool:
    """Take the person's row lock for this transaction (PostgreSQL ``FOR UPDATE``; SQLite
    runs one writer at a time already). False when there is no such row."""
    t = USER.c
    query = (
        sa.select(t.id).where(t.team_id == team_id, t.slack_user_id == user_id).with_for_update()
    )
    return conn.execute(query).first() is not None


def dm_owners(*, conn: sa.Connection, team_id: str, channel: str) -> list[str]:
    """Who has ``channel`` stored as their DM channel with Heedful."""
    t = USER.c
    query = sa.select(t.slack_user_id).where(t.team_id == team_id, t.dm_channel_id == channel)
    return list(conn.execute(query).scalars())

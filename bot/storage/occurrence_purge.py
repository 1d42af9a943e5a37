"""Purging past meetings (table ``occurrence``): the daily retention job's statements
(``bot.privacy.purge_expired`` decides what is kept and for how long).

A batch is a group of people (a range of ``(team_id, user_id)``, :func:`people_after`)
and at most ``limit`` rows of theirs, deleted in one statement: what a past meeting is
still needed for is a question about the other meetings of the same person (the oldest
one, the latest meeting with each person they met), which a group answers in one pass
through the ``(team_id, user_id, start_at)`` index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.storage.feedback import WAITING, WORKING
from bot.storage.models import Delivery, DeliveryState, FeedbackMeeting, OccurrenceRow

OCCURRENCE = OccurrenceRow.__table__  # type: ignore[attr-defined]
_DELIVERY = Delivery.__table__  # type: ignore[attr-defined]
_MEETING = FeedbackMeeting.__table__  # type: ignore[attr-defined]
# A delivery in one of these states is still to go (or going): its meeting stays.
LIVE = (
    DeliveryState.PENDING,
    DeliveryState.CLAIMED,
    DeliveryState.SCHEDULING,
    DeliveryState.SCHEDULED,
)

Person = tuple[str, str]  # (team_id, user_id)


def people_after(*, conn: sa.Connection, after: Person | None, limit: int) -> list[Person]:
    """Up to ``limit`` people with stored meetings, in (team, user) order, after ``after``."""
    o = OCCURRENCE.c
    query = sa.select(o.team_id, o.user_id).distinct().order_by(o.team_id, o.user_id)
    if after is not None:
        query = query.where(sa.tuple_(o.team_id, o.user_id) > sa.tuple_(*after))
    return [(team_id, user_id) for team_id, user_id in conn.execute(query.limit(limit))]


def _people(table: Any, first: Person, last: Person) -> sa.ColumnElement[bool]:
    pair = sa.tuple_(table.c.team_id, table.c.user_id)
    return sa.and_(pair >= sa.tuple_(*first), pair <= sa.tuple_(*last))


def _elements(dialect: str, people: sa.ColumnElement[Any]) -> Any:
    """The addresses of a ``people`` JSON list as a table (column ``value``)."""
    if dialect == "postgresql":
        return sa.func.json_array_elements_text(people).table_valued("value")
    return sa.func.json_each(people).table_valued("value")


def delete_past_occurrences(
    *,
    conn: sa.Connection,
    first: Person,
    last: Person,
    ended_before: datetime,
    met_since: datetime,
    small_max: int,
    limit: int,
) -> int:
    """Delete up to ``limit`` meetings of the people from ``first`` to ``last`` that ended
    before ``ended_before``, but:

    * each person's oldest meeting (it says since when their calendar is known);
    * for each address met in a meeting with others of up to ``small_max`` people that
      started since ``met_since`` and before ``ended_before``, the latest such meeting
      (so whom they met in that span stays known);
    * a meeting a pending, claimed or scheduled delivery is about, or a feedback meeting
      still waiting to ask about.

    Returns how many rows went."""
    dialect = conn.dialect.name
    c, k, o = OCCURRENCE.alias("c"), OCCURRENCE.alias("k"), OCCURRENCE.alias("o")
    d, m = _DELIVERY.alias("d"), _MEETING.alias("m")
    address = _elements(dialect, k.c.people)
    ranked = (
        sa.select(
            k.c.id,
            sa.func.row_number()
            .over(
                partition_by=(k.c.team_id, k.c.user_id, address.c.value),
                order_by=(k.c.start_at.desc(), k.c.id.desc()),
            )
            .label("rank"),
        )
        .select_from(k)
        .join(address, sa.true())
        .where(
            _people(k, first, last),
            k.c.start_at >= met_since,
            k.c.start_at < ended_before,
            k.c.skip_reason.is_(None),
            k.c.attendees <= small_max,
        )
        .subquery("ranked")
    )
    latest_met = sa.select(ranked.c.id).where(ranked.c.rank == 1)
    oldest = (
        sa.select(sa.func.min(o.c.start_at))
        .where(o.c.team_id == c.c.team_id, o.c.user_id == c.c.user_id)
        .scalar_subquery()
    )
    live = sa.select(d.c.occurrence_key).where(
        _people(d, first, last), d.c.state.in_(LIVE), d.c.occurrence_key.is_not(None)
    )
    asking = sa.select(m.c.occurrence_key).where(
        _people(m, first, last), m.c.state.in_((WAITING, WORKING))
    )
    doomed = (
        sa.select(c.c.id)
        .where(
            _people(c, first, last),
            c.c.end_at < ended_before,
            c.c.start_at > oldest,
            c.c.id.not_in(latest_met),
            c.c.key.not_in(live),
            c.c.key.not_in(asking),
        )
        .limit(limit)
    )
    result = conn.execute(sa.delete(OCCURRENCE).where(OCCURRENCE.c.id.in_(doomed)))
    return max(result.rowcount, 0)

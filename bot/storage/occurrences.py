"""A person's meetings (table ``occurrence``): one row per instance of a calendar event,
as ``bot.occurrences`` maps it (``occurrence_row`` writes the values, ``occurrence_from_row``
reads a :class:`StoredOccurrence` back), and the daily purge of past meetings. Queries that
join other tables to read stay with their readers (``bot.digest``'s week,
``bot.feedback``'s meetings)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.storage.feedback import WAITING, WORKING
from bot.storage.models import Delivery, DeliveryState, FeedbackMeeting, OccurrenceRow

OCCURRENCE = OccurrenceRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StoredOccurrence:
    """An occurrence's row, every column by its own name (``people`` stays the list it is
    stored as, so a row compares equal to the values that wrote it)."""

    id: int
    team_id: str
    user_id: str
    source: str
    key: str
    series_key: str
    uid: str
    recurrence_id: str | None
    title: str
    start_at: datetime
    end_at: datetime
    all_day: bool
    status: str
    attendees: int
    people: list[str]
    organizer: str | None
    self_response: str | None
    transparent: bool
    conference_url: str | None
    external: bool
    recurring: bool
    category: str | None
    skip_reason: str | None
    ical_uid: str | None
    attendees_unknown: bool
    updated_at: datetime | None
    event_id: str | None

    @classmethod
    def of(cls, row: Any) -> StoredOccurrence:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def column_length(name: str) -> int:
    """The most characters column ``name`` holds."""
    return int(OCCURRENCE.c[name].type.length)


def busy(o: Any) -> sa.ColumnElement[bool]:
    """Of the columns ``o`` of table ``occurrence``: an entry that keeps the person busy
    (not cancelled, not declined, not shown as free, not all-day). A solo block, focus
    time or an absence counts too. Also used by ``bot.digest``'s query across tables."""
    return sa.and_(
        o.status != "cancelled",
        sa.or_(o.self_response.is_(None), o.self_response != "declined"),
        sa.not_(o.transparent),
        sa.not_(o.all_day),
    )


def _rows(conn: sa.Connection, *where: sa.ColumnElement[bool]) -> list[StoredOccurrence]:
    return [StoredOccurrence.of(row) for row in conn.execute(sa.select(OCCURRENCE).where(*where))]


def _mine(team_id: str, user_id: str) -> sa.ColumnElement[bool]:
    c = OCCURRENCE.c
    return sa.and_(c.team_id == team_id, c.user_id == user_id)


# ----------------------------------------------------------------------- writing


def stored_for_source(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    source: str,
    window: tuple[datetime, datetime] | None,
    keys: Iterable[str],
    series_keys: Collection[str] | None = None,
) -> dict[str, StoredOccurrence]:
    """By key, the person's rows of ``source`` (starting in [start, end) of ``window``,
    when given; of the series ``series_keys`` only, when given), and their rows of any
    source whose key is one of ``keys``."""
    c = OCCURRENCE.c
    mine = _mine(team_id, user_id)
    scope = [mine, c.source == source]
    if window is not None:
        scope.append(sa.and_(c.start_at >= window[0], c.start_at < window[1]))
    if series_keys is not None:
        scope.append(c.series_key.in_(sorted(series_keys)))
    keys = list(keys)
    found = sa.or_(sa.and_(*scope), sa.and_(mine, c.key.in_(keys))) if keys else sa.and_(*scope)
    return {row.key: row for row in _rows(conn, found)}


def insert_occurrences(*, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store new rows (each as ``bot.occurrences.occurrence_row`` makes it)."""
    if rows:
        conn.execute(sa.insert(OCCURRENCE), list(rows))


def update_occurrences(
    *, conn: sa.Connection, changes: Sequence[tuple[int, Mapping[str, Any]]]
) -> None:
    """Rewrite each row ``id`` of ``changes`` with its values (all with the same columns,
    as ``bot.occurrences.occurrence_row`` makes them): one statement for them all."""
    if not changes:
        return
    c = OCCURRENCE.c
    conn.execute(
        sa.update(OCCURRENCE).where(c.id == sa.bindparam("b_id")),
        [{"b_id": occurrence_id, **values} for occurrence_id, values in changes],
    )


def delete_occurrences(*, conn: sa.Connection, ids: Iterable[int]) -> int:
    """Delete the rows ``ids``; how many there were."""
    ids = list(ids)
    if not ids:
        return 0
    c = OCCURRENCE.c
    return int(conn.execute(sa.delete(OCCURRENCE).where(c.id.in_(ids))).rowcount)


def delete_source(*, conn: sa.Connection, team_id: str, user_id: str, source: str) -> int:
    """Delete every row of the person's ``source``; how many there were."""
    c = OCCURRENCE.c
    gone = conn.execute(sa.delete(OCCURRENCE).where(_mine(team_id, user_id), c.source == source))
    return int(gone.rowcount)


def set_event_ids(
    *, conn: sa.Connection, team_id: str, user_id: str, event_ids: Sequence[tuple[str, str]]
) -> None:
    """Note the calendar's own id of each of the person's rows: ``(key, event id)`` pairs
    (a key never stored changes nothing; a row that has the id already is not written)."""
    if not event_ids:
        return
    c = OCCURRENCE.c
    conn.execute(
        sa.update(OCCURRENCE)
        .where(
            _mine(team_id, user_id),
            c.key == sa.bindparam("b_key"),
            sa.or_(c.event_id.is_(None), c.event_id != sa.bindparam("b_event")),
        )
        .values(event_id=sa.bindparam("b_event")),
        [{"b_key": key, "b_event": event_id} for key, event_id in event_ids],
    )


# ----------------------------------------------------------------------- reading


def by_key(*, conn: sa.Connection, team_id: str, user_id: str, key: str) -> StoredOccurrence | None:
    """The person's row of occurrence ``key``, None when there is none."""
    found = _rows(conn, _mine(team_id, user_id), OCCURRENCE.c.key == key)
    return found[0] if found else None


def by_keys(
    *, conn: sa.Connection, team_id: str, user_id: str, keys: Iterable[str]
) -> list[StoredOccurrence]:
    """The person's rows whose key is one of ``keys``, in no particular order."""
    return _rows(conn, _mine(team_id, user_id), OCCURRENCE.c.key.in_(set(keys)))


def by_uids(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    source: str,
    series: Iterable[str],
    instances: Iterable[tuple[str, str]],
) -> list[StoredOccurrence]:
    """The person's rows of ``source`` of every instance of the stored uids ``series``,
    and of the single instances ``(stored uid, recurrence id)``; in no particular order."""
    c = OCCURRENCE.c
    whole = sorted(set(series))
    matches = [c.uid.in_(whole)] if whole else []
    matches += [sa.and_(c.uid == uid, c.recurrence_id == rid) for uid, rid in instances]
    if not matches:
        return []
    return _rows(conn, _mine(team_id, user_id), c.source == source, sa.or_(*matches))


def by_event_ids(
    *, conn: sa.Connection, team_id: str, user_id: str, source: str, event_ids: Iterable[str]
) -> list[StoredOccurrence]:
    """The person's rows of ``source`` whose calendar event id is one of ``event_ids``, in
    no particular order."""
    c = OCCURRENCE.c
    return _rows(
        conn, _mine(team_id, user_id), c.source == source, c.event_id.in_(sorted(set(event_ids)))
    )


def ending_from(
    *, conn: sa.Connection, team_id: str, user_id: str, since: datetime, before: datetime
) -> list[StoredOccurrence]:
    """The person's meetings ending at or after ``since`` and starting before ``before``
    (what the planner plans), in no particular order."""
    c = OCCURRENCE.c
    return _rows(conn, _mine(team_id, user_id), c.end_at >= since, c.start_at < before)


def overlapping(
    *, conn: sa.Connection, team_id: str, user_id: str, start: datetime, end: datetime
) -> list[StoredOccurrence]:
    """The person's meetings overlapping [``start``, ``end``), by start."""
    c = OCCURRENCE.c
    query = (
        sa.select(OCCURRENCE)
        .where(_mine(team_id, user_id), c.end_at > start, c.start_at < end)
        .order_by(c.start_at)
    )
    return [StoredOccurrence.of(row) for row in conn.execute(query)]


def people_met(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    since: datetime,
    before: datetime,
    max_attendees: int,
) -> frozenset[str]:
    """Everyone invited (``people``) to the person's meetings that started in [``since``,
    ``before``), had at most ``max_attendees`` people and were not skipped (no
    ``skip_reason``)."""
    c = OCCURRENCE.c
    met = conn.execute(
        sa.select(c.people).where(
            _mine(team_id, user_id),
            c.skip_reason.is_(None),
            c.attendees <= max_attendees,
            c.start_at >= since,
            c.start_at < before,
        )
    ).scalars()
    return frozenset(person for people in met for person in people or ())


def first_start(*, conn: sa.Connection, team_id: str, user_id: str) -> datetime | None:
    """When the person's earliest stored meeting starts, None when they have none."""
    c = OCCURRENCE.c
    found = conn.execute(sa.select(sa.func.min(c.start_at)).where(_mine(team_id, user_id)))
    return found.scalar()


def series_title(*, conn: sa.Connection, team_id: str, user_id: str, series_key: str) -> str | None:
    """The title of one of the person's meetings of series ``series_key`` (the first row
    the database finds), None when they have none."""
    c = OCCURRENCE.c
    found = conn.execute(
        sa.select(c.title).where(_mine(team_id, user_id), c.series_key == series_key)
    )
    return found.scalar()


def series_titles(
    *, conn: sa.Connection, team_id: str, user_id: str, series_keys: Iterable[str]
) -> dict[str, str]:
    """By series key (of ``series_keys``), the greatest title of the person's meetings of
    that series; a series they have no meeting of is absent."""
    keys = list(series_keys)
    if not keys:
        return {}
    c = OCCURRENCE.c
    rows = conn.execute(
        sa.select(c.series_key, sa.func.max(c.title))
        .where(_mine(team_id, user_id), c.series_key.in_(keys))
        .group_by(c.series_key)
    )
    return {series_key: title for series_key, title in rows}


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """One of a person's series as a list of series shows it: its key, greatest title and
    attendee count (and, for upcoming ones, when the next of its meetings starts)."""

    series_key: str
    title: str | None
    attendees: int
    first: datetime | None = None


def has_series(*, conn: sa.Connection, team_id: str, user_id: str, series_key: str) -> bool:
    """Whether the person has a meeting of series ``series_key``."""
    c = OCCURRENCE.c
    found = conn.execute(
        sa.select(c.id).where(_mine(team_id, user_id), c.series_key == series_key).limit(1)
    )
    return found.first() is not None


def upcoming_recurring(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    since: datetime,
    until: datetime,
    at_most_attendees: int,
    at_least_attendees: int,
    limit: int,
) -> list[SeriesSummary]:
    """The person's recurring series with a meeting not skipped starting in [``since``,
    ``until``) of at most ``at_most_attendees`` or at least ``at_least_attendees`` (a
    meeting whose calendar does not say who attends has neither), soonest first, at most
    ``limit``."""
    c = OCCURRENCE.c
    rows = conn.execute(
        sa.select(
            c.series_key,
            sa.func.max(c.title),
            sa.func.max(c.attendees),
            sa.func.min(c.start_at),
        )
        .where(
            _mine(team_id, user_id),
            c.start_at >= since,
            c.start_at < until,
            c.skip_reason.is_(None),
            c.recurring.is_(True),
            c.attendees_unknown.is_(False),
            sa.or_(c.attendees <= at_most_attendees, c.attendees >= at_least_attendees),
        )
        .group_by(c.series_key)
        .order_by(sa.func.min(c.start_at), c.series_key)
        .limit(limit)
    )
    return [SeriesSummary(*row) for row in rows]


def series_summaries(
    *, conn: sa.Connection, team_id: str, user_id: str, series_keys: Iterable[str]
) -> list[SeriesSummary]:
    """The person's series among ``series_keys`` (``first`` left out)."""
    keys = sorted(set(series_keys))
    if not keys:
        return []
    c = OCCURRENCE.c
    rows = conn.execute(
        sa.select(c.series_key, sa.func.max(c.title), sa.func.max(c.attendees))
        .where(_mine(team_id, user_id), c.series_key.in_(keys))
        .group_by(c.series_key)
    )
    return [SeriesSummary(*row) for row in rows]


def busy_spans(
    *,
    conn: sa.Connection,
    team_ids: Iterable[str],
    user_ids: Iterable[str],
    starting_from: datetime,
    starting_before: datetime,
    ending_after: datetime,
) -> list[tuple[str, str, datetime, datetime]]:
    """(team, user, start, end) of every :func:`busy` entry of the people ``user_ids`` of
    ``team_ids`` that starts in [``starting_from``, ``starting_before``) and ends after
    ``ending_after``."""
    o = OCCURRENCE.c
    rows = conn.execute(
        sa.select(o.team_id, o.user_id, o.start_at, o.end_at).where(
            o.user_id.in_(sorted(set(user_ids))),
            o.team_id.in_(sorted(set(team_ids))),
            o.start_at >= starting_from,
            o.start_at < starting_before,
            o.end_at > ending_after,
            busy(o),
        )
    )
    return [(team, user, start, end) for team, user, start, end in rows]


# ----------------------------------------------------------------------- purging
# The daily retention job's statements (``bot.privacy.purge_expired`` decides what is
# kept and for how long). A batch is a group of people (a range of ``(team_id,
# user_id)``, :func:`people_after`) and at most ``limit`` rows of theirs, deleted in one
# statement: what a past meeting is still needed for is a question about the other
# meetings of the same person (the oldest one, the latest meeting with each person they
# met), which a group answers in one pass through the ``(team_id, user_id, start_at)``
# index.

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

"""The outbox (table ``delivery``): every DM is a row first (DESIGN.md, invariant 2).

Claims are exactly-once: on PostgreSQL the candidate rows are picked with
``FOR UPDATE SKIP LOCKED``; on SQLite the whole claim runs in one ``BEGIN IMMEDIATE``
transaction (see ``bot.storage.db``) as a single ``UPDATE … RETURNING``. A claimed
row carries a lease; once the lease has run out, any worker may claim it again, and
a delivery claimed that way is marked ``needs_reconcile`` (its first claimer may
have sent it before dying). The sender renews a delivery's lease just before each
post, only while it still holds the row (:func:`renew_lease`, a fencing check), and
every write of an outcome is conditional on holding it too.

A delivery's ``attempts`` counts the tries Slack answered with anything but a rate
limit (or did not answer): claiming a row is not an attempt, and neither is a 429 or
a wait for one. The sender gives up after a number of *failed* attempts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.storage.db import read_only
from bot.storage.dialect import driver_time, from_driver, insert_ignoring_duplicates
from bot.storage.models import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    OccurrenceRow,
    PromptShown,
    Reflection,
    UTCDateTime,
)
from bot.storage.prompts_shown import Shown, remember_shown
from bot.storage.users import remember_dm_channels

DELIVERY = Delivery.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery row as the sender, its composers and its observers see it once claimed:
    the one shape of a delivery outside the outbox's own SQL.

    ``kind`` is a :class:`DeliveryKind`, or the stored text of a kind this version does
    not know (the sender then fails the row as ``unknown_kind``, it does not crash the
    claim).
    """

    id: int
    team_id: str
    user_id: str
    kind: DeliveryKind | str
    ref: str
    occurrence_key: str | None
    due_at: datetime
    available_at: datetime
    expires_at: datetime | None
    meeting_start: datetime | None
    state: DeliveryState
    claimed_by: str | None
    attempts: int
    needs_reconcile: bool
    payload: dict[str, Any]
    channel: str | None

    @classmethod
    def of(cls, row: Any) -> ClaimedDelivery:
        """From any row or object with the delivery table's columns (a ``select`` of
        ``delivery``, a ``Delivery``): tests and benchmarks compose rows they read."""
        return cls(
            **{
                name: getattr(row, name)
                for name in _CLAIMED_FIELDS
                if name not in ("kind", "state", "payload", "needs_reconcile")
            },
            kind=_kind(row.kind),
            state=DeliveryState(row.state),
            payload=dict(row.payload or {}),
            needs_reconcile=bool(row.needs_reconcile),
        )


# Dict lookups, not ``DeliveryKind(value)``: the claim converts every row it returns.
_KINDS: dict[str, DeliveryKind] = {kind.value: kind for kind in DeliveryKind}
_STATES: dict[str, DeliveryState] = {state.value: state for state in DeliveryState}


def _kind(value: str) -> DeliveryKind | str:
    return _KINDS.get(value, value)


_CLAIMED_FIELDS: tuple[str, ...] = tuple(ClaimedDelivery.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class PlannedNudge:
    """A nudge as planned (``bot.occurrences.sync_deliveries`` compares it with what is
    wanted now): its identity, state and the planned times and payload."""

    id: int
    kind: str
    ref: str
    state: str
    error: str | None
    due_at: datetime
    expires_at: datetime | None
    meeting_start: datetime | None
    payload: Any


def planned_nudges(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    kinds: Sequence[str],
    states: Sequence[str],
    withdrawn_as: str,
) -> list[PlannedNudge]:
    """The person's nudges of ``kinds`` in one of ``states``, and those skipped with the
    error ``withdrawn_as`` (withdrawn by an earlier plan: a plan may bring them back)."""
    t = DELIVERY.c
    query = sa.select(
        t.id, t.kind, t.ref, t.state, t.error, t.due_at, t.expires_at, t.meeting_start, t.payload
    ).where(
        t.team_id == team_id,
        t.user_id == user_id,
        t.kind.in_(list(kinds)),
        sa.or_(
            t.state.in_(list(states)),
            sa.and_(t.state == DeliveryState.SKIPPED, t.error == withdrawn_as),
        ),
    )
    return [PlannedNudge(*row) for row in conn.execute(query)]


def withdraw_rows(*, conn: sa.Connection, ids: Sequence[int], error: str, now: datetime) -> None:
    """Skip the still-pending rows ``ids`` with ``error`` (one statement)."""
    if not ids:
        return
    t = DELIVERY.c
    conn.execute(
        sa.update(DELIVERY)
        .where(t.id.in_(list(ids)), t.state == DeliveryState.PENDING)
        .values(state=DeliveryState.SKIPPED, error=error, updated_at=now)
    )


@dataclass(frozen=True, slots=True)
class Replanned:
    """A nudge planned again: the row ``id`` (still in ``state``) becomes pending at
    ``due_at`` with the rest."""

    id: int
    state: str
    due_at: datetime
    expires_at: datetime | None
    meeting_start: datetime | None
    payload: Any


def replan_nudges(*, conn: sa.Connection, changes: Sequence[Replanned], now: datetime) -> None:
    """Make each row of ``changes`` pending at its new time (one ``executemany``); a row
    whose state changed meanwhile is left alone."""
    if not changes:
        return
    t = DELIVERY.c
    conn.execute(
        sa.update(DELIVERY)
        .where(t.id == sa.bindparam("b_id"), t.state == sa.bindparam("b_state"))
        .values(
            state=DeliveryState.PENDING,
            error=None,
            due_at=sa.bindparam("b_due", type_=UTCDateTime()),
            available_at=sa.bindparam("b_available", type_=UTCDateTime()),
            expires_at=sa.bindparam("b_expires", type_=UTCDateTime()),
            meeting_start=sa.bindparam("b_start", type_=UTCDateTime()),
            payload=sa.bindparam("b_payload", type_=t.payload.type),
            updated_at=now,
        ),
        [
            {
                "b_id": c.id,
                "b_state": str(c.state),
                "b_due": c.due_at,
                "b_available": c.due_at,
                "b_expires": c.expires_at,
                "b_start": c.meeting_start,
                "b_payload": c.payload,
            }
            for c in changes
        ],
    )


def enqueue_deliveries(
    *, conn: sa.Connection, rows: Sequence[Mapping[str, Any]], now: datetime
) -> int:
    """Insert delivery rows; a row whose key (team, user, kind, ref) exists is left alone.

    Each row needs ``team_id``, ``user_id``, ``kind``, ``due_at``; may have ``ref``,
    ``occurrence_key``, ``expires_at``, ``meeting_start`` and ``payload``. Returns how
    many were new.
    """
    if not rows:
        return 0
    values = [
        {
            "ref": "",
            "occurrence_key": None,
            "expires_at": None,
            "meeting_start": None,
            "payload": {},
            **row,
            "available_at": row["due_at"],
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "needs_reconcile": False,
            "created_at": now,
            "updated_at": now,
        }
        for row in rows
    ]
    stmt = insert_ignoring_duplicates(conn, DELIVERY).returning(DELIVERY.c.id)
    return len(conn.execute(stmt, values).all())


def enqueue_now(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    kind: DeliveryKind,
    ref: str,
    now: datetime,
    payload: Mapping[str, Any] | None = None,
    due_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> bool:
    """Queue one DM that is not planned ahead but asked for now (a reply, the welcome, a
    calendar notice, a feedback question, a commitment offer): due ``now`` unless
    ``due_at`` says when. False when a delivery with its key (team, user, kind, ``ref``)
    exists already: the key keeps it to one. The caller wakes the outbox if it wants it
    sent at once (``Services.wake_outbox``)."""
    row: dict[str, Any] = {
        "team_id": team_id,
        "user_id": user_id,
        "kind": kind,
        "ref": ref[:255],
        "due_at": due_at or now,
        "expires_at": expires_at,
        "payload": dict(payload or {}),
    }
    return enqueue_deliveries(conn=conn, rows=[row], now=now) == 1


def claim_deliveries(
    *, engine: Engine, now: datetime, worker: str, limit: int = 100, lease: timedelta
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` due deliveries of workspaces that are not paused, the
    nearest meeting first: ordered by the start of the meeting a delivery prepares for
    (``meeting_start``: a reminder for 09:00 before one for 09:30, whatever their due
    times), deliveries without one by their due time (:func:`claim_order`). The database
    reads the due rows from the (state, available_at) index and sorts those: the cost
    grows with what is due now, not with the whole outbox.

    A delivery whose lease ran out may already have reached Slack before its claimer
    died: it comes back marked ``needs_reconcile`` (the sender checks before resending).

    The sender's hottest path, so it is one fixed statement run at the driver level
    (the same shape as :func:`_claim`): SQLAlchemy's per-row result processing cost
    more than the database's own work (bench/outbox.py).
    """
    dialect = engine.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sqlite_db = dialect.name == "sqlite"
    lock = "" if sqlite_db else " FOR UPDATE SKIP LOCKED"
    claim = (
        f"UPDATE delivery SET state = '{DeliveryState.CLAIMED}', lease_until = {mark},"
        f" claimed_by = {mark}, updated_at = {mark}"
        f" WHERE id IN (SELECT id FROM delivery WHERE state = '{DeliveryState.PENDING}'"
        f" AND available_at <= {mark} AND team_id NOT IN"
        " (SELECT team_id FROM installation WHERE paused_at IS NOT NULL)"
        f" ORDER BY COALESCE(meeting_start, available_at), id LIMIT {mark}{lock})"
        f" RETURNING {', '.join(_CLAIMED_FIELDS)}"
    )
    now_b, lease_b = driver_time(now, dialect), driver_time(now + lease, dialect)
    recover = (
        sa.update(DELIVERY)
        .where(DELIVERY.c.state == DeliveryState.CLAIMED, DELIVERY.c.lease_until < now)
        .values(state=DeliveryState.PENDING, lease_until=None, needs_reconcile=True, updated_at=now)
    )
    with engine.begin() as conn:
        conn.execute(recover)
        raw = conn.exec_driver_sql(claim, (lease_b, worker, now_b, now_b, limit)).all()
    rows = [_claimed(row, sqlite_db) for row in raw]
    rows.sort(key=claim_order)
    return rows


def claim_order(row: ClaimedDelivery) -> tuple[datetime, int]:
    """The order due deliveries are claimed and posted in: the nearest meeting first,
    deliveries without a meeting by their due time."""
    return (row.meeting_start or row.available_at, row.id)


def _claimed(row: Any, sqlite_db: bool) -> ClaimedDelivery:
    (
        id_,
        team,
        user,
        kind,
        ref,
        occ,
        due,
        avail,
        expires,
        meeting,
        state,
        by,
        attempts,
        rec,
        payload,
        ch,
    ) = row
    if isinstance(payload, str):
        payload = json.loads(payload)
    return ClaimedDelivery(
        id=id_,
        team_id=team,
        user_id=user,
        kind=_kind(kind),
        ref=ref,
        occurrence_key=occ,
        due_at=from_driver(due),  # type: ignore[arg-type]
        available_at=from_driver(avail),  # type: ignore[arg-type]
        expires_at=from_driver(expires),
        meeting_start=from_driver(meeting),
        state=_STATES[state],
        claimed_by=by,
        attempts=attempts,
        needs_reconcile=bool(rec),
        payload=payload or {},
        channel=ch,
    )


def next_due(*, engine: Engine) -> datetime | None:
    """When the earliest pending delivery becomes due (None when nothing is pending)."""
    t = DELIVERY.c
    with read_only(engine) as conn:
        value = conn.execute(
            sa.select(t.available_at)
            .where(t.state == DeliveryState.PENDING)
            .order_by(t.available_at)
            .limit(1)
        ).scalar()
    return value


def outbox_depth(*, engine: Engine) -> dict[str, int]:
    """How many deliveries are pending and claimed (a read of the claim index)."""
    t = DELIVERY.c
    query = (
        sa.select(t.state, sa.func.count())
        .where(t.state.in_((DeliveryState.PENDING, DeliveryState.CLAIMED)))
        .group_by(t.state)
    )
    with read_only(engine) as conn:
        counts = {state: int(count) for state, count in conn.execute(query)}
    return {state: counts.get(state, 0) for state in (DeliveryState.PENDING, DeliveryState.CLAIMED)}


def renew_lease(
    *, engine: Engine, delivery_id: int, worker: str, now: datetime, lease: timedelta
) -> bool:
    """Extend ``worker``'s lease on a claimed delivery to ``now + lease``, only if it
    still holds the row; False when it does not (taken over, or withdrawn).

    The sender's fencing check, run just before each post: a row whose lease ran out
    and was claimed by another worker is never posted by its first claimer.
    """
    t = DELIVERY.c
    stmt = (
        sa.update(DELIVERY)
        .where(t.id == delivery_id, t.claimed_by == worker, t.state == DeliveryState.CLAIMED)
        .values(lease_until=now + lease, updated_at=now)
    )
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


class FailureKind(StrEnum):
    """Why a claimed delivery was not sent (yet): the class of its outcome, which the
    sender acts on and ``heedful_deliveries_total`` counts by (never read back out of
    the stored ``error`` text)."""

    RECIPIENT = "recipient"  # this person cannot get our DMs: failed, marked unreachable
    INSTALLATION = "installation"  # the workspace's token no longer works: paused, pending
    PAYLOAD = "payload"  # Slack refused the message, blocks and plain text: failed
    GAVE_UP = "gave_up"  # the failed attempts ran out (or a history check said so)
    RETRIED = "retried"  # a failed attempt (transient error, unknown outcome): again later
    RATE_LIMITED = "ratelimited"  # waits out a ``Retry-After``: not an attempt
    PACED = "paced"  # no slot of the workspace's budget yet: not an attempt
    DEFERRED = "deferred"  # its composer said "not now"
    WITHDRAWN = "withdrawn"  # its composer said "not at all" (``code``: why)
    EXPIRED = "expired"  # it could no longer arrive in time
    UNREACHABLE = "unreachable"  # the person was marked unreachable before
    NOT_INSTALLED = "not_installed"  # no token for the workspace
    UNKNOWN_KIND = "unknown_kind"  # no composer for its kind
    # Pre-scheduling (``bot.prescheduler``): whether Slack took a scheduleMessage call is
    # not known yet (``code``: what the call met), or can no longer be known (no code).
    UNKNOWN = "unknown"
    # Pre-scheduling: Slack will not take it ahead of time (``code``: why); the sender
    # posts it at its due time.
    DIRECT = "direct"


# Kinds whose stored text is ``<kind>:<code>`` (today's ``error`` column, kept as it was
# for existing rows and anyone who reads them); the others store their code alone, or
# the kind's own word when there is no code.
_PREFIXED = frozenset(
    {
        FailureKind.RECIPIENT,
        FailureKind.INSTALLATION,
        FailureKind.PAYLOAD,
        FailureKind.GAVE_UP,
        FailureKind.UNKNOWN,
    }
)


@dataclass(frozen=True, slots=True)
class Failure:
    """The class of a delivery's outcome (``kind``) and what Slack or the sender said
    (``code``: a Slack error such as ``account_inactive``, a composer's reason …)."""

    kind: FailureKind
    code: str = ""

    @property
    def text(self) -> str:
        """The stored ``error``: ``recipient:account_inactive``, ``ratelimited`` …"""
        if self.kind in _PREFIXED and self.code:
            return f"{self.kind}:{self.code}"
        return self.code or self.kind.value


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one claimed delivery; ``state`` pending means "try again later".

    ``failure``: why it was not sent (None when it was). ``attempted``: Slack was asked
    and answered anything but a rate limit, or did not answer (it adds one to the row's
    ``attempts``).
    """

    id: int
    state: DeliveryState
    failure: Failure | None = None
    channel: str | None = None
    message_ts: str | None = None
    retry_at: datetime | None = None
    needs_reconcile: bool = False
    attempted: bool = False

    @property
    def error(self) -> str | None:
        """The text stored in the row's ``error`` column."""
        return None if self.failure is None else self.failure.text

    @property
    def failed_as(self) -> FailureKind | None:
        return None if self.failure is None else self.failure.kind


def finish_deliveries(
    *,
    engine: Engine,
    outcomes: Sequence[DeliveryOutcome],
    worker: str,
    now: datetime,
    dm_channels: Sequence[tuple[str, str, str]] = (),
    shown: Sequence[Shown] = (),
) -> int:
    """Record outcomes in one transaction. A row another worker has claimed since
    (our lease ran out) is left to that worker. Returns how many rows were updated.

    ``dm_channels``: (team, user, DM channel id) triples learnt from Slack's answers,
    stored in the same transaction (a user's known DM channel is kept). ``shown``: the
    wordings of the DMs posted, remembered in the same transaction.
    """
    if not outcomes:
        return 0
    t = DELIVERY.c
    mine = (t.id == sa.bindparam("b_id"), t.claimed_by == worker, t.state == DeliveryState.CLAIMED)
    other_stmt = (
        sa.update(DELIVERY)
        .where(*mine)
        .values(
            state=sa.bindparam("b_state"),
            error=sa.bindparam("b_error"),
            available_at=sa.func.coalesce(
                sa.bindparam("b_retry_at", type_=UTCDateTime()), t.available_at
            ),
            needs_reconcile=sa.bindparam("b_reconcile"),
            attempts=t.attempts + sa.bindparam("b_tries"),
            lease_until=None,
            updated_at=now,
        )
    )
    sent = [o for o in outcomes if o.state is DeliveryState.SENT]
    other = [
        {
            "b_id": o.id,
            "b_state": o.state.value,
            "b_error": (o.error or None) and o.error[:255],
            "b_retry_at": o.retry_at,
            "b_reconcile": o.needs_reconcile,
            "b_tries": int(o.attempted),
        }
        for o in outcomes
        if o.state is not DeliveryState.SENT
    ]
    updated = 0
    with engine.begin() as conn:
        if sent:
            updated += _mark_sent(conn, sent, worker=worker, now=now)
        if other:
            updated += max(conn.execute(other_stmt, other).rowcount, 0)
        if dm_channels:
            remember_dm_channels(conn=conn, found=dm_channels)
        if shown:
            remember_shown(conn=conn, shown=shown)
    return updated


def held_by(*, engine: Engine, ids: Sequence[int], worker: str) -> set[int]:
    """Which of ``ids`` were last claimed by ``worker`` (after :func:`finish_deliveries`
    updated fewer rows than it was given: the others were taken over)."""
    t = DELIVERY.c
    with read_only(engine) as conn:
        query = sa.select(t.id).where(t.id.in_(ids), t.claimed_by == worker)
        return set(conn.execute(query).scalars())


def _mark_sent(
    conn: sa.Connection, sent: Sequence[DeliveryOutcome], *, worker: str, now: datetime
) -> int:
    """Mark a batch sent with one driver-level ``executemany``.

    The sender's hottest statement: through SQLAlchemy's compiled executemany, building
    and type-processing each row's parameters cost more than the database's own work
    (bench/outbox.py). The statement is fixed, so it is written for the driver directly.
    """
    dialect = conn.dialect
    if dialect.name == "postgresql":
        return _mark_sent_postgres(conn, sent, worker=worker, now=now)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    stamp = driver_time(now, dialect)  # on SQLite, the text SQLAlchemy stores
    sql = (
        f"UPDATE delivery SET state = '{DeliveryState.SENT}', channel = {mark},"
        f" message_ts = {mark}, sent_at = {mark}, updated_at = {mark}, error = NULL,"
        f" needs_reconcile = FALSE, attempts = attempts + {mark}, lease_until = NULL"
        f" WHERE id = {mark} AND claimed_by = {mark} AND state = '{DeliveryState.CLAIMED}'"
    )
    params = [(o.channel, o.message_ts, stamp, stamp, int(o.attempted), o.id, worker) for o in sent]
    return max(conn.exec_driver_sql(sql, params).rowcount, 0)


def _mark_sent_postgres(
    conn: sa.Connection, sent: Sequence[DeliveryOutcome], *, worker: str, now: datetime
) -> int:
    """PostgreSQL: the whole batch in one statement and one round trip (arrays, unnested)."""
    sql = (
        f"UPDATE delivery AS d SET state = '{DeliveryState.SENT}', channel = b.channel,"
        " message_ts = b.ts, sent_at = %(now)s, updated_at = %(now)s, error = NULL,"
        " needs_reconcile = FALSE, attempts = d.attempts + b.tries, lease_until = NULL"
        " FROM (SELECT unnest(%(ids)s::int[]) AS id, unnest(%(channels)s::text[]) AS channel,"
        " unnest(%(ts)s::text[]) AS ts, unnest(%(tries)s::int[]) AS tries) AS b"
        " WHERE d.id = b.id AND d.claimed_by = %(worker)s"
        f" AND d.state = '{DeliveryState.CLAIMED}'"
    )
    params = {
        "now": now,
        "ids": [o.id for o in sent],
        "channels": [o.channel for o in sent],
        "ts": [o.message_ts for o in sent],
        "tries": [int(o.attempted) for o in sent],
        "worker": worker,
    }
    return max(conn.exec_driver_sql(sql, params).rowcount, 0)


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True, slots=True)
class SentDelivery:
    """A delivery that reached Slack: what an answer or a tap is matched against."""

    id: int
    team_id: str
    user_id: str
    kind: DeliveryKind | str
    occurrence_key: str | None
    payload: dict[str, Any]
    channel: str | None
    message_ts: str | None
    sent_at: datetime

    @classmethod
    def of(cls, row: Any) -> SentDelivery:
        return cls(
            id=row.id,
            team_id=row.team_id,
            user_id=row.user_id,
            kind=_kind(row.kind),
            occurrence_key=row.occurrence_key,
            payload=dict(row.payload or {}),
            channel=row.channel,
            message_ts=row.message_ts,
            sent_at=row.sent_at,
        )


def _theirs(team_id: str, user_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    t = DELIVERY.c
    return (t.team_id == team_id, t.user_id == user_id)


def find_delivery(
    *, conn: sa.Connection, team_id: str, user_id: str, delivery_id: int
) -> ClaimedDelivery | None:
    """The person's delivery ``delivery_id`` in whatever state (a tap on one of its
    buttons names it), None when it is not theirs or is gone."""
    t = DELIVERY.c
    row = conn.execute(
        sa.select(DELIVERY).where(t.id == delivery_id, *_theirs(team_id, user_id))
    ).first()
    return None if row is None else ClaimedDelivery.of(row)


def count_sent(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    kinds: Sequence[DeliveryKind],
    except_id: int | None = None,
) -> int:
    """How many of the person's deliveries of ``kinds`` were sent (but ``except_id``).
    A message handed to Slack ahead of time (``scheduled``, ``bot.prescheduler``) counts
    as sent: Slack posts it."""
    t = DELIVERY.c
    query = (
        sa.select(sa.func.count())
        .select_from(DELIVERY)
        .where(
            *_theirs(team_id, user_id),
            t.kind.in_(kinds),
            t.state.in_((DeliveryState.SENT, DeliveryState.SCHEDULED)),
        )
    )
    if except_id is not None:
        query = query.where(t.id != except_id)
    return int(conn.execute(query).scalar_one())


def any_with_error(
    *, conn: sa.Connection, team_id: str, user_id: str, occurrence_key: str, error: str
) -> bool:
    """Whether any of the person's deliveries about the meeting ``occurrence_key`` was
    settled with ``error`` (e.g. withdrawn by their own "Skip this one")."""
    t = DELIVERY.c
    query = (
        sa.select(t.id)
        .where(*_theirs(team_id, user_id), t.occurrence_key == occurrence_key, t.error == error)
        .limit(1)
    )
    return conn.execute(query).first() is not None


def sent(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    kinds: Sequence[DeliveryKind],
    delivery_id: int | None = None,
    message_ts: str | None = None,
    since: datetime | None = None,
) -> SentDelivery | None:
    """The person's sent delivery of ``kinds`` with that id, or posted as that message,
    or else the latest sent since ``since``; None when there is none."""
    t = DELIVERY.c
    query = sa.select(DELIVERY).where(
        *_theirs(team_id, user_id), t.kind.in_(kinds), t.state == DeliveryState.SENT
    )
    if delivery_id is not None:
        query = query.where(t.id == delivery_id)
    if message_ts is not None:
        query = query.where(t.message_ts == message_ts)
    if since is not None:
        query = query.where(t.sent_at >= since).order_by(t.sent_at.desc()).limit(1)
    row = conn.execute(query).first()
    return None if row is None else SentDelivery.of(row)


@dataclass(frozen=True, slots=True)
class PromptSent:
    """A reflection prompt that went out, newest first in :func:`prompts_sent`."""

    answered: bool
    due_at: datetime


def prompts_sent(
    *, conn: sa.Connection, team_id: str, user_id: str, limit: int
) -> list[PromptSent]:
    """The person's ``limit`` latest sent reflection prompts, newest first, and whether
    each got an answer (a reflection row names it)."""
    t, r = DELIVERY.c, Reflection.__table__.c  # type: ignore[attr-defined]
    answered = sa.exists().where(r.delivery_id == t.id)
    query = (
        sa.select(answered.label("answered"), t.due_at)
        .where(
            *_theirs(team_id, user_id),
            t.kind == DeliveryKind.REFLECTION,
            t.state == DeliveryState.SENT,
        )
        .order_by(t.sent_at.desc())
        .limit(limit)
    )
    return [PromptSent(bool(a), due) for a, due in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class Held:
    """A delivery that went out or is going out (claimed or sent): it keeps its place
    when the person's nudges are planned again."""

    kind: DeliveryKind | str
    ref: str
    due_at: datetime
    expires_at: datetime | None
    occurrence_key: str | None
    payload: dict[str, Any]


def held(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    kinds: Sequence[DeliveryKind],
    due_since: datetime,
) -> list[Held]:
    """The person's claimed or sent deliveries of ``kinds`` due since ``due_since``."""
    t = DELIVERY.c
    query = sa.select(t.kind, t.ref, t.due_at, t.expires_at, t.occurrence_key, t.payload).where(
        *_theirs(team_id, user_id),
        t.kind.in_(kinds),
        t.state.in_((DeliveryState.CLAIMED, DeliveryState.SENT)),
        t.due_at >= due_since,
    )
    return [
        Held(_kind(kind), ref, due, expires, key, dict(payload or {}))
        for kind, ref, due, expires, key, payload in conn.execute(query)
    ]


def spoken_for(
    *, conn: sa.Connection, team_id: str, user_id: str, occurrence_keys: Iterable[str]
) -> set[str]:
    """Which of ``occurrence_keys`` have a delivery waiting, being sent or sent (handed
    to Slack ahead of time included: ``bot.prescheduler``)."""
    t = DELIVERY.c
    live = (
        DeliveryState.PENDING,
        DeliveryState.CLAIMED,
        DeliveryState.SENT,
        DeliveryState.SCHEDULING,
        DeliveryState.SCHEDULED,
    )
    query = sa.select(t.occurrence_key).where(
        *_theirs(team_id, user_id), t.occurrence_key.in_(list(occurrence_keys)), t.state.in_(live)
    )
    return set(conn.execute(query).scalars())


@dataclass(frozen=True, slots=True)
class About:
    """What a delivery was about: its kind, meeting and payload."""

    id: int
    kind: DeliveryKind | str
    occurrence_key: str | None
    payload: dict[str, Any]


def _about(rows: Iterable[Any]) -> list[About]:
    return [About(i, _kind(kind), key, dict(payload or {})) for i, kind, key, payload in rows]


def about(*, conn: sa.Connection, ids: Iterable[int]) -> dict[int, About]:
    """``About`` each of the deliveries ``ids`` that still exists, by id."""
    t = DELIVERY.c
    query = sa.select(t.id, t.kind, t.occurrence_key, t.payload).where(t.id.in_(set(ids)))
    return {found.id: found for found in _about(conn.execute(query))}


def about_shown(
    *, conn: sa.Connection, team_id: str, user_id: str, prompt_id: str, except_id: int
) -> list[About]:
    """``About`` the person's deliveries that showed the prompt ``prompt_id`` (recorded in
    ``prompt_shown``), but ``except_id``."""
    t, s = DELIVERY.c, PromptShown.__table__.c  # type: ignore[attr-defined]
    query = (
        sa.select(t.id, t.kind, t.occurrence_key, t.payload)
        .join_from(PromptShown.__table__, DELIVERY, t.id == s.delivery_id)  # type: ignore[attr-defined]
        .where(
            s.team_id == team_id,
            s.user_id == user_id,
            s.prompt_id == prompt_id,
            s.delivery_id != except_id,
        )
    )
    return _about(conn.execute(query))


@dataclass(frozen=True, slots=True)
class Upcoming:
    """A nudge waiting to go out, with the title of its meeting when that is known."""

    kind: DeliveryKind | str
    due_at: datetime
    title: str | None


def upcoming(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    kinds: Sequence[DeliveryKind],
    before: datetime,
    limit: int,
) -> list[Upcoming]:
    """The person's pending deliveries of ``kinds`` due before ``before``, soonest first."""
    t, o = DELIVERY.c, OccurrenceRow.__table__.c  # type: ignore[attr-defined]
    meeting = sa.and_(o.team_id == t.team_id, o.user_id == t.user_id, o.key == t.occurrence_key)
    query = (
        sa.select(t.kind, t.due_at, o.title)
        .select_from(DELIVERY.outerjoin(OccurrenceRow.__table__, meeting))  # type: ignore[attr-defined]
        .where(
            *_theirs(team_id, user_id),
            t.state == DeliveryState.PENDING,
            t.kind.in_(kinds),
            t.due_at < before,
        )
        .order_by(t.due_at)
        .limit(limit)
    )
    return [Upcoming(_kind(kind), due, title) for kind, due, title in conn.execute(query)]


# --------------------------------------------------------------------------- changes


def withdraw_pending(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    kinds: Sequence[DeliveryKind],
    error: str,
    now: datetime,
) -> int:
    """Skip the person's pending deliveries of ``kinds``, ``error`` saying why (they asked
    never to get them, …). Returns how many."""
    t = DELIVERY.c
    stmt = (
        sa.update(DELIVERY)
        .where(*_theirs(team_id, user_id), t.kind.in_(kinds), t.state == DeliveryState.PENDING)
        .values(state=DeliveryState.SKIPPED, error=error, updated_at=now)
    )
    return max(conn.execute(stmt).rowcount, 0)


def move_untried(
    *,
    conn: sa.Connection,
    moves: Sequence[tuple[int, datetime, datetime | None]],
    now: datetime,
) -> None:
    """Give pending deliveries the sender has not tried yet a new due time and deadline:
    (id, due, expires) triples, in one batch. A row already tried is left to the sender."""
    if not moves:
        return
    t = DELIVERY.c
    stmt = (
        sa.update(DELIVERY)
        .where(t.id == sa.bindparam("b_id"), t.state == DeliveryState.PENDING, t.attempts == 0)
        .values(
            due_at=sa.bindparam("b_due", type_=UTCDateTime()),
            available_at=sa.bindparam("b_due", type_=UTCDateTime()),
            expires_at=sa.bindparam("b_expires", type_=UTCDateTime()),
            updated_at=now,
        )
    )
    conn.execute(stmt, [{"b_id": i, "b_due": due, "b_expires": exp} for i, due, exp in moves])


def delete_by_payload(
    *, conn: sa.Connection, team_id: str, kind: DeliveryKind, field: str, value: str
) -> int:
    """Delete a workspace's deliveries of ``kind`` whose payload's ``field`` is ``value``
    (erasing a person: the questions about their meetings). Returns how many."""
    t = DELIVERY.c
    query = sa.select(t.id, t.payload).where(t.team_id == team_id, t.kind == kind)
    ids = [i for i, payload in conn.execute(query) if (payload or {}).get(field) == value]
    if not ids:
        return 0
    return max(conn.execute(sa.delete(DELIVERY).where(t.id.in_(ids))).rowcount, 0)


# --------------------------------------------------------------------------- retention

# A delivery in one of these states is settled: nothing will send it any more.
SETTLED = (DeliveryState.SENT, DeliveryState.SKIPPED, DeliveryState.FAILED, DeliveryState.EXPIRED)


@dataclass(frozen=True, slots=True)
class SettledToKeep:
    """The settled deliveries the retention purge keeps however old (``bot.privacy``
    says why): every one of ``kinds``; each person's first ``first_sent`` sent of
    ``first_kinds`` (by id) and latest ``latest_sent`` sent of ``latest_kinds`` (by
    ``sent_at``); and those a ``prompt_shown`` row with one of the ids ``shown`` names."""

    kinds: tuple[str, ...] = ()
    first_sent: int = 0
    first_kinds: tuple[str, ...] = ()
    latest_sent: int = 0
    latest_kinds: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()


def delete_settled(
    *, conn: sa.Connection, settled_before: datetime, keep: SettledToKeep, limit: int
) -> int:
    """Delete up to ``limit`` deliveries settled (sent, skipped, failed, expired) and due
    before ``settled_before``, but those ``keep`` names. Returns how many rows went."""
    d, e = DELIVERY.alias("d"), DELIVERY.alias("e")
    s = PromptShown.__table__.alias("s")  # type: ignore[attr-defined]
    same_person = sa.and_(e.c.team_id == d.c.team_id, e.c.user_id == d.c.user_id)
    sent = DeliveryState.SENT.value
    # The person's own rows, through the (team, user, kind) index: SQLite would otherwise
    # read every sent row of the table through the state index, for each candidate.
    e_sent = e.c.state.concat("") == sent
    conditions: list[sa.ColumnElement[bool]] = [
        d.c.state.in_([state.value for state in SETTLED]),
        d.c.due_at < settled_before,
        sa.func.coalesce(d.c.updated_at, d.c.due_at) < settled_before,
    ]
    if keep.kinds:
        conditions.append(d.c.kind.not_in(keep.kinds))
    if keep.first_sent and keep.first_kinds:
        # ``first_sent`` sent before it: it is not among the first (an index range each).
        earlier = (
            sa.select(e.c.id)
            .where(same_person, e.c.kind.in_(keep.first_kinds), e_sent, e.c.id < d.c.id)
            .limit(1)
            .offset(keep.first_sent - 1)
        )
        conditions.append(
            sa.or_(d.c.kind.not_in(keep.first_kinds), d.c.state != sent, earlier.exists())
        )
    if keep.latest_sent and keep.latest_kinds:
        later = (
            sa.select(e.c.id)
            .where(
                same_person,
                e.c.kind.in_(keep.latest_kinds),
                e_sent,
                sa.tuple_(e.c.sent_at, e.c.id) > sa.tuple_(d.c.sent_at, d.c.id),
            )
            .limit(1)
            .offset(keep.latest_sent - 1)
        )
        conditions.append(
            sa.or_(d.c.kind.not_in(keep.latest_kinds), d.c.state != sent, later.exists())
        )
    if keep.shown:
        conditions.append(
            ~sa.exists().where(s.c.delivery_id == d.c.id, s.c.prompt_id.in_(keep.shown))
        )
    doomed = sa.select(d.c.id).where(*conditions).limit(limit)
    result = conn.execute(sa.delete(DELIVERY).where(DELIVERY.c.id.in_(doomed)))
    return max(result.rowcount, 0)

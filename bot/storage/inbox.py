"""The inbox (table ``inbox``): every inbound hook is a row before it is
acknowledged (DESIGN.md, invariant 3), claimed with a lease like the outbox's rows.

The processor claims a batch in one transaction (:func:`claim_inbox`) and settles it in
another (:func:`settle_inbox`): a fixed number of statements per batch, not per event.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.storage.dialect import insert_ignoring
from bot.storage.models import InboxItem, InboxState

INBOX = InboxItem.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ClaimedInboxItem:
    """An inbox row as its processor sees it once claimed."""

    id: int
    source: str
    external_id: str
    team_id: str | None
    kind: str
    body: str
    available_at: datetime
    state: InboxState
    claimed_by: str | None
    attempts: int
    received_at: datetime


@dataclass(frozen=True, slots=True)
class InboxOutcome:
    """How processing one claimed row went: done (no ``error``), to be retried at
    ``retry_at``, or failed for good (an ``error`` and no ``retry_at``)."""

    id: int
    error: str | None = None
    retry_at: datetime | None = None


@functools.cache
def _store_inbox_statement(dialect: str) -> Any:
    return insert_ignoring(dialect, INBOX).returning(INBOX.c.id)


def _claim(
    engine: Engine,
    table: sa.Table,
    *,
    now: datetime,
    worker: str,
    limit: int,
    lease: timedelta,
    columns: Sequence[sa.Column[Any]],
    extra_where: Iterable[sa.ColumnElement[bool]] = (),
) -> list[sa.Row[Any]]:
    """Return rows whose lease ran out to ``pending``, then claim due ``pending`` rows.

    Two statements, so the claim itself is ``state = 'pending' AND available_at <= now
    ORDER BY available_at``: an ordered read of the (state, available_at) index, whose
    cost does not grow with the backlog.
    """
    t = table.c
    pick = (
        sa.select(t.id)
        .where(t.state == InboxState.PENDING, t.available_at <= now, *extra_where)
        .order_by(t.available_at)
        .limit(limit)
    )
    if engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    claim = (
        sa.update(table)
        .where(t.id.in_(pick.scalar_subquery()))
        .values(
            state=InboxState.CLAIMED,
            lease_until=now + lease,
            claimed_by=worker,
            attempts=t.attempts + 1,
        )
        .returning(*columns)
    )
    recover = (
        sa.update(table)
        .where(t.state == InboxState.CLAIMED, t.lease_until < now)
        .values(state=InboxState.PENDING, lease_until=None)
    )
    with engine.begin() as conn:
        conn.execute(recover)
        rows = list(conn.execute(claim))
    rows.sort(key=lambda r: (r.available_at, r.id))  # oldest first, then in arrival order
    return rows


_INBOX_CLAIM_COLUMNS = [
    INBOX.c[name]
    for name in (
        "id",
        "source",
        "external_id",
        "team_id",
        "kind",
        "body",
        "available_at",
        "state",
        "claimed_by",
        "attempts",
        "received_at",
    )
]


def store_inbox(
    *,
    engine: Engine,
    source: str,
    external_id: str,
    body: str,
    now: datetime,
    team_id: str | None = None,
    user_id: str | None = None,
    kind: str = "",
    processed: bool = False,
) -> bool:
    """Store an inbound hook before it is acknowledged. False when the id was seen before.

    ``user_id`` names whose event it is when known, so that erasing a person removes it.
    ``processed``: the row only records that the id was seen (it is handled at once,
    not by the inbox processor); it is stored ``done``.
    """
    values = {
        "source": source,
        "external_id": external_id[:255],
        "team_id": team_id,
        "user_id": user_id[:32] if user_id else None,
        "kind": kind[:64],
        "body": body,
        "state": (InboxState.DONE if processed else InboxState.PENDING).value,
        "available_at": now,
        "received_at": now,
        "processed_at": now if processed else None,
        "attempts": 0,
    }
    with engine.begin() as conn:
        stmt = _store_inbox_statement(engine.dialect.name)
        return conn.execute(stmt, values).first() is not None


def claim_inbox(
    *, engine: Engine, now: datetime, worker: str, limit: int = 50, lease: timedelta
) -> list[ClaimedInboxItem]:
    """Claim up to ``limit`` due inbox rows, oldest first (a row whose lease ran out first
    returns to ``pending``)."""
    rows = _claim(
        engine,
        INBOX,
        now=now,
        worker=worker,
        limit=limit,
        lease=lease,
        columns=_INBOX_CLAIM_COLUMNS,
    )
    return [ClaimedInboxItem(**{**row._mapping, "state": InboxState(row.state)}) for row in rows]


def finish_inbox(
    *,
    engine: Engine,
    item_id: int,
    worker: str,
    now: datetime,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Settle one claimed row on its own (:func:`settle_inbox` for a batch of one)."""
    with engine.begin() as conn:
        settle_inbox(
            conn=conn,
            worker=worker,
            now=now,
            outcomes=[InboxOutcome(id=item_id, error=error, retry_at=retry_at)],
        )


def _mine(worker: str) -> list[sa.ColumnElement[bool]]:
    t = INBOX.c
    return [t.claimed_by == worker, t.state == InboxState.CLAIMED]


def settle_inbox(
    *, conn: sa.Connection, worker: str, now: datetime, outcomes: Sequence[InboxOutcome]
) -> None:
    """Settle claimed rows set-based: at most three statements whatever their number.

    Done rows (one ``UPDATE … WHERE id IN``) have their body cleared (it may hold a
    reflection); rows to retry return to ``pending`` at their ``retry_at``, and rows
    that failed for good become ``failed`` (one executemany ``UPDATE`` each, as their
    times and errors differ). Only rows still claimed by ``worker`` change: a row whose
    lease ran out and that another worker took is left to it.
    """
    t = INBOX.c
    done = [o.id for o in outcomes if o.error is None]
    retry = [o for o in outcomes if o.error is not None and o.retry_at is not None]
    failed = [o for o in outcomes if o.error is not None and o.retry_at is None]
    if done:
        conn.execute(
            sa.update(INBOX)
            .where(t.id.in_(done), *_mine(worker))
            .values(state=InboxState.DONE, body="", processed_at=now, error=None, lease_until=None)
        )
    by_id = t.id == sa.bindparam("b_id")
    if retry:
        conn.execute(
            sa.update(INBOX)
            .where(by_id, *_mine(worker))
            .values(
                state=InboxState.PENDING,
                available_at=sa.bindparam("b_at", type_=t.available_at.type),
                error=sa.bindparam("b_error"),
                lease_until=None,
            ),
            [{"b_id": o.id, "b_at": o.retry_at, "b_error": (o.error or "")[:255]} for o in retry],
        )
    if failed:
        conn.execute(
            sa.update(INBOX)
            .where(by_id, *_mine(worker))
            .values(
                state=InboxState.FAILED,
                processed_at=now,
                error=sa.bindparam("b_error"),
                lease_until=None,
            ),
            [{"b_id": o.id, "b_error": (o.error or "")[:255]} for o in failed],
        )

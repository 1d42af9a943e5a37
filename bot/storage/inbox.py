"""The inbox (table ``inbox_item``): every inbound hook is a row before it is
acknowledged (DESIGN.md, invariant 3), claimed with a lease like the outbox's rows."""

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
    rows.sort(key=lambda r: r.available_at)
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
    """Mark an inbox row done (its body is cleared: it may hold a reflection), or
    return it for a retry at ``retry_at``, or fail it for good (no ``retry_at``)."""
    t = INBOX.c
    if error is None:
        values: dict[str, Any] = {
            "state": InboxState.DONE,
            "body": "",
            "processed_at": now,
            "error": None,
        }
    elif retry_at is not None:
        values = {"state": InboxState.PENDING, "available_at": retry_at, "error": error[:255]}
    else:
        values = {"state": InboxState.FAILED, "processed_at": now, "error": error[:255]}
    stmt = (
        sa.update(INBOX)
        .where(t.id == item_id, t.claimed_by == worker, t.state == InboxState.CLAIMED)
        .values(lease_until=None, **values)
    )
    with engine.begin() as conn:
        conn.execute(stmt)

"""The reads behind ``GET /metrics`` (``bot.metrics``): counts, never rows.

Each is one aggregate query on a read-only connection, run at scrape time, so every
process reports the same figures for the shared database and nothing here is cached.
None returns a user id, a team id or any text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.storage.db import read_only
from bot.storage.models import CalendarSource, Delivery, DeliveryState, InboxItem, InboxState

DELIVERY: sa.Table = Delivery.__table__  # type: ignore[attr-defined]
INBOX: sa.Table = InboxItem.__table__  # type: ignore[attr-defined]
CALENDAR: sa.Table = CalendarSource.__table__  # type: ignore[attr-defined]

# A calendar that only its owner can mend (reconnect, a new address): not the app's lag.
BROKEN = "broken"
# Unprocessed inbox rows: stored and acknowledged, waiting for (or in) the worker.
UNPROCESSED = (InboxState.PENDING.value, InboxState.CLAIMED.value)


def deliveries_by_kind_and_state(engine: Engine) -> dict[tuple[str, str], int]:
    """(kind, state) → deliveries in the outbox, whatever states exist.

    A scan of the delivery table (no index leads with kind): cheap at a scrape every
    15–60 s for the tables Heedful keeps (sent rows go with the person's data).
    """
    t = DELIVERY.c
    query = sa.select(t.kind, t.state, sa.func.count()).group_by(t.kind, t.state)
    with read_only(engine) as conn:
        return {(kind, state): int(n) for kind, state, n in conn.execute(query)}


def inbox_backlog(engine: Engine) -> dict[str, int]:
    """source → inbox rows stored but not processed yet (pending or claimed)."""
    t = INBOX.c
    query = sa.select(t.source, sa.func.count()).where(t.state.in_(UNPROCESSED)).group_by(t.source)
    with read_only(engine) as conn:
        return {source: int(n) for source, n in conn.execute(query)}


def scheduled_messages(engine: Engine, *, now: datetime) -> int:
    """Deliveries handed to Slack with ``chat.scheduleMessage`` that Slack has yet to post:
    in state ``scheduled`` and due after ``now`` (``bot.prescheduler``; a row past its due
    time waits for the sweep that marks it sent, and Slack has posted it)."""
    t = DELIVERY.c
    query = sa.select(sa.func.count()).where(
        t.state == DeliveryState.SCHEDULED.value, t.due_at > now
    )
    with read_only(engine) as conn:
        return int(conn.execute(query).scalar_one())


def calendar_sync_lag(engine: Engine, *, now: datetime) -> dict[str, float]:
    """kind → seconds the most overdue calendar of that kind has waited past its
    ``next_check_at`` (0 when none is overdue), over calendars that are not broken.

    Every reader (ICS feeds, Google, Microsoft) claims a calendar by moving its
    ``next_check_at`` a poll interval ahead and backs off the same way after a failure,
    so the figure stays near 0 while the readers run, whatever the calendars answer, and
    grows one second a second once they stop: an alert on it says "calendars are not
    being read". A kind with only broken calendars (waiting for their owner) reports 0.
    """
    t = CALENDAR.c
    # type_coerce: read the aggregate back as the column's type (aware UTC datetimes).
    oldest = sa.type_coerce(
        sa.func.min(sa.case((t.status != BROKEN, t.next_check_at))), t.next_check_at.type
    )
    query = sa.select(t.kind, oldest).group_by(t.kind)
    with read_only(engine) as conn:
        return {
            kind: 0.0 if due is None else max(0.0, (now - due).total_seconds())
            for kind, due in conn.execute(query)
        }


def sent_at(engine: Engine, ids: Iterable[int]) -> dict[int, datetime]:
    """id → ``sent_at`` of these deliveries (ids of rows since erased are left out)."""
    wanted = list(ids)
    if not wanted:
        return {}
    t = DELIVERY.c
    query = sa.select(t.id, t.sent_at).where(t.id.in_(wanted), t.sent_at.is_not(None))
    with read_only(engine) as conn:
        return {int(i): when for i, when in conn.execute(query)}

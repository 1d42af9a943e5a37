"""Rate budgets (table ``rate_budget``): one row per workspace and Slack method, the pace
that ``bot.budget`` keeps for every process on the database (the algorithm lives there;
the statements here)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.storage.dialect import insert_ignoring_duplicates
from bot.storage.models import RateBudget

BUDGET: sa.Table = RateBudget.__table__  # type: ignore[attr-defined]

Key = tuple[str, str]  # (team, method)


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """A budget as stored: the rate a minute, the theoretical arrival time of the next
    slot, and the end of a pause Slack asked for (``Retry-After``)."""

    per_minute: float
    next_at: datetime | None
    paused_until: datetime | None


def lock(
    *,
    conn: sa.Connection,
    keys: Iterable[Key],
    starting_rate: Callable[[str], float],
    now: datetime,
) -> dict[Key, BudgetRow]:
    """Create the missing rows (at ``starting_rate(method)``) and read the ones named, on
    PostgreSQL under a row lock held to the end of ``conn``'s transaction (on SQLite the
    transaction's ``BEGIN IMMEDIATE`` serialises writers). Locked in a fixed order, so
    two processes never wait for each other's locks in a cycle."""
    ordered = sorted(set(keys))
    conn.execute(
        insert_ignoring_duplicates(conn, BUDGET),
        [
            {"team_id": t, "method": m, "per_minute": starting_rate(m), "updated_at": now}
            for t, m in ordered
        ],
    )
    b = BUDGET.c
    query = (
        sa.select(b.team_id, b.method, b.per_minute, b.next_at, b.paused_until)
        .where(sa.tuple_(b.team_id, b.method).in_(ordered))
        .order_by(b.team_id, b.method)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {
        (team, method): BudgetRow(float(rate), next_at, paused)
        for team, method, rate, next_at, paused in conn.execute(query)
    }


def set_next_at(*, conn: sa.Connection, key: Key, next_at: datetime, now: datetime) -> None:
    """Slots were taken: the next one arrives at ``next_at``."""
    conn.execute(sa.update(BUDGET).where(*_is(key)).values(next_at=next_at, updated_at=now))


def pause(
    *,
    conn: sa.Connection,
    key: Key,
    per_minute: float,
    paused_until: datetime,
    next_at: datetime,
    now: datetime,
) -> None:
    """Slack answered 429: the new rate and the pause (the row is locked by :func:`lock`)."""
    conn.execute(
        sa.update(BUDGET)
        .where(*_is(key))
        .values(per_minute=per_minute, paused_until=paused_until, next_at=next_at, updated_at=now)
    )


def raise_rate(
    *, conn: sa.Connection, key: Key, step: float, ceiling: float, now: datetime
) -> None:
    """Add ``step`` to the rate a minute, never above ``ceiling`` (one statement, no lock:
    concurrent raises add up)."""
    rate = BUDGET.c.per_minute + step
    conn.execute(
        sa.update(BUDGET)
        .where(*_is(key), BUDGET.c.per_minute < ceiling)
        .values(
            per_minute=sa.func.min(rate, ceiling)
            if conn.dialect.name == "sqlite"
            else sa.func.least(rate, ceiling),
            updated_at=now,
        )
    )


def read(*, conn: sa.Connection, key: Key) -> BudgetRow | None:
    """The budget of ``key`` as stored (None: never used)."""
    b = BUDGET.c
    row = conn.execute(sa.select(b.per_minute, b.next_at, b.paused_until).where(*_is(key))).first()
    return None if row is None else BudgetRow(float(row[0]), row[1], row[2])


def _is(key: Key) -> tuple[sa.ColumnElement[bool], ...]:
    return (BUDGET.c.team_id == key[0], BUDGET.c.method == key[1])

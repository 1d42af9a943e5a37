"""What the tables of calendar providers (``google_calendar``, ``microsoft_calendar``) share:
one row per ``calendar_source``, keyed by ``source_id``, with ``team_id``, ``user_id``
and the provider's own columns. :class:`ProviderCalendars` holds the statements alike for
both; each provider's module (``bot.storage.google_calendars``,
``bot.storage.microsoft_calendars``) binds it to its table and row types and adds its own
(channels, subscriptions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, Self, TypeVar

import sqlalchemy as sa

from bot.storage.models import CalendarSource

SOURCE = CalendarSource.__table__  # type: ignore[attr-defined]


class _Row(Protocol):
    @classmethod
    def of(cls, row: Any) -> Self: ...


Row = TypeVar("Row", bound=_Row)
Joined = TypeVar("Joined", bound=_Row)


@dataclass(frozen=True)
class ProviderCalendars(Generic[Row, Joined]):
    """The shared statements of one provider's ``table``: its rows read as ``row`` and,
    with their source's ``status``, ``broken_notified_at`` and ``expanded_until``, as
    ``joined``."""

    table: sa.Table
    row: type[Row]
    joined: type[Joined]

    def calendar(self, *, conn: sa.Connection, source_id: int) -> Joined | None:
        """The calendar of the source ``source_id`` with its source's state, or None (no
        such calendar, or its source is gone)."""
        t, s = self.table.c, SOURCE.c
        found = conn.execute(
            sa.select(self.table, s.status, s.broken_notified_at, s.expanded_until)
            .join(SOURCE, s.id == t.source_id)
            .where(t.source_id == source_id)
        ).first()
        return None if found is None else self.joined.of(found)

    def calendars(
        self,
        *,
        conn: sa.Connection,
        team_id: str,
        user_id: str | None = None,
        source_id: int | None = None,
    ) -> list[Row]:
        """The workspace's calendars (only the person's, or the one of ``source_id``,
        when given), by source id."""
        t = self.table.c
        query = sa.select(self.table).where(t.team_id == team_id)
        if user_id is not None:
            query = query.where(t.user_id == user_id)
        if source_id is not None:
            query = query.where(t.source_id == source_id)
        return [self.row.of(found) for found in conn.execute(query.order_by(t.source_id))]

    def add_calendar(
        self,
        *,
        conn: sa.Connection,
        source_id: int,
        team_id: str,
        user_id: str,
        now: datetime,
        **values: Any,
    ) -> None:
        """Store the provider's side of the new source ``source_id`` with ``values`` (its
        secrets already encrypted)."""
        conn.execute(
            sa.insert(self.table).values(
                source_id=source_id, team_id=team_id, user_id=user_id, created_at=now, **values
            )
        )

    def update_calendar(self, *, conn: sa.Connection, source_id: int, **values: Any) -> bool:
        """Set ``values`` (secrets already encrypted) on the calendar of ``source_id``;
        False when it is gone."""
        t = self.table.c
        changed = conn.execute(
            sa.update(self.table).where(t.source_id == source_id).values(**values)
        ).rowcount
        return bool(changed)

    def delete_calendar(self, *, conn: sa.Connection, source_id: int) -> bool:
        """Forget the provider's side of the source ``source_id``; False when there was
        none."""
        t = self.table.c
        return bool(conn.execute(sa.delete(self.table).where(t.source_id == source_id)).rowcount)

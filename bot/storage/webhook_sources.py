"""Push calendar sources (table ``webhook_source``): their names and signing secrets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.storage.models import OccurrenceRow, WebhookSource

WEBHOOK = WebhookSource.__table__  # type: ignore[attr-defined]
OCC = OccurrenceRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class WebhookSourceInfo:
    """A push source as a workspace sees it (never its secret)."""

    id: int
    name: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class SourceKey:
    """Whose a push source is, and its signing secret (still encrypted)."""

    team_id: str
    secret: str


def add_source(*, conn: sa.Connection, team_id: str, name: str, secret: str, now: datetime) -> int:
    """Store a new push source with its (encrypted) ``secret``; its id."""
    source_id = conn.execute(
        sa.insert(WEBHOOK)
        .values(team_id=team_id, name=name, secret=secret, created_at=now)
        .returning(WEBHOOK.c.id)
    ).scalar_one()
    return int(source_id)


def sources(*, conn: sa.Connection, team_id: str) -> list[WebhookSourceInfo]:
    """A workspace's push sources, oldest first."""
    w = WEBHOOK.c
    rows = conn.execute(
        sa.select(w.id, w.name, w.created_at).where(w.team_id == team_id).order_by(w.id)
    )
    return [WebhookSourceInfo(r.id, r.name, r.created_at) for r in rows]


def delete_source(
    *, conn: sa.Connection, team_id: str, source_id: int, source: str
) -> list[str] | None:
    """Delete the workspace's push source ``source_id``; the people who have meetings from
    it (``source`` is its name in table ``occurrence``), None when there was no such source."""
    w, o = WEBHOOK.c, OCC.c
    gone = conn.execute(sa.delete(WEBHOOK).where(w.id == source_id, w.team_id == team_id))
    users = conn.execute(
        sa.select(o.user_id).where(o.team_id == team_id, o.source == source).distinct()
    ).scalars()
    affected = list(users)
    return affected if gone.rowcount else None


def source_key(*, conn: sa.Connection, source_id: int) -> SourceKey | None:
    """The source's workspace and encrypted secret, None when there is no such source."""
    w = WEBHOOK.c
    row = conn.execute(sa.select(w.team_id, w.secret).where(w.id == source_id)).first()
    return None if row is None else SourceKey(row.team_id, row.secret)

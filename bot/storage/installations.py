"""Workspaces (table ``installation``): installed, paused, their tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.storage.dialect import dialect_insert
from bot.storage.models import Installation

INSTALLATION = Installation.__table__  # type: ignore[attr-defined]


def upsert_installation(*, conn: sa.Connection, team_id: str, now: datetime, **fields: Any) -> None:
    """Create or update a workspace; a (re)install lifts any pause.

    One ``INSERT … ON CONFLICT (team_id) DO UPDATE``: instances that start together on one
    database each record the same install, and none fails on another's row (a read, then
    an insert, let two of them race into a duplicate key). ``installed_at`` is when the
    workspace was first installed; a reinstall keeps it.
    """
    lifted = {"paused_at": None, "pause_reason": None, "uninstalled_at": None}
    stmt = dialect_insert(conn.dialect.name, INSTALLATION).values(
        team_id=team_id, installed_at=now, **fields, **lifted
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[INSTALLATION.c.team_id], set_={**fields, **lifted}
        )
    )


def pause_installation(*, engine: Engine, team_id: str, reason: str, now: datetime) -> None:
    """Stop sending to a workspace (revoked token, uninstall, …) until it is installed again."""
    t = INSTALLATION.c
    with engine.begin() as conn:
        conn.execute(
            sa.update(INSTALLATION)
            .where(t.team_id == team_id, t.paused_at.is_(None))
            .values(paused_at=now, pause_reason=reason[:64])
        )


def bot_tokens(*, conn: sa.Connection, team_ids: Iterable[str]) -> dict[str, str | None]:
    """The stored (maybe encrypted) bot token of each of ``team_ids`` that is installed."""
    t = INSTALLATION.c
    query = sa.select(t.team_id, t.bot_token).where(t.team_id.in_(set(team_ids)))
    return {team: token for team, token in conn.execute(query)}


def live_bot_tokens(*, conn: sa.Connection, team_ids: Iterable[str]) -> dict[str, str | None]:
    """Like :func:`bot_tokens`, with None for a workspace that is paused (installed, but
    not to be called until it is installed again)."""
    t = INSTALLATION.c
    query = sa.select(t.team_id, t.bot_token, t.paused_at).where(t.team_id.in_(set(team_ids)))
    return {
        team: (token if paused is None else None) for team, token, paused in conn.execute(query)
    }


@dataclass(frozen=True, slots=True)
class Installed:
    """What authorizes Heedful's calls in a workspace (its token still encrypted)."""

    enterprise_id: str | None
    bot_token: str | None
    bot_user_id: str | None
    bot_id: str | None
    uninstalled_at: datetime | None


def installed(*, conn: sa.Connection, team_id: str) -> Installed | None:
    """The workspace's install, None when it was never installed."""
    t = INSTALLATION.c
    row = conn.execute(
        sa.select(t.enterprise_id, t.bot_token, t.bot_user_id, t.bot_id, t.uninstalled_at).where(
            t.team_id == team_id
        )
    ).first()
    return None if row is None else Installed(*row)

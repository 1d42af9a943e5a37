"""Calendar sign-ins in progress (table ``oauth_state``): single-use states, kept hashed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.storage.models import OAuthState

STATES = OAuthState.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class TakenState:
    """A state used up by its callback: whose sign-in it was, and the provider's secret
    kept since the start (still encrypted)."""

    team_id: str
    user_id: str
    verifier: str


def _open(provider: str, state_hash: str, now: datetime) -> Any:
    """The row of ``state_hash``: this provider's, not used yet, not expired."""
    s = STATES.c
    return sa.and_(
        s.state_hash == state_hash,
        s.provider == provider,
        s.used_at.is_(None),
        s.expires_at > now,
    )


def add_state(
    *,
    conn: sa.Connection,
    state_hash: str,
    provider: str,
    team_id: str,
    user_id: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Store a new sign-in state, forgetting those already expired."""
    conn.execute(sa.delete(STATES).where(STATES.c.expires_at < now))
    conn.execute(
        sa.insert(STATES).values(
            state_hash=state_hash,
            provider=provider,
            team_id=team_id,
            user_id=user_id,
            created_at=now,
            expires_at=expires_at,
        )
    )


def is_open(*, conn: sa.Connection, provider: str, state_hash: str, now: datetime) -> bool:
    """Whether ``state_hash`` is an open state of ``provider``."""
    found = conn.execute(sa.select(STATES.c.id).where(_open(provider, state_hash, now)))
    return found.first() is not None


def keep_verifier(
    *, conn: sa.Connection, provider: str, state_hash: str, now: datetime, verifier: str
) -> bool:
    """Keep the (encrypted) ``verifier`` with the open state; False when it is not open."""
    found = conn.execute(
        sa.update(STATES).where(_open(provider, state_hash, now)).values(verifier=verifier)
    ).rowcount
    return bool(found)


def take_state(
    *, conn: sa.Connection, provider: str, state_hash: str, now: datetime
) -> TakenState | None:
    """Use up the open state that has a verifier; None when there is none."""
    s = STATES.c
    row = conn.execute(
        sa.update(STATES)
        .where(_open(provider, state_hash, now), s.verifier.is_not(None))
        .values(used_at=now)
        .returning(s.team_id, s.user_id, s.verifier)
    ).first()
    return None if row is None else TakenState(row.team_id, row.user_id, row.verifier)

"""Wordings shown (table ``prompt_shown``): which prompt id a person was shown, when, and in
which delivery, so nothing repeats too soon (``bot.nudges``, ``bot.replies``) and a question
can be told again (``bot.reflections``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.storage.models import PromptShown

SHOWN = PromptShown.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Shown:
    """One wording shown to one person (``delivery_id``: the delivery that carried it,
    None when none did)."""

    team_id: str
    user_id: str
    prompt_id: str
    delivery_id: int | None
    shown_at: datetime


def remember_shown(*, conn: sa.Connection, shown: Sequence[Shown]) -> None:
    """Record the wordings ``shown``, in one batch (nothing when there are none)."""
    if not shown:
        return
    conn.execute(
        sa.insert(SHOWN),
        [
            {
                "team_id": item.team_id,
                "user_id": item.user_id,
                "prompt_id": item.prompt_id,
                "delivery_id": item.delivery_id,
                "shown_at": item.shown_at,
            }
            for item in shown
        ],
    )


def prompt_ids_of(*, conn: sa.Connection, delivery_id: int) -> list[str]:
    """The ids of the wordings the delivery ``delivery_id`` showed."""
    s = SHOWN.c
    return list(conn.execute(sa.select(s.prompt_id).where(s.delivery_id == delivery_id)).scalars())


@dataclass(frozen=True, slots=True)
class ShownBefore:
    """A wording a person was shown: which, when, in which delivery."""

    prompt_id: str
    shown_at: datetime
    delivery_id: int | None


def shown_since(
    *, conn: sa.Connection, team_id: str, user_id: str, since: datetime
) -> list[ShownBefore]:
    """What the person was shown at or after ``since``, oldest first."""
    s = SHOWN.c
    rows = conn.execute(
        sa.select(s.prompt_id, s.shown_at, s.delivery_id)
        .where(s.team_id == team_id, s.user_id == user_id, s.shown_at >= since)
        .order_by(s.shown_at, s.id)
    )
    return [ShownBefore(prompt_id, at, delivery_id) for prompt_id, at, delivery_id in rows]


def last_shown(
    *, conn: sa.Connection, team_id: str, user_id: str, prompt_ids: Iterable[str]
) -> dict[str, datetime]:
    """When the person was last shown each of ``prompt_ids`` (those never shown are absent)."""
    s = SHOWN.c
    query = (
        sa.select(s.prompt_id, sa.func.max(s.shown_at))
        .where(s.team_id == team_id, s.user_id == user_id, s.prompt_id.in_(list(prompt_ids)))
        .group_by(s.prompt_id)
    )
    return {prompt_id: at for prompt_id, at in conn.execute(query)}

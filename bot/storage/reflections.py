"""Answers (table ``reflection``): what a person wrote or tapped after a question, the text
encrypted at rest and never logged (``bot.reflections`` decides what is kept)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.storage.models import Reflection

REFLECTION = Reflection.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer as stored (``text`` still encrypted; ``message_ts`` None for a form's)."""

    id: int
    delivery_id: int | None
    occurrence_key: str | None
    text: str
    presence: int | None
    source: str
    message_ts: str | None
    created_at: datetime
    updated_at: datetime


def find_answer(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    reflection_id: int | None = None,
    message_ts: str | None = None,
    delivery_id: int | None = None,
) -> Answer | None:
    """The person's answer ``reflection_id``, else the one their message ``message_ts``
    made, else the form's answer to the question ``delivery_id`` (the newest, if several)."""
    r = REFLECTION.c
    query = sa.select(
        r.id,
        r.delivery_id,
        r.occurrence_key,
        r.text,
        r.presence,
        r.source,
        r.message_ts,
        r.created_at,
        r.updated_at,
    ).where(r.team_id == team_id, r.user_id == user_id)
    if reflection_id is not None:
        query = query.where(r.id == reflection_id)
    elif message_ts is not None:
        query = query.where(r.message_ts == message_ts)
    else:
        query = query.where(r.delivery_id == delivery_id, r.message_ts.is_(None))
    row = conn.execute(query.order_by(r.id.desc()).limit(1)).first()
    return None if row is None else Answer(*row)


def add_answer(
    *,
    conn: sa.Connection,
    team_id: str,
    user_id: str,
    delivery_id: int | None,
    occurrence_key: str | None,
    text: str,
    presence: int | None,
    source: str,
    message_ts: str | None,
    now: datetime,
) -> None:
    """Store a new answer (``text`` already encrypted)."""
    conn.execute(
        sa.insert(REFLECTION),
        [
            {
                "team_id": team_id,
                "user_id": user_id,
                "delivery_id": delivery_id,
                "occurrence_key": occurrence_key,
                "text": text,
                "presence": presence,
                "source": source,
                "message_ts": message_ts,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )


def revise_answer(
    *,
    conn: sa.Connection,
    reflection_id: int,
    now: datetime,
    text: str | None = None,
    presence: int | None = None,
    source: str | None = None,
) -> None:
    """Change an answer: its ``text`` (already encrypted), ``presence`` and ``source``,
    each only when given; ``updated_at`` becomes ``now``."""
    values: dict[str, Any] = {"updated_at": now}
    if text is not None:
        values["text"] = text
    if presence is not None:
        values["presence"] = presence
    if source is not None:
        values["source"] = source
    r = REFLECTION.c
    conn.execute(sa.update(REFLECTION).where(r.id == reflection_id).values(**values))


def delete_answers(*, conn: sa.Connection, team_id: str, user_id: str, message_ts: str) -> int:
    """Delete the answer the person's message ``message_ts`` made; how many went (0 or 1)."""
    r = REFLECTION.c
    return conn.execute(
        sa.delete(REFLECTION).where(
            r.team_id == team_id, r.user_id == user_id, r.message_ts == message_ts
        )
    ).rowcount

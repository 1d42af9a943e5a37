"""Reflections: the user's private answers, linked to the meeting they are about.

Ways in, each stored against the right meeting, once:

* a reply in the thread of a reflection (or transition) prompt;
* a plain DM, linked to the most recent prompt sent in the last 12 hours;
* an edit of either (the stored answer follows the edit);
* a tap on a presence button, or the "Write a line" form (a 1–5 and a line of text).

An answer is the person's data: when they delete their message in the DM, the answer
it made is deleted too (:func:`forget_message`), and a tombstone of the message (its ts,
nothing of its content) keeps a late or retried copy of the message's own event from
storing it again; an edit of a deleted message finds nothing to update. Tombstones are
erased with the person and expire after ``TOMBSTONE_KEEP`` (``bot.privacy``).

Answers are accepted for 24 hours after the prompt. Text over ``REFLECTION_MAX_CHARS``
is kept up to that length and the user is told so: nothing is cut silently. The text
is encrypted at rest when a key is configured, and never logged.

What is stored is what the person wrote (:func:`written`): Slack sends a message's text
with ``&``, ``<`` and ``>`` escaped, so a DM or an edit is unescaped once (a form's value
comes unescaped already), and it is escaped again, once, wherever it is shown. A NUL
character (which PostgreSQL's text cannot hold) and lone surrogates (which UTF-8 cannot)
are dropped, so such a reply is kept rather than lost.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa

from bot.messages.blocks import REFLECTION_MAX_CHARS
from bot.messages.mrkdwn import unescape
from bot.messages.prompts import load_prompts
from bot.occurrences import replan_user
from bot.services import Services
from bot.storage import deliveries, prompts_shown, scheduled, users
from bot.storage import reflections as answers
from bot.storage.db import read_only
from bot.storage.deliveries import SentDelivery
from bot.storage.dialect import insert_ignoring_duplicates
from bot.storage.models import (
    DeletedMessage,
    Delivery,
    DeliveryKind,
)

logger = logging.getLogger(__name__)

OPEN_FOR_PLAIN_DM = timedelta(hours=12)
OPEN_FOR_REPLIES = timedelta(hours=24)
PROMPT_KINDS = (DeliveryKind.REFLECTION, DeliveryKind.TRANSITION)
# A question Slack posted for us (``bot.prescheduler``) has a ts we were never told: a
# threaded answer whose root matches no stored ts is matched to the person's pre-scheduled
# question due within [thread_ts - ADOPT_EARLY, thread_ts + ADOPT_LATE] (Slack posts at
# post_at or a little after; post_at is whole seconds), and that ts is kept.
ADOPT_EARLY = timedelta(seconds=120)
ADOPT_LATE = timedelta(seconds=5)
DEL = Delivery.__table__  # type: ignore[attr-defined]
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")  # NUL; lone surrogates
GONE = DeletedMessage.__table__  # type: ignore[attr-defined]
# A message's event can store an answer only while its question is open, and the question
# was sent before the message (and so before its deletion): a tombstone older than that
# guards nothing.
TOMBSTONE_KEEP = OPEN_FOR_REPLIES


class Kept(StrEnum):
    """What became of an answer. For what is told in a fixed line (cut, closed, nothing
    open) the value is the prompt id of that line; a kept answer is acknowledged by
    ``bot.replies`` (a reaction, or a rotated line)."""

    NEW = "new"
    UPDATED = "updated"
    TRUNCATED = "kept.truncated"
    CLOSED = "kept.closed"
    NOTHING_OPEN = "kept.nothing_open"
    DUPLICATE = ""  # seen before, or deleted by its author: nothing to say


@dataclass(frozen=True)
class Prompted:
    """A reflection prompt that was sent: the delivery and the meeting it asks about."""

    delivery_id: int
    occurrence_key: str | None
    message_ts: str | None
    sent_at: datetime


def _prompted(row: SentDelivery) -> Prompted:
    key = row.occurrence_key
    if row.kind == DeliveryKind.TRANSITION:  # a transition asks about the meeting before
        key = (row.payload or {}).get("previous") or key
    return Prompted(row.id, key, row.message_ts, row.sent_at)


def written(text: str, *, from_slack_message: bool) -> str:
    """The person's words, ready to store: unescaped once when they come from a Slack
    message (not from a form), without NUL or lone surrogates, trimmed."""
    if from_slack_message:
        text = unescape(text)
    return _UNSTORABLE.sub("", text).strip()


def find_prompt(
    services: Services, *, team_id: str, user_id: str, thread_ts: str | None
) -> tuple[Prompted | None, bool]:
    """The prompt an answer belongs to, and whether it is still open."""
    now = services.clock.now()
    mine = {"team_id": team_id, "user_id": user_id, "kinds": PROMPT_KINDS}
    _settle_scheduled(services, team_id=team_id, user_id=user_id)
    if thread_ts:
        with read_only(services.engine) as conn:
            known = deliveries.sent(conn=conn, **mine, message_ts=thread_ts)
        if known is None:  # a question Slack posted for us: its ts was never told
            with services.engine.begin() as conn:
                scheduled.adopt_ts(
                    conn,
                    team_id=team_id,
                    user_id=user_id,
                    kinds=PROMPT_KINDS,
                    thread_ts=thread_ts,
                    early=ADOPT_EARLY,
                    late=ADOPT_LATE,
                )
    with read_only(services.engine) as conn:
        if thread_ts:
            row = deliveries.sent(conn=conn, **mine, message_ts=thread_ts)
            if row is not None:
                return _prompted(row), now - row.sent_at <= OPEN_FOR_REPLIES
        row = deliveries.sent(conn=conn, **mine, since=now - OPEN_FOR_PLAIN_DM)
    return (_prompted(row), True) if row is not None else (None, False)


def _settle_scheduled(services: Services, *, team_id: str, user_id: str) -> None:
    """Mark the person's pre-scheduled DMs that Slack has posted by now as sent, before
    their answers are matched (the prescheduler's sweep may not have run yet)."""
    scheduled.settle_posted(
        services.engine, now=services.clock.now(), team_id=team_id, user_id=user_id
    )


def prompt_for_delivery(
    services: Services, *, team_id: str, user_id: str, delivery_id: int
) -> tuple[Prompted | None, bool]:
    _settle_scheduled(services, team_id=team_id, user_id=user_id)
    with read_only(services.engine) as conn:
        row = deliveries.sent(
            conn=conn, team_id=team_id, user_id=user_id, kinds=PROMPT_KINDS, delivery_id=delivery_id
        )
    if row is None:
        return None, False
    return _prompted(row), services.clock.now() - row.sent_at <= OPEN_FOR_REPLIES


def capture_message(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    text: str,
    ts: str,
    thread_ts: str | None = None,
) -> Kept:
    """A DM from the user (a thread reply or a plain message)."""
    prompt, is_open = find_prompt(services, team_id=team_id, user_id=user_id, thread_ts=thread_ts)
    if prompt is None:
        return Kept.NOTHING_OPEN
    if not is_open:
        return Kept.CLOSED
    source = "thread" if thread_ts and thread_ts == prompt.message_ts else "dm"
    return _store(
        services,
        team_id=team_id,
        user_id=user_id,
        prompt=prompt,
        text=written(text, from_slack_message=True),
        presence=None,
        source=source,
        message_ts=ts,
    )


def capture_edit(services: Services, *, team_id: str, user_id: str, ts: str, text: str) -> Kept:
    """The user edited a message that was an answer: the answer follows the edit."""
    now = services.clock.now()
    text = written(text, from_slack_message=True)
    clipped = text[:REFLECTION_MAX_CHARS]
    with services.engine.begin() as conn:
        row = answers.find_answer(conn=conn, team_id=team_id, user_id=user_id, message_ts=ts)
        if row is None:
            return Kept.DUPLICATE
        if now - row.created_at > OPEN_FOR_REPLIES:
            return Kept.CLOSED
        answers.revise_answer(
            conn=conn, reflection_id=row.id, now=now, text=services.cipher.encrypt(clipped)
        )
    return Kept.TRUNCATED if len(text) > REFLECTION_MAX_CHARS else Kept.UPDATED


def capture_form(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    delivery_id: int,
    presence: int | None,
    text: str = "",
    source: str = "form",
) -> Kept:
    """A tap on a presence button, or the form. One such answer per prompt: a second
    one (a change of mind) replaces the first."""
    prompt, is_open = prompt_for_delivery(
        services, team_id=team_id, user_id=user_id, delivery_id=delivery_id
    )
    if prompt is None:
        return Kept.NOTHING_OPEN
    if not is_open:
        return Kept.CLOSED
    if presence is not None and not 1 <= presence <= 5:
        presence = None
    return _store(
        services,
        team_id=team_id,
        user_id=user_id,
        prompt=prompt,
        text=written(text, from_slack_message=False),
        presence=presence,
        source=source,
        message_ts=None,
    )


def _store(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    prompt: Prompted,
    text: str,
    presence: int | None,
    source: str,
    message_ts: str | None,
) -> Kept:
    now = services.clock.now()
    clipped = text.strip()[:REFLECTION_MAX_CHARS]
    stored = services.cipher.encrypt(clipped)
    outcome = Kept.TRUNCATED if len(text.strip()) > REFLECTION_MAX_CHARS else Kept.NEW
    with services.engine.begin() as conn:
        if message_ts is None:
            existing = answers.find_answer(
                conn=conn, team_id=team_id, user_id=user_id, delivery_id=prompt.delivery_id
            )
            if existing is not None:
                answers.revise_answer(
                    conn=conn,
                    reflection_id=existing.id,
                    now=now,
                    text=stored if clipped else None,
                    presence=presence,
                    source=source,
                )
                outcome = Kept.UPDATED if outcome is Kept.NEW else outcome
                return outcome
        else:
            _lock_person(conn, team_id=team_id, user_id=user_id)
            if _was_deleted(conn, team_id=team_id, user_id=user_id, message_ts=message_ts):
                return Kept.DUPLICATE
            seen = answers.find_answer(
                conn=conn, team_id=team_id, user_id=user_id, message_ts=message_ts
            )
            if seen is not None:
                return Kept.DUPLICATE
        answers.add_answer(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            delivery_id=prompt.delivery_id,
            occurrence_key=prompt.occurrence_key,
            text=stored,
            presence=presence,
            source=source,
            message_ts=message_ts,
            now=now,
        )
    logger.info("reflection kept for delivery %s (%s)", prompt.delivery_id, source)
    # An answer ends any back-off: ask after every meeting again.
    replan_user(services, team_id=team_id, user_id=user_id)
    return outcome


def forget_message(
    services: Services, *, team_id: str, user_id: str | None, channel: str | None, ts: str
) -> bool:
    """The person deleted their DM ``ts``: delete the answer it made, and leave a
    tombstone so that its ``message`` event, arriving late or retried, cannot store it
    again. ``user_id`` is the author when the event names them (``previous_message``);
    otherwise the owner of the DM ``channel``. True when an answer was deleted."""
    now = services.clock.now()
    with services.engine.begin() as conn:
        owner = user_id or _dm_owner(conn, team_id=team_id, channel=channel)
        # Someone Heedful holds nothing about (unknown, or erased): nothing to delete.
        if not ts or owner is None or not _lock_person(conn, team_id=team_id, user_id=owner):
            return False
        removed = answers.delete_answers(conn=conn, team_id=team_id, user_id=owner, message_ts=ts)
        conn.execute(
            insert_ignoring_duplicates(conn, GONE),
            [{"team_id": team_id, "user_id": owner, "message_ts": ts[:32], "deleted_at": now}],
        )
    if removed:
        logger.info("a reflection was deleted with its message, by its author")
        # Its question is unanswered again: the back-off counts it as such.
        replan_user(services, team_id=team_id, user_id=owner)
    return bool(removed)


def _lock_person(conn: sa.Connection, *, team_id: str, user_id: str) -> bool:
    """Serialise the writes about one person's messages (storing an answer, deleting
    one), so a delete and its message's event never pass each other: PostgreSQL locks
    the person's row; SQLite's ``BEGIN IMMEDIATE`` already runs one writer at a time.
    False when Heedful has no row for the person."""
    return users.lock_person(conn=conn, team_id=team_id, user_id=user_id)


def _was_deleted(conn: sa.Connection, *, team_id: str, user_id: str, message_ts: str) -> bool:
    g = GONE.c
    found = conn.execute(
        sa.select(g.id).where(
            g.team_id == team_id, g.user_id == user_id, g.message_ts == message_ts[:32]
        )
    ).first()
    return found is not None


def _dm_owner(conn: sa.Connection, *, team_id: str, channel: str | None) -> str | None:
    """Whose DM with Heedful ``channel`` is (the sender remembers each person's)."""
    if not channel:
        return None
    owners = users.dm_owners(conn=conn, team_id=team_id, channel=channel)
    return owners[0] if len(owners) == 1 else None


def question_for(services: Services, *, delivery_id: int) -> str | None:
    """The id of the question a prompt asked (for the form's header)."""
    with read_only(services.engine) as conn:
        ids = prompts_shown.prompt_ids_of(conn=conn, delivery_id=delivery_id)
    return next((i for i in ids if i.startswith("question.")), None)


def confirmation(kept: Kept) -> str | None:
    """The fixed line that tells the user what became of their answer, when that needs
    words (None: silence, or a kept answer, acknowledged by ``bot.replies``)."""
    if kept in (Kept.DUPLICATE, Kept.NEW, Kept.UPDATED):
        return None
    return load_prompts().text(kept.value, limit=f"{REFLECTION_MAX_CHARS:,}")

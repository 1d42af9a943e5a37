"""Short answers to something the user just did, sent through the outbox.

Every DM is a row first (DESIGN.md invariant 2), replies included: a confirmation in a
reflection's thread, "paused until …", the result of connecting a calendar. Each is a
``notice`` delivery due now, keyed by what it answers (the user's message ts, the
form's view id), so a retried event cannot confirm twice, and it carries the same
metadata as every other DM. The outbox is woken at once, so the reply follows within
moments.

**A kept answer** is acknowledged without words: a reaction (:data:`REACTION`) on the
person's own message, an ``ack`` delivery keyed by that message's ts (a retried or
replayed event finds the key taken; Slack's ``already_reacted`` counts as done, so a
retried call cannot react twice either). Only when the reaction cannot be added (an
install without ``reactions:write``, the message gone …) does a short line go in its
place, in the thread: one of the ``kept.line.*`` wordings, rotated per person
(:func:`rotated`), so none comes back before the others have had their turn. An answer
given in the form has no message of the person's to react to: it gets the line. A tap
is acknowledged in the message it was made on, as rotated (``done.tapped.*``).

One DM does not go through here: the confirmation of an erase, which must leave no
row behind (``bot.privacy``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.messages import Message
from bot.messages.prompts import load_prompts
from bot.sender import Skip
from bot.services import Services
from bot.storage import deliveries, prompts_shown
from bot.storage import reflections as answers
from bot.storage.db import read_only
from bot.storage.deliveries import ClaimedDelivery
from bot.storage.models import DeliveryKind
from bot.storage.prompts_shown import Shown

REACTION = "white_check_mark"
KEPT_LINES = "kept.line"  # the short lines that say an answer was kept (kept.line.*)
TAPPED = "done.tapped"  # what a tapped question turns into (done.tapped.*)


def reply(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    text: str,
    key: str,
    thread_ts: str | None = None,
) -> bool:
    """Queue ``text`` for the user (in ``thread_ts``'s thread if given). False when a
    reply with that ``key`` was queued before."""
    payload: dict[str, str] = {"text": text}
    if thread_ts:
        payload["thread_ts"] = thread_ts
    return _queue(
        services,
        team_id=team_id,
        user_id=user_id,
        kind=DeliveryKind.NOTICE,
        ref=f"reply:{key}",
        payload=payload,
    )


def acknowledge(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    channel: str,
    ts: str,
    thread_ts: str | None = None,
) -> bool:
    """A kept answer, the person's message ``ts`` in their DM ``channel``: queue the
    reaction on it (the line in ``thread_ts``'s thread if it cannot be added). False
    when that message was acknowledged before."""
    payload: dict[str, Any] = {"react": {"channel": channel, "timestamp": ts, "name": REACTION}}
    if thread_ts:
        payload["thread_ts"] = thread_ts
    return _queue(
        services,
        team_id=team_id,
        user_id=user_id,
        kind=DeliveryKind.ACK,
        ref=f"ack:{ts}",
        payload=payload,
    )


def _queue(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    kind: DeliveryKind,
    ref: str,
    payload: dict[str, Any],
) -> bool:
    now = services.clock.now()
    with services.engine.begin() as conn:
        added = deliveries.enqueue_now(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kind=kind,
            ref=ref,
            payload=payload,
            now=now,
        )
    services.wake_outbox()
    return added


def rotated(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    family: str,
    delivery_id: int | None = None,
    **values: Any,
) -> str:
    """One of the wordings ``<family>.*`` for this person: one they have not been shown
    yet (in id order), else the one shown longest ago; remembered as shown now."""
    chosen = rotated_id(
        services, team_id=team_id, user_id=user_id, family=family, delivery_id=delivery_id
    )
    return load_prompts().text(chosen, **values)


def rotated_id(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    family: str,
    delivery_id: int | None = None,
) -> str:
    """The id of the wording :func:`rotated` picks (for a builder that words it itself),
    remembered as shown now."""
    prompts = load_prompts()
    ids = sorted(p.id for p in prompts if p.id.startswith(f"{family}."))
    now = services.clock.now()
    with services.engine.begin() as conn:
        last = prompts_shown.last_shown(conn=conn, team_id=team_id, user_id=user_id, prompt_ids=ids)
        never = datetime.min.replace(tzinfo=now.tzinfo)
        chosen = min(ids, key=lambda i: (i in last, last.get(i) or never, i))
        prompts_shown.remember_shown(
            conn=conn, shown=[Shown(team_id, user_id, chosen, delivery_id, now)]
        )
    return chosen


class AckComposer:
    """The line that stands in for a reaction that could not be added (the sender
    tries the reaction first; see ``bot.sender``)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def __call__(self, row: ClaimedDelivery) -> Message:
        ts = str(((row.payload or {}).get("react") or {}).get("timestamp") or "")
        with read_only(self.services.engine) as conn:
            kept = answers.find_answer(
                conn=conn, team_id=row.team_id, user_id=row.user_id, message_ts=ts
            )
        if kept is None:  # the person deleted the message, and the answer with it
            raise Skip("answer_gone")
        text = rotated(
            self.services,
            team_id=row.team_id,
            user_id=row.user_id,
            family=KEPT_LINES,
            delivery_id=row.id,
        )
        return Message(text=text)

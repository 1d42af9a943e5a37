"""Short answers to something the user just did, sent through the outbox.

Every DM is a row first (DESIGN.md invariant 2), replies included: a confirmation in a
reflection's thread, "paused until …", the result of connecting a calendar. Each is a
``notice`` delivery due now, keyed by what it answers (the user's message ts, the
form's view id), so a retried event cannot confirm twice, and it carries the same
metadata as every other DM. The outbox is woken at once, so the reply follows within
moments.

One DM does not go through here: the confirmation of an erase, which must leave no
row behind (``bot.privacy``).
"""

from __future__ import annotations

from bot.services import Services
from bot.storage import repository as repo

REPLY = "notice"


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
    now = services.clock.now()
    with services.engine.begin() as conn:
        added = repo.enqueue_deliveries(
            conn,
            [
                {
                    "team_id": team_id,
                    "user_id": user_id,
                    "kind": REPLY,
                    "ref": f"reply:{key}"[:255],
                    "due_at": now,
                    "payload": payload,
                }
            ],
            now=now,
        )
    services.wake_outbox()
    return added == 1

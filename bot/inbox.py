"""The inbox: every inbound Slack event is a row before Slack gets its 2xx.

The ingress Bolt app runs :func:`inbox_middleware` after Bolt has checked the
signature (HTTP mode) and found the workspace: the event is stored under its
``event_id`` and acknowledged at once, without running any listener. A retry of the
same ``event_id`` finds the row and is acknowledged as a no-op. Every event type
gets a 200, including those no listener cares about (Bolt would answer 404, which
Slack counts as a failure).

The :class:`InboxProcessor` then claims stored rows (with a lease, like the outbox)
and replays each through a second Bolt app that runs listeners before it returns
(``process_before_response=True``), so a row is marked done only once its listener
has finished. A crash between the ack and the processing leaves the row pending;
any Heedful process picks it up later.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy.engine import Engine

from bot.clock import Clock
from bot.crypto import Cipher
from bot.storage import repository as repo

logger = logging.getLogger(__name__)

SLACK = "slack"
MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=2)


def inbox_middleware(
    *, engine: Engine, clock: Clock, cipher: Cipher, on_stored: Callable[[], None]
) -> Callable[..., BoltResponse]:
    """A Bolt global middleware that stores Events API payloads and acks them.

    The stored body is encrypted when a key is configured (a DM event carries the
    user's reflection) and cleared once processed.
    """

    def store_then_ack(
        req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        body = req.body
        kind = body.get("type")
        if kind == "app_rate_limited":
            logger.warning("Slack rate-limited event delivery for team %s", body.get("team_id"))
            return BoltResponse(status=200, body="")
        if kind != "event_callback":
            return next()
        event_id = body.get("event_id")
        event = body.get("event") or {}
        if not isinstance(event_id, str) or not event_id or not isinstance(event, dict):
            return BoltResponse(status=400, body="an event_callback needs an event_id and an event")
        raw = req.raw_body or json.dumps(body)
        new = repo.store_inbox(
            engine,
            source=SLACK,
            external_id=event_id,
            body=cipher.encrypt(raw),
            now=clock.now(),
            team_id=body.get("team_id"),
            user_id=event_owner(event),
            kind=str(event.get("type") or ""),
        )
        retry = req.headers.get("x-slack-retry-num", [None])[0]
        if new:
            logger.debug("event %s (%s) stored", event_id, event.get("type"))
            on_stored()
        else:
            logger.info("event %s is a repeat (retry %s); nothing to do", event_id, retry)
        return BoltResponse(status=200, body="")

    return store_then_ack


def event_owner(event: dict[str, Any]) -> str | None:
    """The person an event is about: ``user`` (a string, or a user object as in
    ``user_change``), or the author of an edited (``message``) or deleted
    (``previous_message``) message."""
    user = event.get("user")
    if isinstance(user, dict):
        user = user.get("id")
    for field in ("message", "previous_message"):
        if not user and isinstance(event.get(field), dict):
            user = event[field].get("user")
    return user if isinstance(user, str) and user else None


class InboxProcessor:
    """Claims stored inbound rows and hands each to its dispatcher."""

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        worker_id: str,
        dispatchers: dict[str, Callable[[Any], None]],
        batch_size: int = 50,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.worker_id = worker_id
        self.dispatchers = dispatchers
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def run_once(self) -> int:
        """Process one batch of due rows; returns how many were claimed."""
        with self._lock:
            rows = repo.claim_inbox(
                self.engine,
                now=self.clock.now(),
                worker=self.worker_id,
                limit=self.batch_size,
                lease=LEASE,
            )
            for row in rows:
                self._process(row)
            return len(rows)

    def drain(self, max_batches: int = 100) -> int:
        total = 0
        for _ in range(max_batches):
            handled = self.run_once()
            total += handled
            if not handled:
                break
        return total

    def _process(self, row: Any) -> None:
        dispatch = self.dispatchers.get(row.source)
        error: str | None = None
        try:
            if dispatch is None:
                raise LookupError(f"no dispatcher for {row.source}")
            dispatch(row)
        except Exception as exc:
            logger.exception("inbox row %s (%s %s) failed", row.id, row.source, row.kind)
            error = f"{type(exc).__name__}"
        now = self.clock.now()
        retry_at = None
        if error is not None and row.attempts < MAX_ATTEMPTS:
            retry_at = now + timedelta(seconds=5 * 2**row.attempts)
        repo.finish_inbox(
            self.engine, row.id, worker=self.worker_id, now=now, error=error, retry_at=retry_at
        )


class ListenerFailed(Exception):
    """A Bolt listener raised while processing a stored event."""


def bolt_dispatcher(app: App, cipher: Cipher) -> Callable[[Any], None]:
    """Replay a stored Slack event through ``app`` (built with process_before_response).

    The request is marked ``socket_mode`` so Bolt does not check a signature a second
    time: it was checked when the event entered the inbox.
    """

    def dispatch(row: Any) -> None:
        body = json.loads(cipher.decrypt(row.body))
        response = app.dispatch(BoltRequest(body=body, mode="socket_mode"))
        if response.status >= 500:
            raise ListenerFailed(f"listener answered {response.status}")
        if response.status == 404:
            logger.debug("no listener for stored %s event %s", row.kind, row.external_id)

    return dispatch

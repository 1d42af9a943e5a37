"""The inbox: every inbound Slack event is a row before Slack gets its 2xx.

The ingress Bolt app runs :func:`inbox_middleware` after Bolt has checked the
signature (HTTP mode) and found the workspace: the event is stored under its
``event_id`` and acknowledged at once, without running any listener. A retry of the
same ``event_id`` finds the row and is acknowledged as a no-op. Every event type
gets a 200, including those no listener cares about (Bolt would answer 404, which
Slack counts as a failure).

The :class:`InboxProcessor` then claims stored rows in batches (with a lease, like the
outbox) and replays each through a second Bolt app that runs listeners before it returns
(``process_before_response=True``), so a row is marked done only once its listener
has finished; the batch is then settled in a fixed number of statements. A crash between
the ack and the processing leaves the row pending; any Heedful process picks it up later.

Slash commands and interactions (buttons, view submissions) are not stored: Slack
does not redeliver them, and their listeners run at once. But anyone who sees one
signed request can replay it for as long as its signature is valid (5 minutes), and a
replayed ``/heedful export`` uploaded the file again. :func:`replay_guard` records each
one's key in the inbox before its listener runs, so a replay is acknowledged and does
nothing.
"""

from __future__ import annotations

import hashlib
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
from bot.storage import inbox
from bot.storage.inbox import ClaimedInboxItem, InboxOutcome

logger = logging.getLogger(__name__)

SLACK = "slack"
SLACK_REQUEST = "slack-request"  # inbox rows that only record a request's key
MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=2)
# A batch still running after this settles what it has done (a quarter of the lease).
SETTLE_AFTER = LEASE / 4


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
        new = inbox.store_inbox(
            engine=engine,
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


def replay_guard(*, engine: Engine, clock: Clock) -> Callable[..., BoltResponse]:
    """A Bolt global middleware (after :func:`inbox_middleware`): a slash command or an
    interaction runs its listener once per request; a replay is acked with an empty 200.

    The key (:func:`request_key`) is stored as a ``done`` inbox row (source
    ``slack-request``, no body, no user: it says nothing about the person) before the
    listener runs; the insert is the whole cost on the ack path. Housekeeping deletes
    such rows with the other processed inbox rows (``bot.privacy.purge_expired``); a
    key is only needed while Slack's signature is valid (5 minutes).
    """

    def once_per_request(
        req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        key = request_key(req)
        if key is None:
            return next()
        body = req.body
        kind = "command" if "command" in body else str(body.get("type") or "")
        new = inbox.store_inbox(
            engine=engine,
            source=SLACK_REQUEST,
            external_id=key,
            body="",
            now=clock.now(),
            team_id=req.context.team_id,
            kind=kind,
            processed=True,
        )
        if new:
            return next()
        logger.info("a replayed %s (team %s): acked, nothing done", kind, req.context.team_id)
        return BoltResponse(status=200, body="")

    return once_per_request


def request_key(req: BoltRequest) -> str | None:
    """What identifies one slash command or interaction, hashed (SHA-256, hex).

    Slack's ``trigger_id`` when the payload has one (every slash command, button click,
    shortcut and view submission does): Slack mints one per user action, it lies inside
    the signed body so a replay cannot change it, and it is there in Socket Mode too,
    where requests carry no signature, so a redelivered envelope is caught the same way.
    Without a ``trigger_id``, over HTTP: the request's signature, which is the same for
    exactly the same bytes at the same timestamp, i.e. for a replay and nothing else.
    A Socket Mode request without a ``trigger_id`` (``view_closed``,
    ``block_suggestion``: no side effects in Heedful) has no key and is not guarded;
    nobody but Slack can write to a socket that Heedful opened with its app token.

    Hashing keeps the stored keys short and holds nothing reusable (a ``trigger_id``
    opens a modal for 3 seconds). Events (deduplicated by ``event_id`` in the inbox),
    ``url_verification`` and ``ssl_check`` have no key.
    """
    body = req.body
    if body.get("type") in ("event_callback", "url_verification", "app_rate_limited"):
        return None
    if body.get("ssl_check"):
        return None
    trigger = body.get("trigger_id")
    if isinstance(trigger, str) and trigger:
        material = f"trigger:{trigger}"
    else:
        signature = req.headers.get("x-slack-signature", [None])[0]
        if not signature:  # Socket Mode
            return None
        material = f"signature:{signature}"
    return hashlib.sha256(material.encode()).hexdigest()


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
    """Claims stored inbound rows and hands each to its dispatcher.

    A round claims a batch in one transaction (oldest first; on PostgreSQL ``SKIP
    LOCKED``, so processes sharing the database never claim the same row), runs each
    row's dispatcher in that order (listeners write what they write, per event), then
    settles the batch in one transaction of at most three statements
    (``bot.storage.inbox.settle_inbox``): done, to retry after a back-off, failed for
    good after ``MAX_ATTEMPTS``. A batch that runs past ``SETTLE_AFTER`` settles what it
    has done so far before going on, well before its lease (``LEASE``) runs out and
    another process may take the rest. A crash before the settle leaves the batch claimed;
    its lease runs out and it is processed again (each listener is keyed by its event:
    a message's ts, a request key), as a crash between a listener and its own settle
    always could.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        worker_id: str,
        dispatchers: dict[str, Callable[[ClaimedInboxItem], None]],
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
            claimed_at = self.clock.now()
            rows = inbox.claim_inbox(
                engine=self.engine,
                now=claimed_at,
                worker=self.worker_id,
                limit=self.batch_size,
                lease=LEASE,
            )
            outcomes: list[InboxOutcome] = []
            try:
                for row in rows:
                    outcomes.append(self._process(row))
                    if self.clock.now() - claimed_at >= SETTLE_AFTER:
                        self._settle(outcomes)
                        outcomes, claimed_at = [], self.clock.now()
            finally:
                self._settle(outcomes)  # what was done, even if a BaseException stops the batch
            return len(rows)

    def drain(self, max_batches: int = 100) -> int:
        total = 0
        for _ in range(max_batches):
            handled = self.run_once()
            total += handled
            if not handled:
                break
        return total

    def _process(self, row: ClaimedInboxItem) -> InboxOutcome:
        dispatch = self.dispatchers.get(row.source)
        try:
            if dispatch is None:
                raise LookupError(f"no dispatcher for {row.source}")
            dispatch(row)
        except Exception as exc:
            logger.exception("inbox row %s (%s %s) failed", row.id, row.source, row.kind)
            retry_at = None
            if row.attempts < MAX_ATTEMPTS:
                retry_at = self.clock.now() + timedelta(seconds=5 * 2**row.attempts)
            return InboxOutcome(id=row.id, error=type(exc).__name__, retry_at=retry_at)
        return InboxOutcome(id=row.id)

    def _settle(self, outcomes: list[InboxOutcome]) -> None:
        if not outcomes:
            return
        with self.engine.begin() as conn:
            inbox.settle_inbox(
                conn=conn, worker=self.worker_id, now=self.clock.now(), outcomes=outcomes
            )


class ListenerFailed(Exception):
    """A Bolt listener raised while processing a stored event."""


def bolt_dispatcher(app: App, cipher: Cipher) -> Callable[[ClaimedInboxItem], None]:
    """Replay a stored Slack event through ``app`` (built with process_before_response).

    The request is marked ``socket_mode`` so Bolt does not check a signature a second
    time: it was checked when the event entered the inbox.
    """

    def dispatch(row: ClaimedInboxItem) -> None:
        body = json.loads(cipher.decrypt(row.body))
        response = app.dispatch(BoltRequest(body=body, mode="socket_mode"))
        if response.status >= 500:
            raise ListenerFailed(f"listener answered {response.status}")
        if response.status == 404:
            logger.debug("no listener for stored %s event %s", row.kind, row.external_id)

    return dispatch

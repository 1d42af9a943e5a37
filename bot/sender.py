"""The sender: claims due deliveries from the outbox and posts them to Slack, once.

Every Slack answer lands in one of these classes (``classify``):

* **sent**: ``ok: true``; the row records channel and ``ts``.
* **recipient**: this person cannot get DMs from us (``user_not_found``,
  ``account_inactive``, ``cannot_dm_bot`` …). The delivery fails, the user is marked
  unreachable, and their other pending deliveries are skipped.
* **installation**: the workspace's token no longer works (``invalid_auth``,
  ``token_revoked`` …). The workspace is paused (nothing is claimed for it) and the
  delivery waits, pending, for a new install.
* **payload**: Slack refused the blocks (``invalid_blocks``, ``msg_too_long`` …). The
  message is sent once more as plain text; if that fails too, the delivery fails.
* **transient**: 429, 5xx, timeouts, connection errors, ``internal_error`` …: retried
  with exponential backoff and jitter. A 429 waits ``Retry-After`` seconds (fractions
  included) for that workspace and that method only, in every process: it pauses and
  slows the shared rate budget (``bot.budget``). This process also keeps the pause in
  memory (``RateGate``), so the rest of a batch that already had its slots stops at once,
  without reading the budget again before each post.

**Paced, nearest meeting first**: a claimed batch (ordered by the start of the meeting
each DM prepares for, ``deliveries.claim_order``) is triaged before anything is posted
(``Sender._pace``): an expired row is marked ``expired`` (README, "Today's rule"), an
unreachable person's skipped, a workspace without a token fails; the others take slots
from the workspace's budget for their method, in one transaction for the batch. A row
without a slot is put back, pending, at the time its slot should come (``paced``: not an
attempt; ``ratelimited`` while a ``Retry-After`` is waited out), or marked ``expired``
when even the next free slot comes after its deadline. "After" leaves
``ARRIVAL_MARGIN`` (1 s) for the post to reach Slack: a reminder posted in the last
moment before its meeting arrived after the start in bench/burst.py (one in 1,800).
* **unknown outcome**: the request left and no answer came back (a read timeout, a
  dropped connection, ``fatal_error``, a 5xx). Before any resend the sender looks for
  the delivery's metadata in the DM's history (``conversations.history``), so a DM that
  did reach Slack is recorded as sent, not sent twice.

Attempts and giving up: only a *failed* attempt counts (a transient error or an unknown
outcome). A 429, and a delivery put back because this process is still waiting out a
``Retry-After``, are not attempts. After ``MAX_TRANSIENT_ATTEMPTS`` failed attempts the
delivery gives up (``failed``, error ``gave_up:…``) with a WARNING log line and the
``gave_up`` outcome in ``heedful_deliveries_total``; after an unknown outcome it gives up
only once the DM history shows it never arrived.

Every outcome carries its class as a value (``deliveries.Failure``: a ``FailureKind`` and
Slack's code): the sender acts on it (marks a person unreachable, pauses a workspace) and
the metrics count by it. The row's ``error`` column keeps the text it always had
(``recipient:account_inactive``, ``gave_up:internal_error``, ``ratelimited`` …), written
from that value for existing rows and whoever reads them, never parsed back.

Never twice, with several workers and a slow Slack:

* a batch is as many rows as the sending threads can post within a quarter of a lease,
  at the pace Slack has lately answered (``Pace``): 200 rows when Slack answers in
  milliseconds (claims are write transactions; fewer is faster), a round or a few when it
  takes seconds, so no claimed row waits in the queue while its lease runs out;
* just before each post (a fencing check), a row claimed more than a quarter of a lease
  ago (a history check or a slow composer came first) has its lease renewed to a full
  lease, only if this worker still holds it (``deliveries.renew_lease``); when it does not
  (the lease ran out and another worker took the row over), the row is not posted. A row
  claimed less than a quarter of a lease ago needs no write: no one may take it over
  before its lease ends. (A renewal before every post cost one write per DM and made
  1,000 DMs due within a second 20 times later on SQLite: bench/outbox.py.)
* outcomes are recorded as they come in, not after the batch: those that came in within
  ``RECORD_EVERY`` (0.1 s) share one transaction (one write per DM made 1,000 DMs due
  within a second several times later on SQLite: bench/outbox.py);
* the lease (``HEEDFUL_SENDER_LEASE_SECONDS``, 120 s) is far longer than one Slack call
  (``bot.slack.DEFAULT_TIMEOUT_SECONDS``), so a live sender's lease cannot run out between
  the check and the answer. No heartbeat is needed: a lease only has to outlive one call,
  and every post starts with at least three quarters of a lease ahead of it.
* a row taken over from a worker that died is ``needs_reconcile``: its DM history is
  checked for the delivery's metadata before anything is sent again.

**A reaction first** (a delivery whose ``payload`` has ``react``: ``channel``,
``timestamp``, ``name``; ``bot.replies`` acknowledges a kept answer so): the sender calls
``reactions.add``. Added, or ``already_reacted`` (an earlier attempt got there), it is
done: a reaction cannot be added twice, so a retry needs no history check. A 429 waits
out ``Retry-After`` for ``reactions.add`` alone; a 5xx, a timeout or ``internal_error`` is
retried like any failed attempt; a token that no longer works pauses the workspace. Any
other refusal (``missing_scope`` from an install made before the app asked for
``reactions:write``, ``message_not_found``, ``invalid_name``, ``too_many_reactions`` …)
means the reaction cannot be added: the delivery's composed message (a short line) is
posted in its place, as any DM.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.budget import Budget
from bot.clock import Clock
from bot.crypto import Cipher
from bot.messages import Message
from bot.metrics import Metrics
from bot.slack import SlackClients
from bot.storage import deliveries, installations, scheduled, users
from bot.storage.db import read_only
from bot.storage.deliveries import ClaimedDelivery, DeliveryOutcome, Failure, FailureKind
from bot.storage.models import DeliveryKind, DeliveryState
from bot.storage.prompts_shown import Shown

logger = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "heedful_delivery"
POST_METHOD = "chat.postMessage"
REACT_METHOD = "reactions.add"
MAX_TRANSIENT_ATTEMPTS = 8
MAX_BACKOFF = timedelta(minutes=10)
RECONCILE_PAGES = 5
# A batch is as many rounds of posts (one per sending thread each) as fit in a quarter of
# a lease at the pace Slack lately answered (``Pace``), at least one and at most this many.
MAX_ROUNDS_PER_BATCH = 25
# Outcomes are recorded in one transaction per this many seconds, not one per DM: a
# write per DM made 1,000 DMs due within a second several times later on SQLite.
RECORD_EVERY = 0.1
# A DM with a deadline is posted only if it can leave this much before it: the time from
# the claim to Slack's answer (its round trip is tens to hundreds of ms).
ARRIVAL_MARGIN = timedelta(seconds=1)

RECIPIENT_ERRORS = frozenset(
    {
        "user_not_found",
        "account_inactive",
        "cannot_dm_bot",
        "user_disabled",
        "user_not_visible",
        "channel_not_found",
        "is_archived",
        "messages_tab_disabled",
        "not_in_channel",
        "restricted_action",
        "restricted_action_read_only_channel",
        "ekm_access_denied",
    }
)
INSTALLATION_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "team_access_not_granted",
        "org_login_required",
        "app_uninstalled",
        "team_disabled",
        "enterprise_is_restricted",
        "not_allowed_token_type",
    }
)
PAYLOAD_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "msg_blocks_too_long",
        "too_many_attachments",
        "invalid_attachments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "no_text",
        "markdown_text_conflict",
    }
)
# Answers that say Slack may have done the work before failing.
UNKNOWN_OUTCOME_ERRORS = frozenset({"fatal_error"})
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "service_unavailable", "request_timeout", "team_added_to_org"}
)
# A reaction that is there already: what the call was for is done.
ALREADY_REACTED = "already_reacted"
RATE_LIMITED = Failure(FailureKind.RATE_LIMITED)


class Outcome(StrEnum):
    SENT = "sent"
    RECIPIENT = "recipient"
    INSTALLATION = "installation"
    PAYLOAD = "payload"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Classified:
    outcome: Outcome
    error: str
    retry_after: float | None = None
    raised: bool = False  # the call raised (no answer, or a refused connection)


def classify(exc: BaseException | None, data: Mapping[str, Any] | None = None) -> Classified:
    """Sort a Slack call's result (``exc`` None and ``data`` the answer) or failure."""
    if exc is None:
        if data and data.get("ok"):
            return Classified(Outcome.SENT, "")
        error = str((data or {}).get("error") or "unknown_error")
        return _classify_code(error, status=200)
    if isinstance(exc, SlackApiError):
        response = exc.response
        error = str(response.get("error") or f"http_{response.status_code}")
        if response.status_code == 429:
            return Classified(Outcome.TRANSIENT, "ratelimited", _retry_after(response.headers))
        return _classify_code(error, status=response.status_code)
    if _never_left(exc):
        return Classified(Outcome.TRANSIENT, f"connect:{type(exc).__name__}", raised=True)
    # The request may have reached Slack: timeouts, resets, a closed connection.
    return Classified(Outcome.UNKNOWN, f"io:{type(exc).__name__}", raised=True)


def _classify_code(error: str, *, status: int) -> Classified:
    if error in RECIPIENT_ERRORS:
        return Classified(Outcome.RECIPIENT, error)
    if error in INSTALLATION_ERRORS:
        return Classified(Outcome.INSTALLATION, error)
    if error in PAYLOAD_ERRORS:
        return Classified(Outcome.PAYLOAD, error)
    if error in UNKNOWN_OUTCOME_ERRORS or status >= 500:
        return Classified(Outcome.UNKNOWN, error)
    if error == "ratelimited":  # a rate limit without its 429 status: not a failed attempt
        return Classified(Outcome.TRANSIENT, error, 1.0)
    if error in TRANSIENT_ERRORS:
        return Classified(Outcome.TRANSIENT, error)
    # An answer we do not know: do not hammer Slack with it, do not lose the DM either.
    return Classified(Outcome.TRANSIENT, error)


def _retry_after(headers: Mapping[str, Any]) -> float:
    """Seconds from a ``Retry-After`` header; fractional values are honoured."""
    raw: Any = None
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
    try:
        return max(0.0, min(float(raw), 3600.0))
    except (TypeError, ValueError):
        return 1.0


def _never_left(exc: BaseException) -> bool:
    """True when the request certainly did not reach Slack (the connection was refused
    or the name did not resolve), so a resend cannot make a duplicate."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


class Skip(Exception):
    """Raised by a composer: this delivery should not be sent (the reason is recorded)."""


class Defer(Exception):
    """Raised by a composer: not now. The delivery waits, pending, until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"deferred until {until.isoformat()}")
        self.until = until


class Composer(Protocol):
    """Builds a delivery's message at send time (or raises :class:`Skip` / :class:`Defer`)."""

    def __call__(self, row: ClaimedDelivery, /) -> Message: ...


@runtime_checkable
class BatchComposer(Composer, Protocol):
    """A composer that also loads what a batch needs: the sender calls ``prepare`` once
    per batch with all of that kind's rows, so the composer can load what it needs for
    many users in a fixed number of queries (the digest does)."""

    def prepare(self, rows: Sequence[ClaimedDelivery], /) -> None: ...


@dataclass(frozen=True)
class SentDM:
    """What an observer hears after a DM reached Slack (the demo prints these)."""

    row: ClaimedDelivery
    message: Message
    channel: str | None
    ts: str | None
    reaction: str | None = None  # the emoji added instead of a message (then ``ts`` None)


def compose_notice(row: ClaimedDelivery) -> Message:
    """Deliveries that carry their message ready-made in ``payload``."""
    payload = row.payload or {}
    return Message(text=payload["text"], blocks=list(payload.get("blocks") or []))


def delivery_metadata(
    row: ClaimedDelivery, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Slack message metadata that identifies a delivery (DESIGN.md "Messages"), with the
    message's own ``extra`` fields (the digest's themes …), which never replace the
    delivery's."""
    payload: dict[str, Any] = {
        **(extra or {}),
        "delivery_id": row.id,
        "kind": row.kind,
        "due_at": row.due_at.isoformat(),
    }
    if row.occurrence_key:
        payload["occurrence"] = row.occurrence_key
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": payload}


@dataclass
class Target:
    """Whom a delivery goes to: the workspace's bot token (None: none stored), the
    person's DM channel when known (kept once ``conversations.open`` tells it), and why
    Slack will not let us DM them, if it will not."""

    token: str | None
    dm_channel: str | None
    unreachable: str | None


def find_targets(
    engine: Engine, cipher: Cipher, rows: Sequence[ClaimedDelivery]
) -> dict[tuple[str, str], Target]:
    """The :class:`Target` of each (team, person) of ``rows``, in two queries."""
    teams = {r.team_id for r in rows}
    with read_only(engine) as conn:
        stored = installations.bot_tokens(conn=conn, team_ids=teams)
        known = users.reach(conn=conn, team_ids=teams, user_ids={r.user_id for r in rows})
    tokens = {team: cipher.decrypt(token) if token else None for team, token in stored.items()}
    nobody = users.Reach(dm_channel_id=None, unreachable_reason=None)
    targets = {}
    for r in rows:
        reach = known.get((r.team_id, r.user_id), nobody)
        targets[(r.team_id, r.user_id)] = Target(
            tokens.get(r.team_id), reach.dm_channel_id, reach.unreachable_reason
        )
    return targets


class RateGate:
    """Per (workspace, method) "not before" instants, from Slack's ``Retry-After``."""

    def __init__(self) -> None:
        self._until: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def blocked_until(self, team_id: str, method: str, now: datetime) -> datetime | None:
        with self._lock:
            until = self._until.get((team_id, method))
            return until if until and until > now else None

    def block(self, team_id: str, method: str, until: datetime) -> None:
        with self._lock:
            current = self._until.get((team_id, method))
            if current is None or until > current:
                self._until[(team_id, method)] = until


class Pace:
    """How long one delivery keeps a sending thread busy (history check, composing and
    posting), as the sender has lately seen it: it rises at once with a slow answer and
    falls back slowly with quick ones, so a slow Slack shrinks the next batch at once
    and a quick one grows it over a few dozen DMs. Wall time, not the injected clock:
    it measures Slack, not the schedule."""

    FIRST_GUESS = 5.0  # seconds, before any answer: cautious, so a first batch stays small
    FLOOR = 0.001

    def __init__(self) -> None:
        self._seconds = self.FIRST_GUESS
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        return self._seconds

    def took(self, seconds: float) -> None:
        with self._lock:
            self._seconds = max(seconds, self.FLOOR, 0.9 * self._seconds + 0.1 * seconds)


class Sender:
    """Claims due deliveries and sends them. ``run_once`` is the scheduler's tick."""

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        clients: SlackClients,
        worker_id: str,
        composers: Mapping[str, Composer] | None = None,
        cipher: Cipher | None = None,
        max_workers: int = 8,
        lease: timedelta = timedelta(minutes=2),
        metrics: Metrics | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.engine = engine
        self.budget = budget
        self.clock = clock
        self.clients = clients
        self.cipher = cipher or Cipher()
        self.worker_id = worker_id
        self.composers: dict[str, Composer] = {
            DeliveryKind.NOTICE: compose_notice,
            **(composers or {}),
        }
        self.threads = max_workers
        self.lease = lease
        self.pace = Pace()
        self.metrics = metrics or Metrics()
        self.gate = RateGate()
        self.observers: list[Callable[[SentDM], None]] = []
        self._composed: dict[int, Message] = {}
        self._reacted: dict[int, str] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sender")
        if lease.total_seconds() < 3 * clients.timeout:
            logger.warning(
                "the sender's lease (%g s) is under three Slack call timeouts (%g s each): a"
                " Slack call that outlives the lease could be sent twice",
                lease.total_seconds(),
                clients.timeout,
            )

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    @property
    def batch_size(self) -> int:
        """How many due deliveries one claim takes: as many as the sending threads can
        post within a quarter of a lease at the pace Slack lately answered, so a claimed
        row never waits out its lease in the queue (see the module docstring)."""
        rounds = (self.lease.total_seconds() / 4) / self.pace.seconds
        return self.threads * int(min(MAX_ROUNDS_PER_BATCH, max(1, rounds)))

    def run_once(self) -> int:
        """Claim a batch of due deliveries, send them, and record their outcomes as they
        come in. Returns how many deliveries were handled.

        Before anything is posted, the batch is triaged in this thread: what expired,
        whose person is unreachable or whose workspace has no token is settled at once;
        the rest take slots from the shared budget (``bot.budget``) in one transaction,
        in claim order (nearest meeting first). A row without a slot goes back, pending,
        to the time its slot should come (``paced``, not an attempt), or is expired when
        even the next free slot comes after its deadline.
        """
        now = self.clock.now()
        rows = deliveries.claim_deliveries(
            engine=self.engine,
            now=now,
            worker=self.worker_id,
            limit=self.batch_size,
            lease=self.lease,
        )
        if not rows:
            return 0
        targets = find_targets(self.engine, self.cipher, rows)
        recorded: dict[int, DeliveryOutcome] = {}
        settled, ready = self._pace(rows, targets, now)
        if settled:
            self._record(settled, targets, recorded)
        self._prepare(ready)
        futures = {
            self._pool.submit(self._deliver, row, targets[(row.team_id, row.user_id)], now): row
            for row in ready
        }
        running = set(futures)
        while running:  # record what came in, at least every RECORD_EVERY seconds
            done, running = wait(running, timeout=RECORD_EVERY, return_when=ALL_COMPLETED)
            if not done:
                continue
            self._record([(futures[f], f.result()) for f in done], targets, recorded)
        self._notify(rows, [recorded.get(row.id) for row in rows])
        return len(rows)

    def _pace(
        self,
        rows: Sequence[ClaimedDelivery],
        targets: Mapping[tuple[str, str], Target],
        now: datetime,
    ) -> tuple[list[tuple[ClaimedDelivery, DeliveryOutcome]], list[ClaimedDelivery]]:
        """Triage a claimed batch: (outcomes settled without Slack, rows to post now)."""
        settled: list[tuple[ClaimedDelivery, DeliveryOutcome]] = []
        waiting: dict[tuple[str, str], list[ClaimedDelivery]] = {}
        for row in rows:
            target = targets[(row.team_id, row.user_id)]
            if row.expires_at is not None and now + ARRIVAL_MARGIN >= row.expires_at:
                settled.append((row, _expired(row)))
            elif target.unreachable:
                settled.append(
                    (
                        row,
                        DeliveryOutcome(
                            row.id, DeliveryState.SKIPPED, failure=Failure(FailureKind.UNREACHABLE)
                        ),
                    )
                )
            elif target.token is None:
                settled.append(
                    (
                        row,
                        DeliveryOutcome(
                            row.id, DeliveryState.FAILED, failure=Failure(FailureKind.NOT_INSTALLED)
                        ),
                    )
                )
            else:
                method = REACT_METHOD if (row.payload or {}).get("react") else POST_METHOD
                waiting.setdefault((row.team_id, method), []).append(row)
        if not waiting:
            return settled, []
        if self.budget is None:
            return settled, [row for group in waiting.values() for row in group]
        slots = self.budget.take({key: len(group) for key, group in waiting.items()}, now=now)
        ready: list[ClaimedDelivery] = []
        for key, group in waiting.items():
            granted = slots[key]
            ready += group[: granted.granted]
            for i, row in enumerate(group[granted.granted :]):
                late = granted.next_free + ARRIVAL_MARGIN
                if row.expires_at is not None and late >= row.expires_at:
                    settled.append((row, _expired(row)))  # no slot comes in time for it
                    continue
                settled.append(
                    (
                        row,
                        DeliveryOutcome(
                            row.id,
                            DeliveryState.PENDING,
                            failure=Failure(
                                FailureKind.RATE_LIMITED if granted.paused else FailureKind.PACED
                            ),
                            retry_at=granted.next_free + i * granted.interval,
                        ),
                    )
                )
        order = {row.id: i for i, row in enumerate(rows)}
        ready.sort(key=lambda r: order[r.id])
        return settled, ready

    def _prepare(self, rows: Sequence[ClaimedDelivery]) -> None:
        by_kind: dict[str, list[ClaimedDelivery]] = {}
        for row in rows:
            by_kind.setdefault(row.kind, []).append(row)
        for kind, group in by_kind.items():
            composer = self.composers.get(kind)
            if isinstance(composer, BatchComposer):
                try:
                    composer.prepare(group)
                except Exception:
                    logger.exception("preparing %d %s deliveries failed", len(group), kind)

    def _notify(
        self, rows: Sequence[ClaimedDelivery], outcomes: Sequence[DeliveryOutcome | None]
    ) -> None:
        composed, self._composed = self._composed, {}
        reacted, self._reacted = self._reacted, {}
        if not self.observers:
            return
        for row, outcome in zip(rows, outcomes, strict=True):
            message = composed.get(row.id)
            if outcome and outcome.state is DeliveryState.SENT and message is not None:
                sent = SentDM(
                    row, message, outcome.channel, outcome.message_ts, reacted.get(row.id)
                )
                for observer in self.observers:
                    try:
                        observer(sent)
                    except Exception:
                        logger.exception("an observer of delivery %s failed", row.id)

    def seconds_until_due(self) -> float | None:
        """Seconds until the earliest pending delivery is due (None: nothing pending)."""
        due = deliveries.next_due(engine=self.engine)
        return None if due is None else (due - self.clock.now()).total_seconds()

    def drain(self, max_batches: int = 1000) -> int:
        """Run batches until nothing is due (the demo and the tests use this)."""
        total = 0
        for _ in range(max_batches):
            handled = self.run_once()
            total += handled
            if handled == 0:
                break
        return total

    # ------------------------------------------------------------------ internals

    def _deliver(
        self, row: ClaimedDelivery, target: Target, claimed_at: datetime
    ) -> DeliveryOutcome | None:
        began = time.monotonic()
        try:
            return self._deliver_unguarded(row, target, claimed_at)
        except Exception:
            logger.exception("delivery %s (%s) failed unexpectedly; will retry", row.id, row.kind)
            return self._retry(row, "internal", needs_reconcile=True)
        finally:
            self.pace.took(time.monotonic() - began)

    def _deliver_unguarded(
        self, row: ClaimedDelivery, target: Target, claimed_at: datetime
    ) -> DeliveryOutcome | None:
        """The outcome to record, or None when this worker no longer holds the row."""
        now = self.clock.now()
        assert target.token is not None  # rows without one were settled by ``_pace``
        blocked = self.gate.blocked_until(row.team_id, POST_METHOD, now)
        if blocked is not None:
            return DeliveryOutcome(
                row.id, DeliveryState.PENDING, failure=RATE_LIMITED, retry_at=blocked
            )
        client = self.clients.for_token(target.token)
        if row.needs_reconcile:
            found = self._reconcile(client, row, target)
            if found is not None:
                return found
            if row.attempts >= MAX_TRANSIENT_ATTEMPTS:  # it never arrived: now give up
                return self._give_up(row, "unknown", row.attempts)
        react = (row.payload or {}).get("react")
        if react:
            if not self._fence(row, claimed_at):
                return None
            reacted = self._react(client, row, react)
            if reacted is not None:
                return reacted
            # It cannot be added: the composed line goes in its place.
        composer = self.composers.get(row.kind)
        if composer is None:
            return DeliveryOutcome(
                row.id, DeliveryState.FAILED, failure=Failure(FailureKind.UNKNOWN_KIND)
            )
        try:
            message = composer(row)
        except Defer as defer:
            return DeliveryOutcome(
                row.id,
                DeliveryState.PENDING,
                failure=Failure(FailureKind.DEFERRED),
                retry_at=defer.until,
            )
        except Skip as skip:
            return DeliveryOutcome(
                row.id,
                DeliveryState.SKIPPED,
                failure=Failure(FailureKind.WITHDRAWN, str(skip) or "skipped"),
            )
        if not self._fence(row, claimed_at):
            return None
        result = self._post(client, row, message)
        self._composed[row.id] = message
        if result.outcome is Outcome.PAYLOAD and message.blocks:
            logger.warning(
                "delivery %s: Slack refused the blocks (%s); sending plain text",
                row.id,
                result.error,
            )
            if not self._fence(row, claimed_at):
                return None
            result = self._post(client, row, message.plain())
            self._composed[row.id] = message.plain()
        return self._settle(row, result)

    def _throttled(self, team_id: str, method: str, retry_after: float) -> datetime:
        """Slack answered 429: pause (team, method) until ``Retry-After`` has passed, for
        this process at once (the rest of its batch) and for all through the budget."""
        now = self.clock.now()
        until = now + timedelta(seconds=retry_after)
        self.gate.block(team_id, method, until)
        if self.budget is not None:
            try:
                rate = self.budget.throttled(team_id, method, until=until, now=now)
                logger.info(
                    "workspace %s, %s: rate limited for %g s; pace now %g a minute",
                    team_id,
                    method,
                    retry_after,
                    rate,
                )
            except Exception:  # this process still waits; the others meet their own 429
                logger.exception("recording a rate limit for workspace %s failed", team_id)
        return until

    def _fence(self, row: ClaimedDelivery, claimed_at: datetime) -> bool:
        """Called just before every post: may this worker post ``row``? False: do not.

        A row claimed less than a quarter of a lease ago is certainly still this worker's
        (no one may take it over before the lease ends, and one Slack call is far shorter
        than the rest), so the common case costs no write. Otherwise the lease is renewed,
        only if this worker still holds the row (``deliveries.renew_lease``).
        """
        now = self.clock.now()
        if now - claimed_at < self.lease / 4:
            return True
        return deliveries.renew_lease(
            engine=self.engine, delivery_id=row.id, worker=self.worker_id, now=now, lease=self.lease
        )

    def _react(
        self, client: WebClient, row: ClaimedDelivery, react: Mapping[str, Any]
    ) -> DeliveryOutcome | None:
        """Add the reaction ``react`` names. The outcome to record, or None when it cannot
        be added and a line should go instead (see the module docstring)."""
        now = self.clock.now()
        blocked = self.gate.blocked_until(row.team_id, REACT_METHOD, now)
        if blocked is not None:
            return DeliveryOutcome(
                row.id, DeliveryState.PENDING, failure=RATE_LIMITED, retry_at=blocked
            )
        channel = str(react.get("channel") or "")
        try:
            response = client.reactions_add(
                channel=channel,
                timestamp=str(react.get("timestamp") or ""),
                name=str(react.get("name") or ""),
            )
            c = classify(None, response.data if isinstance(response.data, dict) else {})
        except Exception as exc:  # classified here; nothing is lost
            c = classify(exc)
        if c.outcome is Outcome.SENT or c.error == ALREADY_REACTED:
            self._composed[row.id] = Message(text=f":{react.get('name')}:")
            self._reacted[row.id] = str(react.get("name"))
            return DeliveryOutcome(
                row.id, DeliveryState.SENT, channel=channel or None, attempted=True
            )
        if c.retry_after is not None:  # a rate limit: wait it out, not a failed attempt
            until = self._throttled(row.team_id, REACT_METHOD, c.retry_after)
            return DeliveryOutcome(
                row.id, DeliveryState.PENDING, failure=RATE_LIMITED, retry_at=until
            )
        if c.outcome is Outcome.UNKNOWN or c.error in TRANSIENT_ERRORS or c.raised:
            # 5xx, timeouts, dropped connections: try again (already_reacted if it landed).
            return self._retry(row, f"react:{c.error}", needs_reconcile=False)
        if c.outcome is Outcome.INSTALLATION and c.error != "missing_scope":
            return self._settle(row, _PostResult(c))  # the token no longer works at all
        logger.info(
            "delivery %s: the reaction cannot be added (%s); a line instead", row.id, c.error
        )
        return None

    def _post(self, client: WebClient, row: ClaimedDelivery, message: Message) -> _PostResult:
        kwargs: dict[str, Any] = {
            "channel": row.user_id,
            "text": message.text,
            "metadata": delivery_metadata(row, message.metadata),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if message.blocks:
            kwargs["blocks"] = message.blocks
        thread_ts = (row.payload or {}).get("thread_ts")
        if thread_ts:  # a reply in the thread of what it answers
            kwargs["thread_ts"] = thread_ts
        try:
            response = client.chat_postMessage(**kwargs)
        except Exception as exc:  # classified below; nothing is lost
            return _PostResult(classify(exc))
        data = response.data if isinstance(response.data, dict) else {}
        return _PostResult(classify(None, data), data.get("channel"), data.get("ts"))

    def _settle(self, row: ClaimedDelivery, result: _PostResult) -> DeliveryOutcome:
        c = result.classified
        if c.outcome is Outcome.SENT:
            return DeliveryOutcome(
                row.id,
                DeliveryState.SENT,
                channel=result.channel,
                message_ts=result.ts,
                attempted=True,
            )
        logger.info("delivery %s (%s): %s (%s)", row.id, row.kind, c.outcome.value, c.error)
        if c.outcome is Outcome.RECIPIENT:
            return DeliveryOutcome(
                row.id,
                DeliveryState.FAILED,
                failure=Failure(FailureKind.RECIPIENT, c.error),
                attempted=True,
            )
        if c.outcome is Outcome.INSTALLATION:
            # Pending again; nothing is claimed for a paused workspace until it is reinstalled.
            return DeliveryOutcome(
                row.id,
                DeliveryState.PENDING,
                failure=Failure(FailureKind.INSTALLATION, c.error),
                retry_at=self.clock.now(),
            )
        if c.outcome is Outcome.PAYLOAD:
            return DeliveryOutcome(
                row.id,
                DeliveryState.FAILED,
                failure=Failure(FailureKind.PAYLOAD, c.error),
                attempted=True,
            )
        if c.retry_after is not None:  # a rate limit: wait it out, it is not a failed attempt
            until = self._throttled(row.team_id, POST_METHOD, c.retry_after)
            return DeliveryOutcome(
                row.id, DeliveryState.PENDING, failure=RATE_LIMITED, retry_at=until
            )
        return self._retry(row, c.error, needs_reconcile=c.outcome is Outcome.UNKNOWN)

    def _retry(self, row: ClaimedDelivery, error: str, *, needs_reconcile: bool) -> DeliveryOutcome:
        """A failed attempt: pending again with backoff, or given up after the last one
        (an unknown outcome first gets its history check, see ``_deliver_unguarded``)."""
        failures = row.attempts + 1
        if failures >= MAX_TRANSIENT_ATTEMPTS and not needs_reconcile:
            return self._give_up(row, error, failures)
        backoff = min(timedelta(seconds=2 ** min(failures, 12)), MAX_BACKOFF)
        jitter = backoff * random.uniform(0, 0.25)
        return DeliveryOutcome(
            row.id,
            DeliveryState.PENDING,
            failure=Failure(FailureKind.RETRIED, error),
            retry_at=self.clock.now() + backoff + jitter,
            needs_reconcile=needs_reconcile or row.needs_reconcile,
            attempted=True,
        )

    def _give_up(self, row: ClaimedDelivery, error: str, failures: int) -> DeliveryOutcome:
        logger.warning(
            "delivery %s (%s, team %s) gave up after %d failed attempts, the last: %s",
            row.id,
            row.kind,
            row.team_id,
            failures,
            error,
        )
        return DeliveryOutcome(
            row.id,
            DeliveryState.FAILED,
            failure=Failure(FailureKind.GAVE_UP, error),
            attempted=True,
        )

    def _reconcile(
        self, client: WebClient, row: ClaimedDelivery, target: Target
    ) -> DeliveryOutcome | None:
        """Did an earlier, interrupted attempt reach Slack? Look for our metadata.

        Returns the outcome when it did (or when looking failed), None to go ahead and send.
        """
        try:
            channel = row.channel or target.dm_channel
            if channel is None:
                channel = client.conversations_open(users=row.user_id)["channel"]["id"]
            oldest = f"{(row.due_at - timedelta(minutes=5)).timestamp():.6f}"
            cursor = None
            for _ in range(RECONCILE_PAGES):
                page = client.conversations_history(
                    channel=channel,
                    oldest=oldest,
                    limit=200,
                    include_all_metadata=True,
                    cursor=cursor,
                )
                for message in page.get("messages") or []:
                    meta = message.get("metadata") or {}
                    if (
                        meta.get("event_type") == METADATA_EVENT_TYPE
                        and (meta.get("event_payload") or {}).get("delivery_id") == row.id
                    ):
                        logger.info("delivery %s had reached Slack before; not resending", row.id)
                        return DeliveryOutcome(
                            row.id,
                            DeliveryState.SENT,
                            channel=channel,
                            message_ts=message.get("ts"),
                        )
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except Exception as exc:
            c = classify(exc)
            logger.info("delivery %s: could not check the DM history (%s)", row.id, c.error)
            if c.outcome is Outcome.RECIPIENT:
                return DeliveryOutcome(
                    row.id, DeliveryState.FAILED, failure=Failure(FailureKind.RECIPIENT, c.error)
                )
            return self._retry(row, f"reconcile:{c.error}", needs_reconcile=True)
        return None

    def _record(
        self,
        finished: Sequence[tuple[ClaimedDelivery, DeliveryOutcome | None]],
        targets: Mapping[tuple[str, str], Target],
        recorded: dict[int, DeliveryOutcome],
    ) -> None:
        """Record the outcomes of DMs whose calls just returned, in one transaction.

        An outcome None (the fencing check failed: nothing was posted) and a row another
        worker took over meanwhile are left to that worker and counted ``lease_lost``.
        """
        done = []
        for row, outcome in finished:
            if outcome is None:
                logger.info("delivery %s: another worker holds it now; not sending it", row.id)
                self.metrics.delivery(row.kind, "lease_lost")
            else:
                done.append((row, outcome))
        if not done:
            return
        now = self.clock.now()
        channels = [
            (row.team_id, row.user_id, outcome.channel)
            for row, outcome in done
            if outcome.channel and targets[(row.team_id, row.user_id)].dm_channel is None
        ]
        # The wordings of what was posted count as shown; a 429 or a failure shows nothing.
        shown = [
            Shown(row.team_id, row.user_id, prompt_id, row.id, now)
            for row, outcome in done
            if outcome.state is DeliveryState.SENT and (message := self._composed.get(row.id))
            for prompt_id in message.shown
        ]
        try:
            updated = deliveries.finish_deliveries(
                engine=self.engine,
                outcomes=[outcome for _, outcome in done],
                worker=self.worker_id,
                now=now,
                dm_channels=channels,
                shown=shown,
            )
            ids = [row.id for row, _ in done]
            held = set(ids)
            if updated < len(ids):
                held = deliveries.held_by(engine=self.engine, ids=ids, worker=self.worker_id)
        except Exception:
            # Still claimed: once the lease runs out they are checked in Slack before any resend.
            logger.exception("recording the outcomes of %d deliveries failed", len(done))
            return
        accepted: dict[tuple[str, str], int] = {}
        for row, outcome in done:
            if row.id not in held:
                logger.info("delivery %s: another worker took it over; leaving it to it", row.id)
                self.metrics.delivery(row.kind, "lease_lost")
                continue
            recorded[row.id] = outcome
            self.metrics.delivery(row.kind, _metric_outcome(outcome))
            if outcome.state is DeliveryState.EXPIRED:
                logger.info(
                    "delivery %s (%s, team %s) expired: it could no longer arrive by %s",
                    row.id,
                    row.kind,
                    row.team_id,
                    row.expires_at.isoformat() if row.expires_at else "its deadline",
                )
            elif outcome.state is DeliveryState.SENT and outcome.attempted:
                method = REACT_METHOD if row.id in self._reacted else POST_METHOD
                accepted[(row.team_id, method)] = accepted.get((row.team_id, method), 0) + 1
            failure = outcome.failure
            if failure is not None and failure.kind is FailureKind.RECIPIENT:
                scheduled.mark_unreachable(  # what Slack holds for them is taken back too
                    engine=self.engine,
                    team_id=row.team_id,
                    user_id=row.user_id,
                    reason=failure.code,
                    now=now,
                )
            elif failure is not None and failure.kind is FailureKind.INSTALLATION:
                logger.warning("workspace %s paused: %s", row.team_id, failure.code)
                installations.pause_installation(
                    engine=self.engine, team_id=row.team_id, reason=failure.code, now=now
                )
        if accepted and self.budget is not None:
            try:
                self.budget.accepted(accepted, now=now)
            except Exception:  # the pace stays where it is; nothing else is lost
                logger.exception("raising the pace after %d posts failed", sum(accepted.values()))


_PENDING_METRIC = {
    FailureKind.RATE_LIMITED: "rate_limited",
    FailureKind.PACED: "paced",
    FailureKind.INSTALLATION: "paused",
}


def _metric_outcome(outcome: DeliveryOutcome) -> str:
    """The ``outcome`` label of ``heedful_deliveries_total`` (``bot.metrics``)."""
    if outcome.state is DeliveryState.FAILED:
        return "gave_up" if outcome.failed_as is FailureKind.GAVE_UP else "failed"
    if outcome.state is DeliveryState.PENDING:
        return _PENDING_METRIC.get(outcome.failed_as, "retried")  # type: ignore[arg-type]
    return outcome.state.value  # sent, skipped, expired


def _expired(row: ClaimedDelivery) -> DeliveryOutcome:
    """It can no longer arrive before its deadline (``expires_at``; for a reminder, its
    meeting's start): not sent, marked ``expired`` (README, "Today's rule")."""
    return DeliveryOutcome(row.id, DeliveryState.EXPIRED, failure=Failure(FailureKind.EXPIRED))


@dataclass(frozen=True)
class _PostResult:
    classified: Classified
    channel: str | None = None
    ts: str | None = None

    @property
    def outcome(self) -> Outcome:
        return self.classified.outcome

    @property
    def error(self) -> str:
        return self.classified.error

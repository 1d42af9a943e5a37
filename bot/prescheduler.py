"""The prescheduler: hands reminders and reflection questions to Slack hours ahead with
``chat.scheduleMessage``, so that at 08:55 nothing is left to send (issue 12, item 3).

Decisions, written down once:

* **What is pre-scheduled**: pending deliveries of the meeting nudge kinds (reminders,
  transitions, reflection questions: :data:`KINDS`) due at least ``lead`` (10 minutes)
  and at most ``horizon`` ahead (``HEEDFUL_PRESCHEDULE_HOURS``, 36 h; 0 turns
  pre-scheduling off; the settings refuse more than 119 days, under Slack's 120). All
  else (due sooner, notices, replies, digests, reactions, threaded replies) is posted by
  the sender at its due time, paced. Rows are claimed nearest due first, in batches, with
  a lease (state ``scheduling``), and paced by the shared budget (``bot.budget``) for
  ``chat.scheduleMessage``, a tier 3 method: 50 a minute per workspace.
* **Composed early** by the sender's own composers (``Skip`` → skipped, ``Defer`` → pending
  at its time, posted by the sender). They word nothing from "now": a reminder names its
  meeting's start time, a question its meeting; the clock only picks wordings (rotation),
  so the text is as right at ``post_at`` as when it was composed. A wording counts as
  shown when Slack takes the message (``Message.shown``, recorded with the ``scheduled``
  state); a refusal or a 429 records none. One withdrawn later stays counted: rotation
  may skip it once.
* **The call**: ``chat.scheduleMessage(channel=<DM channel id>, post_at=int(due_at),
  text, blocks, unfurl_links=False, unfurl_media=False)``, never ``metadata`` (Slack's bug
  alert: such a message does not post; DESIGN.md "Messages"). Slack's reference asks for
  a channel, private channel or DM conversation: the DM's ``D…`` id, known in
  ``slack_user.dm_channel_id`` or asked of ``conversations.open`` (and kept). The
  channel Slack answers and ``scheduled_message_id`` are stored (state ``scheduled``).
* **Answers** (``bot.sender.classify``): ok → ``scheduled``, written only if this worker
  still holds the row in ``scheduling`` (fenced); if it does not (withdrawn or moved
  meanwhile) the message just scheduled is queued for deletion. ``time_in_past``,
  ``time_too_far``, ``restricted_too_many``, ``invalid_time`` and payload errors →
  pending and ``direct`` (never pre-scheduled again: the sender posts it at its due time).
  429 → pending, and ``chat.scheduleMessage`` alone is paused for that workspace
  (``Budget.throttled``); the sender's ``chat.postMessage`` goes on. A person Slack will
  not let us DM → failed and marked unreachable; a token that stopped working → pending
  and the workspace paused, as the sender does. Other transient errors → pending, tried
  again; after :data:`MAX_ATTEMPTS` the sender posts it.
* **Ambiguous failure** (timeout, dropped connection, 5xx after the request left): the row
  stays ``scheduling`` (``needs_reconcile``), out of the sender's reach, until
  ``chat.scheduledMessages.list(channel, oldest=post_at-1, latest=post_at+1)`` tells: a
  message at that ``post_at`` whose text has the stored digest → its id is adopted
  (``scheduled``); none, read more than a minute before ``post_at`` → pending again
  (scheduled again, or posted directly). Absence read later proves nothing (Slack may be
  posting it), and a list that cannot be read before the due time leaves the row unsent:
  it is settled ``failed`` with error ``unknown`` and counted. Never two messages. The
  list is tier 3 too: every read (here and for a deletion known only by its text) takes
  a slot of ``chat.scheduledMessages.list`` from the shared budget, and its 429 pauses
  that method alone.
* **A Slack slower than the lease**: the lease runs from each call (``begin_call``), not
  from the claim of the batch. If a call still outlives it, another worker may take the
  row over and look it up; the late answer is then squared with the row under its lock
  (``scheduled.fenced_out``): the answer the row waits for is adopted, a message the row
  holds is never deleted, anything else is queued for deletion.
* **Withdrawals and moves delete at Slack** (``bot.storage.scheduled.unschedule``, called
  by every path that withdraws, moves, skips or deletes pending rows). This round drains
  the queue with ``chat.deleteScheduledMessage`` (tier 3, paced): ok or
  ``invalid_scheduled_message_id`` → done (the latter within a minute of ``post_at`` or
  after means it was too late: counted, ``too_late``, and logged at INFO); 429 → wait;
  other errors → retried with backoff, given up once ``post_at`` has passed. On uninstall
  the queue rows of the workspace are dropped with it (``bot.privacy.purge_team``): no
  token is left to ask with. We assume Slack posts nothing for an app whose tokens were
  revoked (its docs do not say so for scheduled messages; ``app_uninstalled`` says the
  app's tokens are all revoked by then).
* **After ``post_at``** a ``scheduled`` row is ``sent`` (``sent_at`` = ``due_at``), in one
  set-based sweep per round (and for one person before their answer is matched,
  ``bot.reflections``). ``/metrics``: ``heedful_scheduled_messages`` counts ``scheduled``
  rows; ``heedful_deliveries_total`` counts ``scheduled``, then ``sent`` at the sweep.
* **30 per channel per 5 minutes**: a message whose DM already holds
  :data:`CROWDED` of ours within 5 minutes of its ``post_at`` is posted directly.
* **Observers** (``Sender.observers``, ``SentDM``) hear of DMs the sender posts. A
  pre-scheduled DM is posted by Slack, not by us: nothing fires for it, neither when it
  is handed over (it may still be withdrawn) nor at the sweep (set-based; its lateness
  is 0 by construction). The demo posts directly and is unchanged.
* **Its ts** is unknown until Slack posts it: a threaded answer whose ``thread_ts`` matches
  no stored ts is matched to the person's pre-scheduled delivery due within
  [thread_ts − 120 s, thread_ts + 5 s] and the ts adopted (``bot.reflections``); a tap on
  one of its buttons carries ``container.message_ts``, adopted too.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.budget import Budget
from bot.clock import Clock
from bot.crypto import Cipher
from bot.messages import Message
from bot.metrics import Metrics
from bot.sender import (
    PAYLOAD_ERRORS,
    Classified,
    Composer,
    Defer,
    Outcome,
    Skip,
    Target,
    classify,
    compose_notice,
    find_targets,
)
from bot.slack import SlackClients
from bot.storage import installations, users
from bot.storage import scheduled as store
from bot.storage.db import read_only
from bot.storage.deliveries import ClaimedDelivery, Failure, FailureKind
from bot.storage.dialect import from_driver
from bot.storage.models import DeliveryKind, DeliveryState
from bot.storage.prompts_shown import Shown

logger = logging.getLogger(__name__)

SCHEDULE_METHOD = "chat.scheduleMessage"
DELETE_METHOD = "chat.deleteScheduledMessage"
LIST_METHOD = "chat.scheduledMessages.list"
KINDS = (DeliveryKind.REMINDER, DeliveryKind.TRANSITION, DeliveryKind.REFLECTION)
DEFAULT_LEAD = timedelta(minutes=10)
DEFAULT_HORIZON = timedelta(hours=36)
MAX_HORIZON = timedelta(days=119)  # Slack refuses more than 120 days ahead
# Slack refuses a 31st message within 5 minutes in one channel: leave room.
CROWDED = 25
CROWD_WINDOW = timedelta(minutes=5)
DELETE_CUTOFF = store.DELETE_CUTOFF  # Slack will not delete within 60 s of post_at
# A listing read this close to post_at (or later) cannot prove a message absent.
LIST_CUTOFF = timedelta(seconds=60)
MAX_ATTEMPTS = 3
BATCH = 50
# Slack refused to take these ahead of time: the sender posts them at their due time.
NEVER_AHEAD = frozenset({"time_in_past", "time_too_far", "restricted_too_many", "invalid_time"})
INVALID_ID = "invalid_scheduled_message_id"


class PreScheduler:
    """Hands due-later nudges to Slack ahead of time. ``run_once`` is the scheduler's tick."""

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        clients: SlackClients,
        worker_id: str,
        composers: Mapping[str, Composer] | None = None,
        budget: Budget | None = None,
        metrics: Metrics | None = None,
        cipher: Cipher | None = None,
        horizon: timedelta = DEFAULT_HORIZON,
        lead: timedelta = DEFAULT_LEAD,
        lease: timedelta = timedelta(minutes=2),
        batch: int = BATCH,
    ) -> None:
        if horizon > MAX_HORIZON:
            raise ValueError("the horizon must stay under Slack's 120 days")
        self.engine = engine
        self.clock = clock
        self.clients = clients
        self.worker_id = worker_id
        self.composers: dict[str, Composer] = {"notice": compose_notice, **(composers or {})}
        self.budget = budget
        self.metrics = metrics or Metrics()
        self.cipher = cipher or Cipher()
        self.horizon = horizon
        self.lead = lead
        self.lease = lease
        self.batch = batch

    @property
    def enabled(self) -> bool:
        return self.horizon > timedelta(0)

    # ------------------------------------------------------------------ driving

    def run_once(self) -> int:
        """One round of all the work: settle what Slack posted, delete what was withdrawn,
        hand a batch to Slack. Returns how much it handled (0: idle)."""
        handled = self._settle()
        handled += self._delete_round()
        if self.enabled:
            handled += self._schedule_round()
        return handled

    def seconds_until_due(self) -> float | None:
        """Seconds until timed work falls due (a lease, a deletion, a row to mark sent;
        None: none). New rows to hand over are looked for at every tick."""
        due = store.next_due(self.engine)
        return None if due is None else max(0.0, (due - self.clock.now()).total_seconds())

    def drain(self, max_rounds: int = 1000) -> int:
        """Run rounds until one handles nothing (tests and the bench)."""
        total = 0
        for _ in range(max_rounds):
            handled = self.run_once()
            total += handled
            if handled == 0:
                break
        return total

    # ------------------------------------------------------------------ settling

    def _settle(self) -> int:
        counts = store.settle_posted(self.engine, now=self.clock.now())
        for kind, count in counts.items():
            self.metrics.deliveries.labels(kind=kind, outcome="sent").inc(count)
        return sum(counts.values())

    # ------------------------------------------------------------------ scheduling

    def _schedule_round(self) -> int:
        now = self.clock.now()
        claimed = store.claim(
            self.engine,
            now=now,
            worker=self.worker_id,
            kinds=KINDS,
            earliest=now + self.lead,
            latest=now + self.horizon,
            limit=self.batch,
            lease=self.lease,
            rate_method=SCHEDULE_METHOD,
        )
        if not claimed:
            return 0
        targets = find_targets(self.engine, self.cipher, [c.row for c in claimed])
        handled = 0
        fresh: list[store.Claimed] = []
        for item in claimed:
            row, target = item.row, targets[(item.row.team_id, item.row.user_id)]
            if row.needs_reconcile:
                self._finish(row, self._reconcile(row, item.digest, target))
                handled += 1
            elif target.token is None or target.unreachable:
                # The sender settles these at their due time, as it always has.
                self._finish(row, store.Result(row.id, DeliveryState.PENDING, direct=True))
                handled += 1
            else:
                fresh.append(item)
        ready = self._paced(fresh, now)
        self._prepare([item.row for item in ready])
        for item in ready:
            row = item.row
            try:
                result = self._schedule(row, targets[(row.team_id, row.user_id)])
            except Exception:
                logger.exception("delivery %s (%s): pre-scheduling failed", row.id, row.kind)
                result = store.Result(row.id, DeliveryState.PENDING, direct=True)
            if result is not None:
                self._finish(row, result)
            handled += 1
        return handled

    def _paced(self, items: Sequence[store.Claimed], now: datetime) -> list[store.Claimed]:
        """The rows that got a slot for ``chat.scheduleMessage``; the others go back to
        pending untouched (claimed again at a later round, not an attempt)."""
        if self.budget is None or not items:
            return list(items)
        by_team: dict[str, list[store.Claimed]] = {}
        for item in items:
            by_team.setdefault(item.row.team_id, []).append(item)
        slots = self.budget.take(
            {(team, SCHEDULE_METHOD): len(group) for team, group in by_team.items()}, now=now
        )
        ready: list[store.Claimed] = []
        for team, group in by_team.items():
            granted = slots[(team, SCHEDULE_METHOD)].granted
            ready += group[:granted]
            for item in group[granted:]:
                self._finish(item.row, store.Result(item.row.id, DeliveryState.PENDING))
        ready.sort(key=lambda item: (item.row.due_at, item.row.id))
        return ready

    def _prepare(self, rows: Sequence[ClaimedDelivery]) -> None:
        by_kind: dict[str, list[ClaimedDelivery]] = {}
        for row in rows:
            by_kind.setdefault(row.kind, []).append(row)
        for kind, group in by_kind.items():
            prepare = getattr(self.composers.get(kind), "prepare", None)
            if prepare is not None:
                try:
                    prepare(group)
                except Exception:
                    logger.exception("preparing %d %s deliveries failed", len(group), kind)

    def _schedule(self, row: ClaimedDelivery, target: Target) -> store.Result | None:
        """Compose ``row`` and hand it to Slack; the result to record (None: this worker
        no longer holds it, nothing was sent)."""
        composer = self.composers.get(row.kind)
        if composer is None:
            return store.Result(row.id, DeliveryState.PENDING, direct=True)
        try:
            message = composer(row)  # type: ignore[arg-type]
        except Defer as defer:
            return store.Result(
                row.id,
                DeliveryState.PENDING,
                failure=Failure(FailureKind.DEFERRED),
                direct=True,
                retry_at=defer.until,
            )
        except Skip as skip:
            return store.Result(
                row.id, DeliveryState.SKIPPED, failure=Failure(FailureKind.WITHDRAWN, str(skip))
            )
        assert target.token is not None
        client = self.clients.for_token(target.token)
        channel = target.dm_channel
        if channel is None:
            try:
                channel = str(client.conversations_open(users=row.user_id)["channel"]["id"])
            except Exception as exc:  # classified below; nothing is lost
                return self._refused(row, classify(exc), "conversations.open")
            target.dm_channel = channel
            with self.engine.begin() as conn:
                users.remember_dm_channels(conn=conn, found=[(row.team_id, row.user_id, channel)])
        if (
            store.crowded(self.engine, channel=channel, post_at=row.due_at, window=CROWD_WINDOW)
            >= CROWDED
        ):
            return store.Result(
                row.id,
                DeliveryState.PENDING,
                failure=Failure(FailureKind.DIRECT, "crowded"),
                direct=True,
            )
        digest = store.text_digest(message.text)
        if not store.begin_call(
            self.engine,
            row.id,
            worker=self.worker_id,
            channel=channel,
            digest=digest,
            lease_until=self.clock.now() + self.lease,
        ):
            self.metrics.delivery(row.kind, "lease_lost")
            return None
        return self._call(client, row, message, channel, digest)

    def _call(
        self,
        client: WebClient,
        row: ClaimedDelivery,
        message: Message,
        channel: str,
        digest: str,
    ) -> store.Result:
        kwargs: dict[str, Any] = {
            "channel": channel,
            "post_at": int(row.due_at.timestamp()),
            "text": message.text,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if message.blocks:
            kwargs["blocks"] = message.blocks
        try:
            response = client.chat_scheduleMessage(**kwargs)
            data = response.data if isinstance(response.data, dict) else {}
            c = classify(None, data)
        except Exception as exc:  # classified here; nothing is lost
            data, c = {}, classify(exc)
        if c.outcome is Outcome.SENT:  # Slack will post it: its wordings count as shown
            now = self.clock.now()
            return store.Result(
                row.id,
                DeliveryState.SCHEDULED,
                channel=str(data.get("channel") or channel),
                message_id=str(data.get("scheduled_message_id") or ""),
                digest=digest,
                shown=tuple(
                    Shown(row.team_id, row.user_id, prompt_id, row.id, now)
                    for prompt_id in message.shown
                ),
            )
        if c.outcome is Outcome.UNKNOWN:
            logger.info(
                "delivery %s: no answer to scheduling it (%s); the list will tell", row.id, c.error
            )
            return store.Result(
                row.id,
                DeliveryState.SCHEDULING,
                failure=Failure(FailureKind.UNKNOWN, c.error[:200]),
                channel=channel,
                digest=digest,
                retry_at=self.clock.now() + _backoff(row.attempts),
                attempted=True,
            )
        return self._refused(row, c, SCHEDULE_METHOD)

    def _refused(self, row: ClaimedDelivery, c: Classified, method: str) -> store.Result:
        """Slack said no (or could not be reached): what becomes of the row."""
        now = self.clock.now()
        logger.info("delivery %s (%s): %s refused (%s)", row.id, row.kind, method, c.error)
        if c.error in NEVER_AHEAD or c.error in PAYLOAD_ERRORS:
            return store.Result(
                row.id,
                DeliveryState.PENDING,
                failure=Failure(FailureKind.DIRECT, c.error),
                direct=True,
            )
        if c.retry_after is not None:  # 429: this workspace and method wait; no attempt
            self._throttled(row.team_id, SCHEDULE_METHOD, c.retry_after, now)
            return store.Result(
                row.id, DeliveryState.PENDING, failure=Failure(FailureKind.RATE_LIMITED)
            )
        if c.outcome is Outcome.RECIPIENT:  # marked unreachable once recorded (``_finish``)
            return store.Result(
                row.id,
                DeliveryState.FAILED,
                failure=Failure(FailureKind.RECIPIENT, c.error),
                attempted=True,
            )
        if c.outcome is Outcome.INSTALLATION:
            logger.warning("workspace %s paused: %s", row.team_id, c.error)
            installations.pause_installation(
                engine=self.engine, team_id=row.team_id, reason=c.error, now=now
            )
            return store.Result(
                row.id, DeliveryState.PENDING, failure=Failure(FailureKind.INSTALLATION, c.error)
            )
        # Transient (the call certainly did not land): try again, then leave it to the sender.
        return store.Result(
            row.id,
            DeliveryState.PENDING,
            failure=Failure(FailureKind.RETRIED, c.error),
            direct=row.attempts + 1 >= MAX_ATTEMPTS,
            attempted=True,
        )

    def _reconcile(self, row: ClaimedDelivery, digest: str | None, target: Target) -> store.Result:
        """An earlier call had no answer (or its worker died): did Slack take it?"""
        now = self.clock.now()
        if row.channel is None or digest is None or target.token is None:
            # The worker died before its call (the channel and digest come first).
            return store.Result(row.id, DeliveryState.PENDING)
        post_at = int(row.due_at.timestamp())
        wait = self._slot(row.team_id, LIST_METHOD, now)
        if wait is not None:  # the list's pace: look then (not an attempt)
            if now >= row.due_at:
                return self._unknown(row, "unknown")
            return store.Result(row.id, DeliveryState.SCHEDULING, retry_at=min(wait, row.due_at))
        try:
            page = self.clients.for_token(target.token).chat_scheduledMessages_list(
                channel=row.channel, oldest=str(post_at - 1), latest=str(post_at + 1)
            )
            listed = list(page.get("scheduled_messages") or [])
        except Exception as exc:
            c = classify(exc)
            if c.retry_after is not None:
                self._throttled(row.team_id, LIST_METHOD, c.retry_after, now)
            if now >= row.due_at:
                return self._unknown(row, f"list:{c.error}")
            logger.info("delivery %s: the scheduled list could not be read (%s)", row.id, c.error)
            return store.Result(
                row.id,
                DeliveryState.SCHEDULING,
                failure=Failure(FailureKind.UNKNOWN, c.error[:200]),
                retry_at=min(now + _backoff(row.attempts), row.due_at),
                attempted=True,
            )
        for item in listed:
            if int(item.get("post_at") or 0) == post_at and (
                store.text_digest(str(item.get("text") or "")) == digest
            ):
                logger.info("delivery %s had been scheduled; adopting its id", row.id)
                return store.Result(
                    row.id,
                    DeliveryState.SCHEDULED,
                    channel=str(item.get("channel_id") or row.channel),
                    message_id=str(item.get("id")),
                )
        if now >= row.due_at - LIST_CUTOFF:
            return self._unknown(row, "unknown")
        logger.info("delivery %s had not been scheduled; pending again", row.id)
        return store.Result(row.id, DeliveryState.PENDING)

    def _unknown(self, row: ClaimedDelivery, error: str) -> store.Result:
        logger.warning(
            "delivery %s (%s, team %s): whether Slack posted it cannot be known; not sending"
            " it again (%s)",
            row.id,
            row.kind,
            row.team_id,
            error,
        )
        return store.Result(row.id, DeliveryState.FAILED, failure=Failure(FailureKind.UNKNOWN))

    def _finish(self, row: ClaimedDelivery, result: store.Result) -> None:
        now = self.clock.now()
        if store.finish(self.engine, result, worker=self.worker_id, now=now):
            self.metrics.delivery(row.kind, _metric_outcome(result))
            failure = result.failure
            if failure is not None and failure.kind is FailureKind.RECIPIENT:
                # Their other scheduled DMs are taken back.
                store.mark_unreachable(
                    engine=self.engine,
                    team_id=row.team_id,
                    user_id=row.user_id,
                    reason=failure.code,
                    now=now,
                )
            return
        # Withdrawn, moved or taken over while Slack was being asked: square what Slack
        # holds with the row (never deleting the message the row holds).
        done = store.fenced_out(
            self.engine, result, team_id=row.team_id, post_at=row.due_at, now=now
        )
        if done == "adopted":
            self.metrics.delivery(row.kind, "scheduled")
            return
        self.metrics.delivery(row.kind, "lease_lost")
        if done == "queued":
            logger.info("delivery %s was withdrawn meanwhile; deleting it at Slack", row.id)

    # ------------------------------------------------------------------ deleting

    def _delete_round(self) -> int:
        now = self.clock.now()
        items = store.claim_deletions(self.engine, now=now, limit=self.batch, lease=self.lease)
        if not items:
            return 0
        tokens = self._tokens({item.team_id for item in items})
        done: list[int] = []
        ready: list[store.Deletion] = []
        for item in items:
            if item.team_id not in tokens:  # the workspace is gone: no one to ask
                self.metrics.unscheduled.labels(outcome="dropped").inc()
                done.append(item.id)
            elif tokens[item.team_id] is None:  # paused: wait for a reinstall
                store.deletion_retry(self.engine, item.id, at=now + _backoff(3), attempted=False)
            else:
                ready.append(item)
        if self.budget is not None and ready:
            teams: dict[str, list[store.Deletion]] = {}
            for item in ready:
                teams.setdefault(item.team_id, []).append(item)
            slots = self.budget.take(
                {(team, DELETE_METHOD): len(group) for team, group in teams.items()}, now=now
            )
            ready = []
            for team, group in teams.items():
                granted = slots[(team, DELETE_METHOD)]
                ready += group[: granted.granted]
                for i, item in enumerate(group[granted.granted :]):
                    at = granted.next_free + i * granted.interval
                    store.deletion_retry(self.engine, item.id, at=at, attempted=False)
        for item in ready:
            if self._delete(item, tokens[item.team_id] or ""):
                done.append(item.id)
        store.deletion_done(self.engine, done)
        return len(items)

    def _delete(self, item: store.Deletion, token: str) -> bool:
        """Ask Slack to delete one message; True when nothing is left to do."""
        now = self.clock.now()
        post_at = from_driver(item.post_at) or now
        client = self.clients.for_token(token)
        message_id = item.scheduled_message_id
        method = DELETE_METHOD
        try:
            if message_id.startswith(store.LOOKUP):
                method = LIST_METHOD
                wait = self._slot(item.team_id, LIST_METHOD, now)
                if wait is not None:  # the list's pace: look later, not an attempt
                    store.deletion_retry(self.engine, item.id, at=wait, attempted=False)
                    return False
                found = self._find(client, item)
                if found is None:
                    self.metrics.unscheduled.labels(outcome="gone").inc()
                    return True
                message_id, method = found, DELETE_METHOD
            client.chat_deleteScheduledMessage(
                channel=item.channel, scheduled_message_id=message_id
            )
            self.metrics.unscheduled.labels(outcome="deleted").inc()
            return True
        except Exception as exc:
            c = classify(exc)
        if c.error == INVALID_ID:
            if now >= post_at - DELETE_CUTOFF:
                logger.info(
                    "a scheduled message of workspace %s was deleted too late: Slack posted it",
                    item.team_id,
                )
                self.metrics.unscheduled.labels(outcome="too_late").inc()
            else:
                self.metrics.unscheduled.labels(outcome="gone").inc()
            return True
        if c.retry_after is not None:
            until = self._throttled(item.team_id, method, c.retry_after, now)
            store.deletion_retry(self.engine, item.id, at=until, attempted=False)
            return False
        if now >= post_at:
            logger.warning(
                "a scheduled message of workspace %s could not be deleted before its time (%s)",
                item.team_id,
                c.error,
            )
            self.metrics.unscheduled.labels(outcome="gave_up").inc()
            return True
        store.deletion_retry(self.engine, item.id, at=now + _backoff(item.attempts), attempted=True)
        return False

    def _find(self, client: WebClient, item: store.Deletion) -> str | None:
        """The id of the message a lookup deletion names (``?`` + its text's digest), never
        one a delivery row holds (scheduled again with the same text and time)."""
        digest = item.scheduled_message_id[len(store.LOOKUP) :]
        post_at = int((from_driver(item.post_at) or self.clock.now()).timestamp())
        page = client.chat_scheduledMessages_list(
            channel=item.channel, oldest=str(post_at - 1), latest=str(post_at + 1)
        )
        found = [
            str(listed.get("id"))
            for listed in page.get("scheduled_messages") or []
            if int(listed.get("post_at") or 0) == post_at
            and store.text_digest(str(listed.get("text") or "")) == digest
        ]
        held = store.held_ids(self.engine, found)
        return next((found_id for found_id in found if found_id not in held), None)

    # ------------------------------------------------------------------ internals

    def _slot(self, team_id: str, method: str, now: datetime) -> datetime | None:
        """Take one slot of ``method`` for ``team_id``: None when taken (or no budget),
        else when the next one is free."""
        if self.budget is None:
            return None
        slots = self.budget.take({(team_id, method): 1}, now=now)[(team_id, method)]
        return None if slots.granted else slots.next_free

    def _throttled(self, team_id: str, method: str, retry_after: float, now: datetime) -> datetime:
        """Slack answered 429: ``method`` waits in ``team_id`` until ``Retry-After`` passed,
        for every process (the shared budget)."""
        until = now + timedelta(seconds=retry_after)
        if self.budget is not None:
            try:
                self.budget.throttled(team_id, method, until=until, now=now)
            except Exception:
                logger.exception("recording a rate limit for %s failed", team_id)
        return until

    def _tokens(self, teams: set[str]) -> dict[str, str | None]:
        """team → its bot token (None while paused); a team without a row is absent."""
        with read_only(self.engine) as conn:
            stored = installations.live_bot_tokens(conn=conn, team_ids=teams)
        return {
            team: self.cipher.decrypt(token) if token else None for team, token in stored.items()
        }


def _backoff(attempts: int) -> timedelta:
    base = timedelta(seconds=min(2 ** min(attempts + 2, 10), 600))
    return base + base * random.uniform(0, 0.25)


def _metric_outcome(result: store.Result) -> str:
    """The ``outcome`` label of ``heedful_deliveries_total`` for a pre-scheduling result."""
    if result.state is DeliveryState.SCHEDULED:
        return "scheduled"
    if result.state is DeliveryState.SCHEDULING:
        return "retried"
    if result.state is DeliveryState.SKIPPED:
        return "skipped"
    kind = None if result.failure is None else result.failure.kind
    if result.state is DeliveryState.FAILED:
        return "unknown" if kind is FailureKind.UNKNOWN else "failed"
    if result.direct:
        return "direct"
    if kind is FailureKind.RATE_LIMITED:
        return "rate_limited"
    if kind is FailureKind.INSTALLATION:
        return "paused"
    return "retried" if result.attempted else "paced"

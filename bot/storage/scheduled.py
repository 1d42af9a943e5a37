"""The SQL of pre-scheduling (``bot.prescheduler``): claiming deliveries to hand to Slack
ahead of time, recording what Slack answered, the queue of scheduled messages to delete
(``slack_unschedule``) and the sweep that settles what Slack has posted.

One function, :func:`unschedule`, is called wherever pending deliveries are withdrawn,
moved, skipped or deleted (``bot.occurrences.sync_deliveries``, ``bot.nudges.skip_meeting``,
``bot.privacy.erase_user``, ``mark_unreachable`` here), in the caller's
transaction and before its own update: it queues the deletion at Slack of every matching
row Slack holds (``scheduled``), turns those rows and any with a call in flight
(``scheduling``) back into plain ``pending`` rows, and so lets the caller's update of
pending rows apply as it always did. An in-flight call's answer is then fenced out
(:func:`finish`: only a row still ``scheduling`` and held by its worker is written).

A queued deletion holds no text and no user id: the workspace, the DM channel, Slack's
id and when the message would post. A message whose id is unknown (the scheduling call
had no answer) is queued as ``?<text digest>``: the deletion first finds it with
``chat.scheduledMessages.list``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.storage import users
from bot.storage.db import read_only
from bot.storage.deliveries import _CLAIMED_FIELDS, ClaimedDelivery, Failure
from bot.storage.dialect import from_driver, insert_ignoring_duplicates
from bot.storage.models import (
    Delivery,
    DeliveryState,
    Installation,
    RateBudget,
    SlackUnschedule,
)
from bot.storage.prompts_shown import Shown, remember_shown

DELIVERY: sa.Table = Delivery.__table__  # type: ignore[attr-defined]
UNSCHEDULE: sa.Table = SlackUnschedule.__table__  # type: ignore[attr-defined]
INSTALLATION: sa.Table = Installation.__table__  # type: ignore[attr-defined]
BUDGET: sa.Table = RateBudget.__table__  # type: ignore[attr-defined]

PENDING = DeliveryState.PENDING.value
SCHEDULING = DeliveryState.SCHEDULING.value
SCHEDULED = DeliveryState.SCHEDULED.value
LOOKUP = "?"  # a queued deletion whose id is unknown: ``?`` + the text's digest
# Slack will not delete a scheduled message within 60 s of its post_at.
DELETE_CUTOFF = timedelta(seconds=60)


def text_digest(text: str) -> str:
    """What identifies a scheduled message's text without keeping it (32 hex digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------- claiming


def claim(
    engine: Engine,
    *,
    now: datetime,
    worker: str,
    kinds: Sequence[str],
    earliest: datetime,
    latest: datetime,
    limit: int,
    lease: timedelta,
    rate_method: str,
) -> list[ClaimedDelivery]:
    """Claim, nearest due first, up to ``limit`` rows to pre-schedule: ``scheduling`` rows
    whose lease ran out (their call's outcome is unknown: they come back
    ``needs_reconcile``), then pending rows of ``kinds`` due in [``earliest``, ``latest``]
    that may be handed to Slack (not ``direct``, not deferred past their due time), of
    workspaces neither paused nor waiting out a 429 on ``rate_method``."""
    d = DELIVERY.c
    paused = sa.select(INSTALLATION.c.team_id).where(INSTALLATION.c.paused_at.is_not(None))
    b = BUDGET.c
    waiting = sa.select(b.team_id).where(b.method == rate_method, b.paused_until > now)
    fresh = (
        sa.select(d.id)
        .where(
            d.state == PENDING,
            d.direct.is_(False),
            d.kind.in_(list(kinds)),
            d.due_at >= earliest,
            d.due_at <= latest,
            d.available_at <= d.due_at,
            d.team_id.not_in(paused),
            d.team_id.not_in(waiting),
        )
        .order_by(d.due_at, d.id)
        .limit(limit)
    )
    lost = (
        sa.select(d.id)
        .where(d.state == SCHEDULING, d.lease_until < now)
        .order_by(d.due_at, d.id)
        .limit(limit)
    )
    if engine.dialect.name == "postgresql":
        fresh = fresh.with_for_update(skip_locked=True)
        lost = lost.with_for_update(skip_locked=True)
    columns = [d[name] for name in _CLAIMED_FIELDS]
    with engine.begin() as conn:
        rows = list(
            conn.execute(
                sa.update(DELIVERY)
                .where(d.id.in_(lost.scalar_subquery()))
                .values(
                    lease_until=now + lease, claimed_by=worker, needs_reconcile=True, updated_at=now
                )
                .returning(*columns, d.scheduled_hash)
            )
        )
        room = limit - len(rows)
        if room > 0:
            rows += conn.execute(
                sa.update(DELIVERY)
                .where(d.id.in_(fresh.limit(room).scalar_subquery()))
                .values(
                    state=SCHEDULING,
                    lease_until=now + lease,
                    claimed_by=worker,
                    needs_reconcile=False,
                    updated_at=now,
                )
                .returning(*columns, d.scheduled_hash)
            ).all()
    out = [_claimed(row) for row in rows]
    out.sort(key=lambda r: (r.row.due_at, r.row.id))
    return out


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery and the digest of the text it was scheduled with, if any."""

    row: ClaimedDelivery
    digest: str | None


def _claimed(raw: Any) -> Claimed:
    *fields, digest = tuple(raw)
    values = dict(zip(_CLAIMED_FIELDS, fields, strict=True))
    if isinstance(values["payload"], str):
        values["payload"] = json.loads(values["payload"])
    values["payload"] = values["payload"] or {}
    values["needs_reconcile"] = bool(values["needs_reconcile"])
    return Claimed(ClaimedDelivery(**values), digest)


def next_due(engine: Engine) -> datetime | None:
    """The earliest moment timed work of the prescheduler falls due: a lease that runs out
    (an unknown outcome to look up), a queued deletion, a scheduled row to mark sent (None:
    none). Rows to hand to Slack are looked for at every tick."""
    d, u = DELIVERY.c, UNSCHEDULE.c
    with read_only(engine) as conn:
        found = [
            conn.execute(sa.select(sa.func.min(d.lease_until)).where(d.state == SCHEDULING)),
            conn.execute(sa.select(sa.func.min(u.available_at))),
            conn.execute(sa.select(sa.func.min(d.due_at)).where(d.state == SCHEDULED)),
        ]
        times = [from_driver(m.scalar()) for m in found]
    known = [t for t in times if t is not None]
    return min(known) if known else None


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Result:
    """What became of one claimed row. ``state`` scheduled: Slack holds it (``message_id``,
    ``channel``); scheduling: the outcome is unknown, look again at ``retry_at``; pending:
    the sender posts it (``direct``: never pre-schedule it again; ``retry_at``: try
    pre-scheduling again then, before its due time); skipped, failed: settled."""

    id: int
    state: DeliveryState
    failure: Failure | None = None
    channel: str | None = None
    message_id: str | None = None
    digest: str | None = None
    direct: bool = False
    retry_at: datetime | None = None
    attempted: bool = False
    shown: tuple[Shown, ...] = ()  # the wordings of a message Slack took (``scheduled``)

    @property
    def error(self) -> str | None:
        """The stored ``error`` text (``Failure.text``)."""
        return None if self.failure is None else self.failure.text


def begin_call(
    engine: Engine,
    row_id: int,
    *,
    worker: str,
    channel: str,
    digest: str,
    lease_until: datetime,
) -> bool:
    """Just before ``chat.scheduleMessage``: store the channel and the text's digest (what
    a reconcile looks for) and renew the lease, so that it runs from the call, not from the
    claim of the batch (a slow batch must not hand the rows at its end to another worker
    while their calls are still to come). False when this worker no longer holds the row
    (withdrawn or taken over): then nothing is sent."""
    d = DELIVERY.c
    with engine.begin() as conn:
        return (
            conn.execute(
                sa.update(DELIVERY)
                .where(d.id == row_id, d.state == SCHEDULING, d.claimed_by == worker)
                .values(channel=channel, scheduled_hash=digest, lease_until=lease_until)
            ).rowcount
            == 1
        )


def finish(engine: Engine, result: Result, *, worker: str, now: datetime) -> bool:
    """Record ``result`` only if ``worker`` still holds the row in ``scheduling`` (fenced).
    False: the row was withdrawn, moved or taken over meanwhile (the caller squares what
    Slack holds with the row, :func:`fenced_out`)."""
    d = DELIVERY.c
    values: dict[str, Any] = {"updated_at": now, "error": (result.error or None)}
    if result.attempted:
        values["attempts"] = d.attempts + 1
    if result.state is DeliveryState.SCHEDULED:
        values |= {
            "state": SCHEDULED,
            "lease_until": None,
            "channel": result.channel,
            "scheduled_message_id": result.message_id,
            "needs_reconcile": False,
            "error": None,
        }
    elif result.state is DeliveryState.SCHEDULING:  # unknown: look again at retry_at
        values |= {"lease_until": result.retry_at or now, "needs_reconcile": True}
    elif result.state is DeliveryState.PENDING:
        values |= {
            "state": PENDING,
            "lease_until": None,
            "claimed_by": None,
            "needs_reconcile": False,
            "scheduled_message_id": None,
            "scheduled_hash": None,
        }
        if result.direct:
            values["direct"] = True
        if result.retry_at is not None:
            values["available_at"] = result.retry_at
    else:
        values |= {"state": result.state.value, "lease_until": None, "needs_reconcile": False}
    with engine.begin() as conn:
        stmt = (
            sa.update(DELIVERY)
            .where(d.id == result.id, d.state == SCHEDULING, d.claimed_by == worker)
            .values(**values)
        )
        if conn.execute(stmt).rowcount != 1:
            return False
        if result.state is DeliveryState.SCHEDULED and result.shown:
            remember_shown(conn=conn, shown=result.shown)
        return True


def fenced_out(
    engine: Engine, result: Result, *, team_id: str, post_at: datetime, now: datetime
) -> str:
    """Square what Slack holds with the row after ``result`` came back to a worker that no
    longer held the row (:func:`finish` refused it): the row was withdrawn or moved, or its
    lease ran out while the call was out and another worker took it over to find out
    whether the call landed. Decided under the row's lock, which every writer of the row
    takes, so it cannot interleave with that worker's own :func:`finish`:

    * ``adopted``: the call landed (``result`` scheduled, Slack's id known) and the row
      is still waiting to learn whether it did (``scheduling``, ``needs_reconcile``, the
      same channel and text): it becomes ``scheduled`` with that id, the answer it waits for.
    * ``held``: the row already holds that message (its new holder found it in the list),
      or, with no answer, its holder is still going to look it up.
    * ``queued``: anything else (withdrawn, moved, scheduled again): the message is queued
      for deletion, by id, or by its text's digest when no answer came
      (:func:`held_ids` keeps such a lookup off a message a row holds).
    * ``nothing``: the call certainly did not land."""
    d = DELIVERY.c
    if result.state is DeliveryState.SCHEDULED and result.message_id and result.channel:
        message: str = result.message_id
    elif result.state is DeliveryState.SCHEDULING and result.digest and result.channel:
        message = LOOKUP + result.digest
    else:
        return "nothing"
    query = sa.select(
        d.state, d.channel, d.scheduled_message_id, d.scheduled_hash, d.needs_reconcile
    ).where(d.id == result.id)
    if engine.dialect.name == "postgresql":
        query = query.with_for_update()
    with engine.begin() as conn:
        row = conn.execute(query).first()
        if row is not None and row.channel == result.channel:
            if result.message_id and row.scheduled_message_id == result.message_id:
                return "held"
            asking = (
                row.state == SCHEDULING
                and row.needs_reconcile
                and row.scheduled_hash is not None
                and row.scheduled_hash == result.digest
            )
            if asking and result.state is DeliveryState.SCHEDULING:
                return "held"
            if asking:
                conn.execute(
                    sa.update(DELIVERY)
                    .where(d.id == result.id)
                    .values(
                        state=SCHEDULED,
                        lease_until=None,
                        scheduled_message_id=result.message_id,
                        needs_reconcile=False,
                        error=None,
                        updated_at=now,
                    )
                )
                return "adopted"
        queue_deletions(conn, [(team_id, result.channel, message, post_at)], now=now)
        return "queued"


def held_ids(engine: Engine, ids: Iterable[str]) -> set[str]:
    """Which of Slack's scheduled-message ``ids`` a delivery row holds (a deletion found by
    its text must not take a message that a row scheduled again with the same text)."""
    wanted = list(set(ids))
    if not wanted:
        return set()
    d = DELIVERY.c
    with read_only(engine) as conn:
        return set(
            conn.execute(
                sa.select(d.scheduled_message_id).where(d.scheduled_message_id.in_(wanted))
            ).scalars()
        )


def crowded(engine: Engine, *, channel: str, post_at: datetime, window: timedelta) -> int:
    """How many of our messages Slack holds for ``channel`` within ``window`` of
    ``post_at`` (Slack allows 30 within 5 minutes)."""
    d = DELIVERY.c
    with read_only(engine) as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    d.channel == channel,
                    d.state.in_((SCHEDULED, SCHEDULING)),
                    d.due_at > post_at - window,
                    d.due_at < post_at + window,
                )
            ).scalar_one()
        )


# --------------------------------------------------------------------------- withdrawing


def unschedule(conn: sa.Connection, where: sa.ColumnElement[bool], *, now: datetime) -> set[int]:
    """Take back from Slack every delivery matching ``where`` that it holds or is being
    handed (see the module docstring): queue their deletion and make them plain pending
    rows, for the caller's own update. Returns the ids taken back.

    A scheduled row due within :data:`DELETE_CUTOFF` (or already due) is not taken back:
    Slack refuses to delete a message that close to its ``post_at`` and posts it (or has
    posted it), so the row stays ``scheduled`` and is settled ``sent`` as Slack posts it,
    rather than pretending it was withdrawn (and, for a moved meeting, planned twice)."""
    d = DELIVERY.c
    rows = conn.execute(
        sa.select(
            d.id,
            d.team_id,
            d.state,
            d.channel,
            d.scheduled_message_id,
            d.scheduled_hash,
            d.needs_reconcile,
            d.due_at,
        ).where(where, d.state.in_((SCHEDULED, SCHEDULING)))
    ).all()
    rows = [r for r in rows if r.state != SCHEDULED or r.due_at > now + DELETE_CUTOFF]
    if not rows:
        return set()
    queue = []
    for row in rows:
        if row.state == SCHEDULED and row.scheduled_message_id and row.channel:
            queue.append((row.team_id, row.channel, row.scheduled_message_id, row.due_at))
        elif row.needs_reconcile and row.scheduled_hash and row.channel:
            # Its call had no answer: Slack may hold it; find it by its text's digest.
            queue.append((row.team_id, row.channel, LOOKUP + row.scheduled_hash, row.due_at))
        # A call still in flight without an answer yet is fenced out (``finish``); its
        # worker queues the deletion of what it scheduled.
    queue_deletions(conn, queue, now=now)
    conn.execute(
        sa.update(DELIVERY)
        .where(d.id.in_([row.id for row in rows]), d.state.in_((SCHEDULED, SCHEDULING)))
        .values(
            state=PENDING,
            lease_until=None,
            claimed_by=None,
            needs_reconcile=False,
            scheduled_message_id=None,
            scheduled_hash=None,
            updated_at=now,
        )
    )
    return {row.id for row in rows}


def mark_unreachable(
    *, engine: Engine, team_id: str, user_id: str, reason: str, now: datetime
) -> None:
    """Slack said this person cannot get our DMs (deactivated, DMs closed, …): mark them
    (``users.set_unreachable``) and take back what Slack holds for them ahead of time, in
    one transaction."""
    d = DELIVERY.c
    with engine.begin() as conn:
        unschedule(conn, sa.and_(d.team_id == team_id, d.user_id == user_id), now=now)
        users.set_unreachable(conn=conn, team_id=team_id, user_id=user_id, reason=reason, now=now)


def queue_deletions(
    conn: sa.Connection,
    items: Iterable[tuple[str, str, str, datetime]],
    *,
    now: datetime,
) -> None:
    """Queue (team, channel, scheduled message id, post_at) for deletion at Slack."""
    values = [
        {
            "team_id": team,
            "channel": channel,
            "scheduled_message_id": message_id[:64],
            "post_at": post_at,
            "available_at": now,
            "attempts": 0,
            "created_at": now,
        }
        for team, channel, message_id, post_at in items
    ]
    if values:
        conn.execute(insert_ignoring_duplicates(conn, UNSCHEDULE), values)


@dataclass(frozen=True)
class Deletion:
    id: int
    team_id: str
    channel: str
    scheduled_message_id: str
    post_at: datetime
    attempts: int


def claim_deletions(
    engine: Engine, *, now: datetime, limit: int, lease: timedelta
) -> list[Deletion]:
    """Due deletions, soonest post_at first; each is hidden for ``lease`` (its claim)."""
    u = UNSCHEDULE.c
    pick = sa.select(u.id).where(u.available_at <= now).order_by(u.post_at, u.id).limit(limit)
    if engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    with engine.begin() as conn:
        rows = conn.execute(
            sa.update(UNSCHEDULE)
            .where(u.id.in_(pick.scalar_subquery()))
            .values(available_at=now + lease)
            .returning(u.id, u.team_id, u.channel, u.scheduled_message_id, u.post_at, u.attempts)
        ).all()
    out = [Deletion(*row) for row in rows]
    return sorted(out, key=lambda x: (from_driver(x.post_at) or now, x.id))


def deletion_done(engine: Engine, ids: Sequence[int]) -> None:
    if ids:
        with engine.begin() as conn:
            conn.execute(sa.delete(UNSCHEDULE).where(UNSCHEDULE.c.id.in_(list(ids))))


def deletion_retry(engine: Engine, deletion_id: int, *, at: datetime, attempted: bool) -> None:
    u = UNSCHEDULE.c
    with engine.begin() as conn:
        conn.execute(
            sa.update(UNSCHEDULE)
            .where(u.id == deletion_id)
            .values(available_at=at, attempts=u.attempts + int(attempted))
        )


def pending_deletions(engine: Engine) -> int:
    with read_only(engine) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(UNSCHEDULE)).scalar_one())


# --------------------------------------------------------------------------- settling


def settle_posted(
    engine: Engine | sa.Connection,
    *,
    now: datetime,
    team_id: str | None = None,
    user_id: str | None = None,
) -> dict[str, int]:
    """Scheduled rows whose time has come were posted by Slack: mark them ``sent`` (at
    their due time), in one set-based statement. Returns kind → how many."""
    d = DELIVERY.c
    where = [d.state == SCHEDULED, d.due_at <= now]
    if team_id is not None:
        where.append(d.team_id == team_id)
    if user_id is not None:
        where.append(d.user_id == user_id)
    stmt = (
        sa.update(DELIVERY)
        .where(*where)
        .values(state=DeliveryState.SENT.value, sent_at=d.due_at, updated_at=now)
        .returning(d.kind)
    )
    if isinstance(engine, sa.Connection):
        kinds = list(engine.execute(stmt).scalars())
    else:
        with engine.begin() as conn:
            kinds = list(conn.execute(stmt).scalars())
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def adopt_ts(
    conn: sa.Connection,
    *,
    team_id: str,
    user_id: str,
    kinds: Sequence[str],
    thread_ts: str,
    early: timedelta,
    late: timedelta,
) -> int | None:
    """A reply in a thread whose root ts no delivery has: Slack posted a scheduled
    message with a ts we never learnt. Find the person's pre-scheduled delivery of
    ``kinds`` due within [thread_ts − early, thread_ts + late], store the ts, and
    return its id (None: no such delivery)."""
    try:
        moment = datetime.fromtimestamp(float(thread_ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    d = DELIVERY.c
    row = conn.execute(
        sa.select(d.id)
        .where(
            d.team_id == team_id,
            d.user_id == user_id,
            d.kind.in_(list(kinds)),
            d.state == DeliveryState.SENT.value,
            d.message_ts.is_(None),
            d.scheduled_message_id.is_not(None),
            d.due_at >= moment - early,
            d.due_at <= moment + late,
        )
        .order_by(d.due_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    conn.execute(sa.update(DELIVERY).where(d.id == row.id).values(message_ts=thread_ts[:32]))
    return int(row.id)


def adopt_message_ts(
    engine: Engine, *, team_id: str, user_id: str, delivery_id: int, ts: str
) -> None:
    """A tap on a button of a pre-scheduled message tells its ts
    (``container.message_ts``): store it when none is known."""
    d = DELIVERY.c
    with engine.begin() as conn:
        conn.execute(
            sa.update(DELIVERY)
            .where(
                d.id == delivery_id,
                d.team_id == team_id,
                d.user_id == user_id,
                d.message_ts.is_(None),
                d.scheduled_message_id.is_not(None),
            )
            .values(message_ts=ts[:32])
        )

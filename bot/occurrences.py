"""A user's occurrences (their calendars' events, one row per instance), and keeping
their pending nudges in step with them.

The one mapping between :class:`~bot.calendars.occurrence.Occurrence` and its stored row
is :data:`COLUMNS` (:func:`occurrence_row` makes each value fit its column,
:func:`occurrence_from_row` reads it back). ``apply_occurrences`` stores what a
calendar source says and re-plans the user's nudges; ``replan_user`` compares what the
planner wants with what the outbox holds:

* wanted and pending → moved if its time or content changed;
* wanted and absent → added (a key that was already sent is never sent again: the
  outbox's unique key refuses it);
* wanted and earlier withdrawn → put back (the invitation was accepted again);
* pending and no longer wanted → withdrawn (state ``skipped``, error ``unplanned``);
* expired (it could not arrive in time) and wanted again at another time (its meeting
  moved) → pending again; at the same time it stays expired;
* sent, failed or being sent → never touched;
* handed to Slack ahead of time (``scheduled``, or ``scheduling`` while the call is in
  flight: ``bot.prescheduler``) → left with Slack while unchanged; moved or withdrawn →
  its deletion at Slack is queued (``bot.storage.scheduled.unschedule``) and it is moved
  or withdrawn as a pending row (mute and pause re-plan, so they end here too).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot import comeback, feedback, planner
from bot.calendars.occurrence import (
    SMALL_MEETING_MAX,
    Category,
    Occurrence,
    Response,
    Status,
    conference_link,
)
from bot.planner import (
    BACKOFF_AFTER_UNANSWERED,
    NUDGE_KINDS,
    PlanInput,
    Wanted,
    plan,
)
from bot.prefs import Prefs
from bot.services import Services
from bot.storage import commitments, deliveries, scheduled, users
from bot.storage import occurrences as stored_occurrences
from bot.storage.db import session_scope
from bot.storage.deliveries import ClaimedDelivery
from bot.storage.models import (
    Delivery,
    DeliveryState,
)

logger = logging.getLogger(__name__)

PLAN_HORIZON = timedelta(days=8)
BACKOFF_LOOKBACK = timedelta(hours=1)  # the longest reflection delay a user can choose
UNPLANNED = "unplanned"
# Handed to Slack ahead of time (``bot.prescheduler``): pending as far as planning goes.
AHEAD = (DeliveryState.SCHEDULING, DeliveryState.SCHEDULED)
DEL = Delivery.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SyncResult:
    added: int = 0
    moved: int = 0
    withdrawn: int = 0


@dataclass(frozen=True)
class ApplyResult:
    added: int
    updated: int
    removed: int
    sync: SyncResult
    skipped: int = 0  # occurrences that could not be stored (logged one by one)


def opt_in(services: Services, *, team_id: str, user_id: str) -> None:
    """The user connected a calendar: from now on Heedful may nudge them."""
    with session_scope(services.engine) as session:
        user = users.ensure_user(
            session=session, team_id=team_id, user_id=user_id, now=services.clock.now()
        )
        if user.opted_in_at is None:
            user.opted_in_at = services.clock.now()
            session.add(user)


class Unstorable(ValueError):
    """An occurrence whose row cannot be written; the message says why (one line)."""


def _length(name: str) -> int:
    return stored_occurrences.column_length(name)


_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGEST = 64  # hex characters of a SHA-256


def _clean(text: str) -> str:
    """Text any backend stores: no NUL (PostgreSQL refuses it in text), no lone
    surrogate (it cannot be encoded as UTF-8)."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def _fit_identity(value: str, limit: int) -> str:
    """An id that fits ``limit`` characters and stays unique and stable: the id itself
    when it fits, else its start followed by ``~`` and the SHA-256 of the whole id."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{value[: max(0, limit - _DIGEST - 1)]}~{digest}"[-limit:]


def stored_uid(source: str, uid: str) -> str:
    """The UID under which an occurrence of ``source`` is stored: short enough for the
    ``uid`` column and for ``source|uid|recurrence id`` to fit the ``key`` column
    whatever the recurrence id, so every instance of a series shares it."""
    budget = _length("key") - len(source) - 2 - _length("recurrence_id")
    return _fit_identity(_clean(uid), min(_length("uid"), budget))


def occurrence_row(team_id: str, user_id: str, occ: Occurrence, now: datetime) -> dict[str, Any]:
    """The stored row of an occurrence: the one place where our type meets the columns.

    Whoever sends an invite writes most of these fields, so each is made to fit its
    column (lengths read from the table), in the way that keeps the data honest:

    * every text loses NUL characters, and a lone surrogate becomes U+FFFD;
    * the title is cut, with an ellipsis (a cut title still names the meeting);
    * the organizer's address and the join link are dropped when too long, and the link
      also when :func:`conference_link` refuses it: a cut address or link is wrong data;
    * who else was invited (``people``) is kept only for a meeting of up to
      ``SMALL_MEETING_MAX`` people, where the user meets them (a large meeting's list is
      not needed, so not held), each address as long as the organizer's may be;
    * a UID (or recurrence id) too long is replaced by a stable, unique digest form
      (:func:`stored_uid`), so refreshes find the same row; so is an iCalendar UID too
      long for its column, so equal UIDs stay equal (``bot.copies`` compares them);
    * what still cannot be stored raises :class:`Unstorable`: that one event is skipped.

    Reading the row back (:func:`occurrence_from_row`) gives an occurrence whose ``key``
    is the stored key.
    """
    source = _clean(occ.source)
    if len(source) > _length("source"):
        raise Unstorable("the source name is too long")
    if occ.start.tzinfo is None or occ.end.tzinfo is None:
        raise Unstorable("its start or end has no time zone")
    uid = stored_uid(source, occ.uid)
    if not uid:
        raise Unstorable("it has no UID")
    recurrence_id = None
    if occ.recurrence_id is not None:
        recurrence_id = _fit_identity(_clean(occ.recurrence_id), _length("recurrence_id"))
    key = f"{source}|{uid}|{recurrence_id or ''}"
    title = _clean(occ.title)
    if len(title) > _length("title"):
        title = title[: _length("title") - 1].rstrip() + "…"
    organizer = _clean(occ.organizer) if occ.organizer else None
    if organizer is not None and len(organizer) > _length("organizer"):
        organizer = None
    link = conference_link(_clean(occ.conference_url)) if occ.conference_url else None
    if link is not None and len(link) > _length("conference_url"):
        link = None
    ical_uid = None
    if occ.ical_uid:
        ical_uid = _fit_identity(_clean(occ.ical_uid), _length("ical_uid"))
    people: list[str] = []
    if occ.attendees <= SMALL_MEETING_MAX:
        people = sorted(
            {_clean(p).lower() for p in occ.people if 0 < len(p) <= _length("organizer")}
        )
    row = {column: getattr(occ, f) for f, column in COLUMNS}  # then made to fit:
    row.update(
        source=source,
        uid=uid,
        recurrence_id=recurrence_id,
        title=title,
        people=people,
        organizer=organizer,
        conference_url=link,
        status=occ.status.value,
        self_response=occ.self_response.value if occ.self_response else None,
        category=occ.category.value if occ.category else None,
        ical_uid=ical_uid,
    )
    return {
        "team_id": team_id,
        "user_id": user_id,
        "key": key,
        "series_key": f"{source}|{uid}",
        **row,
        "skip_reason": occ.skip_reason.value if occ.skip_reason else None,
        "updated_at": now,
    }


# The one mapping between an Occurrence's fields and its row's columns, both ways.
_COLUMN_OF = {"start": "start_at", "end": "end_at"}
COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (f.name, _COLUMN_OF.get(f.name, f.name)) for f in fields(Occurrence)
)
_READ: dict[str, Callable[[Any], Any]] = {
    "status": Status,
    "self_response": lambda v: Response(v) if v else None,
    "category": lambda v: Category(v) if v else None,
    "people": lambda v: tuple(v or ()),
}
# A stored row is rewritten when one of these differs (identity columns are its key).
_COMPARED = tuple(c for f, c in COLUMNS if f not in ("source", "uid", "recurrence_id"))


def occurrence_from_row(row: Any) -> Occurrence:
    """Our type back from a stored row (:data:`COLUMNS`)."""
    return Occurrence(**{f: _READ.get(f, _same)(getattr(row, column)) for f, column in COLUMNS})


def _same(value: Any) -> Any:
    return value


def apply_occurrences(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    source: str,
    occurrences: Sequence[Occurrence],
    window: tuple[datetime, datetime] | None = None,
    series: Collection[str] | None = None,
) -> ApplyResult:
    """Store what a source says about a user's meetings, then re-plan their nudges.

    With ``window``, ``occurrences`` is everything ``source`` has in [start, end):
    stored meetings of that source starting in the window and missing from the list are
    removed. With ``series`` too (UIDs: a feed read in part, ``bot.sync.feeds``), it is
    everything those series have there: stored rows of other series are neither read nor
    touched. Without ``window`` (a push), the occurrences are upserted and nothing is
    removed. Rows that did not change are not written; the changed ones are written in
    one statement.
    Each occurrence is stored as :func:`occurrence_row` makes it fit; one that cannot be
    stored is logged and skipped (``skipped``), and the others are stored.
    """
    now = services.clock.now()
    incoming: dict[str, dict[str, Any]] = {}
    invited: dict[str, tuple[str, int, tuple[str, ...]]] = {}  # for bot.feedback
    skipped = 0
    for occ in occurrences:
        try:
            values = occurrence_row(team_id, user_id, occ, now)
        except Unstorable as exc:
            skipped += 1
            logger.warning(
                "source %s for %s: skipped event %r: %s", source, user_id, _clean(occ.uid)[:80], exc
            )
            continue
        incoming[values["key"]] = values
        invited[values["key"]] = (values["series_key"], occ.attendees, occ.people)
    source = _clean(source)
    series_keys = None
    if series is not None:
        series_keys = {f"{source}|{stored_uid(source, uid)}" for uid in series}
        series_keys |= {values["series_key"] for values in incoming.values()}
    added = updated = removed = 0
    with services.engine.begin() as conn:
        stored = stored_occurrences.stored_for_source(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            source=source,
            window=window,
            keys=incoming,
            series_keys=series_keys,
        )
        new_rows = [v for k, v in incoming.items() if k not in stored]
        if new_rows:
            stored_occurrences.insert_occurrences(conn=conn, rows=new_rows)
            added = len(new_rows)
        changes = [
            (row.id, values)
            for key, values in incoming.items()
            if (row := stored.get(key)) is not None
            and any(getattr(row, f) != values[f] for f in _COMPARED)
        ]
        stored_occurrences.update_occurrences(conn=conn, changes=changes)
        updated = len(changes)
        if window is not None:
            gone = [
                row.id
                for key, row in stored.items()
                if key not in incoming
                and row.source == source
                and window[0] <= row.start_at < window[1]
            ]
            if gone:
                stored_occurrences.delete_occurrences(conn=conn, ids=gone)
                removed = len(gone)
        # Feedback from others: who to ask after the meetings of opted-in series.
        feedback.keep_invitees(conn, team_id=team_id, user_id=user_id, meetings=invited, now=now)
    logger.info(
        "source %s for %s: %d added, %d changed, %d removed, %d skipped",
        source,
        user_id,
        added,
        updated,
        removed,
        skipped,
    )
    sync = replan_user(services, team_id=team_id, user_id=user_id)
    return ApplyResult(added, updated, removed, sync, skipped)


def cancelled_instances(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    source: str,
    refs: Sequence[tuple[str, str | None]],
) -> list[Occurrence]:
    """The stored occurrences that cancellations name, marked cancelled: ``(uid, None)``
    names every instance of a series, ``(uid, recurrence id)`` one instance. A ``uid``
    never stored names nothing. Handing them to :func:`apply_occurrences` withdraws
    their pending nudges and keeps the rows (a later change can revive them)."""
    if not refs:
        return []
    whole = sorted({stored_uid(source, uid) for uid, rid in refs if rid is None})
    single = [(stored_uid(source, uid), rid) for uid, rid in refs if rid is not None]
    with services.engine.connect() as conn:
        rows = stored_occurrences.by_uids(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            source=source,
            series=whole,
            instances=single,
        )
    return [replace(occurrence_from_row(r), status=Status.CANCELLED) for r in rows]


def removed_events(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    source: str,
    event_ids: Sequence[str],
) -> list[Occurrence]:
    """The stored occurrences of ``source`` whose calendar event id (``event_id``, see
    :func:`keep_event_ids`) is one of ``event_ids``, marked cancelled (as
    :func:`cancelled_instances`). An id never stored names nothing."""
    if not event_ids:
        return []
    with services.engine.connect() as conn:
        rows = stored_occurrences.by_event_ids(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            source=_clean(source),
            event_ids=event_ids,
        )
    return [replace(occurrence_from_row(r), status=Status.CANCELLED) for r in rows]


def keep_event_ids(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    pairs: Sequence[tuple[Occurrence, str]],
) -> None:
    """Note each stored occurrence's calendar event id (a calendar that names removed
    instances by an id of their own: Microsoft Graph). Ids too long for the column are
    not kept (the instance is then withdrawn by the next full read instead)."""
    limit = _length("event_id")
    now = services.clock.now()
    changes = []
    for occ, event_id in pairs:
        if not event_id or len(event_id) > limit:
            continue
        try:
            key = occurrence_row(team_id, user_id, occ, now)["key"]
        except Unstorable:
            continue
        changes.append((key, event_id))
    if not changes:
        return
    with services.engine.begin() as conn:
        stored_occurrences.set_event_ids(
            conn=conn, team_id=team_id, user_id=user_id, event_ids=changes
        )


def remove_source(services: Services, *, team_id: str, user_id: str, source: str) -> None:
    """Forget every meeting a source brought, and the nudges planned for them."""
    with services.engine.begin() as conn:
        stored_occurrences.delete_source(conn=conn, team_id=team_id, user_id=user_id, source=source)
    replan_user(services, team_id=team_id, user_id=user_id)


def prompt_history(
    conn: sa.Connection, *, team_id: str, user_id: str, limit: int = 6
) -> tuple[int, datetime | None]:
    """How many of the latest reflection prompts in a row went unanswered, and when the
    latest one that was sent was due."""
    rows = deliveries.prompts_sent(conn=conn, team_id=team_id, user_id=user_id, limit=limit)
    streak = 0
    for row in rows:
        if row.answered:
            break
        streak += 1
    return streak, (rows[0].due_at if rows else None)


def unanswered_streak(conn: sa.Connection, *, team_id: str, user_id: str, limit: int = 6) -> int:
    """How many of the latest reflection prompts in a row went unanswered."""
    return prompt_history(conn, team_id=team_id, user_id=user_id, limit=limit)[0]


def after_prompt(services: Services, row: ClaimedDelivery) -> None:
    """A reflection prompt (delivery ``row``) is going out now. If it makes the run of
    unanswered ones long enough, re-plan at once, so the back-off starts with the very
    next meeting rather than at the next calendar change."""
    with services.engine.connect() as conn:
        streak, _ = prompt_history(conn, team_id=row.team_id, user_id=row.user_id)
    if streak + 1 >= BACKOFF_AFTER_UNANSWERED:
        replan_user(services, team_id=row.team_id, user_id=row.user_id, prompting=row)


def replan_user(
    services: Services, *, team_id: str, user_id: str, prompting: Any | None = None
) -> SyncResult:
    """Bring the user's pending nudges in line with their meetings and preferences.

    ``prompting`` is a reflection delivery being sent right now: it counts as sent
    (and, so far, unanswered).
    """
    with session_scope(services.engine) as session:
        user = users.get_user(session=session, team_id=team_id, user_id=user_id)
    if user is None:
        return SyncResult()
    wanted: list[Wanted] = []
    if user.opted_in_at is not None and user.unreachable_reason is None:
        wanted = plan(_plan_input(services, user, prompting=prompting))
    return sync_deliveries(services, team_id=team_id, user_id=user_id, wanted=wanted)


def silences(services: Services, *, team_id: str, user_id: str) -> dict[str, str]:
    """The user's meetings (today's and the next days') Heedful says nothing about, with
    the reason (``bot.planner.silences``), by occurrence key: the planner wants nothing
    for them now, and the outbox holds nothing sent or waiting for them. Empty when
    Heedful may not nudge the user at all."""
    with session_scope(services.engine) as session:
        user = users.get_user(session=session, team_id=team_id, user_id=user_id)
    if user is None or user.opted_in_at is None or user.unreachable_reason is not None:
        return {}
    reasons = planner.silences(_plan_input(services, user))
    if not reasons:
        return {}
    with services.engine.connect() as conn:
        spoken = deliveries.spoken_for(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            occurrence_keys=[key[:255] for key in reasons],
        )
    return {key: why for key, why in reasons.items() if key[:255] not in spoken}


def _plan_input(services: Services, user: Any, *, prompting: Any | None = None) -> PlanInput:
    """What the planner needs to plan ``user``'s nudges now (see :func:`replan_user`)."""
    team_id, user_id = user.team_id, user.slack_user_id
    now = services.clock.now()
    zone = ZoneInfo(user.tz or "UTC")
    day_start = datetime.combine(now.astimezone(zone).date(), datetime.min.time(), zone)
    with services.engine.connect() as conn:
        streak, last_prompt_at = prompt_history(conn, team_id=team_id, user_id=user_id)
        if prompting is not None:
            streak += 1
            if last_prompt_at is None or prompting.due_at > last_prompt_at:
                last_prompt_at = prompting.due_at
        since = day_start
        if streak >= BACKOFF_AFTER_UNANSWERED and last_prompt_at is not None:
            # The back-off counts meetings from the last question sent, maybe yesterday's.
            since = min(since, max(last_prompt_at - BACKOFF_LOOKBACK, now - PLAN_HORIZON))
        rows = stored_occurrences.ending_from(
            conn=conn, team_id=team_id, user_id=user_id, since=since, before=now + PLAN_HORIZON
        )
        # What went out (or is going out) in the days planned keeps its place under the
        # caps; a day's first nudge may be due the evening before its meeting.
        held = deliveries.held(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kinds=NUDGE_KINDS,
            due_since=since - timedelta(days=1),
        )  # ``prompting`` is claimed: it is among them
        # Who the user met before the meetings planned (bot.planner: first meetings).
        earlier = min([since, *(r.start_at for r in rows)])
        known = stored_occurrences.people_met(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            since=earlier - planner.FIRST_MEETING_LOOKBACK,
            before=earlier,
            max_attendees=SMALL_MEETING_MAX,
        )
        history_since = stored_occurrences.first_start(conn=conn, team_id=team_id, user_id=user_id)
        # Open commitments that may come back in the days planned (bot.planner: their
        # meeting ranks first); ``bot.comeback`` decides where.
        pending = commitments.open_commitments(
            conn=conn, team_id=team_id, user_id=user_id, since=since - comeback.WINDOW
        )
    return PlanInput(
        meetings=[occurrence_from_row(r) for r in rows],
        prefs=Prefs.from_json(user.prefs),
        zone=zone,
        now=now,
        paused_until=user.paused_until,
        unanswered_streak=streak,
        last_prompt_at=last_prompt_at,
        held=[
            Wanted(r.kind, r.ref, r.due_at, r.expires_at, r.occurrence_key or "", r.payload)
            for r in held
        ],
        known_people=known,
        history_since=history_since,
        commitments=[comeback.Pending.from_row(r) for r in pending],
    )


def sync_deliveries(
    services: Services, *, team_id: str, user_id: str, wanted: Sequence[Wanted]
) -> SyncResult:
    """Make the user's pending nudges match ``wanted`` (see the module docstring)."""
    now = services.clock.now()
    want = {(w.kind, w.ref): w for w in wanted}

    def differs(row: deliveries.PlannedNudge, w: Wanted) -> bool:
        planned = (row.due_at, row.expires_at, row.meeting_start, row.payload)
        return planned != (w.due_at, w.expires_at, w.meeting_start, w.payload)

    with services.engine.begin() as conn:
        current = deliveries.planned_nudges(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kinds=NUDGE_KINDS,
            states=(DeliveryState.PENDING, DeliveryState.EXPIRED, *AHEAD),
            withdrawn_as=UNPLANNED,
        )
        # Slack holds these (or is being handed them) and they are withdrawn or moved:
        # delete them there, then treat them as the pending rows they become. Within its
        # last minute Slack posts one anyway: it stays as it is (not taken back).
        ahead = {
            row.id
            for row in current
            if row.state in AHEAD
            and ((w := want.get((row.kind, row.ref))) is None or differs(row, w))
        }
        taken = scheduled.unschedule(conn, DEL.c.id.in_(sorted(ahead)), now=now) if ahead else set()
        seen = set()
        withdraw: list[int] = []
        changes: list[deliveries.Replanned] = []
        for row in current:
            key = (row.kind, row.ref)
            w = want.get(key)
            state = row.state
            if row.id in ahead:
                if row.id not in taken:
                    if w is not None:
                        seen.add(key)
                    continue
                state = DeliveryState.PENDING
            if w is None:
                if state == DeliveryState.PENDING:
                    withdraw.append(row.id)
                continue
            seen.add(key)
            if state == DeliveryState.EXPIRED and row.due_at == w.due_at:
                continue  # it stays expired; only a moved meeting brings it back
            if state in AHEAD:
                continue  # unchanged: Slack posts it as planned
            if state != DeliveryState.PENDING or differs(row, w):
                changes.append(
                    deliveries.Replanned(
                        row.id, state, w.due_at, w.expires_at, w.meeting_start, w.payload
                    )
                )
        deliveries.withdraw_rows(conn=conn, ids=withdraw, error=UNPLANNED, now=now)
        deliveries.replan_nudges(conn=conn, changes=changes, now=now)
        withdrawn, moved = len(withdraw), len(changes)
        fresh = [
            {
                "team_id": team_id,
                "user_id": user_id,
                "kind": w.kind,
                "ref": w.ref,
                "occurrence_key": w.occurrence_key,
                "due_at": w.due_at,
                "expires_at": w.expires_at,
                "meeting_start": w.meeting_start,
                "payload": w.payload,
            }
            for key, w in want.items()
            if key not in seen
        ]
        added = deliveries.enqueue_deliveries(conn=conn, rows=fresh, now=now)
    if added or moved or withdrawn:
        logger.info(
            "nudges for %s: %d added, %d moved, %d withdrawn", user_id, added, moved, withdrawn
        )
    return SyncResult(added, moved, withdrawn)


def user_occurrences(
    services: Services, *, team_id: str, user_id: str, start: datetime, end: datetime
) -> list[Occurrence]:
    """The user's stored meetings overlapping [start, end), by start."""
    with services.engine.connect() as conn:
        rows = stored_occurrences.overlapping(
            conn=conn, team_id=team_id, user_id=user_id, start=start, end=end
        )
    return [occurrence_from_row(r) for r in rows]

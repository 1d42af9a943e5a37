"""The planner (pure): meetings + preferences + now → the nudges Heedful wants to send.

No I/O and no clock of its own: the same inputs always give the same plan, so the
caller can re-plan after every calendar change and compare with what is stored
(``bot.meetings``). The rules, in order:

1. Only eligible meetings (``Occurrence.skip_reason`` is None) of series the user has
   not muted.
2. A **reminder** is due ``lead_minutes`` before the start and expires a minute after
   it; a **reflection** prompt is due ``reflection_delay_minutes`` after the end.
3. **Back-to-back** meetings (the next one starts less than 5 minutes after one ends)
   get one combined message: the first meeting's reflection is folded into the next
   one's reminder (kind ``transition``), sent when the first ends (or at the reminder
   time, if that is later).
4. **Working hours**: a nudge whose local due time falls outside the user's working
   hours (default 08:00–19:00) or on a day off (default Saturday and Sunday; see
   ``bot.prefs``) is dropped, not delayed: a late reminder or a reflection at
   breakfast helps nobody. So is anything due while Heedful is paused.
5. **Daily caps** (per local day; default 6 reminders, 4 reflections): over the cap,
   1:1s come first, then small meetings, then external ones, then large ones; ties go
   to the earlier meeting. The whole day is planned, past meetings included, so the
   choice does not drift as the day goes on; what rule 4 drops takes no place.
6. **Adaptive back-off**: after 3 reflection prompts in a row went unanswered, only
   every other meeting gets one (counted from the last prompt sent), until the user
   answers again.
7. Nothing is planned in the past: a reminder whose time has gone is dropped unless
   the meeting is still more than a minute away (then it goes now).

``silences`` gives, for each meeting that gets nothing at all, the reason: the
occurrence's own ``skip_reason``, or the rule above that dropped its nudges (the demo
prints these as "stays silent" lines).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from bot.calendars.occurrence import MeetingKind, Occurrence
from bot.prefs import Prefs

REMINDER = "reminder"
REFLECTION = "reflection"
TRANSITION = "transition"  # a reflection on one meeting and a reminder for the next
NUDGE_KINDS = (REMINDER, REFLECTION, TRANSITION)

BACK_TO_BACK_GAP = timedelta(minutes=5)
REMINDER_GRACE = timedelta(minutes=1)
REFLECTION_LIFETIME = timedelta(hours=6)
BACKOFF_AFTER_UNANSWERED = 3

# Why the planner drops a nudge (``silences``); an occurrence's own reasons are
# ``SkipReason`` values.
MUTED = "muted"
PAUSED = "paused"
OUTSIDE_HOURS = "outside-hours"  # the user's working hours or days (rule 4)
DAILY_CAP = "daily-cap"  # rule 5
BACK_OFF = "back-off"  # rule 6
PAST = "past"  # rule 7
PRIORITY = {
    MeetingKind.ONE_ON_ONE: 0,
    MeetingKind.SMALL: 1,
    MeetingKind.EXTERNAL: 2,
    MeetingKind.LARGE: 3,
}


@dataclass(frozen=True)
class Wanted:
    """A delivery the planner wants; (kind, ref) is its key for this user."""

    kind: str
    ref: str
    due_at: datetime
    expires_at: datetime | None
    occurrence_key: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanInput:
    meetings: Sequence[Occurrence]
    prefs: Prefs
    zone: ZoneInfo
    now: datetime
    paused_until: datetime | None = None
    unanswered_streak: int = 0
    # When the latest question that went out was due: the back-off counts from there.
    last_prompt_at: datetime | None = None


def plan(data: PlanInput) -> list[Wanted]:
    """The deliveries wanted for these meetings, sorted by due time."""
    return _plan(data, {})


def silences(data: PlanInput) -> dict[str, str]:
    """Why Heedful sends nothing at all about each meeting it stays silent for.

    By occurrence key: the occurrence's ``skip_reason`` value (``declined``,
    ``all-day`` …), :data:`MUTED`, or the rule that dropped its reminder (else its
    reflection): :data:`PAUSED`, :data:`OUTSIDE_HOURS`, :data:`DAILY_CAP`,
    :data:`BACK_OFF`, :data:`PAST`. A meeting with any wanted nudge is not listed (a
    transition speaks for the meeting it announces and for the one it asks about).
    """
    dropped: dict[tuple[str, str], str] = {}
    wanted = _plan(data, dropped)
    spoken = {w.occurrence_key for w in wanted} | {w.payload.get("previous") for w in wanted}
    muted = set(data.prefs.muted_series)
    reasons: dict[str, str] = {}
    for meeting in data.meetings:
        if meeting.skip_reason is not None:
            reasons[meeting.key] = meeting.skip_reason.value
        elif meeting.series_key in muted:
            reasons[meeting.key] = MUTED
        elif meeting.key not in spoken:
            why = [dropped.get((kind, meeting.key)) for kind in (REMINDER, TRANSITION, REFLECTION)]
            reasons[meeting.key] = next((r for r in why if r), PAST)
    return reasons


def _plan(data: PlanInput, dropped: dict[tuple[str, str], str]) -> list[Wanted]:
    """:func:`plan`, noting in ``dropped`` why each nudge it drops goes, by (kind, ref)."""
    prefs = data.prefs
    muted = set(prefs.muted_series)
    meetings = sorted(
        (m for m in data.meetings if m.eligible and m.series_key not in muted),
        key=lambda m: (m.start, m.key),
    )
    reminders: list[Wanted] = []
    reflections: list[Wanted] = []
    lead = timedelta(minutes=prefs.lead_minutes)
    delay = timedelta(minutes=prefs.reflection_delay_minutes)
    folded: dict[str, Occurrence] = {}  # next meeting key → previous meeting
    for before, after in pairwise(meetings):
        if timedelta(0) <= after.start - before.end < BACK_TO_BACK_GAP:
            folded[after.key] = before
    folded_into = {prev.key for prev in folded.values()}

    for meeting in meetings:
        previous = folded.get(meeting.key)
        due = meeting.start - lead
        payload: dict[str, Any] = {}
        kind = REMINDER
        if previous is not None:
            kind = TRANSITION
            due = min(max(due, previous.end), meeting.start)
            payload = {"previous": previous.key}
        reminders.append(
            Wanted(kind, meeting.key, due, meeting.start + REMINDER_GRACE, meeting.key, payload)
        )
        if meeting.key not in folded_into:
            due = meeting.end + delay
            reflections.append(
                Wanted(REFLECTION, meeting.key, due, due + REFLECTION_LIFETIME, meeting.key)
            )

    by_key = {m.key: m for m in meetings}

    def outside(item: Wanted) -> str:
        paused = data.paused_until is not None and item.due_at < data.paused_until
        return PAUSED if paused else OUTSIDE_HOURS

    def in_hours(items: list[Wanted]) -> list[Wanted]:
        return [w for w in items if _in_hours(w.due_at, data)]

    # What quiet hours, days off or a pause rule out never takes a place under a cap
    # (a 02:00 call must not cost an afternoon 1:1 its reminder).
    reminders = _note(reminders, in_hours(reminders), outside, dropped)
    reflections = _note(reflections, in_hours(reflections), outside, dropped)
    capped = _cap(reminders, prefs.max_reminders_per_day, by_key, data.zone)
    reminders = _note(reminders, capped, DAILY_CAP, dropped)
    capped = _cap(reflections, prefs.max_reflections_per_day, by_key, data.zone)
    reflections = _note(reflections, capped, DAILY_CAP, dropped)
    reflections = _note(reflections, _back_off(reflections, data), BACK_OFF, dropped)
    candidates = reminders + reflections
    allowed = [w for w in candidates if _allowed(w, data)]
    wanted = _note(
        candidates, allowed, lambda w: PAST if w.due_at < data.now else outside(w), dropped
    )
    return sorted(wanted, key=lambda w: (w.due_at, w.kind, w.ref))


def _note(
    before: list[Wanted],
    after: list[Wanted],
    reason: str | Callable[[Wanted], str],
    dropped: dict[tuple[str, str], str],
) -> list[Wanted]:
    """Returns ``after`` (``before`` filtered); notes why the rest went, by (kind, ref)."""
    kept = {id(w) for w in after}
    for item in before:
        if id(item) not in kept:
            why = reason if isinstance(reason, str) else reason(item)
            dropped.setdefault((item.kind, item.ref), why)
    return after


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _cap(
    wanted: list[Wanted], limit: int, meetings: dict[str, Occurrence], zone: ZoneInfo
) -> list[Wanted]:
    per_day: dict[date, list[Wanted]] = defaultdict(list)
    for item in wanted:
        per_day[_local_day(item.due_at, zone)].append(item)
    kept: list[Wanted] = []
    for items in per_day.values():
        ranked = sorted(
            items, key=lambda w: (PRIORITY[meetings[w.occurrence_key].kind], w.due_at, w.ref)
        )
        kept.extend(ranked[:limit])
    return kept


def _back_off(reflections: list[Wanted], data: PlanInput) -> list[Wanted]:
    """After a run of unanswered prompts, ask after every other meeting.

    Counted from the last question that went out (not from ``now``), so a re-plan at
    any moment keeps the same rhythm: skip the next one, ask the one after, and so on.
    """
    if data.unanswered_streak < BACKOFF_AFTER_UNANSWERED:
        return reflections
    last = data.last_prompt_at
    upcoming = sorted(
        (w for w in reflections if (w.due_at > last if last else w.due_at >= data.now)),
        key=lambda w: (w.due_at, w.ref),
    )
    skipped = {w.ref for w in upcoming[0::2]}
    return [w for w in reflections if w.ref not in skipped]


def _allowed(item: Wanted, data: PlanInput) -> bool:
    now = data.now
    if item.due_at < now:
        if item.kind == REFLECTION or item.expires_at is None:
            return False
        # A reminder whose time has passed still helps if the meeting is a way off.
        if item.expires_at - REMINDER_GRACE - now <= REMINDER_GRACE:
            return False
        item_due = now
    else:
        item_due = item.due_at
    return _in_hours(item_due, data)


def _in_hours(due: datetime, data: PlanInput) -> bool:
    """Within the user's day, on a working day, and not while paused."""
    if data.paused_until is not None and due < data.paused_until:
        return False
    return data.prefs.working_at(due.astimezone(data.zone))

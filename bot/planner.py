"""The planner (pure): meetings + preferences + now → the nudges Heedful wants to send.

No I/O and no clock of its own: the same inputs always give the same plan, so the
caller can re-plan after every calendar change and compare with what is stored
(``bot.occurrences``). The rules, in order:

0. **One meeting on two calendars is one meeting** (``bot.copies`` says which
   occurrences are copies of one meeting; see "Copies" below).
1. Only eligible meetings (``Occurrence.skip_reason`` is None) of series the user has
   not muted.
2. A **reminder** is due ``lead_minutes`` before the start and expires at the start
   (one that can no longer arrive before its meeting starts is not sent: README,
   "Today's rule"); a **reflection** prompt is due ``reflection_delay_minutes`` after
   the end and expires ``REFLECTION_LIFETIME`` (6 hours) after it was due.
3. **Back-to-back** meetings (the next one starts less than 5 minutes after one ends)
   get one combined message: the first meeting's reflection is folded into the next
   one's reminder (kind ``transition``), sent when the first ends (or at the reminder
   time, if that is later).
4. **Working hours**: a nudge whose local due time falls outside the user's working
   hours (default 08:00–19:00) or on a day off (default Saturday and Sunday; see
   ``bot.prefs``) is dropped, not delayed: a late reminder or a reflection at
   breakfast helps nobody. So is anything due while Heedful is paused.
5. **Daily caps** (per local day; default 6 reminders, 2 questions; ``bot.prefs``). Over
   a cap, the meeting where an open commitment comes back (below) comes first, then the
   meetings that matter most (:func:`importance`): 1:1s, then a first meeting with
   someone, then meetings with people from outside, then small groups; large meetings
   last; ties go to the earlier meeting. A question asked in a
   transition (rule 3) counts as a question. The whole day is planned, past meetings
   included, so the choice does not drift as the day goes on; what rule 4 drops takes no
   place; and what was already sent (``PlanInput.held``) keeps its place, so a re-plan
   later in the day (a meeting added, a 1:1 moved in) never sends one more than the cap
   nor moves a question that went out. Back-to-back meetings (rule 3) are folded only
   when both halves win their places and neither went out on its own: the question
   alone goes at its usual time, the reminder alone as a plain reminder.
6. **Adaptive back-off**: after 3 reflection prompts in a row went unanswered, only
   every other meeting gets one (counted from the last prompt sent), until the user
   answers again.
7. Nothing is planned in the past: a reminder whose time has gone is dropped unless
   the meeting is still more than a minute away (then it goes now).

**A first meeting with someone**: a meeting of up to ``SMALL_MEETING_MAX`` people with
someone (``Occurrence.people``) the user has not met in an earlier such meeting in the
last ``FIRST_MEETING_LOOKBACK`` (90 days) of stored meetings (``PlanInput.known_people``,
and the planned meetings before it). A large meeting is not meeting someone: its people
are not kept and never make a first meeting. Heedful only knows the meetings it has read
(from a day before the calendar was connected), so until its record reaches back
``FIRST_MEETING_MIN_HISTORY`` (14 days) before a meeting (``PlanInput.history_since``),
it cannot tell a new face from one not seen yet, and no meeting counts as a first.

**A commitment coming back**: an open commitment (``PlanInput.commitments``) is quoted by
the reminder of the first meeting that matches it (``bot.comeback``: within 30 days of
accepting it, of the same series or with any of its people), and the question after that
meeting asks whether they did it (``bot.commitments``). That meeting (:func:`comebacks`)
ranks ahead of every other meeting of its day, for its reminder (which quotes the
commitment) and for its question (which asks), so the day's caps cannot drop the check-in
for a 1:1 or a meeting with guests; the caps themselves hold. The meeting is found as the
reminders will find it: in time order, each reminder quoting one commitment (the one it
quoted before, else the newest), among the meetings whose reminder is still to go out
(not sent, not past, in the user's hours, as rules 4 and 7 decide at its due time); a
commitment already quoted stays with the meeting it was quoted for until its question is
answered. Only the ranking changes: a question the back-off (rule 6) skips, or a meeting
of a muted series, stays so; a large meeting keeps no people (see above), so it can be
where a commitment comes back only by its series. ``bot.commitments`` re-plans the person
when a commitment is accepted, quoted, closed or answered *not yet*, so the plan follows.

**Copies** (rule 0): of the copies of one meeting, one speaks for it and carries its
nudges; the other copies get nothing (:data:`COPY`), so the person gets one reminder
and one question. Which one: the copy that a nudge already went out for
(``PlanInput.held``), so a re-plan never moves a meeting's nudges from one calendar to
another once one went out; else the first in ``bot.copies.preference`` (a calendar read
through its API before a webhook before a polled feed), so the nudge shows the freshest
copy. A copy the person declined, or one cancelled, silences every copy (the reason is
its own: ``declined``, ``cancelled``): it is the person's own answer or the organizer's
change, and the other calendar is only lagging behind (a feed is polled; a forwarded
invitation is updated later), the way ``skip_reason`` already wins over everything
else. A muted series mutes the meeting on every calendar. Other reasons a copy is not
eligible (a copy the person's calendar shows as *solo*, or as *free*) are one
calendar's view: an eligible copy still speaks for the meeting. When the copy that
spoke for a meeting goes (its calendar disconnected, the event deleted there), another
copy takes over what was still to come, and what went out stays done: each nudge
names the other copies of its meeting (payload ``copies``, and for a transition
``previous_copies``), so a reminder that went out for the copy now gone counts as this
meeting's reminder, and no second one follows (nor a second question).

``silences`` gives, for each meeting that gets nothing at all, the reason: the
occurrence's own ``skip_reason``, or the rule above that dropped its nudges (the demo
prints these as "stays silent" lines).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from bot import copies
from bot.calendars.occurrence import SMALL_MEETING_MAX, Occurrence, SkipReason
from bot.comeback import Pending, where_they_come_back
from bot.prefs import Prefs
from bot.storage.models import DeliveryKind

NUDGE_KINDS = (DeliveryKind.REMINDER, DeliveryKind.REFLECTION, DeliveryKind.TRANSITION)

BACK_TO_BACK_GAP = timedelta(minutes=5)
# A reminder whose due time passed is still sent when its meeting is more than this away.
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
COPY = "copy"  # rule 0: another copy of the meeting speaks for it, or went out already
# A copy with one of these silences the meeting on every calendar (rule 0).
VETOES = (SkipReason.CANCELLED, SkipReason.DECLINED)
# What matters most, first (rule 5): the ranks :func:`importance` gives.
ONE_ON_ONE, FIRST_MEETING, EXTERNAL, SMALL_GROUP, LARGE = range(5)
FIRST_MEETING_LOOKBACK = timedelta(days=90)
FIRST_MEETING_MIN_HISTORY = timedelta(days=14)


@dataclass(frozen=True)
class Wanted:
    """A delivery the planner wants; (kind, ref) is its key for this user."""

    kind: str
    ref: str
    due_at: datetime
    expires_at: datetime | None
    occurrence_key: str
    payload: dict[str, Any] = field(default_factory=dict)
    # The start of the meeting it prepares for (reminders, transitions): the sender
    # claims the nearest meeting first. None for questions.
    meeting_start: datetime | None = None


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
    # Nudges already sent, or being sent, in the days planned: they keep their places
    # under the caps (rule 5).
    held: Sequence[Wanted] = ()
    # People met in meetings of up to SMALL_MEETING_MAX people in the
    # FIRST_MEETING_LOOKBACK before ``meetings``, and the start of the oldest meeting
    # Heedful has read for the user (None: none): see "A first meeting with someone".
    known_people: frozenset[str] = frozenset()
    history_since: datetime | None = None
    # The user's open commitments (``bot.comeback``): see "A commitment coming back".
    commitments: Sequence[Pending] = ()


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
    speaker = _fold(data).speaker
    reasons: dict[str, str] = {}
    for meeting in data.meetings:
        if speaker.get(meeting.key, meeting.key) != meeting.key:
            continue  # another copy speaks for this meeting: below
        if meeting.skip_reason is not None:
            reasons[meeting.key] = meeting.skip_reason.value
        elif meeting.series_key in muted:
            reasons[meeting.key] = MUTED
        elif meeting.key not in spoken:
            why = [
                dropped.get((kind, meeting.key))
                for kind in (
                    DeliveryKind.REMINDER,
                    DeliveryKind.TRANSITION,
                    DeliveryKind.REFLECTION,
                )
            ]
            reasons[meeting.key] = next((r for r in why if r), PAST)
    # A copy is silent when (and why) the copy that speaks for its meeting is.
    for key, other in speaker.items():
        if other != key and other in reasons:
            reasons[key] = reasons[other]
    return reasons


def _plan(data: PlanInput, dropped: dict[tuple[str, str], str]) -> list[Wanted]:
    """:func:`plan`, noting in ``dropped`` why each nudge it drops goes, by (kind, ref)."""
    prefs = data.prefs
    fold = _fold(data)
    meetings = fold.planned
    lead = timedelta(minutes=prefs.lead_minutes)
    delay = timedelta(minutes=prefs.reflection_delay_minutes)
    folded: dict[str, Occurrence] = {}  # next meeting key → previous meeting
    for before, after in pairwise(meetings):
        if timedelta(0) <= after.start - before.end < BACK_TO_BACK_GAP:
            folded[after.key] = before

    # One reminder and one question per meeting compete for places under the caps; which
    # of them go together in a transition is decided once the places are known.
    def named(key: str, name: str = "copies") -> dict[str, Any]:
        """The other copies of meeting ``key``, for a nudge's payload (rule 0)."""
        return {name: list(fold.copies[key])} if key in fold.copies else {}

    reminders = [
        Wanted(DeliveryKind.REMINDER, m.key, m.start - lead, m.start, m.key, named(m.key), m.start)
        for m in meetings
    ]
    reflections = [
        Wanted(
            DeliveryKind.REFLECTION,
            m.key,
            m.end + delay,
            m.end + delay + REFLECTION_LIFETIME,
            m.key,
            named(m.key),
        )
        for m in meetings
    ]
    # Rule 0: copies get nothing, and what went out for another copy is done.
    for key, why in fold.silenced.items():
        for kind in (DeliveryKind.REMINDER, DeliveryKind.REFLECTION):
            dropped.setdefault((kind, key), why)
    reminders = _note(
        reminders, [w for w in reminders if w.ref not in fold.reminded], COPY, dropped
    )
    reflections = _note(
        reflections, [w for w in reflections if w.ref not in fold.asked], COPY, dropped
    )
    by_key = {m.key: m for m in meetings}
    firsts = first_meetings(data)
    returning = comebacks(data)

    def rank(item: Wanted) -> tuple[bool, int, datetime, str]:
        meeting = by_key[item.occurrence_key]
        importance_ = importance(meeting, first=meeting.key in firsts)
        return meeting.key not in returning, importance_, meeting.start, meeting.key

    def outside(item: Wanted) -> str:
        paused = data.paused_until is not None and item.due_at < data.paused_until
        return PAUSED if paused else OUTSIDE_HOURS

    def in_hours(items: list[Wanted]) -> list[Wanted]:
        return [w for w in items if _in_hours(w.due_at, data)]

    held = {(w.kind, w.ref): w for w in data.held}
    reminded = {
        w.ref: w.due_at
        for w in data.held
        if w.kind in (DeliveryKind.REMINDER, DeliveryKind.TRANSITION)
    }
    asked = {w.ref: w.due_at for w in data.held if w.kind == DeliveryKind.REFLECTION}
    asked |= {
        w.payload["previous"]: w.due_at
        for w in data.held
        if w.kind == DeliveryKind.TRANSITION and w.payload.get("previous")
    }
    # What quiet hours, days off or a pause rule out never takes a place under a cap
    # (a 02:00 call must not cost an afternoon 1:1 its reminder).
    reminders = _note(reminders, in_hours(reminders), outside, dropped)
    reflections = _note(reflections, in_hours(reflections), outside, dropped)
    capped = _cap(reminders, prefs.max_reminders_per_day, rank, data.zone, reminded)
    reminders = _note(reminders, capped, DAILY_CAP, dropped)
    capped = _cap(reflections, prefs.max_reflections_per_day, rank, data.zone, asked)
    reflections = _note(reflections, capped, DAILY_CAP, dropped)
    reflections = _note(reflections, _back_off(reflections, data), BACK_OFF, dropped)

    # Back to back: the question about the first meeting goes with the reminder for the
    # next when both won their places and neither went out on its own.
    questions = {w.ref: w for w in reflections}
    candidates: list[Wanted] = []
    for item in reminders:
        previous = folded.get(item.ref)
        sent = held.get((DeliveryKind.TRANSITION, item.ref))
        if sent is not None:  # it went out: this meeting's reminder is not sent again
            previous = by_key.get(sent.payload.get("previous", ""))
            if previous is None:
                continue
        elif previous is not None and (
            previous.key not in questions
            or (DeliveryKind.REMINDER, item.ref) in held
            or (DeliveryKind.REFLECTION, previous.key) in held
        ):
            previous = None
        if previous is None:
            candidates.append(item)
            continue
        questions.pop(previous.key, None)
        meeting = by_key[item.ref]
        due = min(max(item.due_at, previous.end), meeting.start)
        candidates.append(
            Wanted(
                DeliveryKind.TRANSITION,
                item.ref,
                due,
                item.expires_at,
                item.occurrence_key,
                {
                    "previous": previous.key,
                    **named(item.ref),
                    **named(previous.key, "previous_copies"),
                },
                meeting.start,
            )
        )
    candidates += questions.values()
    allowed = [w for w in candidates if _allowed(w, data)]
    wanted = _note(
        candidates, allowed, lambda w: PAST if w.due_at < data.now else outside(w), dropped
    )
    return sorted(wanted, key=lambda w: (w.due_at, w.kind, w.ref))


def importance(meeting: Occurrence, *, first: bool = False) -> int:
    """How much a meeting matters when a cap must choose (rule 5; lower comes first): a
    1:1 (two people, whoever the other is), a first meeting with someone, a meeting with
    people from outside, a small group; a large meeting last, whoever is in it. A meeting
    whose calendar does not say who attends (``attendees_unknown``) is not taken for a
    1:1: it ranks as a small group."""
    if meeting.attendees <= 2 and not meeting.attendees_unknown:
        return ONE_ON_ONE
    if meeting.attendees > SMALL_MEETING_MAX:
        return LARGE
    if first:
        return FIRST_MEETING
    return EXTERNAL if meeting.external else SMALL_GROUP


def comebacks(data: PlanInput) -> dict[str, int]:
    """Where each open commitment (``PlanInput.commitments``) will come back: the key of
    the planned meeting whose reminder will quote it → the commitment's id (see "A
    commitment coming back" in the module docstring). ``bot.comeback`` decides, in time
    order, from when each reminder is due (now, if that has passed) and whether it is
    still to go out: not sent already, not past (rule 7), in the user's hours (rule 4)."""
    if not data.commitments:
        return {}
    lead = timedelta(minutes=data.prefs.lead_minutes)
    fold = _fold(data)
    reminded = {
        w.ref for w in data.held if w.kind in (DeliveryKind.REMINDER, DeliveryKind.TRANSITION)
    } | fold.reminded
    reminders = []
    for meeting in fold.planned:
        reminder = Wanted(
            DeliveryKind.REMINDER, meeting.key, meeting.start - lead, meeting.start, meeting.key
        )
        to_go = meeting.key not in reminded and _allowed(reminder, data)
        reminders.append((meeting, max(reminder.due_at, data.now), to_go))
    return where_they_come_back(data.commitments, reminders)


def first_meetings(data: PlanInput) -> set[str]:
    """The keys of the planned meetings that are a first meeting with someone (see the
    module docstring): in time order, a meeting of up to ``SMALL_MEETING_MAX`` people with
    someone met neither in ``known_people`` nor in an earlier planned meeting."""
    if data.history_since is None:
        return set()
    met = set(data.known_people)
    firsts: set[str] = set()
    silenced = _fold(data).silenced  # one copy of a meeting (rule 0); muted ones count
    for meeting in sorted(
        (
            m
            for m in data.meetings
            if m.eligible
            and m.attendees <= SMALL_MEETING_MAX
            and silenced.get(m.key, MUTED) == MUTED
        ),
        key=lambda m: (m.start, m.key),
    ):
        new = set(meeting.people) - met
        if new and meeting.start - data.history_since >= FIRST_MEETING_MIN_HISTORY:
            firsts.add(meeting.key)
        met |= new
    return firsts


@dataclass(frozen=True)
class _Folding:
    """Rules 0 and 1 applied: see "Copies" in the module docstring."""

    # The meetings that may get a nudge, one copy of each, in time order.
    planned: list[Occurrence]
    # Every copy of a planned meeting → the key of the copy that speaks for it.
    speaker: dict[str, str]
    # Eligible copies that get nothing → why (COPY, a veto's reason, MUTED).
    silenced: dict[str, str]
    # A speaking copy → the keys of the meeting's other copies (sorted).
    copies: dict[str, tuple[str, ...]]
    # Speaking copies whose reminder (question) went out for another copy.
    reminded: frozenset[str]
    asked: frozenset[str]


def _fold(data: PlanInput) -> _Folding:
    """One copy of each meeting that may get a nudge (rules 0 and 1)."""
    muted = set(data.prefs.muted_series)
    held = {w.ref for w in data.held}
    held |= {
        w.payload.get("previous") or "" for w in data.held if w.kind == DeliveryKind.TRANSITION
    }
    planned: list[Occurrence] = []
    speaker: dict[str, str] = {}
    silenced: dict[str, str] = {}
    others: dict[str, tuple[str, ...]] = {}
    for meeting in copies.meetings(data.meetings):
        live = [m for m in meeting if m.eligible]
        veto = next((m.skip_reason for m in meeting if m.skip_reason in VETOES), None)
        if veto is not None or any(m.series_key in muted for m in meeting):
            silenced.update((m.key, veto.value if veto else MUTED) for m in live)
            continue
        if not live:
            continue
        # ``meeting`` is in preference order (bot.copies): min() keeps the first of equals.
        first = min(live, key=lambda m: m.key not in held)
        planned.append(first)
        speaker.update((m.key, first.key) for m in meeting)
        silenced.update((m.key, COPY) for m in live if m is not first)
        if len(meeting) > 1:
            others[first.key] = tuple(sorted(m.key for m in meeting if m is not first))

    def speaks_for(key: str, names: Any) -> str | None:
        """The copy that speaks now for the meeting a nudge named ``key`` (with other
        copies ``names``, maybe gone by now)."""
        for candidate in (key, *(names if isinstance(names, list) else ())):
            if candidate in speaker:
                return speaker[candidate]
        return None

    reminded: set[str] = set()
    asked: set[str] = set()
    for w in data.held:
        speaking = speaks_for(w.ref, w.payload.get("copies"))
        if speaking is not None and speaking != w.ref:
            (asked if w.kind == DeliveryKind.REFLECTION else reminded).add(speaking)
        previous = w.payload.get("previous") if w.kind == DeliveryKind.TRANSITION else None
        if previous:
            speaking = speaks_for(previous, w.payload.get("previous_copies"))
            if speaking is not None and speaking != previous:
                asked.add(speaking)
    return _Folding(
        sorted(planned, key=lambda m: (m.start, m.key)),
        speaker,
        silenced,
        others,
        frozenset(reminded),
        frozenset(asked),
    )


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
    wanted: list[Wanted],
    limit: int,
    rank: Callable[[Wanted], Any],
    zone: ZoneInfo,
    held: Mapping[str, datetime],
) -> list[Wanted]:
    """At most ``limit`` of ``wanted`` per local day, best ``rank`` first. What ``held``
    names (meeting key → when its nudge was due) went out already: it keeps its place
    (counted on the day it was due, whether or not it is still wanted), and only the
    places left are given by rank."""
    per_day: dict[date, list[Wanted]] = defaultdict(list)
    for item in wanted:
        per_day[_local_day(item.due_at, zone)].append(item)
    taken: dict[date, set[str]] = defaultdict(set)
    for ref, due in held.items():
        taken[_local_day(due, zone)].add(ref)
    kept: list[Wanted] = []
    for day, items in per_day.items():
        kept += [w for w in items if w.ref in taken[day]]
        free = max(0, limit - len(taken[day]))
        ranked = sorted((w for w in items if w.ref not in taken[day]), key=rank)
        kept += ranked[:free]
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
        if item.kind == DeliveryKind.REFLECTION or item.expires_at is None:
            return False
        # A reminder whose time has passed still helps if the meeting is a way off.
        if item.expires_at - now <= REMINDER_GRACE:
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

"""Feedback from others: the leader asks, instead of guessing how they came across.

A leader turns feedback on per meeting series (the Home tab, :func:`set_series`), or from
the reflection question: a question about a meeting of a series that could ask for it (a
recurring 1:1, or a recurring meeting of ``MIN_ATTENDEES`` or more people, as the Home tab
lists them) and does not yet carries one more button, *Ask for feedback next time*
(:func:`offer_words`). Once per series, so the question stays short: the offer is
remembered as a ``prompt_shown`` row (``OPT_IN_SHOWN``) of the question that made it, and a
series whose question carried it is not offered again while Heedful keeps that history
(``bot.privacy.PROMPT_HISTORY``, 60 days). Tapped, it turns feedback on as the Home tab's
button does (``bot.home.on_feedback_opt_in``). Then:

* **1:1s.** The reflection question after a meeting of the series carries one more
  button, *Ask them how it was*, which opens a form with a few words ready to edit and
  copy (:func:`offer_words`). The leader sends them; Heedful never writes to the other
  person on their behalf.
* **Meetings with five or more colleagues.** When the calendar is read, the addresses of
  the people invited to the series' meetings are kept (:func:`keep_invitees`, at most
  ``MAX_ASKED``, only for opted-in series, only until they were asked). After a meeting,
  the ``feedback`` job (:func:`run_once`) finds them in the workspace
  (``users.lookupByEmail``: someone not found, deactivated, a bot or the leader is left
  out), and when at least ``MIN_OTHERS`` are there, puts one anonymous question for
  each in the outbox (kind ``feedback_ask``; every DM is a row first). Each question is
  due inside 08:00–19:00, Monday to Friday, of the person's own Slack zone, within a day
  of the meeting and before the leader's week closes; the outbox key (team, person,
  ``feedback_ask``, the person's local date) lets no one get two such questions on one
  day, from any number of leaders: a person already asked that day is asked the next
  working day, or not at all. Someone who chose *never ask me again* is not asked, by
  anyone, ever (:func:`never_ask`).

**What is stored about an answer.** Nothing that names the person who gave it. An answer
adds one to a count of the leader's week (``feedback_tally``: yes / somewhat / not
really, no time of answering). While the week is open, a *ballot* row holds two keyed
hashes, HMAC-SHA256 with the workspace's random secret (``feedback_key``, encrypted at
rest like tokens): one of (leader, week, meeting, person), so that a second tap counts
once, and one of (leader, week, person), to count how many *people* answered. When the
week closes (:func:`close_weeks`: the end of the leader's Sunday, in their zone) the
number of people is kept and the ballots are deleted; a week with fewer than
``MIN_ANSWERS`` answers or ``MIN_PEOPLE`` people is deleted whole, unseen. *Never ask
me again* is a keyed hash of the person too (``feedback_opt_out``): it names no one, so
no erase removes it (neither the leader's nor the person's own: it is what keeps them
from being asked); only an uninstall does.

**What the leader sees.** Only a closed week's total of at least five answers from at
least three people (:func:`week_totals`), in the next week's digest, beside how they
rated their own presence after the same meetings. Never a running count: a total that
moved between two looks would tell who answered what.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.calendars.occurrence import Occurrence
from bot.clock import valid_zone, week_of
from bot.messages import Message
from bot.messages import feedback as fkit
from bot.messages.prompts import Prompts, load_prompts
from bot.sender import Skip
from bot.services import Services
from bot.slack import lookup_by_email
from bot.storage import deliveries, users
from bot.storage import feedback as store
from bot.storage import occurrences as stored_occurrences
from bot.storage.db import read_only
from bot.storage.deliveries import ClaimedDelivery, SentDelivery
from bot.storage.feedback import ASKED, SKIPPED, WAITING, Week
from bot.storage.models import (
    DeliveryKind,
    FeedbackBallot,
    FeedbackKey,
    FeedbackOptOut,
    FeedbackTally,
)

logger = logging.getLogger(__name__)

MIN_OTHERS = 5  # colleagues from the workspace a meeting needs for anonymous questions
MIN_ATTENDEES = MIN_OTHERS + 1  # as the calendar counts them: the leader included
MAX_ASKED = 50  # people asked about one meeting (a fair sample of a larger one)
MIN_ANSWERS = 5  # a week's total is shown from this many answers …
MIN_PEOPLE = 3  # … given by at least this many people
ASK_DELAY = timedelta(minutes=5)  # after the meeting ends
ASK_WINDOW = timedelta(hours=24)  # a question later than this after the meeting is not sent
ASK_FROM, ASK_UNTIL = time(8, 0), time(19, 0)  # in the person's own zone
ASK_DAYS = frozenset(range(5))  # Monday to Friday, in the person's own zone
TICK_SECONDS = 60.0
BATCH = 10  # meetings per round of the job
# A meeting being asked about is held by one process: longer than its lookups can take
# (``MAX_ASKED`` calls of at most ``bot.slack.DEFAULT_TIMEOUT_SECONDS`` each).
LEASE = timedelta(minutes=15)
RETRY = timedelta(minutes=5)  # Slack did not answer a lookup: try the meeting again then
HOME_HORIZON = timedelta(days=14)
OPT_IN_SHOWN = "button.feedback.next_time"  # prompt_shown id: a question offered the opt-in
KEEP_MEETINGS = timedelta(days=60)  # asked meetings, for the leader's own rating beside
MAX_ADDRESS = 320

# The meeting states (``WAITING``, ``ASKED``, ``SKIPPED``, …) are ``bot.storage.feedback``'s.

# Tables about a workspace that name no person (the others go with the person's rows).
TEAM_TABLES = (FeedbackTally, FeedbackBallot, FeedbackOptOut, FeedbackKey)
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+")


# --------------------------------------------------------------------------- opting in


def set_series(
    services: Services, *, team_id: str, user_id: str, series_key: str, on: bool
) -> bool:
    """Turn feedback on or off for one of the person's meeting series. Whoever turns it
    on then has their calendars read again in full (``bot.home.on_feedback_toggle``), so
    the invitees of the series' meetings are known before the next one ends. False when
    the series is none of theirs (nothing changes)."""
    now = services.clock.now()
    mine = dict(team_id=team_id, user_id=user_id, series_key=series_key)
    with services.engine.begin() as conn:
        if on:
            if not stored_occurrences.has_series(conn=conn, **mine):
                return False
            store.add_series(conn=conn, **mine, now=now)
        else:
            # Nobody is asked about the series' meetings any more; their invitees go.
            store.remove_series(conn=conn, **mine)
    logger.info("feedback %s for a series of a user of %s", "on" if on else "off", team_id)
    return True


def keep_invitees(
    conn: sa.Connection,
    *,
    team_id: str,
    user_id: str,
    meetings: Mapping[str, tuple[str, int, Sequence[str]]],
    now: datetime,
) -> None:
    """Called as a calendar's meetings are stored (``bot.occurrences.apply_occurrences``,
    same transaction): ``meetings`` maps each stored occurrence key to its series key,
    attendee count and the other invitees' addresses. For the meetings of series with
    feedback on that are big enough, the addresses to ask are kept (or updated while
    nobody was asked yet); a meeting no longer big enough is forgotten. One read when
    no series of the person has feedback on."""
    if not meetings:
        return
    series = {series_key for series_key, _, _ in meetings.values()}
    on = store.series_with_feedback(conn=conn, team_id=team_id, user_id=user_id, among=series)
    if not on:
        return
    keys = [key for key, (series_key, _, _) in meetings.items() if series_key in on]
    stored = store.kept_meetings(conn=conn, team_id=team_id, user_id=user_id, occurrence_keys=keys)
    fresh: list[store.NewMeeting] = []
    gone: list[int] = []
    for key in keys:
        series_key, attendees, people = meetings[key]
        chosen = _sample(key, people) if attendees >= MIN_ATTENDEES else []
        row = stored.get(key)
        if row is not None and row.state != WAITING:
            continue  # asked, or being asked: what was asked stays as it was
        if len(chosen) < MIN_OTHERS:
            if row is not None:
                gone.append(row.id)
            continue
        if row is None:
            fresh.append(store.NewMeeting(key, series_key, chosen))
        elif row.people != chosen:
            store.update_people(conn=conn, meeting_id=row.id, people=chosen, now=now)
    store.add_meetings(conn=conn, team_id=team_id, user_id=user_id, meetings=fresh, now=now)
    store.forget_waiting(conn=conn, meeting_ids=gone)


def _sample(key: str, people: Iterable[str]) -> list[str]:
    """The addresses worth looking up (well-formed, lower-case, each once), at most
    ``MAX_ASKED``: for a larger meeting a sample that changes from meeting to meeting."""
    valid = {
        p.strip().lower()
        for p in people
        if len(p.strip()) <= MAX_ADDRESS and _ADDRESS.fullmatch(p.strip())
    }
    ranked = sorted(valid, key=lambda p: hashlib.sha256(f"{key}|{p}".encode()).hexdigest())
    return sorted(ranked[:MAX_ASKED])


# ------------------------------------------------------------------------ the 1:1 words


def eligible(meeting: Occurrence) -> bool:
    """Whether the meeting's series can ask for feedback, as the Home tab lists them: a
    recurring 1:1, or a recurring meeting of ``MIN_ATTENDEES`` or more people (not one
    whose calendar does not say who attends)."""
    return (
        meeting.recurring
        and not meeting.attendees_unknown
        and (meeting.attendees <= 2 or meeting.attendees >= MIN_ATTENDEES)
    )


def offer_words(
    services: Services, row: ClaimedDelivery, meeting: Occurrence, message: Message
) -> Message:
    """A reflection question (delivery ``row``) about ``meeting``: with the button that
    opens words to ask the other person, when it is a 1:1 of a series with feedback on; or,
    once per series, with the button that turns feedback on (see the module docstring)."""
    # with a colleague or with someone from outside (not a meeting nobody is listed for)
    one_on_one = meeting.attendees <= 2 and not meeting.attendees_unknown
    if not one_on_one and not eligible(meeting):
        return message
    team_id, user_id, series_key = row.team_id, row.user_id, meeting.series_key
    with read_only(services.engine) as conn:
        if store.series_on(conn=conn, team_id=team_id, user_id=user_id, series_key=series_key):
            if not one_on_one:
                return message  # the attendees are asked; nothing to add to the question
            return fkit.build_words_offer(load_prompts(), message, delivery_id=row.id)
        if not eligible(meeting) or _opt_in_offered(conn, row, series_key):
            return message
    offer = fkit.build_opt_in_offer(load_prompts(), message, series_key=series_key)
    return replace(offer, shown=(*offer.shown, OPT_IN_SHOWN))  # remembered once it is posted


def _opt_in_offered(conn: sa.Connection, row: ClaimedDelivery, series_key: str) -> bool:
    """Whether another question already offered to turn feedback on for the series: the
    questions that offered it, and the meeting each asked about (a transition asks about
    the meeting before its own)."""
    offered = deliveries.about_shown(
        conn=conn,
        team_id=row.team_id,
        user_id=row.user_id,
        prompt_id=OPT_IN_SHOWN,
        except_id=row.id,  # this question's own, from a send that is retried
    )
    for found in offered:
        previous = found.payload.get("previous")
        about = previous if found.kind == DeliveryKind.TRANSITION else None
        if (about or found.occurrence_key or "").rpartition("|")[0] == series_key:
            return True
    return False


def words_form() -> dict[str, Any]:
    """The form with the words to send (nothing of it is stored)."""
    return fkit.build_words_form(load_prompts())


# ------------------------------------------------------------------------ asking people


def run_once(services: Services) -> int:
    """The ``feedback`` job: close the weeks that ended, then ask the people of the
    meetings that ended. Returns how much it did (0 when nothing was due)."""
    return close_weeks(services) + _ask_round(services)


def ask_slots(
    end: datetime, zone: ZoneInfo, closes_at: datetime, *, now: datetime
) -> list[tuple[date, datetime, datetime]]:
    """When a person in ``zone`` may be asked about a meeting that ended at ``end``:
    (their local date, due, expires) for each working day, in their 08:00–19:00, from
    ``ASK_DELAY`` after the end to ``ASK_WINDOW`` after it and before the week closes,
    earliest first (pure)."""
    earliest = max(end + ASK_DELAY, now)
    latest = end + ASK_WINDOW
    slots = []
    day = earliest.astimezone(zone).date()
    while True:
        opens = datetime.combine(day, ASK_FROM, zone)
        shuts = datetime.combine(day, ASK_UNTIL, zone)
        due = max(earliest, opens)
        if due > latest or due >= closes_at:
            return slots
        if day.weekday() in ASK_DAYS and due < shuts:
            slots.append((day, due.astimezone(UTC), min(shuts, closes_at).astimezone(UTC)))
        day += timedelta(days=1)


def _week(moment: datetime, zone: ZoneInfo) -> tuple[str, datetime]:
    """The leader's week of ``moment`` ("2026-W10") and when it closes: the end of its
    Sunday, in their zone."""
    start, label = week_of(moment, zone)
    closes = datetime.combine(start.astimezone(zone).date() + timedelta(days=7), time(0), zone)
    return label, closes.astimezone(UTC)


@dataclass
class _Round:
    """What one round learnt that the next meeting in it can use."""

    found: dict[tuple[str, str], Any]  # (team, address) → lookup
    blocked: dict[str, datetime]  # workspaces whose lookups wait out a rate limit, until


def _ask_round(services: Services) -> int:
    now = services.clock.now()
    with read_only(services.engine) as conn:
        rows = store.meetings_to_ask(conn=conn, now=now, ended_by=now - ASK_DELAY, limit=BATCH)
    state = _Round(found={}, blocked={})
    done = 0
    for row in rows:
        if row.occurrence_id is None:  # the meeting left the calendar
            with services.engine.begin() as conn:
                store.forget_free(conn=conn, meeting_id=row.id, now=now)
            done += 1
            continue
        if row.end_at < now - ASK_WINDOW:
            done += _settle(services, row.id, None, SKIPPED, now=now, reason="late")
            continue
        if row.skip_reason is not None:  # cancelled, declined …
            done += _settle(services, row.id, None, SKIPPED, now=now, reason=row.skip_reason)
            continue
        lease = now + LEASE
        with services.engine.begin() as conn:
            claimed = store.claim_meeting(conn=conn, meeting_id=row.id, now=now, lease_until=lease)
        if not claimed:
            continue  # another process took it
        try:
            done += _ask_meeting(services, row, lease, state)
        except Exception:
            logger.exception("feedback: asking about a meeting of %s failed", row.team_id)
            _release(services, row.id, lease, now + RETRY)
            done += 1
    return done


def _release(services: Services, meeting_id: int, lease: datetime, not_before: datetime) -> None:
    """Give a meeting back (to be tried again at ``not_before``)."""
    with services.engine.begin() as conn:
        store.release_meeting(
            conn=conn, meeting_id=meeting_id, lease_until=lease, not_before=not_before
        )


def _settle(
    services: Services,
    meeting_id: int,
    lease: datetime | None,
    state: str,
    *,
    now: datetime,
    reason: str | None = None,
    conn: sa.Connection | None = None,
    week: str | None = None,
) -> int:
    """Finish a meeting: asked or skipped, its addresses forgotten. With ``lease``, only
    if this process still holds it (else: only if no process holds it now). Returns 1
    when it did."""
    settle = {
        "meeting_id": meeting_id,
        "lease_until": lease,
        "state": state,
        "now": now,
        "reason": reason,
        "week": week,
    }
    if conn is not None:
        return store.settle_meeting(conn=conn, **settle)
    with services.engine.begin() as own:
        return store.settle_meeting(conn=own, **settle)


def _ask_meeting(
    services: Services, row: store.MeetingToAsk, lease: datetime, state: _Round
) -> int:
    """Look the meeting's invitees up, then queue one question for each person who may
    be asked, in one transaction with the meeting marked asked."""
    now = services.clock.now()
    team_id, leader = row.team_id, row.user_id
    if team_id in state.blocked:
        _release(services, row.id, lease, state.blocked[team_id])
        return 0
    with read_only(services.engine) as conn:
        on = store.series_on(conn=conn, team_id=team_id, user_id=leader, series_key=row.series_key)
        them = users.person(conn=conn, team_id=team_id, user_id=leader)
    auth = services.authorize(enterprise_id=None, team_id=team_id)
    if not on or them is None or auth is None or not auth.bot_token:
        why = "feedback_off" if not on else ("leader_gone" if them is None else "not_installed")
        return _settle(services, row.id, lease, SKIPPED, reason=why, now=now)
    week, closes_at = _week(row.start_at, ZoneInfo(them.tz or "UTC"))
    if now >= closes_at:
        return _settle(services, row.id, lease, SKIPPED, reason="week_closed", now=now)

    client = services.clients.for_token(auth.bot_token)
    people: dict[str, str] = {}  # Slack user id → IANA zone
    for address in row.people:
        cached = state.found.get((team_id, address))
        found = cached if cached is not None else lookup_by_email(client, address)
        if found.retry_after is not None:  # Slack's Retry-After, for this workspace
            until = now + timedelta(seconds=max(found.retry_after, 1.0))
            state.blocked[team_id] = until
            logger.info("feedback: users.lookupByEmail rate-limited in %s", team_id)
            _release(services, row.id, lease, until)
            return 0
        if found.error is not None:
            if found.transient:  # no answer: the meeting is tried again later
                _release(services, row.id, lease, now + RETRY)
                return 0
            logger.warning("feedback: users.lookupByEmail answered %s in %s", found.error, team_id)
            return _settle(services, row.id, lease, SKIPPED, reason=f"slack:{found.error}", now=now)
        state.found[(team_id, address)] = found
        user = found.user
        if user is None:
            continue  # nobody in this workspace
        person = str(user.get("id") or "")
        if (
            not person
            or person == leader
            or user.get("deleted")
            or user.get("is_bot")
            or user.get("is_app_user")
        ):
            continue
        people[person] = valid_zone(user.get("tz")) or "UTC"
    if len(people) < MIN_OTHERS:
        return _settle(services, row.id, lease, SKIPPED, reason="too_few", now=now)

    secret = team_secret(services, team_id)
    never = _opted_out(services, team_id, secret, people)
    payload = {
        "leader": leader,
        "series": row.series_key,
        "occurrence": row.occurrence_key,
        "title": row.title,
        "week": week,
        "closes_at": closes_at.isoformat(),
    }
    asked = 0
    with services.engine.begin() as conn:
        if not _settle(services, row.id, lease, ASKED, conn=conn, week=week, now=now):
            return 0  # the lease ran out and another process has it
        for person, zone in sorted(people.items()):
            if person in never:
                continue
            for day, due, expires in ask_slots(row.end_at, ZoneInfo(zone), closes_at, now=now):
                added = deliveries.enqueue_now(
                    conn=conn,
                    team_id=team_id,
                    user_id=person,
                    kind=DeliveryKind.FEEDBACK_ASK,
                    ref=day.isoformat(),
                    payload={**payload, "tz": zone},
                    due_at=due,
                    expires_at=expires,
                    now=now,
                )
                if added:  # else that day is taken: the next one
                    asked += 1
                    break
        store.set_asked(conn=conn, meeting_id=row.id, asked=asked)
    logger.info("feedback: %d people of a meeting in %s will be asked", asked, team_id)
    if asked:
        services.wake_outbox()
    return 1


# --------------------------------------------------------------------------- the question


class FeedbackComposer:
    """The sender's composer for ``feedback_ask``: the question, unless since it was
    planned the person said *never ask me again*, the leader turned feedback off (or
    erased their data), or the week closed."""

    def __init__(self, services: Services, prompts: Prompts | None = None) -> None:
        self.services = services
        self.prompts = prompts or load_prompts()

    def __call__(self, row: ClaimedDelivery) -> Message:
        payload = row.payload or {}
        now = self.services.clock.now()
        try:
            closes_at = datetime.fromisoformat(str(payload["closes_at"]))
            zone = ZoneInfo(str(payload.get("tz") or "UTC"))
            leader, series = str(payload["leader"]), str(payload["series"])
        except (KeyError, ValueError):
            raise Skip("bad_payload") from None
        local = now.astimezone(zone)
        if now >= closes_at:
            raise Skip("week_closed")
        if local.weekday() not in ASK_DAYS or not ASK_FROM <= local.time() < ASK_UNTIL:
            raise Skip("outside_hours")
        secret = team_secret(self.services, row.team_id)
        if row.user_id in _opted_out(self.services, row.team_id, secret, [row.user_id]):
            raise Skip("never_ask")
        with read_only(self.services.engine) as conn:
            if not store.series_on(
                conn=conn, team_id=row.team_id, user_id=leader, series_key=series
            ):
                raise Skip("feedback_off")
        return fkit.build_feedback_ask(
            self.prompts,
            delivery_id=row.id,
            title=str(payload.get("title") or ""),
            leader_id=leader,
        )


def _question(
    services: Services, *, team_id: str, user_id: str, delivery_id: int
) -> SentDelivery | None:
    with read_only(services.engine) as conn:
        return deliveries.sent(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kinds=(DeliveryKind.FEEDBACK_ASK,),
            delivery_id=delivery_id,
        )


def on_answer(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    action: Mapping[str, Any],
    message: Mapping[str, Any],
) -> tuple[str, list[dict[str, Any]]]:
    """A tap on yes / somewhat / not really (``action``, as Slack sends it; its value is
    the question's delivery id). Counted once per person and meeting, with nothing that
    names them; returns the question's new text and blocks."""
    prompts = load_prompts()
    matched = fkit.ACTION_ANSWER_PATTERN.fullmatch(str(action.get("action_id") or ""))
    answer = matched.group(1) if matched else ""
    value = str(action.get("value") or "")
    delivery_id = int(value) if value.isdigit() else 0
    row = _question(services, team_id=team_id, user_id=user_id, delivery_id=delivery_id)
    payload = (row.payload or {}) if row is not None else {}
    closed = fkit.build_feedback_done(
        dict(message), prompts.text("feedback.closed"), keep_never=True
    )
    try:
        closes_at = datetime.fromisoformat(str(payload["closes_at"]))
        leader, week = str(payload["leader"]), str(payload["week"])
        meeting = str(payload["occurrence"])
    except (KeyError, ValueError):
        return closed  # not a question of theirs (or one erased with its leader)
    if answer not in fkit.ANSWERS or services.clock.now() >= closes_at:
        return closed
    secret = team_secret(services, team_id)
    ballot = _keyed(secret, "ballot", team_id, leader, week, meeting, user_id)
    person = _keyed(secret, "person", team_id, leader, week, user_id)
    with services.engine.begin() as conn:
        new = store.add_ballot(
            conn=conn, team_id=team_id, leader_id=leader, week=week, ballot=ballot, person=person
        )
        if new:  # else this person's answer about this meeting was counted already
            store.count_answer(
                conn=conn,
                team_id=team_id,
                leader_id=leader,
                week=week,
                answer=answer,
                closes_at=closes_at,
            )
    logger.info("feedback: an answer for a week of a leader of %s", team_id)
    return fkit.build_feedback_done(
        dict(message), prompts.text("feedback.answered"), keep_never=True
    )


def never_ask(
    services: Services, *, team_id: str, user_id: str, message: Mapping[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    """*Never ask me again*: honoured for every leader, from now on; the questions
    already planned for the person are withdrawn. Returns the question's new content."""
    now = services.clock.now()
    person = _keyed(team_secret(services, team_id), "never", team_id, user_id)
    with services.engine.begin() as conn:
        store.add_opt_out(conn=conn, team_id=team_id, person=person, now=now)
        deliveries.withdraw_pending(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kinds=(DeliveryKind.FEEDBACK_ASK,),
            error="never_ask",
            now=now,
        )
    logger.info("feedback: someone in %s asked never to be asked again", team_id)
    note = load_prompts().text("feedback.never_done")
    return fkit.build_feedback_done(dict(message), note, keep_never=False)


def _opted_out(services: Services, team_id: str, secret: bytes, people: Iterable[str]) -> set[str]:
    """Which of ``people`` (Slack user ids) asked never to be asked again."""
    hashes = {_keyed(secret, "never", team_id, person): person for person in people}
    with read_only(services.engine) as conn:
        found = store.opted_out(conn=conn, team_id=team_id, people=hashes)
    return {hashes[h] for h in found}


def team_secret(services: Services, team_id: str) -> bytes:
    """The workspace's random secret for keyed hashes (made on first use)."""
    with services.engine.begin() as conn:
        stored = store.team_secret(
            conn=conn,
            team_id=team_id,
            new_secret=lambda: services.cipher.encrypt(secrets.token_hex(32)),
            now=services.clock.now(),
        )
    return services.cipher.decrypt(stored).encode()


def _keyed(secret: bytes, *parts: str) -> str:
    """HMAC-SHA256 of the parts (unambiguously joined), hex."""
    message = "\x1f".join(f"{len(p)}:{p}" for p in parts).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


# ----------------------------------------------------------------------------- totals


@dataclass(frozen=True)
class Totals:
    """A closed week's answers for one leader: counts only, shown when there are at
    least ``MIN_ANSWERS`` of them from at least ``MIN_PEOPLE`` people. ``own_presence``
    is the leader's own mean 1–5 after the meetings that were asked about (None when
    they tapped none)."""

    week: str
    heard: int
    somewhat: int
    not_heard: int
    people: int
    own_presence: float | None = None

    @property
    def answers(self) -> int:
        return self.heard + self.somewhat + self.not_heard

    def view(self) -> fkit.TotalsView:
        return fkit.TotalsView(self.heard, self.somewhat, self.not_heard, self.own_presence)


def week_totals(services: Services, team_id: str, user_id: str, week: str) -> Totals | None:
    """The leader's answers of ``week`` ("2026-W10"), once the week has closed, when there
    are at least 5 from at least 3 people; else None (too few, still open, or none)."""
    return week_totals_many(services, [(team_id, user_id, week)]).get((team_id, user_id, week))


def week_totals_many(services: Services, weeks: Sequence[Week]) -> dict[Week, Totals]:
    """:func:`week_totals` for many (team, leader, week) at once, in three reads."""
    if not weeks:
        return {}
    now = services.clock.now()
    with read_only(services.engine) as conn:
        tallies = store.tallies(conn=conn, weeks=weeks)
        # Closed but not yet folded by the job: count the people from the ballots.
        unfolded = [r for r in tallies if r.closed_at is None and r.closes_at <= now]
        counted = store.people_answered(
            conn=conn, weeks=[(r.team_id, r.leader_id, r.week) for r in unfolded]
        )
        shown: dict[Week, Totals] = {}
        for row in tallies:
            key = (row.team_id, row.leader_id, row.week)
            if row.closed_at is None and row.closes_at > now:
                continue  # open: no running count
            people = row.people if row.closed_at is not None else counted.get(key, 0)
            totals = Totals(row.week, row.heard, row.somewhat, row.not_heard, people or 0)
            if totals.answers >= MIN_ANSWERS and totals.people >= MIN_PEOPLE:
                shown[key] = totals
        if shown:
            presence = _own_presence(conn, list(shown))
            shown = {
                key: replace(totals, own_presence=presence.get(key))
                for key, totals in shown.items()
            }
    return shown


def _own_presence(conn: sa.Connection, weeks: Sequence[Week]) -> dict[Week, float]:
    """The leaders' mean 1–5 after the meetings of each week that people were asked about."""
    taps: dict[Week, list[int]] = defaultdict(list)
    for tap in store.own_presence(conn=conn, weeks=weeks):
        taps[(tap.team_id, tap.user_id, tap.week)].append(tap.presence)
    return {key: sum(v) / len(v) for key, v in taps.items()}


def close_weeks(services: Services) -> int:
    """Close the weeks whose end has come: keep the number of people who answered, drop
    the ballots (the keyed hashes), and delete a week below the threshold, unseen. Also
    forgets asked meetings after ``KEEP_MEETINGS`` and totals past the retention period.
    Returns how many weeks it closed."""
    now = services.clock.now()
    with read_only(services.engine) as conn:
        due = store.weeks_due(conn=conn, now=now, limit=200)
    for row in due:
        week: Week = (row.team_id, row.leader_id, row.week)
        with services.engine.begin() as conn:
            answers = store.lock_open_answers(conn=conn, tally_id=row.id)
            if answers is None:
                continue
            people = store.people_answered(conn=conn, weeks=[week]).get(week, 0)
            if answers >= MIN_ANSWERS and people >= MIN_PEOPLE:
                store.close_tally(conn=conn, tally_id=row.id, people=people, now=now)
            else:
                store.delete_tally(conn=conn, tally_id=row.id)
            store.delete_ballots(
                conn=conn, team_id=row.team_id, leader_id=row.leader_id, week=row.week
            )
    keep = timedelta(days=services.settings.retention_days)
    with services.engine.begin() as conn:
        store.forget_settled(conn=conn, before=now - KEEP_MEETINGS)
        store.forget_closed_tallies(conn=conn, closing_before=now - keep)
    if due:
        logger.info("feedback: %d week(s) closed", len(due))
    return len(due)


# ------------------------------------------------------------------------------- Home


def home_items(services: Services, *, team_id: str, user_id: str) -> list[fkit.SeriesItem]:
    """The person's series that can ask for feedback: those with feedback on first, then
    the recurring 1:1s and meetings of six or more in the next two weeks, soonest first."""
    now = services.clock.now()
    with read_only(services.engine) as conn:
        on = store.series_with_feedback(conn=conn, team_id=team_id, user_id=user_id)
        upcoming = stored_occurrences.upcoming_recurring(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            since=now,
            until=now + HOME_HORIZON,
            at_most_attendees=2,
            at_least_attendees=MIN_ATTENDEES,
            limit=fkit.MAX_HOME_SERIES + len(on),
        )
        known = {row.series_key for row in upcoming}
        others = stored_occurrences.series_summaries(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            series_keys=[key for key in sorted(on) if key not in known],
        )
    items = [
        fkit.SeriesItem(
            row.series_key, row.title or "", row.attendees, row.attendees <= 2, row.series_key in on
        )
        for row in [*upcoming, *others]
    ]
    items.sort(key=lambda item: not item.on)  # stable: soonest first within each
    return items[: fkit.MAX_HOME_SERIES]


def with_home(
    services: Services, prompts: Prompts, view: dict[str, Any], *, team_id: str, user_id: str
) -> dict[str, Any]:
    """The Home view with the "Feedback from others" section, for a person whose calendar
    is connected."""
    with read_only(services.engine) as conn:
        them = users.person(conn=conn, team_id=team_id, user_id=user_id)
    if them is None or them.opted_in_at is None:
        return view
    items = home_items(services, team_id=team_id, user_id=user_id)
    return fkit.with_home_section(view, fkit.build_feedback_home(prompts, items))


# ----------------------------------------------------------------------------- digest


def add_to_digests(
    services: Services, prompts: Prompts, messages: dict[int, Any], targets: Mapping[int, Any]
) -> None:
    """Last week's total from others into each digest of a batch that has one (by
    delivery id; ``targets`` are ``bot.digest.Target``). A digest skipped or deferred is
    left as it is."""
    weeks: dict[int, Week] = {}
    for delivery_id, target in targets.items():
        if isinstance(messages.get(delivery_id), Message):
            before = target.start - timedelta(days=1)
            label, _ = _week(before, target.zone)
            weeks[delivery_id] = (target.team_id, target.user_id, label)
    totals = week_totals_many(services, list(set(weeks.values())))
    for delivery_id, week in weeks.items():
        found = totals.get(week)
        if found is not None:
            messages[delivery_id] = fkit.build_feedback_totals(
                prompts, messages[delivery_id], found.view()
            )


# ----------------------------------------------------------------------------- privacy


def export_extras(services: Services, *, team_id: str, user_id: str) -> dict[str, Any]:
    """For the person's export: their weekly totals as they may see them, and whether
    they asked never to be asked again."""
    with read_only(services.engine) as conn:
        labels = store.tally_weeks(conn=conn, team_id=team_id, leader_id=user_id)
    weeks = [(team_id, user_id, label) for label in labels]
    totals = week_totals_many(services, weeks)
    never = bool(_opted_out(services, team_id, team_secret(services, team_id), [user_id]))
    return {
        "feedback_totals": [
            {
                "week": found.week,
                "answers": found.answers,
                "heard": found.heard,
                "somewhat": found.somewhat,
                "not_heard": found.not_heard,
                "people": found.people,
                "own_presence": found.own_presence,
            }
            for week in weeks
            if (found := totals.get(week)) is not None
        ],
        "feedback_never_ask": never,
    }


def erase_leader(conn: sa.Connection, *, team_id: str, user_id: str) -> int:
    """Erasing a person (``bot.privacy.erase_user``, same transaction): their weekly
    totals and ballots, and the questions about their meetings, sent or not (they hold
    the leader's id and meeting titles). Opt-outs name no one and stay. Returns how many
    rows went."""
    removed = store.erase_leader(conn=conn, team_id=team_id, leader_id=user_id)
    removed += deliveries.delete_by_payload(
        conn=conn, team_id=team_id, kind=DeliveryKind.FEEDBACK_ASK, field="leader", value=user_id
    )
    return max(removed, 0)

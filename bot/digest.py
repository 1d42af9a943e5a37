"""The weekly digest: the user's own week, in their own words.

Once per user per ISO week (the outbox key ``(team, user, "digest", "2026-W13")`` makes
a second one impossible) at the user's chosen local day and time, default Friday
16:00, correct across DST (the due time is computed in the user's zone each week).

**Never in a meeting.** It goes at the first free moment at or after the chosen time:
the first moment no busy calendar entry covers (a meeting or a block the person has not
declined, that is not cancelled, shown as free or all-day). That moment is in the
working day when the day has one free after the chosen time, since it comes first;
else later that evening; if the person is busy until midnight, at the chosen time
after all (``free_from``). The rule holds twice: the planner (every few minutes) puts
the digest's row at that moment and moves a row not yet tried when the calendar
changes, and the composer looks again at send time: a meeting added or moved in the
last minutes defers the digest to its end (``Defer``).

**Counts that agree.** Everything is counted in meetings, one definition for all: the
week's *meetings* are its meetings with others as the calendar now has them (not
cancelled, declined, solo …) that started between Monday 00:00 and the digest's due
time; *reminders* are those of them a reminder (or a transition) was sent for;
*asked* those a question was sent about, and *answered* those whose question was
answered. So reminders and asked never exceed meetings, answered never exceeds asked,
the kinds add up to the meetings, the chart's ▮ add up to the meetings and its ✎
(drawn on the meeting's day) to the answered. A reminder for a meeting that was later
cancelled, declined or moved out of the week counts no more than the meeting does.

Set-based: the digests of one sender batch are composed with a fixed number of
statements however many users it holds (``DigestComposer.compose_batch``: the users'
zones, what they are busy with now, the five reads of ``load_weeks``, one insert of
the experiments shown), then
each digest is summarised by pure code (``summarize``) and drawn by a pure builder
(``bot.messages.digest``). ``bench/digest.py`` measures it against a bare SQL
aggregate of the same numbers.

**From their words.** The week's themes, the pattern and the experiment come from what the
person wrote and tapped, read by ``bot.themes`` with the lexicon of ``prompts/lexicon.toml``:
the pattern names the practice their words show them struggling with most (else a theme
named in at least two answers), quoting one of their sentences; the experiment serves that
practice, else their focus practice (``WeekData.focus_practice``), else the practice the
questions they answered touched least (as before the lexicon). The digest's metadata carries
the choice (``Digest.metadata``). A week whose words name nothing gets its pattern from its
shape (``_pattern``).

**Their why first.** A person who wrote their why (``bot.focus``) gets a digest that opens
with it: their words, quoted (escaped once, at most ``WHY_QUOTE_CHARS`` characters), and
one sentence relating the week to their focus practice (``_relate``: where their words
show it got in the way, else where they named it, else how many of their answered
questions served it, else how many meetings they had to practise it in). A person
without a why gets the digest as before.

**Three weeks on one focus.** When the focus has been the same for three weeks since it
was set or since the digest last offered this (``FOCUS_OFFER_WEEKS``, with a day of slack
for a digest that went a little later than the last), the digest offers *Keep it*,
*Move on to <next>* (``bot.focus.next_focus``: the practice their words show them
struggling with, else the one their why suggests, else the next in the design's order) and
*Choose another* (the why form, whose select picks any practice). The offer is remembered
as a ``prompt_shown`` row (``FOCUS_OFFER``, in the insert that remembers the experiment),
so it restarts the three-week count: keeping the focus, or not answering at all, brings
the offer back three weeks later, never the week after. ``/heedful digest`` (a week so
far) quotes the why but makes no offer. The metadata says both (``why_quoted``,
``focus_offer``).

The picture of the week is a compact chart drawn in blocks (a line per day: ▮ per
meeting, ✎ per reflection) rather than an uploaded image: it reads at a glance in the
DM and in notifications, needs no ``files:write`` scope, and works with screen readers
as plain text.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot import commitments, copies, feedback
from bot.calendars.occurrence import MeetingKind, Occurrence, meeting_kind
from bot.clock import week_of
from bot.crypto import CipherError
from bot.focus import Why, next_focus, whys_of
from bot.messages import Message
from bot.messages.digest import Digest, build_digest, build_digest_note
from bot.messages.library import PRACTICE_ORDER, choose, primary_practice
from bot.messages.mrkdwn import clip
from bot.messages.prompts import Prompts, load_prompts
from bot.prefs import Prefs, parse_hhmm
from bot.sender import Defer, Skip
from bot.services import Services
from bot.storage import deliveries, occurrences
from bot.storage import users as slack_users
from bot.storage.db import read_only
from bot.storage.deliveries import ClaimedDelivery
from bot.storage.models import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    PromptShown,
    Reflection,
    SlackUser,
    UTCDateTime,
)
from bot.themes import Reading, read_answers

logger = logging.getLogger(__name__)

PLAN_AHEAD = timedelta(days=1)
# A busy entry that began longer before the digest's time is not looked for.
BUSY_LOOKBACK = timedelta(days=1)
LATE_LIMIT = timedelta(hours=12)  # a digest more than this late is not worth sending
MAX_QUOTES = 3
EXPERIMENT_HISTORY = timedelta(days=60)  # how far back experiments count as shown
CHUNK = 1000  # targets per round of queries
QUOTE_CHARS = 280
EVIDENCE_CHARS = 200  # the sentence of theirs a pattern shows
THEME_ANSWERS = 2  # a theme named in fewer answers is no pattern (a struggle is one)
WHY_QUOTE_CHARS = 300  # their why, quoted at the top (it may hold up to 500)
FOCUS_OFFER = "digest.focus.offer"  # the prompt_shown id that remembers the offer
FOCUS_OFFER_WEEKS = 3
OFFER_SLACK = timedelta(days=1)  # last week's digest may have gone a little later
OCC = occurrences.OCCURRENCE  # joined in the queries across tables below
DEL = Delivery.__table__  # type: ignore[attr-defined]
REF = Reflection.__table__  # type: ignore[attr-defined]
SHOWN = PromptShown.__table__  # type: ignore[attr-defined]
USERS = SlackUser.__table__  # type: ignore[attr-defined]
KIND_ORDER = (MeetingKind.ONE_ON_ONE, MeetingKind.SMALL, MeetingKind.LARGE, MeetingKind.EXTERNAL)


def digest_due(week_start: datetime, zone: ZoneInfo, prefs: Prefs) -> datetime:
    """The local digest day and time of the week that starts at ``week_start``."""
    day = week_start.astimezone(zone).date() + timedelta(days=prefs.digest_weekday)
    return datetime.combine(day, parse_hhmm(prefs.digest_time), zone)


Span = tuple[datetime, datetime]


def first_free(busy: Iterable[Span], start: datetime, end: datetime) -> datetime | None:
    """The first moment in [start, end) that no busy (start, end) span covers, or None
    (pure). A meeting that ends at the moment leaves it free; one that starts then does
    not."""
    moment = start
    for since, until in sorted(busy):
        if since > moment:
            break
        moment = max(moment, until)
    return moment if moment < end else None


def end_of_day(moment: datetime, zone: ZoneInfo) -> datetime:
    """The midnight that ends ``moment``'s local day (23 or 25 hours on a DST day)."""
    return datetime.combine(moment.astimezone(zone).date() + timedelta(days=1), time(0), zone)


def free_from(chosen: datetime, busy: Iterable[Span], zone: ZoneInfo) -> datetime:
    """When a digest chosen for ``chosen`` goes: the first free moment at or after it
    before the day ends, or the chosen time itself when the person is busy until
    midnight (pure)."""
    return first_free(busy, chosen, end_of_day(chosen, zone)) or chosen


# ------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Planned:
    team_id: str
    user_id: str
    zone: ZoneInfo
    week_start: datetime
    label: str
    chosen: datetime


def plan_digests(services: Services) -> int:
    """Queue this week's digest for every opted-in user whose time comes within a day,
    at their first free moment (``free_from``), and move a queued one that was not tried
    yet when their calendar changed. Returns how many rows were added or moved.

    Five statements for all users: the users, their busy entries and their queued
    digests (two reads over a table of targets, as ``load_weeks`` does), one insert that
    ignores existing keys, one batch of moves.
    """
    now = services.clock.now()
    u = USERS.c
    with read_only(services.engine) as conn:
        users = conn.execute(
            sa.select(u.team_id, u.slack_user_id, u.tz, u.prefs).where(
                u.opted_in_at.is_not(None), u.unreachable_reason.is_(None)
            )
        ).all()
    wanted = []
    for team_id, user_id, tz, prefs_json in users:
        zone = ZoneInfo(tz or "UTC")
        start, label = week_of(now, zone)
        chosen = digest_due(start, zone, Prefs.from_json(prefs_json))
        if now - LATE_LIMIT < chosen <= now + PLAN_AHEAD:
            wanted.append(_Planned(team_id, user_id, zone, start, label, chosen))
    if not wanted:
        return 0
    busy, queued = _plan_reads(services, wanted)
    rows: list[dict[str, Any]] = []
    moves: list[tuple[int, datetime, datetime | None]] = []
    for n, want in enumerate(wanted):
        due = free_from(want.chosen, busy.get(n, ()), want.zone)
        current = queued.get((n, want.label))
        if current is None:
            rows.append(
                {
                    "team_id": want.team_id,
                    "user_id": want.user_id,
                    "kind": DeliveryKind.DIGEST,
                    "ref": want.label,
                    "due_at": due,
                    "expires_at": due + LATE_LIMIT,
                    "payload": {"week_start": want.week_start.isoformat()},
                }
            )
        elif current.attempts == 0 and current.due_at != due:
            # Once the sender has tried a row, the send-time check governs it.
            moves.append((current.id, due, due + LATE_LIMIT))
    with services.engine.begin() as conn:
        added = deliveries.enqueue_deliveries(conn=conn, rows=rows, now=now)
        if moves:
            deliveries.move_untried(conn=conn, moves=moves, now=now)
            logger.info("digests: %d moved to a free moment", len(moves))
    return added + len(moves)


def _plan_reads(
    services: Services, wanted: Sequence[_Planned]
) -> tuple[dict[int, list[Span]], dict[tuple[int, str], Any]]:
    """Busy spans from each digest's chosen time to the end of its day, and the queued
    (pending) digests, by index in ``wanted``."""
    dialect = services.engine.dialect.name
    queries = _plan_queries(dialect)
    busy: dict[int, list[Span]] = defaultdict(list)
    queued: dict[tuple[int, str], Any] = {}
    for i in range(0, len(wanted), CHUNK):
        chunk = wanted[i : i + CHUNK]
        params = _spans_param(
            [
                (w.team_id, w.user_id, w.chosen, end_of_day(w.chosen, w.zone), w.chosen)
                for w in chunk
            ],
            dialect,
            lookback=BUSY_LOOKBACK,
        )
        with read_only(services.engine) as conn:
            for idx, start, end in conn.execute(queries[0], params):
                busy[i + idx].append((start, end))
            for row in conn.execute(queries[1], params):
                queued[(i + row.idx, row.ref)] = row
    return busy, queued


@functools.lru_cache(maxsize=4)
def _plan_queries(dialect: str) -> tuple[sa.Select[Any], sa.Select[Any]]:
    spans = _spans_cte(dialect)
    w, o, d = spans.c, OCC.c, DEL.c
    busy = (
        sa.select(w.idx, o.start_at, o.end_at)
        .join_from(spans, OCC, sa.and_(o.team_id == w.team_id, o.user_id == w.user_id))
        .where(
            o.start_at >= w.history_at,
            o.start_at < w.until_at,
            o.end_at > w.start_at,
            occurrences.busy(o),
        )
    )
    queued = (
        sa.select(w.idx, d.id, d.ref, d.due_at, d.attempts)
        .join_from(spans, DEL, sa.and_(d.team_id == w.team_id, d.user_id == w.user_id))
        .where(d.kind == DeliveryKind.DIGEST, d.state == DeliveryState.PENDING)
    )
    return busy, queued


# -------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Target:
    """One user's digest: their zone and the span it covers, [start, until).

    ``delivery_id`` is the digest's outbox row, when there is one (an earlier attempt of
    the same delivery may already have recorded its experiment).
    """

    team_id: str
    user_id: str
    zone: ZoneInfo
    start: datetime
    until: datetime
    label: str
    delivery_id: int | None = None


@dataclass
class Meeting:
    key: str
    title: str
    start: datetime
    kind: MeetingKind


@dataclass
class Answer:
    delivery_id: int | None
    occurrence_key: str | None
    text: str
    presence: int | None
    at: datetime


@dataclass
class WeekData:
    meetings: list[Meeting] = field(default_factory=list)
    reminded: set[str] = field(default_factory=set)  # meetings a reminder was sent for
    asked: dict[int, str | None] = field(default_factory=dict)  # delivery id → meeting key
    answers: list[Answer] = field(default_factory=list)
    questions: dict[int, str] = field(default_factory=dict)  # delivery id → question id
    experiments_shown: dict[str, datetime] = field(default_factory=dict)
    experiment_recorded: bool = False  # this digest's experiment is already remembered
    # The practice the person chose to focus on (``bot.focus``), when they chose one.
    focus_practice: str | None = None
    why: Why | None = None  # their why (words decrypted), when they wrote one
    focus_offered_at: datetime | None = None  # the last digest that offered a new focus
    offer_recorded: bool = False  # an earlier attempt of this digest made the offer


def load_weeks(services: Services, targets: Sequence[Target]) -> dict[Target, WeekData]:
    """Everything the digests of ``targets`` need: five queries per ``CHUNK`` targets.

    The targets travel to the database as a small table of (team, user, span) rows
    (one JSON parameter, ``_SPANS``), so each query reads, through the (team, user,
    time) indexes, only the rows of each person's own span, tagged with the target they
    belong to: nothing is read twice or sorted out in Python, and a person with two
    targets in one batch (last week's late digest and this week's) gets each span's
    rows. Reminders arrive as the meetings they were sent for.
    """
    weeks = {t: WeekData() for t in targets}
    unique = list(weeks)
    for i in range(0, len(unique), CHUNK):
        _load_chunk(services, unique[i : i + CHUNK], weeks)
    return weeks


@dataclass(frozen=True)
class _Queries:
    meetings: sa.Select[Any]
    reminders: sa.Select[Any]
    asked: sa.Select[Any]
    answers: sa.Select[Any]
    shown: sa.Select[Any]


# The targets as a table, from one JSON parameter (a list of {idx, team_id, user_id,
# start_at, until_at, history_at}): small statements that SQLAlchemy compiles once and
# caches, whatever the batch size (a VALUES list of bound rows is compiled again at
# every call: it cost more than the queries). Heedful runs on these two backends.
_SPANS = {
    "sqlite": """
        SELECT json_extract(value, '$.idx') AS idx,
               json_extract(value, '$.team_id') AS team_id,
               json_extract(value, '$.user_id') AS user_id,
               json_extract(value, '$.start_at') AS start_at,
               json_extract(value, '$.until_at') AS until_at,
               json_extract(value, '$.history_at') AS history_at
        FROM json_each(:spans)""",
    "postgresql": """
        SELECT * FROM json_to_recordset(CAST(:spans AS json)) AS s(
            idx integer, team_id text, user_id text,
            start_at timestamptz, until_at timestamptz, history_at timestamptz)""",
}


def _stamp(moment: datetime, dialect: str) -> str:
    """A UTC instant as the backend compares it (SQLite: the text Heedful stores)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else utc.isoformat()


def _spans_param(
    items: Iterable[tuple[str, str, datetime, datetime, datetime]],
    dialect: str,
    *,
    lookback: timedelta,
) -> dict[str, str]:
    """The parameter of ``_SPANS``: (team, user, start, until, base) per target, its
    ``history_at`` being ``base - lookback``."""
    return {
        "spans": json.dumps(
            [
                {
                    "idx": k,
                    "team_id": team_id,
                    "user_id": user_id,
                    "start_at": _stamp(start, dialect),
                    "until_at": _stamp(until, dialect),
                    "history_at": _stamp(base - lookback, dialect),
                }
                for k, (team_id, user_id, start, until, base) in enumerate(items)
            ]
        )
    }


def _spans_cte(dialect: str) -> Any:
    """``_SPANS`` as a CTE named ``span``."""
    spans = (
        sa.text(_SPANS[dialect])
        .columns(
            sa.column("idx", sa.Integer),
            sa.column("team_id", sa.String),
            sa.column("user_id", sa.String),
            sa.column("start_at", UTCDateTime),
            sa.column("until_at", UTCDateTime),
            sa.column("history_at", UTCDateTime),
        )
        .cte("span")
    )
    if dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 35):
        # SQLite would otherwise read the JSON again for every row compared with it.
        spans = spans.prefix_with("MATERIALIZED")
    return spans


@functools.lru_cache(maxsize=4)
def _queries(dialect: str) -> _Queries:
    """The five reads of ``load_weeks``, per backend."""
    spans = _spans_cte(dialect)
    w = spans.c

    def owned(table: sa.Table) -> sa.ColumnElement[bool]:
        return sa.and_(table.c.team_id == w.team_id, table.c.user_id == w.user_id)

    def during(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        return sa.and_(column >= w.start_at, column < w.until_at)

    o, d, r, s = OCC.c, DEL.c, REF.c, SHOWN.c
    sent = sa.and_(d.state == DeliveryState.SENT, during(d.sent_at))
    # What a question asked about: its meeting, or for a transition the one before.
    about = sa.case(
        (
            d.kind == DeliveryKind.TRANSITION,
            sa.func.coalesce(d.payload["previous"].as_string(), d.occurrence_key),
        ),
        else_=d.occurrence_key,
    )
    is_experiment = sa.or_(s.prompt_id.like("experiment.%"), s.prompt_id == FOCUS_OFFER)
    return _Queries(
        meetings=sa.select(
            w.idx,
            o.key,
            o.title,
            o.start_at,
            o.external,
            o.attendees,
            o.attendees_unknown,
            o.source,
            o.ical_uid,
        )
        .join_from(spans, OCC, owned(OCC))
        # meetings with others: the skip reason is stored (Occurrence.eligible)
        .where(during(o.start_at), o.skip_reason.is_(None)),
        reminders=sa.select(w.idx, d.occurrence_key)
        .join_from(spans, DEL, owned(DEL))
        .where(sent, d.kind.in_((DeliveryKind.REMINDER, DeliveryKind.TRANSITION)))
        .distinct(),
        asked=sa.select(w.idx, d.id, about)
        .join_from(spans, DEL, owned(DEL))
        .where(sent, d.kind.in_((DeliveryKind.REFLECTION, DeliveryKind.TRANSITION))),
        answers=sa.select(w.idx, r.delivery_id, r.occurrence_key, r.text, r.presence, r.created_at)
        .join_from(spans, REF, owned(REF))
        .where(during(r.created_at)),
        # The questions asked this week, and the experiments of the last weeks.
        shown=sa.select(
            w.idx, s.prompt_id, s.delivery_id, sa.case((is_experiment, s.shown_at), else_=sa.null())
        )
        .join_from(spans, SHOWN, owned(SHOWN))
        .where(
            sa.or_(
                sa.and_(s.prompt_id.like("question.%"), during(s.shown_at)),
                # no upper bound: a retried digest finds the experiment it already chose
                sa.and_(is_experiment, s.shown_at >= w.history_at),
            ),
        ),
    )


def _load_chunk(services: Services, chunk: Sequence[Target], weeks: dict[Target, WeekData]) -> None:
    dialect = services.engine.dialect.name
    queries = _queries(dialect)
    params = _spans_param(
        [(t.team_id, t.user_id, t.start, t.until, t.start) for t in chunk],
        dialect,
        lookback=EXPERIMENT_HISTORY,
    )
    data = [weeks[t] for t in chunk]
    unreadable = 0

    def readable(text: str | None) -> str:
        # A value no configured key opens (a key dropped too early) costs its quote,
        # not the digests of the whole batch.
        nonlocal unreadable
        try:
            return services.cipher.decrypt(text or "")
        except CipherError:
            unreadable += 1
            return ""

    with read_only(services.engine) as conn:
        found: dict[int, list[tuple[Meeting, Occurrence]]] = defaultdict(list)
        for idx, key, title, start, external, attendees, unknown, source, ical_uid in conn.execute(
            queries.meetings, params
        ):
            kind = meeting_kind(attendees, external=external, unknown=unknown)
            meeting = Meeting(key, title, start, kind)
            # What bot.copies compares: the source, the start, the title and the UID.
            same = Occurrence(source, key, None, title, start, start, ical_uid=ical_uid)
            found[idx].append((meeting, same))
        for idx, key in conn.execute(queries.reminders, params):
            if key is not None:
                data[idx].reminded.add(key)
        for idx, pairs in found.items():
            data[idx].meetings = one_per_meeting(pairs, data[idx].reminded)
        for idx, delivery_id, key in conn.execute(queries.asked, params):
            data[idx].asked[delivery_id] = key
        for idx, delivery_id, key, text, presence, at in conn.execute(queries.answers, params):
            data[idx].answers.append(Answer(delivery_id, key, readable(text), presence, at))
        for idx, prompt_id, delivery_id, shown_at in conn.execute(queries.shown, params):
            week = data[idx]
            if shown_at is None:
                if delivery_id is not None:
                    week.questions[delivery_id] = prompt_id
            elif prompt_id == FOCUS_OFFER:  # the three-week offer (see the docstring)
                if delivery_id is not None and delivery_id == chunk[idx].delivery_id:
                    week.offer_recorded = True
                elif week.focus_offered_at is None or shown_at > week.focus_offered_at:
                    week.focus_offered_at = shown_at
            elif delivery_id is not None and delivery_id == chunk[idx].delivery_id:
                week.experiment_recorded = True  # an earlier attempt of this digest
            elif (seen := week.experiments_shown.get(prompt_id)) is None or shown_at > seen:
                week.experiments_shown[prompt_id] = shown_at
        whys = whys_of(conn, services.cipher, [(t.team_id, t.user_id) for t in chunk])
        for target, week in zip(chunk, data, strict=True):
            week.why = whys.get((target.team_id, target.user_id))
            week.focus_practice = week.why.focus if week.why is not None else None
    if unreadable:
        logger.warning(
            "digest: %d reflection(s) could not be decrypted with the configured keys", unreadable
        )


def one_per_meeting(
    found: Sequence[tuple[Meeting, Occurrence]], reminded: set[str]
) -> list[Meeting]:
    """A meeting on two calendars counts once (the rule of :mod:`bot.copies`, as the
    planner nudges it once): the copy a reminder went out for speaks for it, else the
    copy the planner prefers. ``found``: each meeting with what the rule compares."""
    meeting_of = {id(same): meeting for meeting, same in found}
    kept = []
    for group in copies.meetings(same for _, same in found):
        speaker = next((o for o in group if meeting_of[id(o)].key in reminded), group[0])
        kept.append(meeting_of[id(speaker)])
    return sorted(kept, key=lambda m: (m.start, m.key))


# ------------------------------------------------------------------------ summarising


def summarize(
    target: Target, week: WeekData, prompts: Prompts, *, now: datetime, so_far: bool = False
) -> Digest:
    """The week of ``target`` in numbers and words (pure: no I/O, ``now`` given).

    Every count is a number of the week's meetings (see the module docstring), so each
    agrees with every other.
    """
    zone = target.zone
    meetings = week.meetings
    titles = {m.key: m.title for m in meetings}
    kinds = {m.key: m.kind for m in meetings}
    by_kind = Counter(m.kind for m in meetings)  # a MeetingKind is its str value
    answers = sorted(week.answers, key=_written)
    days = [a.at.astimezone(zone).date() for a in answers]  # local, once each
    # Questions about this week's meetings: one about a meeting since cancelled, moved
    # out of the week or declined counts no more than that meeting.
    asked = {i: key for i, key in week.asked.items() if key in kinds}
    answered_ids = {a.delivery_id for a in answers if a.delivery_id in asked}
    asked_meetings = set(asked.values())
    answered_meetings = {asked[i] for i in answered_ids if i is not None}
    reminded = week.reminded & set(kinds)

    presence: dict[int, list[int]] = {}
    for a, day in zip(answers, days, strict=True):
        if a.presence is not None:
            presence.setdefault(day.weekday(), []).append(a.presence)
    presence_by_day = [(weekday, sum(v) / len(v)) for weekday, v in presence.items()]

    touched = [
        primary_practice(prompts[week.questions[i]])
        for i in answered_ids
        if i is not None and week.questions.get(i) in prompts
    ]
    # What their words and taps show (bot.themes); without a word of the lexicon, the
    # practices of the questions they answered.
    reading = read_answers(_by_question(answers))
    practices = list(reading.themes) or [p for p in PRACTICE_ORDER if p in touched]
    focus = week.focus_practice if week.focus_practice in PRACTICE_ORDER else None

    # The fullest answers, shown in the order they were written.
    distinct: dict[str, int] = {}
    for n in sorted(range(len(answers)), key=lambda n: -len(answers[n].text.strip())):
        if len(answers[n].text.strip()) >= 3:
            distinct.setdefault(" ".join(answers[n].text.lower().split()), n)
    quotes = [
        (
            _clip(answers[n].text),
            titles.get(answers[n].occurrence_key or "", ""),
            days[n].weekday(),
        )
        for n in sorted(list(distinct.values())[:MAX_QUOTES])
    ]

    chart_days: dict[date, list[int]] = {}
    first = target.start.astimezone(zone)
    day = first.date()
    last = (min(target.until, now) - timedelta(microseconds=1)).astimezone(zone).date()
    while day <= last:
        chart_days[day] = [0, 0]
        day += timedelta(days=1)
    # ▮ is a meeting, ✎ a meeting whose question was answered: both on the meeting's day.
    for m in meetings:
        if m.start < now and (d := m.start.astimezone(zone).date()) in chart_days:
            chart_days[d][0] += 1
            chart_days[d][1] += m.key in answered_meetings
    chart = [(d.weekday(), n, k) for d, (n, k) in chart_days.items()]

    pattern = _words_pattern(reading) or _pattern(
        week, kinds, asked_meetings, answered_meetings, chart
    )
    # The experiment: for the practice their words show them struggling with most, else
    # their focus practice, else the practice the questions they answered touched least.
    counts = Counter(touched)
    least = min(
        (p for p in PRACTICE_ORDER if p != "general"),
        key=lambda p: (counts[p], PRACTICE_ORDER.index(p)),
    )
    aim = reading.struggling or focus or least
    library = _experiments(prompts)
    experiment = choose(
        library.get(aim) or library[""],
        "experiment",
        kind=None,
        recurring=False,
        shown=week.experiments_shown,
        now=now,
        salt=f"{target.user_id}|{target.label}",
        practice=aim,
    ).id
    return Digest(
        label=f"{first.day} {first:%B %Y}",  # "2 March 2026" (%-d fails on Windows)
        so_far=so_far,
        meetings=len(meetings),
        by_kind={k.value: by_kind[k] for k in KIND_ORDER if by_kind[k]},
        reminders=len(reminded),
        asked=len(asked_meetings),
        answered=len(answered_meetings),
        presence_by_day=presence_by_day,
        practices=practices,
        quotes=quotes,
        pattern=pattern,
        experiment=experiment,
        chart=chart,
        themes=reading.themes,
        experiment_practice=aim,
        focus_practice=focus,
        **_why_parts(week, reading, prompts, focus, answered_ids, len(meetings), now, so_far),
    )


def _why_parts(
    week: WeekData,
    reading: Reading,
    prompts: Prompts,
    focus: str | None,
    answered: set[int | None],
    meetings: int,
    now: datetime,
    so_far: bool,
) -> dict[str, Any]:
    """The opening of a digest for a person with a why (their words and the week against
    them) and the three-week offer (see the module docstring). Pure."""
    why = week.why
    if why is None or focus is None:
        return {}
    parts: dict[str, Any] = {"relate": _relate(week, reading, prompts, focus, answered, meetings)}
    if why.text and why.text.strip():
        parts["why"] = clip(why.text.strip(), WHY_QUOTE_CHARS)
    weeks = why.weeks_on_focus(now + OFFER_SLACK, offered_at=week.focus_offered_at)
    if not so_far and (week.offer_recorded or weeks >= FOCUS_OFFER_WEEKS):
        parts["offer"] = next_focus(
            prompts, focus=focus, struggling=reading.struggling, text=why.text
        )
    return parts


def _relate(
    week: WeekData,
    reading: Reading,
    prompts: Prompts,
    focus: str,
    answered: set[int | None],
    meetings: int,
) -> tuple[str, dict[str, Any]]:
    """One sentence relating the week to the person's focus practice: (prompt id, values)."""
    if reading.struggles.get(focus):
        return "digest.why.struggled", {"practice": focus, "answers": reading.struggles[focus]}
    if reading.mentions.get(focus):
        return "digest.why.named", {"practice": focus, "answers": reading.mentions[focus]}
    served = sum(
        1
        for i in answered
        if i is not None
        and week.questions.get(i) in prompts
        and focus in prompts[week.questions[i]].practices
    )
    if served:
        return "digest.why.asked", {"practice": focus, "count": served}
    return "digest.why.meetings", {"practice": focus, "meetings": meetings}


def _written(answer: Answer) -> datetime:
    return answer.at


def _by_question(answers: Sequence[Answer]) -> list[tuple[str, int | None]]:
    """The week's answers (in the order written) as one (text, presence) per question: a
    reply, its tap and a line of the form are one answer; an answer linked to no question
    stands alone. The presence is the last one tapped."""
    grouped: dict[tuple[str, int], tuple[list[str], list[int]]] = {}
    for n, a in enumerate(answers):
        key = ("question", a.delivery_id) if a.delivery_id is not None else ("alone", n)
        texts, taps = grouped.setdefault(key, ([], []))
        if a.text.strip():
            texts.append(a.text)
        if a.presence is not None:
            taps.append(a.presence)
    return [("\n".join(texts), taps[-1] if taps else None) for texts, taps in grouped.values()]


def _words_pattern(reading: Reading) -> tuple[str, dict[str, Any]] | None:
    """The pattern their words show, with one of their sentences: the practice they
    struggled with most, else the theme named in the most answers, when in at least
    ``THEME_ANSWERS`` (the first that has a sentence to show: a theme read from taps alone
    has none). None: the week's shape gives the pattern (``_pattern``)."""
    struggling = reading.struggling
    if struggling is not None and struggling in reading.evidence:
        return "digest.pattern.words_struggle", {
            "theme": struggling,
            "answers": reading.struggles[struggling],
            "quote": clip(reading.evidence[struggling], EVIDENCE_CHARS),
        }
    for theme in reading.themes:
        if reading.mentions[theme] < THEME_ANSWERS:
            break
        if theme in reading.evidence:
            return "digest.pattern.words", {
                "theme": theme,
                "answers": reading.mentions[theme],
                "quote": clip(reading.evidence[theme], EVIDENCE_CHARS),
            }
    return None


@functools.lru_cache(maxsize=4)
def _experiments(prompts: Prompts) -> dict[str, Prompts]:
    """The experiments of the library, by practice ("" for all of them), so choosing
    one ranks a handful of wordings rather than the whole library."""
    every = [p for p in prompts if p.id.startswith("experiment.")]
    library = {"": Prompts({p.id: p for p in every})}
    for practice in PRACTICE_ORDER:
        serving = {p.id: p for p in every if practice in p.practices}
        if serving:
            library[practice] = Prompts(serving)
    return library


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


def _pattern(
    week: WeekData,
    kinds: Mapping[str, MeetingKind],
    asked: set[str | None],
    answered: set[str | None],
    chart: list[tuple[int, int, int]],
) -> tuple[str, dict[str, Any]] | None:
    """``asked`` and ``answered`` are meetings (keys), as every count of the digest."""
    asked_by_kind = Counter(kinds[key] for key in asked if key in kinds)
    answered_by_kind = Counter(kinds[key] for key in answered if key in kinds)
    # Kinds are taken in KIND_ORDER, so the same week always reads the same way.
    rates = {k: answered_by_kind[k] / asked_by_kind[k] for k in KIND_ORDER if asked_by_kind[k] >= 2}
    full = [k for k, rate in rates.items() if rate == 1]
    empty = [k for k, rate in rates.items() if rate == 0]
    if full and empty:
        return "digest.pattern.kind_gap", {"full": str(full[0]), "empty": str(empty[0])}
    presence_by_kind: dict[str, list[int]] = defaultdict(list)
    for a in week.answers:
        kind = kinds.get(a.occurrence_key or "")
        if kind is not None and a.presence is not None:
            presence_by_kind[kind].append(a.presence)
    means = {k: sum(v) / len(v) for k in KIND_ORDER if (v := presence_by_kind.get(k))}
    if len(means) >= 2:
        best, worst = max(means, key=means.__getitem__), min(means, key=means.__getitem__)
        if means[best] - means[worst] >= 1:
            return "digest.pattern.presence_kind", {"kind": str(best), "other": str(worst)}
    # The kind answered most often in proportion (4 of 4 1:1s beats 5 of 7 small
    # meetings), then in number; one question alone ("1 of 1") is no pattern.
    often = [k for k in KIND_ORDER if answered_by_kind[k] and asked_by_kind[k] >= 2]
    if often:
        kind = max(often, key=lambda k: (rates[k], answered_by_kind[k]))
        return "digest.pattern.kind_best", {
            "kind": str(kind),
            "answered": answered_by_kind[kind],
            "asked": asked_by_kind[kind],
        }
    if chart:
        day, count, _ = max(chart, key=lambda c: c[1])
        if count >= 3:
            return "digest.pattern.busiest_day", {"day": day, "count": count}
    return None


# ------------------------------------------------------------------------ composing


class DigestComposer:
    """The sender's composer for ``digest`` deliveries, set-based through ``prepare``.

    ``prepare`` composes a whole batch with a fixed number of statements (zones, what
    the people are busy with now, the five reads of ``load_weeks``, one insert of the
    experiments shown); the sender's threads then only pick up their message. A person
    in a meeting right now (one added or moved since the digest was planned) gets
    theirs when it ends: ``Defer``.
    """

    def __init__(self, services: Services, prompts: Prompts | None = None) -> None:
        self.services = services
        self.prompts = prompts or load_prompts()
        self._ready: dict[int, Message | Skip | Defer] = {}

    def prepare(self, rows: Sequence[ClaimedDelivery]) -> None:
        self._ready = self.compose_batch(list(rows))

    def __call__(self, row: ClaimedDelivery) -> Message:
        ready = self._ready.pop(row.id, None)
        if ready is None:  # not prepared (prepare failed, or a composer used on its own)
            ready = self.compose_batch([row]).get(row.id)
        if ready is None:
            raise Skip("unknown_user")
        if isinstance(ready, Skip | Defer):
            raise ready
        return ready

    def compose_batch(self, rows: Sequence[ClaimedDelivery]) -> dict[int, Message | Skip | Defer]:
        """Each digest row's message (or why it is skipped, or until when it waits), by
        delivery id."""
        if not rows:
            return {}
        now = self.services.clock.now()
        u = USERS.c
        people = {
            "users": sorted({r.user_id for r in rows}),
            "teams": sorted({r.team_id for r in rows}),
        }
        with read_only(self.services.engine) as conn:
            zones = {
                (team, user): tz
                for team, user, tz in conn.execute(
                    sa.select(u.team_id, u.slack_user_id, u.tz).where(
                        u.slack_user_id.in_(people["users"]), u.team_id.in_(people["teams"])
                    )
                )
            }
            busy: dict[tuple[str, str], list[Span]] = defaultdict(list)
            for team, user, start, end in occurrences.busy_spans(
                conn=conn,
                team_ids=people["teams"],
                user_ids=people["users"],
                starting_from=now - BUSY_LOOKBACK,
                starting_before=now + timedelta(days=1, hours=2),  # every zone's midnight
                ending_after=now,
            ):
                busy[(team, user)].append((start, end))
        out: dict[int, Message | Skip | Defer] = {}
        targets = {}
        for row in rows:
            person = (row.team_id, row.user_id)
            if person not in zones:
                continue
            zone = ZoneInfo(zones[person] or "UTC")
            free = first_free(busy.get(person, ()), now, end_of_day(now, zone))
            # In a meeting: when it ends (unless that is past the digest's lifetime).
            if (
                free is not None
                and now < free
                and (row.expires_at is None or free < row.expires_at)
            ):
                out[row.id] = Defer(free)
                continue
            targets[row.id] = _target(row, zones[person])
        weeks = load_weeks(self.services, list(targets.values()))
        for delivery_id, target in targets.items():
            week = weeks[target]
            if not week.meetings:
                out[delivery_id] = Skip("no_meetings")
                continue
            digest = summarize(target, week, self.prompts, now=now)
            # Remembered once it is posted: the offer (its three weeks start again then)
            # and the experiment (so next week's is a different one).
            shown: list[str] = []
            if digest.offer is not None and not week.offer_recorded:
                shown.append(FOCUS_OFFER)
            if digest.answered == 0:
                out[delivery_id] = replace(
                    build_digest_note(self.prompts, digest), shown=tuple(shown)
                )
                continue
            if digest.experiment is not None and not week.experiment_recorded:
                shown.append(digest.experiment)
            out[delivery_id] = replace(build_digest(self.prompts, digest), shown=tuple(shown))
        # Feedback from others: last week's total, when there is one to show (bot.feedback).
        feedback.add_to_digests(self.services, self.prompts, out, targets)
        # Commitments kept this week (bot.commitments).
        commitments.add_to_digests(self.services, self.prompts, out, targets)
        return out


def _target(row: ClaimedDelivery, tz: str | None) -> Target:
    zone = ZoneInfo(tz or "UTC")
    start = datetime.fromisoformat((row.payload or {}).get("week_start") or row.due_at.isoformat())
    _, label = week_of(start, zone)
    return Target(row.team_id, row.user_id, zone, start, row.due_at, label, row.id)


def digest_so_far(services: Services, *, team_id: str, user_id: str) -> Message:
    """``/heedful digest``: this week until now, at once, without touching the weekly one."""
    prompts = load_prompts()
    now = services.clock.now()
    with read_only(services.engine) as conn:
        them = slack_users.person(conn=conn, team_id=team_id, user_id=user_id)
    zone = ZoneInfo((them and them.tz) or "UTC")
    start, label = week_of(now, zone)
    target = Target(team_id, user_id, zone, start, now, label)
    week = load_weeks(services, [target])[target]
    if not week.meetings:
        return Message(text=prompts.text("digest.nothing_yet"))
    digest = summarize(target, week, prompts, now=now, so_far=True)
    if digest.answered == 0:
        return build_digest_note(prompts, digest)
    return build_digest(prompts, digest)

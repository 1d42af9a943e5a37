"""The weekly digest: the user's own week, in their own words.

Once per user per ISO week (the outbox key ``(team, user, "digest", "2026-W13")`` makes
a second one impossible) at the user's chosen local day and time, default Friday
16:00, correct across DST (the due time is computed in the user's zone each week).

Set-based: everything the digests of one batch need is read with a fixed number of
queries (``load_weeks``: five, however many users), then each digest is summarised by
pure code (``summarize``) and drawn by a pure builder (``bot.messages.digest``).

The picture of the week is a compact chart drawn in blocks (a line per day: ▮ per
meeting, ✎ per reflection) rather than an uploaded image: it reads at a glance in the
DM and in notifications, needs no ``files:write`` scope, and works with screen readers
as plain text.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.calendars.occurrence import MeetingKind
from bot.meetings import OCC, occurrence_from_row
from bot.messages import Message
from bot.messages.digest import build_digest, build_digest_note
from bot.messages.library import PRACTICE_ORDER, choose, primary_practice
from bot.messages.prompts import Prompts, load_prompts
from bot.planner import REFLECTION, REMINDER, TRANSITION
from bot.prefs import Prefs, parse_hhmm
from bot.sender import Skip
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import read_only
from bot.storage.models import Delivery, PromptShown, Reflection, SlackUser

logger = logging.getLogger(__name__)

DIGEST = "digest"
PLAN_AHEAD = timedelta(days=1)
LATE_LIMIT = timedelta(hours=12)  # a digest more than this late is not worth sending
MAX_QUOTES = 3
QUOTE_CHARS = 280
DEL = Delivery.__table__  # type: ignore[attr-defined]
REF = Reflection.__table__  # type: ignore[attr-defined]
SHOWN = PromptShown.__table__  # type: ignore[attr-defined]
USERS = SlackUser.__table__  # type: ignore[attr-defined]
KIND_ORDER = (MeetingKind.ONE_ON_ONE, MeetingKind.SMALL, MeetingKind.LARGE, MeetingKind.EXTERNAL)


def week_of(moment: datetime, zone: ZoneInfo) -> tuple[datetime, str]:
    """The start (Monday 00:00 local, as UTC) and ISO label ("2026-W13") of the week."""
    local = moment.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    year, week, _ = monday.isocalendar()
    start = datetime.combine(monday, time(0), zone)
    return start, f"{year}-W{week:02d}"


def digest_due(week_start: datetime, zone: ZoneInfo, prefs: Prefs) -> datetime:
    """The local digest day and time of the week that starts at ``week_start``."""
    day = week_start.astimezone(zone).date() + timedelta(days=prefs.digest_weekday)
    return datetime.combine(day, parse_hhmm(prefs.digest_time), zone)


# ------------------------------------------------------------------------- planning


def plan_digests(services: Services) -> int:
    """Queue this week's digest for every opted-in user whose time comes within a day.

    Two statements for all users: one read, one insert that ignores existing keys.
    """
    now = services.clock.now()
    u = USERS.c
    with read_only(services.engine) as conn:
        users = conn.execute(
            sa.select(u.team_id, u.slack_user_id, u.tz, u.prefs).where(
                u.opted_in_at.is_not(None), u.unreachable_reason.is_(None)
            )
        ).all()
    rows = []
    for team_id, user_id, tz, prefs_json in users:
        zone = ZoneInfo(tz or "UTC")
        start, label = week_of(now, zone)
        due = digest_due(start, zone, Prefs.from_json(prefs_json))
        if now - LATE_LIMIT < due <= now + PLAN_AHEAD:
            rows.append(
                {
                    "team_id": team_id,
                    "user_id": user_id,
                    "kind": DIGEST,
                    "ref": label,
                    "due_at": due,
                    "expires_at": due + LATE_LIMIT,
                    "payload": {"week_start": start.isoformat()},
                }
            )
    if not rows:
        return 0
    with services.engine.begin() as conn:
        return repo.enqueue_deliveries(conn, rows, now=now)


# -------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Target:
    """One user's digest: their zone and the span it covers, [start, until)."""

    team_id: str
    user_id: str
    zone: ZoneInfo
    start: datetime
    until: datetime
    label: str


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
    reminders: int = 0
    asked: dict[int, str | None] = field(default_factory=dict)  # delivery id → meeting key
    answers: list[Answer] = field(default_factory=list)
    questions: dict[int, str] = field(default_factory=dict)  # delivery id → question id
    experiments_shown: dict[str, datetime] = field(default_factory=dict)


def load_weeks(services: Services, targets: Sequence[Target]) -> dict[tuple[str, str], WeekData]:
    """Everything the digests of ``targets`` need, in five queries."""
    if not targets:
        return {}
    by_user = {(t.team_id, t.user_id): t for t in targets}
    weeks = {key: WeekData() for key in by_user}
    lo = min(t.start for t in targets)
    hi = max(t.until for t in targets)
    users = list({t.user_id for t in targets})
    teams = list({t.team_id for t in targets})

    def mine(row: Any, moment: datetime | None) -> WeekData | None:
        target = by_user.get((row.team_id, row.user_id))
        if target is None or moment is None or not target.start <= moment < target.until:
            return None
        return weeks[(row.team_id, row.user_id)]

    o, d, r, s = OCC.c, DEL.c, REF.c, SHOWN.c
    with read_only(services.engine) as conn:
        for row in conn.execute(
            sa.select(OCC).where(
                o.user_id.in_(users), o.team_id.in_(teams), o.start_at >= lo, o.start_at < hi
            )
        ):
            week = mine(row, row.start_at)
            meeting = occurrence_from_row(row)
            if week is not None and meeting.eligible:
                week.meetings.append(Meeting(row.key, row.title, row.start_at, meeting.kind))
        for row in conn.execute(
            sa.select(
                d.id, d.team_id, d.user_id, d.kind, d.occurrence_key, d.payload, d.sent_at
            ).where(
                d.user_id.in_(users),
                d.team_id.in_(teams),
                d.state == "sent",
                d.kind.in_((REMINDER, TRANSITION, REFLECTION)),
                d.sent_at >= lo,
                d.sent_at < hi,
            )
        ):
            week = mine(row, row.sent_at)
            if week is None:
                continue
            if row.kind in (REMINDER, TRANSITION):
                week.reminders += 1
            if row.kind in (REFLECTION, TRANSITION):
                about = row.occurrence_key
                if row.kind == TRANSITION:
                    about = (row.payload or {}).get("previous") or about
                week.asked[row.id] = about
        for row in conn.execute(
            sa.select(
                r.team_id,
                r.user_id,
                r.delivery_id,
                r.occurrence_key,
                r.text,
                r.presence,
                r.created_at,
            ).where(
                r.user_id.in_(users), r.team_id.in_(teams), r.created_at >= lo, r.created_at < hi
            )
        ):
            week = mine(row, row.created_at)
            if week is not None:
                week.answers.append(
                    Answer(
                        row.delivery_id,
                        row.occurrence_key,
                        services.cipher.decrypt(row.text or ""),
                        row.presence,
                        row.created_at,
                    )
                )
        for row in conn.execute(
            sa.select(s.team_id, s.user_id, s.prompt_id, s.delivery_id, s.shown_at).where(
                s.user_id.in_(users),
                s.team_id.in_(teams),
                sa.or_(s.prompt_id.like("question.%"), s.prompt_id.like("experiment.%")),
                s.shown_at >= lo - timedelta(days=60),
                s.shown_at < hi,
            )
        ):
            week = weeks.get((row.team_id, row.user_id))
            if week is None:
                continue
            if row.prompt_id.startswith("experiment."):
                week.experiments_shown[row.prompt_id] = row.shown_at
            elif row.delivery_id is not None:
                week.questions[row.delivery_id] = row.prompt_id
    return weeks


# ------------------------------------------------------------------------ summarising


@dataclass(frozen=True)
class Digest:
    """A week in numbers and words, ready for the builder. Pure data."""

    label: str
    so_far: bool
    meetings: int
    by_kind: dict[str, int]
    reminders: int
    asked: int
    answered: int
    presence_by_day: list[tuple[int, float]]  # weekday (0 = Monday), mean 1–5
    practices: list[str]
    quotes: list[tuple[str, str, int]]  # text, meeting title, weekday
    pattern: tuple[str, dict[str, Any]] | None  # prompt id and its values
    experiment: str | None  # prompt id
    chart: list[tuple[int, int, int]]  # weekday, meetings, reflections


def summarize(
    target: Target, week: WeekData, prompts: Prompts, *, now: datetime, so_far: bool = False
) -> Digest:
    zone = target.zone
    titles = {m.key: m.title for m in week.meetings}
    kinds = {m.key: m.kind for m in week.meetings}
    by_kind = Counter(m.kind.value for m in week.meetings)
    answered_ids = {a.delivery_id for a in week.answers if a.delivery_id in week.asked}

    presence: dict[int, list[int]] = defaultdict(list)
    for a in sorted(week.answers, key=lambda a: a.at):
        if a.presence is not None:
            presence[a.at.astimezone(zone).weekday()].append(a.presence)
    presence_by_day = [(day, sum(v) / len(v)) for day, v in presence.items()]

    touched = [
        primary_practice(prompts[week.questions[i]])
        for i in answered_ids
        if i is not None and week.questions.get(i) in prompts
    ]
    practices = [p for p in PRACTICE_ORDER if p in touched]

    # The fullest answers, shown in the order they were written.
    distinct: dict[str, Answer] = {}
    for a in sorted(week.answers, key=lambda a: (-len(a.text.strip()), a.at)):
        if len(a.text.strip()) >= 3:
            distinct.setdefault(" ".join(a.text.lower().split()), a)
    chosen = list(distinct.values())[:MAX_QUOTES]
    quotes = [
        (_clip(a.text), titles.get(a.occurrence_key or "", ""), a.at.astimezone(zone).weekday())
        for a in sorted(chosen, key=lambda a: a.at)
    ]

    chart_days: dict[date, list[int]] = {}
    day = target.start.astimezone(zone).date()
    last = (min(target.until, now) - timedelta(microseconds=1)).astimezone(zone).date()
    while day <= last:
        chart_days[day] = [0, 0]
        day += timedelta(days=1)
    for m in week.meetings:
        if m.start < now and (d := m.start.astimezone(zone).date()) in chart_days:
            chart_days[d][0] += 1
    for a in week.answers:
        if (d := a.at.astimezone(zone).date()) in chart_days:
            chart_days[d][1] += 1
    chart = [(d.weekday(), n, k) for d, (n, k) in chart_days.items()]

    pattern = _pattern(week, kinds, answered_ids, chart)
    counts = Counter(touched)
    least = min(
        (p for p in PRACTICE_ORDER if p != "general"),
        key=lambda p: (counts[p], PRACTICE_ORDER.index(p)),
    )
    experiment = choose(
        prompts,
        "experiment",
        kind=None,
        recurring=False,
        shown=week.experiments_shown,
        now=now,
        salt=f"{target.user_id}|{target.label}",
        practice=least,
    ).id
    return Digest(
        label=f"{target.start.astimezone(zone):%-d %B %Y}",
        so_far=so_far,
        meetings=len(week.meetings),
        by_kind={k.value: by_kind[k.value] for k in KIND_ORDER if by_kind[k.value]},
        reminders=week.reminders,
        asked=len(week.asked),
        answered=len(answered_ids),
        presence_by_day=presence_by_day,
        practices=practices,
        quotes=quotes,
        pattern=pattern,
        experiment=experiment,
        chart=chart,
    )


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


def _pattern(
    week: WeekData,
    kinds: dict[str, MeetingKind],
    answered: set[int | None],
    chart: list[tuple[int, int, int]],
) -> tuple[str, dict[str, Any]] | None:
    asked_by_kind: Counter[str] = Counter()
    answered_by_kind: Counter[str] = Counter()
    for delivery_id, key in week.asked.items():
        kind = kinds.get(key or "")
        if kind is None:
            continue
        asked_by_kind[kind.value] += 1
        if delivery_id in answered:
            answered_by_kind[kind.value] += 1
    rates = {k: answered_by_kind[k] / n for k, n in asked_by_kind.items() if n >= 2}
    full = [k for k, rate in rates.items() if rate == 1]
    empty = [k for k, rate in rates.items() if rate == 0]
    if full and empty:
        return "digest.pattern.kind_gap", {"full": full[0], "empty": empty[0]}
    presence_by_kind: dict[str, list[int]] = defaultdict(list)
    for a in week.answers:
        kind = kinds.get(a.occurrence_key or "")
        if kind is not None and a.presence is not None:
            presence_by_kind[kind.value].append(a.presence)
    means = {k: sum(v) / len(v) for k, v in presence_by_kind.items()}
    if len(means) >= 2:
        best, worst = max(means, key=means.get), min(means, key=means.get)  # type: ignore[arg-type]
        if means[best] - means[worst] >= 1:
            return "digest.pattern.presence_kind", {"kind": best, "other": worst}
    if answered_by_kind:
        kind, n = answered_by_kind.most_common(1)[0]
        return "digest.pattern.kind_best", {
            "kind": kind,
            "answered": n,
            "asked": asked_by_kind[kind],
        }
    if chart:
        day, count, _ = max(chart, key=lambda c: c[1])
        if count >= 3:
            return "digest.pattern.busiest_day", {"day": day, "count": count}
    return None


# ------------------------------------------------------------------------ composing


class DigestComposer:
    """The sender's composer for ``digest`` deliveries, set-based through ``prepare``."""

    def __init__(self, services: Services, prompts: Prompts | None = None) -> None:
        self.services = services
        self.prompts = prompts or load_prompts()
        self._ready: dict[int, tuple[Target, WeekData]] = {}

    def prepare(self, rows: Iterable[Any]) -> None:
        """Load the digests of a whole batch: one query for zones, then ``load_weeks``."""
        rows = list(rows)
        u = USERS.c
        with read_only(self.services.engine) as conn:
            zones = {
                (team, user): tz
                for team, user, tz in conn.execute(
                    sa.select(u.team_id, u.slack_user_id, u.tz).where(
                        u.slack_user_id.in_({r.user_id for r in rows}),
                        u.team_id.in_({r.team_id for r in rows}),
                    )
                )
            }
        targets = {
            row.id: _target(row, zones[(row.team_id, row.user_id)])
            for row in rows
            if (row.team_id, row.user_id) in zones
        }
        weeks = load_weeks(self.services, list(targets.values()))
        self._ready = {i: (t, weeks[(t.team_id, t.user_id)]) for i, t in targets.items()}

    def __call__(self, row: Any) -> Message:
        ready = self._ready.pop(row.id, None)
        if ready is None:
            self.prepare([row])
            ready = self._ready.pop(row.id, None)
        if ready is None:
            raise Skip("unknown_user")
        target, week = ready
        if not week.meetings:
            raise Skip("no_meetings")
        now = self.services.clock.now()
        digest = summarize(target, week, self.prompts, now=now)
        self._remember_experiment(row, digest)
        if digest.answered == 0:
            return build_digest_note(self.prompts, digest)
        return build_digest(self.prompts, digest)

    def _remember_experiment(self, row: Any, digest: Digest) -> None:
        if digest.experiment is None:
            return
        with self.services.engine.begin() as conn:
            conn.execute(
                sa.insert(SHOWN),
                [
                    {
                        "team_id": row.team_id,
                        "user_id": row.user_id,
                        "prompt_id": digest.experiment,
                        "delivery_id": row.id,
                        "shown_at": self.services.clock.now(),
                    }
                ],
            )


def _target(row: Any, tz: str | None) -> Target:
    zone = ZoneInfo(tz or "UTC")
    start = datetime.fromisoformat((row.payload or {}).get("week_start") or row.due_at.isoformat())
    _, label = week_of(start, zone)
    return Target(row.team_id, row.user_id, zone, start, row.due_at, label)


def digest_so_far(services: Services, *, team_id: str, user_id: str) -> Message:
    """``/heedful digest``: this week until now, at once, without touching the weekly one."""
    prompts = load_prompts()
    now = services.clock.now()
    u = USERS.c
    with read_only(services.engine) as conn:
        tz = conn.execute(
            sa.select(u.tz).where(u.team_id == team_id, u.slack_user_id == user_id)
        ).scalar()
    zone = ZoneInfo(tz or "UTC")
    start, label = week_of(now, zone)
    target = Target(team_id, user_id, zone, start, now, label)
    week = load_weeks(services, [target])[(team_id, user_id)]
    digest = summarize(target, week, prompts, now=now, so_far=True)
    if not week.meetings:
        text = prompts.text("digest.nothing_yet")
        return Message(text=text)
    if digest.answered == 0:
        return build_digest_note(prompts, digest)
    return build_digest(prompts, digest)

"""What ``bench/burst.py`` is made of: the world (the emulator limited to R messages a
second, people, their meetings planned from calendar feeds), the worker processes, the
driver that moves the shared virtual clock, and the figures read back from the
emulator's records and the database.

Time: one :class:`bot.clock.SharedClock` (a small mapped file) is the clock of the
driver, of the emulator (its rate limits, message ``ts`` and scheduled posts) and of
every worker process (the sender, the budget, the pre-scheduler). The driver stops it
while it plans, lets it run at ``speed`` times real time while anything is due or
being sent, and jumps it forward while every worker is idle and nothing falls due
before the jump's end.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _common import Database, percentile

TEAM_SECRET = "burst-signing-secret"
ZONE = "Europe/Berlin"
DOMAIN = "example.com"
MEETING_MINUTES = 30
LEAD = timedelta(minutes=5)  # Heedful's default reminder lead (prefs.lead_minutes)
CREATED_LATE = timedelta(minutes=3)  # "created late": the meeting appears this long before
KNOWN_AHEAD = timedelta(hours=24)  # "known a day ahead": planned this long before
AFTER = timedelta(minutes=3)  # time runs on to start + AFTER
MAX_JUMP = timedelta(minutes=10)  # the longest jump while idle (a pre-scheduler's horizon)
REMINDER_KINDS = ("reminder", "transition")
POLL = 0.02  # seconds of wall time between two looks of the driver


# --------------------------------------------------------------------------- the feeds


def meeting_ics(email: str, others: Sequence[str], uid: str, start: datetime) -> bytes:
    """A person's calendar feed: one meeting with ``others``, as Google writes it."""
    end = start + timedelta(minutes=MEETING_MINUTES)
    stamp = "%Y%m%dT%H%M%SZ"
    attendees = [
        f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN={a}:mailto:{a}"
        for a in (email, *others)
    ]
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "BEGIN:VEVENT",
        f"DTSTART:{start.astimezone(UTC).strftime(stamp)}",
        f"DTEND:{end.astimezone(UTC).strftime(stamp)}",
        "DTSTAMP:20260101T000000Z",
        f"UID:{uid}",
        f"ORGANIZER;CN={others[0]}:mailto:{others[0]}",
        *attendees,
        "STATUS:CONFIRMED",
        "SUMMARY:Planning",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


# --------------------------------------------------------------------------- the world


@dataclass
class Case:
    """One of the two cases: its people and its meeting's start."""

    name: str  # "day_ahead" | "late_created"
    users: list[str]
    start: datetime
    planned_at: datetime


def people(prefix: str, n: int) -> list[str]:
    return [f"U{prefix}{i:05d}" for i in range(n)]


def email_of(user: str) -> str:
    return f"{user.lower()}@{DOMAIN}"


def seed_people(engine: Any, team_id: str, users: Sequence[str], now: datetime) -> None:
    """The people, opted in (they connected a calendar), in Europe/Berlin: one Core
    insert (not timed)."""
    from bot.storage.models import SlackUser

    table = SlackUser.__table__  # type: ignore[attr-defined]
    rows = [
        {
            "team_id": team_id,
            "slack_user_id": user,
            "tz": ZONE,
            "tz_checked_at": now,
            "email": email_of(user),
            "prefs": {},
            "opted_in_at": now,
            "created_at": now,
        }
        for user in users
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(table), rows)


def plan_case(services: Any, case: Case, *, team_id: str, threads: int) -> float:
    """Each person's feed read the way a feed refresh reads a changed body: parsed by
    ``bot.calendars.ics.parse_ics`` over the refresh's window, then
    ``bot.occurrences.apply_occurrences`` (store, re-plan, write the outbox). Returns
    the wall seconds it took (the clock is stopped meanwhile)."""
    from bot.calendars.ics import parse_ics
    from bot.occurrences import apply_occurrences
    from bot.sync.feeds import _window

    now = services.clock.now()
    window = _window(now)
    source = f"ics:burst-{case.name}"

    def one(i_user: tuple[int, str]) -> None:
        i, user = i_user
        others = [email_of(f"G{i:05d}a"), email_of(f"G{i:05d}b")]
        body = meeting_ics(email_of(user), others, f"{case.name}-{i}@burst", case.start)
        parsed = parse_ics(
            body,
            source=source,
            start=window[0],
            end=window[1],
            user_emails=(email_of(user),),
            default_tz=ZONE,
        )
        apply_occurrences(
            services,
            team_id=team_id,
            user_id=user,
            source=source,
            occurrences=parsed.occurrences,
            window=window,
        )

    began = time.perf_counter()
    if threads <= 1:
        for item in enumerate(case.users):
            one(item)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, enumerate(case.users)))
    return time.perf_counter() - began


# --------------------------------------------------------------------------- workers


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to build the real app (pickled to the child)."""

    index: int
    database_url: str
    api_url: str
    bot_token: str
    clock_path: str
    per_minute: float
    verbose: bool


# One row per worker in the shared status array: iterations run, whether the last one
# did any work, and what its pre-scheduler and its sender handled in all.
STATUS_FIELDS = 5
ITERATIONS, BUSY, PRESCHEDULED, SENT, HAS_PRESCHEDULER = range(STATUS_FIELDS)


def worker_main(spec: WorkerSpec, status: Any, stop: Any, ready: Any) -> None:
    """A worker OS process: the real app (no HTTP server, no ticker) on the shared
    clock, looping ``prescheduler.run_once()`` (when the app has one) and
    ``sender.run_once()`` until told to stop. Between idle rounds it sleeps a few ms of
    wall time, less when the next delivery falls due sooner on the running clock."""
    from bot.app import Heedful
    from bot.clock import SharedClock
    from bot.config import Settings
    from bot.services import build_services
    from bot.storage.db import make_engine

    logging.basicConfig(
        level=logging.INFO if spec.verbose else logging.WARNING,
        format=f"%(asctime)s w{spec.index} %(levelname)s %(name)s: %(message)s",
    )
    clock = SharedClock(spec.clock_path)
    settings = Settings(
        slack_bot_token=spec.bot_token,
        slack_signing_secret=TEAM_SECRET,
        slack_api_url=spec.api_url,
        database_url=spec.database_url,
        slack_messages_per_minute=spec.per_minute,
    )
    engine = make_engine(spec.database_url)
    services = build_services(settings, clock=clock, engine=engine)
    services.worker_id = f"burst-w{spec.index}:{os.getpid()}"
    app = Heedful(services, serve_http=False, run_workers=False)
    prescheduler = getattr(app, "prescheduler", None)
    row = spec.index * STATUS_FIELDS
    status[row + HAS_PRESCHEDULER] = 1.0 if prescheduler is not None else 0.0
    ready.set()
    try:
        while not stop.is_set():
            scheduled = prescheduler.run_once() if prescheduler is not None else 0
            handled = app.sender.run_once()
            with status.get_lock():
                status[row + ITERATIONS] += 1
                status[row + BUSY] = 1.0 if (scheduled or handled) else 0.0
                status[row + PRESCHEDULED] += scheduled
                status[row + SENT] += handled
            if not (scheduled or handled):
                time.sleep(_idle_sleep(app, clock))
    finally:
        app.stop()
        engine.dispose()
        clock.close()


def _idle_sleep(app: Any, clock: Any) -> float:
    speed = clock.speed
    if not speed:
        return 0.005
    due_in = app.sender.seconds_until_due()
    if due_in is None:
        return 0.02
    return min(0.02, max(0.0, due_in / speed))


class Workers:
    """``count`` worker processes (spawned, so each builds its own app from scratch)."""

    def __init__(self, specs: Sequence[WorkerSpec]) -> None:
        ctx = mp.get_context("spawn")
        self.count = len(specs)
        self.status = ctx.Array("d", self.count * STATUS_FIELDS)
        self.stop_event = ctx.Event()
        readies = [ctx.Event() for _ in specs]
        self.procs = [
            ctx.Process(
                target=worker_main,
                args=(spec, self.status, self.stop_event, ready),
                name=f"burst-worker-{spec.index}",
            )
            for spec, ready in zip(specs, readies, strict=True)
        ]
        for proc in self.procs:
            proc.start()
        for proc, ready in zip(self.procs, readies, strict=True):
            while not ready.wait(0.1):
                if not proc.is_alive():
                    raise RuntimeError(f"{proc.name} exited ({proc.exitcode}) before it was ready")

    def snapshot(self) -> list[list[float]]:
        with self.status.get_lock():
            flat = list(self.status)
        return [flat[i : i + STATUS_FIELDS] for i in range(0, len(flat), STATUS_FIELDS)]

    def alive(self) -> None:
        for proc in self.procs:
            if not proc.is_alive():
                raise RuntimeError(f"{proc.name} exited ({proc.exitcode})")

    def idle_since(self, marks: list[float]) -> bool:
        """Every worker ran two whole rounds since ``marks`` (their iteration counts) and
        its last round did nothing."""
        self.alive()
        return all(
            row[ITERATIONS] >= mark + 2 and not row[BUSY]
            for row, mark in zip(self.snapshot(), marks, strict=True)
        )

    @property
    def have_prescheduler(self) -> bool:
        return all(row[HAS_PRESCHEDULER] for row in self.snapshot())

    def marks(self) -> list[float]:
        return [row[ITERATIONS] for row in self.snapshot()]

    def close(self) -> None:
        self.stop_event.set()
        for proc in self.procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=10)


# --------------------------------------------------------------------------- the driver


@dataclass
class World:
    """One case's world: a private database, the emulator, the driver's own services
    (for planning) and the worker processes, all on one shared clock."""

    db: Database
    emu: Any
    clock: Any
    services: Any
    workers: Workers
    rate: float
    jumps: int = 0

    def outbox_busy(self) -> tuple[bool, datetime | None]:
        """(anything claimed or due now, when the next pending row becomes due)."""
        from bot.storage.models import Delivery

        t = Delivery.__table__.c  # type: ignore[attr-defined]
        with self.db.engine.connect() as conn:
            claimed = conn.execute(
                sa.select(sa.func.count()).where(t.state == "claimed")
            ).scalar_one()
            nxt = conn.execute(
                sa.select(sa.func.min(t.available_at)).where(t.state == "pending")
            ).scalar_one()
        if nxt is not None and nxt.tzinfo is None:
            nxt = nxt.replace(tzinfo=UTC)
        return bool(claimed) or (nxt is not None and nxt <= self.clock.now()), nxt

    def run_until(self, end: datetime, speed: float) -> None:
        """Let the clock run at ``speed`` until ``end``; while every worker is idle and
        nothing is due, jump ahead (at most :data:`MAX_JUMP`, to a second before the next
        due row or to ``end``). Stops the clock at the end (never setting it back)."""
        clock, workers = self.clock, self.workers
        clock.run(speed)
        marks = workers.marks()
        while True:
            now = clock.now()
            if now >= end:
                clock.run(0.0)
                self.emu.tick()
                return
            if workers.idle_since(marks):
                busy, nxt = self.outbox_busy()
                if not busy:
                    target = min(end, now + MAX_JUMP)
                    if nxt is not None:
                        target = min(target, nxt - timedelta(seconds=1))
                    if target > now + timedelta(seconds=1):
                        clock.set(target)
                        clock.run(speed)
                        self.jumps += 1
                        self.emu.tick()
                        marks = workers.marks()
                        continue
            time.sleep(POLL)


@contextmanager
def world(
    backend: str,
    *,
    rate: float,
    workers: int,
    start: datetime,
    users: Sequence[str],
    pg_url: str,
    verbose: bool,
) -> Iterator[World]:
    """The emulator (R messages a second for the workspace, on the shared clock), a
    private database with the workspace installed and the people seeded, and the
    worker processes; the clock stopped at ``start``."""
    from _common import private_database

    from bot.clock import SharedClock
    from bot.config import Settings
    from bot.emulator import RateLimits, SlackEmulator
    from bot.services import build_services

    with tempfile.TemporaryDirectory(prefix="heedful-burst-") as tmp:
        clock = SharedClock.create(Path(tmp) / "clock", start)
        emu = SlackEmulator(
            signing_secret=TEAM_SECRET,
            socket_mode=False,
            rate_limits=RateLimits(messages_per_second=rate),
            clock=clock.now,
        ).start()
        try:
            for user in users:
                emu.add_user(user, tz=ZONE, email=email_of(user))
            with private_database(backend, pg_url=pg_url) as db:
                per_minute = 60.0 * rate
                settings = Settings(
                    slack_bot_token=emu.bot_token,
                    slack_signing_secret=TEAM_SECRET,
                    slack_api_url=emu.api_url,
                    database_url=db.url,
                    slack_messages_per_minute=per_minute,
                )
                services = build_services(settings, clock=clock, engine=db.engine)
                services.install_from_token(emu.bot_token)
                seed_people(db.engine, emu.team_id, users, clock.now())
                specs = [
                    WorkerSpec(
                        i, db.url, emu.api_url, emu.bot_token, str(clock.path), per_minute, verbose
                    )
                    for i in range(workers)
                ]
                pool = Workers(specs)
                try:
                    yield World(db, emu, clock, services, pool, rate)
                finally:
                    pool.close()
                    services.slow_work.shutdown()
                    services.http.close()
        finally:
            emu.stop()
            clock.close()


# --------------------------------------------------------------------------- figures


@dataclass
class Figures:
    """What one case measured (emulator records and database states)."""

    case: str
    n: int
    planned: int
    arrived: int
    on_time: int
    lateness: list[float]  # seconds after the due time, first reminder of each person
    duplicates: int
    expired: int
    states: dict[str, int]
    sent_after_start: int
    rate_limited: dict[str, int]
    post_requests: int
    scheduled_requests: int
    prescheduled: float
    window: float  # late case: seconds during which messages were waiting
    accepted_in_window: int
    rate: float
    plan_seconds: float
    run_seconds: float
    jumps: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def on_time_fraction(self) -> float:
        return self.on_time / self.n if self.n else 0.0

    @property
    def posted_rate(self) -> float:
        return self.accepted_in_window / self.window if self.window > 0 else 0.0

    @property
    def rate_ratio(self) -> float:
        return self.posted_rate / self.rate

    @property
    def fraction_429(self) -> float:
        refused = self.rate_limited.get("chat.postMessage", 0)
        return refused / self.post_requests if self.post_requests else 0.0

    def lateness_p(self, pct: float) -> float | None:
        return percentile(self.lateness, pct) if self.lateness else None

    def summary(self) -> dict[str, Any]:
        p50, p99 = self.lateness_p(50), self.lateness_p(99)
        return {
            "n": self.n,
            "planned": self.planned,
            "arrived": self.arrived,
            "on_time_fraction": round(self.on_time_fraction, 4),
            "lateness_p50_s": None if p50 is None else round(p50, 3),
            "lateness_p99_s": None if p99 is None else round(p99, 3),
            "rate_limited": dict(self.rate_limited),
            "duplicates": self.duplicates,
            "expired": self.expired,
            "states": dict(self.states),
            "sent_after_start": self.sent_after_start,
            "post_requests": self.post_requests,
            "schedule_requests": self.scheduled_requests,
            "rate_ratio": round(self.rate_ratio, 4),
            "fraction_429": round(self.fraction_429, 5),
            "window_s": round(self.window, 3),
            "plan_wall_s": round(self.plan_seconds, 1),
            "run_wall_s": round(self.run_seconds, 1),
            "clock_jumps": self.jumps,
            **self.extra,
        }


def _reminder_kind(message: dict[str, Any], start: datetime) -> bool:
    meta = message.get("metadata") or {}
    payload = meta.get("event_payload") or {}
    if payload:
        return payload.get("kind") in REMINDER_KINDS
    # Messages handed to Slack ahead of time carry no metadata: before the meeting's end,
    # the only message a person gets about it is its reminder.
    return float(message["ts"]) < (start + timedelta(minutes=MEETING_MINUTES)).timestamp()


def measure(
    w: World,
    case: Case,
    *,
    before: Counter[str],
    calls_before: Counter[str],
    plan_seconds: float,
    run_seconds: float,
) -> Figures:
    """Read back what happened to the case's reminders."""
    from bot.storage.models import Delivery

    t = Delivery.__table__.c  # type: ignore[attr-defined]
    mine = set(case.users)
    with w.db.engine.connect() as conn:
        rows = [
            r
            for r in conn.execute(
                sa.select(t.user_id, t.due_at, t.state, t.claimed_by).where(
                    t.kind.in_(REMINDER_KINDS)
                )
            )
            if r.user_id in mine
        ]
    due = {r.user_id: _utc(r.due_at).timestamp() for r in rows}
    states = Counter(r.state for r in rows)
    # Which worker process sent them (its id ends ":<pid>"): both must take part.
    senders = Counter(str(r.claimed_by).split(":")[0] for r in rows if r.state == "sent")
    start = case.start.timestamp()
    arrivals: dict[str, list[float]] = {}
    for user in case.users:
        got = [float(m["ts"]) for m in w.emu.bot_messages(user) if _reminder_kind(m, case.start)]
        if got:
            arrivals[user] = sorted(got)
    firsts = {user: times[0] for user, times in arrivals.items()}
    every = [ts for times in arrivals.values() for ts in times]
    lateness = [firsts[u] - due[u] for u in firsts if u in due]
    refused = Counter(w.emu.rate_limited) - before
    calls = Counter(c.method for c in w.emu.calls) - calls_before
    in_time = sorted(ts for ts in every if ts < start)
    # Messages wait from the moment they are both known and due.
    waiting_from = max([case.planned_at.timestamp(), min(due.values(), default=start)])
    window = (in_time[-1] - waiting_from) if in_time else 0.0
    snapshot = w.workers.snapshot()
    return Figures(
        case=case.name,
        n=len(case.users),
        planned=len(rows),
        arrived=len(firsts),
        on_time=sum(1 for ts in firsts.values() if ts < start),
        lateness=lateness,
        duplicates=sum(1 for times in arrivals.values() if len(times) > 1),
        expired=states.get("expired", 0),
        states=dict(states),
        sent_after_start=sum(1 for ts in every if ts >= start),
        rate_limited=dict(refused),
        post_requests=calls.get("chat.postMessage", 0),
        scheduled_requests=calls.get("chat.scheduleMessage", 0),
        prescheduled=sum(row[PRESCHEDULED] for row in snapshot),
        window=window,
        accepted_in_window=len(in_time),
        rate=w.rate,
        plan_seconds=plan_seconds,
        run_seconds=run_seconds,
        jumps=w.jumps,
        extra={"sent_by_worker": dict(sorted(senders.items()))},
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None

"""What ``bench/sync.py`` shares between calendars: the week, the set-up both worlds have in
common, phase timing, the alternating measurement loop and the printout.

A calendar (:class:`Calendar`: ``_sync_google.Google``, ``_sync_microsoft.Microsoft``) says
how to build its world (the real app, the Slack emulator, its fake provider, one connected
person), how to move a meeting in the fake, announce it, read the reminders back, make the
bare baseline GET and which of Heedful's functions to time. Everything timed, checked and
printed is here, once, so the two calendars are measured the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from _common import Database, median, percentile, private_database, verdict

GOAL_RATIO = 1.5
SECRET = "bench-signing-secret"
PUBLIC = "https://heedful.test"
ANA = "ana@example.com"
ZONE = ZoneInfo("Europe/Berlin")
MOVE = timedelta(minutes=10)
WARMUP = 2

# --------------------------------------------------------------------------- the week

# add(start, minutes, title, guests, every): every is None, "weekday" (Monday to Friday,
# two weeks) or "week" (eight weeks).
AddMeeting = Callable[[datetime, int, str, list[str], str | None], None]


def working_days(after: date, n: int = 5) -> list[date]:
    days: list[date] = []
    day = after
    while len(days) < n:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def _people(prefix: str, n: int, domain: str = "example.com") -> list[str]:
    return [f"{prefix}{i}@{domain}" for i in range(n)]


def add_week(add: AddMeeting, days: list[date]) -> None:
    """The person's 40 meetings of the next five working days (series go on beyond them)."""
    team = _people("team", 5)
    # Recurring series (9 in the week): a daily stand-up, three weekly 1:1s with reports,
    # a weekly leadership sync.
    add(at(days[0], 9, 30), 15, "Stand-up", team, "weekday")
    for i, report in enumerate(("ben", "chloe", "dev")):
        add(at(days[i + 1], 10), 30, f"1:1 {report}", [f"{report}@example.com"], "week")
    add(at(days[0], 16), 60, "Leadership sync", _people("lead", 7), "week")
    # An all-hands with 150 people (1).
    add(at(days[3], 17), 45, "All-hands", _people("staff", 150), None)
    # Four meetings with people of another company (4).
    for i in range(4):
        guests = [f"buyer{i}@customer.example", f"cto{i}@customer.example", "sales@example.com"]
        add(at(days[i], 14), 45, f"Customer call {i}", guests, None)
    # 1:1s and small groups at the free hours (26).
    slots = [
        (d, hour, minute)
        for d in range(len(days))
        for hour, minute in ((8, 30), (11, 0), (12, 0), (13, 0), (15, 0), (17, 0))
        if (d, hour) != (3, 17)
    ]
    for i, (d, hour, minute) in enumerate(slots[:26]):
        if i % 2 == 0:
            add(at(days[d], hour, minute), 30, f"1:1 peer {i}", [f"peer{i}@example.com"], None)
        else:
            guests = _people(f"g{i}-", 2 + i % 4)
            add(at(days[d], hour, minute), 30, f"Working group {i}", guests, None)


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    """The running app, the fakes and the connected person."""

    heedful: Any
    fake: Any
    emu: Any
    db: Database
    team_id: str
    source_id: int
    days: list[date]


def browse(heedful: Any, url: str) -> int:
    """Open ``url`` as a browser would, following redirects; Heedful's public address is
    served by the app's loopback port, as behind a reverse proxy. Returns the last status."""
    import httpx

    for _ in range(5):
        local = url.replace(PUBLIC, heedful.url, 1) if url.startswith(PUBLIC) else url
        answer = httpx.get(local, follow_redirects=False, timeout=30)
        if answer.status_code not in (302, 303) or "location" not in answer.headers:
            return answer.status_code
        url = answer.headers["location"]
    raise RuntimeError("too many redirects")


@contextlib.contextmanager
def app_world(
    db: Database, settings_for: Callable[[Any], dict[str, Any]]
) -> Iterator[tuple[Any, Any, Any]]:
    """The Slack emulator with the person, and the real app (HTTP on loopback, no workers)
    on the system clock; ``settings_for(emu)`` adds the calendar's own settings. Yields
    (heedful, emu, clock)."""
    from bot.app import Heedful
    from bot.clock import SystemClock
    from bot.config import Settings
    from bot.emulator import SlackEmulator
    from bot.services import build_services
    from bot.storage import repository as repo
    from bot.storage.db import session_scope

    clock = SystemClock()
    emu = SlackEmulator(signing_secret=SECRET).start()
    heedful = None
    try:
        emu.add_user("U1", tz="Europe/Berlin", email=ANA, real_name="Ana")
        settings = Settings(
            slack_bot_token=emu.bot_token,
            slack_signing_secret=SECRET,
            slack_api_url=emu.api_url,
            database_url=db.url,
            port=0,
            public_url=PUBLIC,
            **settings_for(emu),
        )
        services = build_services(settings, clock=clock, engine=db.engine)
        services.install_from_token(emu.bot_token)
        heedful = Heedful(services, run_workers=False)
        heedful.start()
        with session_scope(services.engine) as session:
            user = repo.ensure_user(
                session=session, team_id=emu.team_id, user_id="U1", now=clock.now()
            )
            user.tz, user.email = "Europe/Berlin", ANA
            session.add(user)
        yield heedful, emu, clock
    finally:
        if heedful is not None:
            heedful.stop()
        emu.stop()


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def reminders_by(
    w: World, event_id: Callable[[str | None, str], str | None]
) -> dict[str, tuple[str, datetime]]:
    """Provider event id → (state, due time) of each reminder; ``event_id`` maps a
    delivery's occurrence key and ref to it (None: leave the reminder out)."""
    from bot.storage.models import Delivery

    table = Delivery.__table__  # type: ignore[attr-defined]
    with w.db.engine.connect() as conn:
        found = conn.execute(
            sa.select(table.c.occurrence_key, table.c.ref, table.c.state, table.c.due_at).where(
                table.c.kind == "reminder"
            )
        ).all()
    out = {}
    for key, ref, state, due in found:
        known = event_id(key, ref)
        if known is not None:
            out[known] = (state, utc(due))
    return out


def week_meetings(w: World) -> int:
    from bot.storage.models import OccurrenceRow

    table = OccurrenceRow.__table__  # type: ignore[attr-defined]
    first = at(w.days[0], 0).astimezone(UTC)
    end = at(w.days[-1] + timedelta(days=1), 0).astimezone(UTC)
    with w.db.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(table.c.start_at >= first, table.c.start_at < end)
            ).scalar_one()
        )


def make_due(w: World) -> None:
    """The calendar's periodic sync is due now (not timed; time itself is not moved)."""
    from bot.storage.models import CalendarSource

    table = CalendarSource.__table__  # type: ignore[attr-defined]
    with w.db.engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.id == w.source_id)
            .values(next_check_at=datetime.now(UTC) - timedelta(seconds=1))
        )


# --------------------------------------------------------------------------- phases


class Phases:
    """Time spent inside a few of Heedful's functions, per run (wrappers only add time).

    A function that is not there (renamed since) is left out and named in :attr:`missing`,
    so the benchmark still runs and says which phase it could not see."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.missing: list[str] = []
        self._undo: list[Callable[[], None]] = []

    def _found(self, owner: Any, name: str) -> bool:
        present = name in owner.__dict__ if isinstance(owner, type) else hasattr(owner, name)
        if not present:
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{name}")
        return present

    def wrap(self, owner: Any, name: str, label: str) -> None:
        if not self._found(owner, name):
            return
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        inner = original.fget if isinstance(original, property) else original

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.current[label] += time.perf_counter() - began

        setattr(owner, name, property(timed) if isinstance(original, property) else timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def wrap_generator(self, owner: Any, name: str, label: str) -> None:
        """Like :meth:`wrap`, for a generator function: the time of each step counts."""
        if not self._found(owner, name):
            return
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            steps = original(*args, **kwargs)
            while True:
                began = time.perf_counter()
                try:
                    item = next(steps)
                except StopIteration:
                    return
                finally:
                    self.current[label] += time.perf_counter() - began
                yield item

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def take(self) -> dict[str, float]:
        taken, self.current = dict(self.current), defaultdict(float)
        return taken

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()
        self._undo.clear()


# --------------------------------------------------------------------------- a calendar


class Calendar:
    """One kind of calendar, as the measurement loop needs it (subclasses fill it in)."""

    name: ClassVar[str]  # "google", "microsoft": the JSON's ``calendar``
    title: ClassVar[str]  # "Google", "Microsoft"
    heading: ClassVar[str]  # "sync", …: the "-- <heading>, <backend>: …" line
    a_label: ClassVar[str]  # the A line, 39 characters wide
    b_label: ClassVar[str]
    context_label: ClassVar[str]
    context_key: ClassVar[str]  # the JSON key of the context figure
    context_ratio_key: ClassVar[str | None] = None  # also print (and keep) A / context
    notified: ClassVar[int]  # the status the hook answers a notification with

    def world(self, db: Database) -> contextlib.AbstractContextManager[World]:
        raise NotImplementedError

    def reminders(self, w: World) -> dict[str, tuple[str, datetime]]:
        """Event id → (state, due time) of each reminder."""
        raise NotImplementedError

    def single(self, w: World, event_id: str) -> bool:
        """A one-off meeting (not a series' instance): the one to move."""
        raise NotImplementedError

    def start_of(self, w: World, event_id: str) -> datetime:
        raise NotImplementedError

    def move(self, w: World, event_id: str, start: datetime) -> None:
        """Move the meeting in the fake, announcing nothing."""
        raise NotImplementedError

    def baseline(self, w: World) -> Callable[[], list[str]]:
        """B: one bare incremental read; returns the ids it reports."""
        raise NotImplementedError

    def context(self, w: World) -> Callable[[], list[str]]:
        """The same read another way, printed for context only."""
        raise NotImplementedError

    def notify(self, w: World) -> int:
        """The fake announces the change to Heedful's hook; the status it got back."""
        raise NotImplementedError

    def periodic(self, w: World) -> int:
        """Heedful's periodic sync step; how many calendars it synced."""
        raise NotImplementedError

    def instrumented(self) -> contextlib.AbstractContextManager[Phases]:
        raise NotImplementedError

    def by_phase(self, notify: float, taken: dict[str, float], total: float) -> dict[str, float]:
        """The phases of one notified sync, in order, adding up to ``total``."""
        raise NotImplementedError


# --------------------------------------------------------------------------- measuring


@dataclass
class Case:
    calendar: str
    context_key: str
    backend: str
    latency_ms: float
    push: list[float]
    bare: list[float]
    client: list[float]
    periodic: list[float]
    bare_empty: list[float]
    phases: dict[str, float]
    unmeasured: list[str] = field(default_factory=list)
    context_ratio_key: str | None = None

    def summary(self) -> dict[str, Any]:
        a, b, c = median(self.push), median(self.bare), median(self.periodic)
        b0 = median(self.bare_empty)
        return {
            "calendar": self.calendar,
            "backend": self.backend,
            "api_latency_ms": self.latency_ms,
            "push_to_stored_ms": round(a * 1e3, 3),
            "push_to_stored_p90_ms": round(percentile(self.push, 90) * 1e3, 3),
            "bare_list_ms": round(b * 1e3, 3),
            self.context_key: round(median(self.client) * 1e3, 3),
            "ratio": round(a / b, 3),
            **(
                {self.context_ratio_key: round(a / median(self.client), 3)}
                if self.context_ratio_key
                else {}
            ),
            "goal": GOAL_RATIO,
            "pass": a / b <= GOAL_RATIO,
            "unchanged_sync_ms": round(c * 1e3, 3),
            "bare_empty_list_ms": round(b0 * 1e3, 3),
            "unchanged_ratio": round(c / b0, 3),
        }


def measure(cal: Calendar, w: World, latency_ms: float, reps: int, backend: str) -> Case:
    """A and B (and the context read), alternating, then C against B with no change."""
    w.fake.latency = latency_ms / 1000
    bare, client = cal.baseline(w), cal.context(w)
    pending = sorted(
        (due, event_id)
        for event_id, (state, due) in cal.reminders(w).items()
        if state == "pending" and cal.single(w, event_id)
    )
    if not pending:
        raise RuntimeError("no pending reminder to move")
    _, moved_id = pending[len(pending) // 2]
    push: list[float] = []
    bare_t: list[float] = []
    client_t: list[float] = []
    runs: list[tuple[float, dict[str, float], float]] = []
    with cal.instrumented() as phases:
        for rep in range(WARMUP + reps):
            delta = MOVE if rep % 2 == 0 else -MOVE
            start = cal.start_of(w, moved_id) + delta
            before = cal.reminders(w)[moved_id][1]
            cal.move(w, moved_id, start)  # not announced

            def one_bare() -> None:
                began = time.perf_counter()
                ids = bare()
                bare_t.append(time.perf_counter() - began)
                if ids != [moved_id]:
                    raise RuntimeError("the bare read did not return the one change")

            def one_client() -> None:
                began = time.perf_counter()
                ids = client()
                client_t.append(time.perf_counter() - began)
                if ids != [moved_id]:
                    raise RuntimeError("the context read did not return the one change")

            def one_push() -> None:
                phases.take()
                began = time.perf_counter()
                status = cal.notify(w)
                acked = time.perf_counter()
                handled = w.heedful.process_inbox()
                done = time.perf_counter()
                if status != cal.notified or handled != 1:
                    raise RuntimeError(f"the hook answered {status}, {handled} row(s) run")
                push.append(done - began)
                runs.append((done - began, phases.take(), acked - began))

            order = [one_bare, one_client, one_push]
            for step in order if rep % 2 else order[::-1]:
                step()
            state, due = cal.reminders(w)[moved_id]
            if (state, due) != ("pending", before + delta):
                raise RuntimeError(f"the moved reminder is {state} at {due}, not {before + delta}")
            if rep < WARMUP:
                for warm in (push, bare_t, client_t, runs):
                    warm.clear()
        periodic: list[float] = []
        bare_empty: list[float] = []
        for rep in range(WARMUP + reps):
            make_due(w)
            began = time.perf_counter()
            synced = cal.periodic(w)
            periodic.append(time.perf_counter() - began)
            if synced != 1:
                raise RuntimeError("the periodic sync did not run")
            began = time.perf_counter()
            ids = bare()
            bare_empty.append(time.perf_counter() - began)
            if ids:
                raise RuntimeError("something changed during the unchanged sync")
            if rep < WARMUP:
                for warm in (periodic, bare_empty):
                    warm.clear()
    runs.sort(key=lambda run: run[0])
    middle = runs[len(runs) // 2]
    return Case(
        cal.name,
        cal.context_key,
        backend,
        latency_ms,
        push,
        bare_t,
        client_t,
        periodic,
        bare_empty,
        cal.by_phase(middle[2], middle[1], middle[0]),
        phases.missing,
        cal.context_ratio_key,
    )


def report(cal: Calendar, case: Case) -> bool:
    s = case.summary()
    a, a90 = s["push_to_stored_ms"], s["push_to_stored_p90_ms"]
    print(f"   API latency {case.latency_ms:g} ms")
    print(f"   {cal.a_label:<39}: {a:8.2f} ms  (p90 {a90:.2f} ms)")
    print(f"   {cal.b_label:<39}: {s['bare_list_ms']:8.2f} ms")
    print(f"     {cal.context_label:<37}: {s[case.context_key]:8.2f} ms")
    print(f"   ratio A/B = {s['ratio']:.2f}x (goal <= {GOAL_RATIO}x)  {verdict(s['pass'])}")
    if case.context_ratio_key:
        print(f"     A / {cal.context_label} = {s[case.context_ratio_key]:.2f}x (no goal)")
    print("     the median push, by phase (ms):")
    for label, seconds in case.phases.items():
        print(f"       {label:<40}: {seconds * 1e3:7.2f}")
    if case.unmeasured:
        print(f"       (not found, so not timed: {', '.join(case.unmeasured)})")
    print(
        f"   C unchanged periodic sync             : {s['unchanged_sync_ms']:8.2f} ms"
        f" = {s['unchanged_ratio']:.2f}x a bare GET with no change"
        f" ({s['bare_empty_list_ms']:.2f} ms)"
    )
    return bool(s["pass"])


def bench(cal: Calendar, backend: str, args: argparse.Namespace) -> list[Case]:
    reps = args.reps or (5 if args.quick else 15)
    latencies = [args.api_latency]
    if args.real_latency and args.real_latency != args.api_latency:
        latencies.append(args.real_latency)
    cases = []
    with private_database(backend, pg_url=args.pg_url) as db, cal.world(db) as w:
        print(
            f"-- {cal.heading}, {backend}: {week_meetings(w)} meetings in the week"
            f" {w.days[0]}..{w.days[-1]} (Europe/Berlin), {len(cal.reminders(w))} reminders"
            f" planned; {reps} reps after {WARMUP} warm-up"
        )
        for latency in latencies:
            case = measure(cal, w, latency, reps, backend)
            report(cal, case)
            cases.append(case)
    return cases

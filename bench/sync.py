"""Google sync benchmark: a pushed move to its stored reminder, against a bare events.list.

    python bench/sync.py                        # SQLite; API latency 0 and 150 ms (~20 s)
    python bench/sync.py --backend both
    python bench/sync.py --quick                # fewer repetitions (< 1 min)
    python bench/sync.py --api-latency 50 --real-latency 300

Set-up (not timed): the real app (``Heedful(services, run_workers=False)``, its HTTP
server on loopback), the Slack emulator, and the fake Google (``bot.emulator.FakeGoogle``,
``auto_push=False``), all on the system clock. One person (Europe/Berlin) has a 40-meeting
week in the fake: a daily stand-up and three weekly 1:1s and a leadership sync (recurring
series), a 150-person all-hands, four meetings with an outside company, 1:1s and small
groups. They connect through the real sign-in path (start link → consent → callback, the
browser played by hand) and the first sync runs and opens the push channel.

A. Push to stored: one meeting with a pending reminder is moved by ±10 minutes in the fake
   (not announced); then, timed, ``fake.push(email)`` POSTs the channel's notification
   (its real ``X-Goog-*`` headers) to ``/hooks/google``, and as soon as the 200 is back
   the same thread runs ``heedful.process_inbox()``: claim the inbox row, one incremental
   ``events.list`` with the stored sync token, ``apply_occurrences`` and the re-plan. The
   clock stops when that returns; the moved reminder's ``due_at`` is then checked to be
   the new one (a run that stored anything else is an error, not a figure).
   The worker runs in the benchmark's thread rather than on the app's ticker so that the
   figure is Heedful's work and not the scheduler's wake-up hop plus a polling period.
B. Baseline, in the same run and alternating with A: one plain HTTP GET of
   ``calendars/primary/events?singleEvents=true&maxResults=2500&syncToken=…`` to the same
   fake with the app's own ``Authorization: Bearer`` header (a new connection, as
   Heedful's client makes per sync), and ``json.loads`` of the answer, which holds the
   same one change. Goal: A <= 1.5x B. For context the script also times the same call
   through ``googleapiclient`` on a service built once.
C. An unchanged periodic sync: ``heedful.sync_google()`` (``refresh_due``: claim the due
   calendar, an incremental ``events.list`` that returns nothing, record the sync) with
   the calendar made due by setting its ``next_check_at`` back (not timed), against the
   bare GET when nothing changed. Reported, no goal.

Each case runs at an API latency of ``--api-latency`` ms (default 0: loopback, ~1 ms)
and again at ``--real-latency`` ms (default 150, about what Google takes; 0 skips it):
the fake sleeps that long before answering each Calendar API request. At 0 the ratio is
Heedful's own overhead against almost nothing; at 150 ms it is what a person would see.
Medians (and p90) after two warm-up rounds; phases of the median push are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from _common import (
    Database,
    add_common_args,
    backends,
    header,
    median,
    percentile,
    private_database,
    quiet_logging,
    verdict,
)

GOAL_RATIO = 1.5
SECRET = "bench-signing-secret"
PUBLIC = "https://heedful.test"
ANA = "ana@example.com"
ZONE = ZoneInfo("Europe/Berlin")
CLIENT_ID, CLIENT_SECRET = "heedful-bench.apps.googleusercontent.com", "bench-client-secret"
MOVE = timedelta(minutes=10)
WARMUP = 2


# --------------------------------------------------------------------------- the week


def working_days(after: date, n: int = 5) -> list[date]:
    days: list[date] = []
    day = after
    while len(days) < n:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def _people(prefix: str, n: int, domain: str = "example.com") -> list[str]:
    return [f"{prefix}{i}@{domain}" for i in range(n)]


def add_week(fake: Any, days: list[date]) -> None:
    """The person's 40 meetings of the next five working days (series go on beyond them)."""
    team = _people("team", 5)

    def add(start: datetime, minutes: int, summary: str, guests: list[str], **fields: Any) -> None:
        end = start + timedelta(minutes=minutes)
        attendees = [ANA, *guests]
        fake.add_event(ANA, summary=summary, start=start, end=end, attendees=attendees, **fields)

    # Recurring series (9 in the week): a daily stand-up, three weekly 1:1s with reports,
    # a weekly leadership sync.
    daily = "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=10"
    weekly = "RRULE:FREQ=WEEKLY;COUNT=8"
    add(_at(days[0], 9, 30), 15, "Stand-up", team, recurrence=[daily])
    for i, report in enumerate(("ben", "chloe", "dev")):
        add(
            _at(days[i + 1], 10),
            30,
            f"1:1 {report}",
            [f"{report}@example.com"],
            recurrence=[weekly],
        )
    add(_at(days[0], 16), 60, "Leadership sync", _people("lead", 7), recurrence=[weekly])
    # An all-hands with 150 people (1).
    add(_at(days[3], 17), 45, "All-hands", _people("staff", 150))
    # Four meetings with people of another company (4).
    for i in range(4):
        guests = [f"buyer{i}@customer.example", f"cto{i}@customer.example", "sales@example.com"]
        add(_at(days[i], 14), 45, f"Customer call {i}", guests)
    # 1:1s and small groups at the free hours (26).
    slots = [
        (d, hour, minute)
        for d in range(len(days))
        for hour, minute in ((8, 30), (11, 0), (12, 0), (13, 0), (15, 0), (17, 0))
        if (d, hour) != (3, 17)
    ]
    for i, (d, hour, minute) in enumerate(slots[:26]):
        if i % 2 == 0:
            add(_at(days[d], hour, minute), 30, f"1:1 peer {i}", [f"peer{i}@example.com"])
        else:
            add(_at(days[d], hour, minute), 30, f"Working group {i}", _people(f"g{i}-", 2 + i % 4))


# --------------------------------------------------------------------------- set-up


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
def world(db: Database) -> Iterator[World]:
    from bot.app import Heedful
    from bot.clock import SystemClock
    from bot.config import Settings
    from bot.emulator import FakeGoogle, SlackEmulator
    from bot.services import build_services
    from bot.storage import repository as repo
    from bot.storage.db import session_scope
    from bot.storage.models import GoogleCalendar
    from bot.sync import google

    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake is http on loopback
    clock = SystemClock()
    emu = SlackEmulator(signing_secret=SECRET).start()
    fake = FakeGoogle(clock=clock.now, auto_push=False).start()
    heedful = None
    try:
        emu.add_user("U1", tz="Europe/Berlin", email=ANA, real_name="Ana")
        fake.add_client(CLIENT_ID, CLIENT_SECRET, [f"{PUBLIC}/oauth/google/callback"])
        fake.add_account(ANA, time_zone="Europe/Berlin")
        days = working_days(clock.now().astimezone(ZONE).date())
        add_week(fake, days)
        settings = Settings(
            slack_bot_token=emu.bot_token,
            slack_signing_secret=SECRET,
            slack_api_url=emu.api_url,
            database_url=db.url,
            port=0,
            public_url=PUBLIC,
            google_client_id=CLIENT_ID,
            google_client_secret=CLIENT_SECRET,
            google_auth_uri=fake.auth_uri,
            google_token_uri=fake.token_uri,
            google_calendar_api_url=fake.calendar_api_url,
        )
        services = build_services(settings, clock=clock, engine=db.engine)
        services.install_from_token(emu.bot_token)
        heedful = Heedful(services, run_workers=False)
        heedful.start()
        fake.route(PUBLIC, heedful.url)
        with session_scope(services.engine) as session:
            user = repo.ensure_user(session, team_id=emu.team_id, user_id="U1", now=clock.now())
            user.tz, user.email = "Europe/Berlin", ANA
            session.add(user)
        link = google.connect_link(services, team_id=emu.team_id, user_id="U1")
        if browse(heedful, link) != 200:
            raise RuntimeError("connecting through the fake Google failed")
        heedful.process_inbox()  # the first (full) sync, then events.watch
        with services.engine.connect() as conn:
            gcal = conn.execute(sa.select(GoogleCalendar.__table__)).one()  # type: ignore[attr-defined]
        if not (gcal.sync_token and gcal.channel_id and gcal.resource_id):
            raise RuntimeError("the first sync did not keep a sync token and open a channel")
        yield World(heedful, fake, emu, db, emu.team_id, int(gcal.source_id), days)
    finally:
        if heedful is not None:
            heedful.stop()
        fake.stop()
        emu.stop()


# --------------------------------------------------------------------------- reading back


def reminders(w: World) -> dict[str, tuple[str, datetime]]:
    """Google event id → (state, due time) of each reminder."""
    from bot.storage.models import Delivery

    table = Delivery.__table__  # type: ignore[attr-defined]
    with w.db.engine.connect() as conn:
        found = conn.execute(
            sa.select(table.c.ref, table.c.state, table.c.due_at).where(table.c.kind == "reminder")
        ).all()
    return {ref.split("|")[1]: (state, _utc(due)) for ref, state, due in found}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def week_meetings(w: World) -> int:
    from bot.storage.models import OccurrenceRow

    table = OccurrenceRow.__table__  # type: ignore[attr-defined]
    first = _at(w.days[0], 0).astimezone(UTC)
    end = _at(w.days[-1] + timedelta(days=1), 0).astimezone(UTC)
    with w.db.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(table.c.start_at >= first, table.c.start_at < end)
            ).scalar_one()
        )


def access_token(w: World) -> str:
    from bot.storage.models import GoogleCalendar

    table = GoogleCalendar.__table__  # type: ignore[attr-defined]
    with w.db.engine.connect() as conn:
        tokens = conn.execute(sa.select(table.c.tokens)).scalar_one()
    return json.loads(w.heedful.services.cipher.decrypt(tokens))["token"]


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


# --------------------------------------------------------------------------- the baselines


class BareList:
    """One incremental ``events.list`` as a plain HTTP GET, keeping its own sync token."""

    def __init__(self, w: World) -> None:
        parts = urlsplit(w.fake.calendar_api_url)
        self.netloc = parts.netloc
        self.path = parts.path + "calendars/primary/events"
        self.headers = {"Authorization": f"Bearer {access_token(w)}", "Accept": "application/json"}
        self.token = ""
        first = self._get("singleEvents=true&maxResults=2500")
        self.token = first["nextSyncToken"]

    def _get(self, query: str) -> dict[str, Any]:
        connection = http.client.HTTPConnection(self.netloc, timeout=30)
        try:
            connection.request("GET", f"{self.path}?{query}", headers=self.headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"the fake answered {response.status} to the bare list")
        return json.loads(body)

    def __call__(self) -> list[dict[str, Any]]:
        page = self._get(
            f"singleEvents=true&maxResults=2500&syncToken={quote(self.token, safe='')}"
        )
        self.token = page["nextSyncToken"]
        return page["items"]


class ClientList:
    """The same call through ``googleapiclient`` on a service built once (for context)."""

    def __init__(self, w: World) -> None:
        from google.oauth2.credentials import Credentials
        from googleapiclient.discovery import build

        self.service = build(
            "calendar",
            "v3",
            credentials=Credentials(token=access_token(w)),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": w.fake.calendar_api_url},
        )
        first = self.service.events().list(calendarId="primary", singleEvents=True).execute()
        self.token = first["nextSyncToken"]

    def __call__(self) -> list[dict[str, Any]]:
        page = (
            self.service.events()
            .list(calendarId="primary", singleEvents=True, maxResults=2500, syncToken=self.token)
            .execute()
        )
        self.token = page["nextSyncToken"]
        return page["items"]


# --------------------------------------------------------------------------- phases


class Phases:
    """Time spent inside a few of Heedful's functions, per run (wrappers only add time)."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
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


CREDENTIALS = "client: grant + credentials"
BUILD = "client: build service"
PAGES = "events.list in all"
REQUEST = "client: events() resource + request"
CALL = "API call (HTTP + JSON)"
APPLY = "apply + re-plan"


def by_phase(notify: float, taken: dict[str, float], total: float) -> dict[str, float]:
    """The phases of one push, in order, adding up to ``total``."""
    parts = {"HTTP notify ack": notify, "inbox claim": taken.get("inbox claim", 0.0)}
    parts[CREDENTIALS] = taken.get(CREDENTIALS, 0.0)
    parts[BUILD] = taken.get(BUILD, 0.0)
    parts[REQUEST] = taken.get(PAGES, 0.0) - taken.get(BUILD, 0.0) - taken.get(CALL, 0.0)
    parts[CALL] = taken.get(CALL, 0.0)
    parts[APPLY] = taken.get(APPLY, 0.0)
    parts["inbox finish"] = taken.get("inbox finish", 0.0)
    parts["other (row reads, sync bookkeeping)"] = total - sum(parts.values())
    return parts


@contextlib.contextmanager
def instrumented() -> Iterator[Phases]:
    from bot.storage import repository
    from bot.sync import google

    phases = Phases()
    phases.wrap(repository, "claim_inbox", "inbox claim")
    phases.wrap(repository, "finish_inbox", "inbox finish")
    phases.wrap(google._Api, "__init__", CREDENTIALS)
    phases.wrap(google._Api, "calendar", BUILD)
    phases.wrap_generator(google, "_pages", PAGES)
    phases.wrap(google._Api, "call", CALL)
    phases.wrap(google, "apply_occurrences", APPLY)
    try:
        yield phases
    finally:
        phases.undo()


# --------------------------------------------------------------------------- measuring


@dataclass
class Case:
    backend: str
    latency_ms: float
    push: list[float]
    bare: list[float]
    client: list[float]
    periodic: list[float]
    bare_empty: list[float]
    phases: dict[str, float]

    def summary(self) -> dict[str, Any]:
        a, b, c = median(self.push), median(self.bare), median(self.periodic)
        b0 = median(self.bare_empty)
        return {
            "backend": self.backend,
            "api_latency_ms": self.latency_ms,
            "push_to_stored_ms": round(a * 1e3, 3),
            "push_to_stored_p90_ms": round(percentile(self.push, 90) * 1e3, 3),
            "bare_list_ms": round(b * 1e3, 3),
            "client_list_ms": round(median(self.client) * 1e3, 3),
            "ratio": round(a / b, 3),
            "goal": GOAL_RATIO,
            "pass": a / b <= GOAL_RATIO,
            "unchanged_sync_ms": round(c * 1e3, 3),
            "bare_empty_list_ms": round(b0 * 1e3, 3),
            "unchanged_ratio": round(c / b0, 3),
        }


def measure(w: World, latency_ms: float, reps: int, backend: str) -> Case:
    fake, heedful = w.fake, w.heedful
    fake.latency = latency_ms / 1000
    bare, client = BareList(w), ClientList(w)
    pending = sorted(
        (due, event_id)
        for event_id, (state, due) in reminders(w).items()
        if state == "pending" and "_" not in event_id  # a single meeting, not an instance
    )
    if not pending:
        raise RuntimeError("no pending reminder to move")
    _, moved_id = pending[len(pending) // 2]
    push: list[float] = []
    bare_t: list[float] = []
    client_t: list[float] = []
    runs: list[tuple[float, dict[str, float], float]] = []
    with instrumented() as phases:
        for rep in range(WARMUP + reps):
            event = fake.event(ANA, moved_id)
            delta = MOVE if rep % 2 == 0 else -MOVE
            start = datetime.fromisoformat(event["start"]["dateTime"]) + delta
            before = reminders(w)[moved_id][1]
            fake.move_event(ANA, moved_id, start)  # not announced

            def one_bare() -> None:
                began = time.perf_counter()
                items = bare()
                bare_t.append(time.perf_counter() - began)
                if [item["id"] for item in items] != [moved_id]:
                    raise RuntimeError("the bare list did not return the one change")

            def one_client() -> None:
                began = time.perf_counter()
                items = client()
                client_t.append(time.perf_counter() - began)
                if [item["id"] for item in items] != [moved_id]:
                    raise RuntimeError("the client list did not return the one change")

            def one_push() -> None:
                phases.take()
                began = time.perf_counter()
                (delivery,) = fake.push(ANA)
                acked = time.perf_counter()
                handled = heedful.process_inbox()
                done = time.perf_counter()
                if delivery.status != 200 or handled != 1:
                    raise RuntimeError(f"push answered {delivery.status}, {handled} row(s) run")
                push.append(done - began)
                runs.append((done - began, phases.take(), acked - began))

            order = [one_bare, one_client, one_push]
            for step in order if rep % 2 else order[::-1]:
                step()
            state, due = reminders(w)[moved_id]
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
            synced = heedful.sync_google()
            periodic.append(time.perf_counter() - began)
            if synced != 1:
                raise RuntimeError("the periodic sync did not run")
            began = time.perf_counter()
            items = bare()
            bare_empty.append(time.perf_counter() - began)
            if items:
                raise RuntimeError("something changed during the unchanged sync")
            if rep < WARMUP:
                for warm in (periodic, bare_empty):
                    warm.clear()
    runs.sort(key=lambda run: run[0])
    return Case(
        backend,
        latency_ms,
        push,
        bare_t,
        client_t,
        periodic,
        bare_empty,
        by_phase(runs[len(runs) // 2][2], runs[len(runs) // 2][1], runs[len(runs) // 2][0]),
    )


def report(case: Case) -> bool:
    s = case.summary()
    a, a90 = s["push_to_stored_ms"], s["push_to_stored_p90_ms"]
    print(f"   API latency {case.latency_ms:g} ms")
    print(f"   A heedful push -> reminder stored      : {a:8.2f} ms  (p90 {a90:.2f} ms)")
    print(f"   B bare GET events.list (1 change)      : {s['bare_list_ms']:8.2f} ms")
    print(f"     googleapiclient, service built once  : {s['client_list_ms']:8.2f} ms")
    print(f"   ratio A/B = {s['ratio']:.2f}x (goal <= {GOAL_RATIO}x)  {verdict(s['pass'])}")
    print("     the median push, by phase (ms):")
    for label, seconds in case.phases.items():
        print(f"       {label:<40}: {seconds * 1e3:7.2f}")
    print(
        f"   C unchanged periodic sync             : {s['unchanged_sync_ms']:8.2f} ms"
        f" = {s['unchanged_ratio']:.2f}x a bare GET with no change"
        f" ({s['bare_empty_list_ms']:.2f} ms)"
    )
    return bool(s["pass"])


def bench(backend: str, args: argparse.Namespace) -> list[Case]:
    reps = args.reps or (5 if args.quick else 15)
    latencies = [args.api_latency]
    if args.real_latency and args.real_latency != args.api_latency:
        latencies.append(args.real_latency)
    cases = []
    with private_database(backend, pg_url=args.pg_url) as db, world(db) as w:
        print(
            f"-- sync, {backend}: {week_meetings(w)} meetings in the week"
            f" {w.days[0]}..{w.days[-1]} (Europe/Berlin), {len(reminders(w))} reminders planned;"
            f" {reps} reps after {WARMUP} warm-up"
        )
        for latency in latencies:
            case = measure(w, latency, reps, backend)
            report(case)
            cases.append(case)
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, default_backend="sqlite")
    parser.add_argument("--reps", type=int, help="repetitions (default 15; --quick 5)")
    parser.add_argument(
        "--api-latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="the fake delays each Calendar API answer this long (default 0)",
    )
    parser.add_argument(
        "--real-latency",
        type=float,
        default=150.0,
        metavar="MS",
        help="then the same again at this latency, about Google's (default 150; 0 skips)",
    )
    args = parser.parse_args(argv)
    quiet_logging(args.verbose)
    header(f"Heedful Google sync benchmark ({datetime.now(UTC):%Y-%m-%d})")
    cases = [case for backend in backends(args.backend) for case in bench(backend, args)]
    met = sum(1 for case in cases if case.summary()["pass"])
    print(f"== sync: {met}/{len(cases)} goals met")
    summaries = [case.summary() for case in cases]
    print(json.dumps({**summaries[0], "cases": summaries}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

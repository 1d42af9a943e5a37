"""Feed refresh benchmark: what a calendar poll cycle costs at company scale (issue 13).

    python bench/refresh.py                      # 1,000 and 10,000 people, both backends
    python bench/refresh.py --people 1000        # one size
    python bench/refresh.py --backend sqlite --quick   # 100 and 1,000 people
    python bench/refresh.py --people 1000 --profile    # and a cProfile of a DTSTAMP cycle

N people in one workspace, each with an ICS feed of a realistic week (``bench/_refresh.py``:
a daily stand-up with overrides, five weekly 1:1s, a team meeting, a leadership sync, a
fortnightly planning, focus blocks, 4-5 one-off meetings a working day from two weeks
back, an all-day out-of-office a week; ~120 VEVENTs, ~110 KiB, ~78 occurrences in the planning
window), written from 12 templates (zones Berlin, New York, Kolkata) with the person's own
address. The feeds are served over loopback HTTP by a threaded server in its own OS
process. How each feed answers, by person (i % 4): half write a fresh ``DTSTAMP`` on
every VEVENT at every fetch and send no ETag; a quarter answer 304 to the ETag; a quarter
send no ETag and the same bytes.

Seeding (not timed): the people (one Core insert), then each person's source row as
``connect_feed`` leaves it (address encrypted, validators, content hash and fingerprints
of the bytes served, window expanded) and their occurrences through ``apply_occurrences``
(stored, planned, nudges in the outbox). Each template is parsed once and its occurrences
given to each person (source and, where they organise, organizer replaced); the script
checks, for 48 people across templates and kinds, that this is exactly what parsing
their own feed gives. Only the seed's parse is shortcut: the measured cycles start from the
state the real path leaves and run the real path.

Measured, per backend and size, on a virtual clock moved by one poll interval (5 min)
before each cycle, with every feed made due (not timed):

a. DTSTAMP only: ``refresh_due_sources`` (claim 50, fetch them on 8 threads, …) until it
   claims nothing; no meeting changed anywhere. Wall time per person.
b. 2 % of people with a real change on top (a one-off meeting moved by an hour, one
   added, one removed, or a stand-up instance moved: by person, i % 4); the same loop.
c. Baseline: one bare ``icalendar.Calendar.from_ical`` of a person's feed, the bytes
   fetched from the same server (not timed); mean over an even sample of up to 400
   people (all at smaller sizes), half before the cycles and half after.

dtstamp_only_ratio = a / c, two_percent_ratio = b / c (goals 0.05 and 0.1); growth = a at
the largest size / a at the smallest (goal ≤ 11× from 1,000 to 10,000); max_rss_kib
(``resource.getrusage``, the process's peak so far). The last line is a JSON list: one
object per backend and size.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from _common import add_common_args, backends, header, median, private_database, quiet_logging
from _common import verdict as _verdict
from _refresh import (
    KIND_TEXT,
    KINDS,
    Feeds,
    FeedServer,
    check_seed,
    parsed_templates,
    seed_people,
    seed_sources,
)

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday morning
DTSTAMP_GOAL = 0.05
CHANGE_GOAL = 0.1
GROWTH_GOAL = 11.0
CHANGED_SHARE = 0.02
BASELINE_SAMPLE = 400


# --------------------------------------------------------------------------- counting


class Watch:
    """Counts and times a few of ``bot.sync.feeds``' callees (the names it calls them
    by), summed over the poll's threads: what a cycle did and roughly where it went."""

    TIMED = (
        "claim_due_sources",
        "fetch_feed",
        "fingerprint",
        "only_series",
        "calendar_person",
        "parse_ics",
        "apply_occurrences",
        "_record_ok",
    )

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._undo: list[Callable[[], None]] = []

    def install(self) -> None:
        from bot.sync import feeds

        for name in self.TIMED:
            self._wrap(feeds, name)
        original = feeds.refresh_source

        def refresh_source(*args: Any, **kwargs: Any) -> str:
            outcome = original(*args, **kwargs)
            with self._lock:
                self.outcomes[outcome] += 1
            return outcome

        feeds.refresh_source = refresh_source
        self._undo.append(lambda: setattr(feeds, "refresh_source", original))

    def _wrap(self, module: Any, name: str) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.perf_counter() - began
                with self._lock:
                    self.calls[name] += 1
                    self.seconds[name] += spent

        setattr(module, name, timed)
        self._undo.append(lambda: setattr(module, name, original))

    def reset(self) -> None:
        self.outcomes, self.calls, self.seconds = Counter(), Counter(), defaultdict(float)

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()
        self._undo.clear()


@dataclass
class Cycle:
    label: str
    wall: float
    rounds: int
    outcomes: dict[str, int]
    calls: dict[str, int]
    seconds: dict[str, float]


@dataclass
class Run:
    backend: str
    people: int
    seed_seconds: float
    occurrences: int
    deliveries: int
    baseline: list[float] = field(default_factory=list)
    dtstamp: list[Cycle] = field(default_factory=list)
    changed: list[Cycle] = field(default_factory=list)
    max_rss_kib: int = 0
    profile: str | None = None

    def per_person(self, cycles: list[Cycle]) -> float:
        return median([c.wall for c in cycles]) / self.people

    @property
    def bare(self) -> float:
        return sum(self.baseline) / len(self.baseline)

    def summary(self) -> dict[str, Any]:
        a, b, c = self.per_person(self.dtstamp), self.per_person(self.changed), self.bare
        return {
            "people": self.people,
            "backend": self.backend,
            "dtstamp_only_ms_per_person": round(a * 1e3, 4),
            "two_percent_ms_per_person": round(b * 1e3, 4),
            "bare_parse_ms_per_person": round(c * 1e3, 3),
            "dtstamp_only_ratio": round(a / c, 4),
            "two_percent_ratio": round(b / c, 4),
            "dtstamp_only_cycle_s": round(median([x.wall for x in self.dtstamp]), 3),
            "two_percent_cycle_s": round(median([x.wall for x in self.changed]), 3),
            "dtstamp_only_pass": a / c <= DTSTAMP_GOAL,
            "two_percent_pass": b / c <= CHANGE_GOAL,
            "max_rss_kib": self.max_rss_kib,
            "seed_s": round(self.seed_seconds, 1),
            "occurrences": self.occurrences,
            "deliveries": self.deliveries,
            "reps": len(self.dtstamp),
        }


# --------------------------------------------------------------------------- a world


def _services(db: Any, clock: Any) -> Any:
    from cryptography.fernet import Fernet

    from bot.config import Settings
    from bot.services import build_services

    settings = Settings(
        database_url=db.url,
        allow_private_feeds=True,  # the feeds are on loopback
        # Addresses encrypted at rest, as in production.
        encryption_keys=(Fernet.generate_key().decode(),),
    )
    return build_services(settings, clock=clock, engine=db.engine)


def _count(db: Any, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def _make_due(services: Any, clock: Any) -> None:
    """One poll interval later, every feed due (not timed)."""
    from bot.storage.models import CalendarSource

    clock.advance(timedelta(minutes=services.settings.calendar_poll_minutes))
    table = CalendarSource.__table__  # type: ignore[attr-defined]
    with services.engine.begin() as conn:
        conn.execute(sa.update(table).values(next_check_at=clock.now()))


def _cycle(label: str, services: Any, watch: Watch) -> Cycle:
    from bot.sync.feeds import refresh_due_sources

    watch.reset()
    began = time.perf_counter()
    rounds = 0
    while refresh_due_sources(services):
        rounds += 1
    wall = time.perf_counter() - began
    return Cycle(label, wall, rounds, dict(watch.outcomes), dict(watch.calls), dict(watch.seconds))


def _baseline(server: FeedServer, people: list[int]) -> list[float]:
    """One bare ``icalendar.Calendar.from_ical`` per person; the bytes are fetched first
    (not timed) and dropped after."""
    import httpx
    import icalendar

    times = []
    with httpx.Client(timeout=30) as client:
        for person in people:
            body = client.get(server.url(person)).content
            began = time.perf_counter()
            icalendar.Calendar.from_ical(body)
            times.append(time.perf_counter() - began)
    return times


def _check(cycle: Cycle, people: int, changed: int) -> None:
    """A cycle checked every feed once, and parsed and stored what changed, no more."""
    checked = sum(cycle.outcomes.values())
    if checked != people:
        raise RuntimeError(f"{cycle.label}: {checked} feeds checked of {people}")
    if cycle.outcomes.get("changed", 0) != changed:
        raise RuntimeError(f"{cycle.label}: outcomes {cycle.outcomes}, {changed} changed")
    for name in ("parse_ics", "apply_occurrences"):
        if cycle.calls.get(name, 0) != changed:
            raise RuntimeError(f"{cycle.label}: {name} ran {cycle.calls.get(name, 0)} times")


def _profile(services: Any, clock: Any) -> str:
    """A DTSTAMP-only cycle run serially (``limit=1``: no thread pool, so cProfile sees
    every call) under cProfile; its top lines by own time."""
    from bot.sync.feeds import refresh_due_sources

    _make_due(services, clock)
    profiler = cProfile.Profile()
    profiler.enable()
    while refresh_due_sources(services, limit=1):
        pass
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)
    return out.getvalue()


def run(backend: str, people: int, args: argparse.Namespace) -> Run:
    from bot.clock import VirtualClock

    clock = VirtualClock(NOW)
    reps = args.reps or 1
    with FeedServer(people, NOW) as server, private_database(backend, pg_url=args.pg_url) as db:
        services = _services(db, clock)
        feeds = Feeds(NOW)
        began = time.perf_counter()
        seed_people(db.engine, people, NOW)
        templates = parsed_templates(feeds, NOW)
        check_seed(feeds, templates, NOW, people)
        threads = 4 if backend == "postgres" else 1
        if threads == 1:
            seed_sources(services, server, feeds, templates, range(people))
        else:
            with ThreadPoolExecutor(threads) as pool:
                chunks = [range(k, people, threads) for k in range(threads)]
                list(
                    pool.map(lambda r: seed_sources(services, server, feeds, templates, r), chunks)
                )
        if backend == "postgres":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        seeded = time.perf_counter() - began
        result = Run(backend, people, seeded, _count(db, "occurrence"), _count(db, "delivery"))
        print(
            f"-- {backend}, {people:,} people: seeded in {seeded:.1f} s"
            f" ({result.occurrences:,} occurrences, {result.deliveries:,} deliveries)"
        )
        step = max(1, people // BASELINE_SAMPLE)
        sample = list(range(0, people, step))[:BASELINE_SAMPLE]
        result.baseline += _baseline(server, sample[::2])
        watch = Watch()
        watch.install()
        try:
            for rep in range(reps):
                _make_due(services, clock)
                cycle = _cycle("DTSTAMP only", services, watch)
                _check(cycle, people, 0)
                result.dtstamp.append(cycle)
                # 2 % of the people, spread, a different set each repetition.
                n = max(1, round(people * CHANGED_SHARE))
                stride = people / n
                changed = sorted({int(k * stride + rep) % people for k in range(n)})
                for person in changed:
                    server.versions[person] += 1
                _make_due(services, clock)
                cycle = _cycle("2 % changed", services, watch)
                _check(cycle, people, len(changed))
                result.changed.append(cycle)
        finally:
            watch.undo()
        result.baseline += _baseline(server, sample[1::2])
        if args.profile:
            result.profile = _profile(services, clock)
        result.max_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result


# --------------------------------------------------------------------------- printout


def report(r: Run) -> None:
    s = r.summary()
    kinds = Counter(KINDS[i % len(KINDS)] for i in range(r.people))
    print("   feeds: " + "; ".join(f"{kinds[k]:,} {KIND_TEXT[k]}" for k in dict.fromkeys(KINDS)))
    print(
        f"   c  bare icalendar.Calendar.from_ical   : {s['bare_parse_ms_per_person']:9.3f} ms"
        f" a person (mean of {len(r.baseline)})"
    )
    for label, cycles, key, goal, ok in (
        (
            "a  poll cycle, DTSTAMP only",
            r.dtstamp,
            "dtstamp_only",
            DTSTAMP_GOAL,
            s["dtstamp_only_pass"],
        ),
        (
            "b  poll cycle, 2 % changed",
            r.changed,
            "two_percent",
            CHANGE_GOAL,
            s["two_percent_pass"],
        ),
    ):
        walls = ", ".join(f"{c.wall:.2f}" for c in cycles)
        print(
            f"   {label:<36}: {s[key + '_ms_per_person']:9.3f} ms a person"
            f" (cycle {walls} s) = {s[key + '_ratio']:.4f}x a bare parse"
            f" (goal <= {goal}x)  {_verdict(ok)}"
        )
        last = cycles[-1]
        spent = ", ".join(
            f"{name} {last.seconds[name] / r.people * 1e3:.3f}"
            for name in Watch.TIMED
            if name in last.seconds
        )
        print(
            f"        outcomes {dict(sorted(last.outcomes.items()))}, {last.rounds} claims;"
            f" ms a person in (summed over threads): {spent}"
        )
    print(f"   max_rss_kib {r.max_rss_kib:,}")
    if r.profile:
        print(r.profile)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, default_backend="both")
    parser.add_argument(
        "--people",
        type=int,
        action="append",
        help="one size (repeatable); default 1000 and 10000 (--quick: 100 and 1000)",
    )
    parser.add_argument("--reps", type=int, help="pairs of cycles (a, b) per size (default 1)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile a serial DTSTAMP-only cycle after each"
    )
    args = parser.parse_args(argv)
    quiet_logging(args.verbose)
    sizes = args.people or ([100, 1000] if args.quick else [1000, 10000])
    header(f"Heedful feed refresh benchmark ({datetime.now(UTC):%Y-%m-%d})")
    runs: list[Run] = []
    for backend in backends(args.backend):
        for people in sizes:
            r = run(backend, people, args)
            report(r)
            runs.append(r)
    out = [r.summary() for r in runs]
    met = total = 0
    for backend in backends(args.backend):
        mine = [(r, s) for r, s in zip(runs, out, strict=True) if r.backend == backend]
        for _, s in mine:
            met += s["dtstamp_only_pass"] + s["two_percent_pass"]
            total += 2
        if len(mine) > 1:
            (small, s0), (big, s1) = mine[0], mine[-1]
            growth = s1["dtstamp_only_cycle_s"] / s0["dtstamp_only_cycle_s"]
            allowed = GROWTH_GOAL * big.people / small.people / 10
            s1["growth"] = round(growth, 2)
            s1["growth_from"] = small.people
            s1["growth_pass"] = growth <= allowed
            rss = s1["max_rss_kib"] / s0["max_rss_kib"]
            print(
                f"-- {backend}: growth of a from {small.people:,} to {big.people:,} people ="
                f" {growth:.2f}x (goal <= {allowed:g}x)  {_verdict(growth <= allowed)};"
                f" max RSS {s0['max_rss_kib']:,} -> {s1['max_rss_kib']:,} KiB ({rss:.2f}x)"
            )
            met += growth <= allowed
            total += 1
    print(f"== refresh: {met}/{total} goals met")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

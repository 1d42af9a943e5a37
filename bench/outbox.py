"""Outbox benchmarks: claim throughput, and lateness of DMs sent by the real scheduler.

    python bench/outbox.py                      # claim on SQLite + PostgreSQL, lateness on SQLite
    python bench/outbox.py --only claim --backend sqlite --n 20000
    python bench/outbox.py --only lateness --backend postgres
    python bench/outbox.py --only lateness --backend both --tick 0.05
    python bench/outbox.py --quick

a) claim: Heedful's ``repository.claim_deliveries`` + ``finish_deliveries`` (marking the
   rows sent) versus a bare claim loop written with the DB driver (sqlite3 / psycopg) in
   the same schema. Goal: Heedful >= 0.5x the bare loop's rows/s.
b) lateness: deliveries due within one second, sent to the Slack emulator by
   ``Heedful(...).start()`` (APScheduler ticking the outbox). Goal: p99 <= 100 ms, every
   delivery sent exactly once. Baseline: the emulator's own chat.postMessage round trip.
c) budget: what the shared rate budget (``bot.budget``) costs the sender: due DMs claimed
   and sent to the emulator by ``Sender.drain()`` with the budget (set so high it never
   holds a DM back: only its transactions cost) against the same sender without one, in
   the same run. No goal: the ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

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

from bot.storage import repository as repo
from bot.storage.models import DeliveryState

CLAIM_GOAL_RATIO = 0.5
LATENESS_GOAL_P99_MS = 100.0
TEAM = "T0001"
WORKER = "bench-worker"
LEASE = timedelta(minutes=2)


# =========================================================================== a) claim


def seed(db: Database, n: int, now: datetime) -> None:
    """``n`` pending deliveries, all due (spread over the last ``n`` ms), inserted with
    Heedful's own ``enqueue_deliveries`` (SQLAlchemy Core). Not timed."""
    with db.engine.begin() as conn:
        conn.execute(sa.delete(repo.DELIVERY))
    rows = [
        {
            "team_id": TEAM,
            "user_id": f"U{i % 1000:05d}",
            "kind": "notice",
            "ref": f"bench-{i}",
            "due_at": now - timedelta(milliseconds=n - i),
            "payload": {"text": "Take three deep breaths before you walk in."},
        }
        for i in range(n)
    ]
    with db.engine.begin() as conn:
        inserted = repo.enqueue_deliveries(conn=conn, rows=rows, now=now)
    if inserted not in (n, 0):  # some drivers report -1 / 0 for executemany
        raise RuntimeError(f"seeded {inserted} rows, wanted {n}")
    if db.backend == "postgres":
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE delivery")


def count_sent(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(repo.DELIVERY.c.state == DeliveryState.SENT.value)
            ).scalar_one()
        )


def heedful_loop(db: Database, now: datetime, batch: int) -> int:
    """What a sender does with the outbox, minus Slack: claim a batch, record it sent."""
    total = 0
    while True:
        rows = repo.claim_deliveries(
            engine=db.engine, now=now, worker=WORKER, limit=batch, lease=LEASE
        )
        if not rows:
            return total
        outcomes = [
            repo.DeliveryOutcome(
                r.id, DeliveryState.SENT, channel=f"D{r.user_id}", message_ts=f"{r.id}.000100"
            )
            for r in rows
        ]
        repo.finish_deliveries(engine=db.engine, outcomes=outcomes, worker=WORKER, now=now)
        total += len(rows)


def bare_loop_sqlite(db: Database, now: datetime, batch: int) -> int:
    """The same claim with sqlite3 only: BEGIN IMMEDIATE + UPDATE … RETURNING id."""
    # SQLAlchemy stores SQLite datetimes as naive UTC text in this format.
    stamp = now.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    lease = (now + LEASE).astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    conn = db.raw_connect()
    total = 0
    try:
        while True:
            conn.execute("BEGIN IMMEDIATE")
            ids = [
                r[0]
                for r in conn.execute(
                    "UPDATE delivery SET state = 'claimed', lease_until = ?, claimed_by = ?,"
                    " attempts = attempts + 1, updated_at = ?"
                    " WHERE id IN (SELECT id FROM delivery"
                    "  WHERE state = 'pending' AND available_at <= ?"
                    "  ORDER BY available_at LIMIT ?)"
                    " RETURNING id",
                    (lease, WORKER, stamp, stamp, batch),
                ).fetchall()
            ]
            conn.execute("COMMIT")
            if not ids:
                return total
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "UPDATE delivery SET state = 'sent', sent_at = ?, lease_until = NULL,"
                f" updated_at = ? WHERE id IN ({','.join('?' * len(ids))})",
                (stamp, stamp, *ids),
            )
            conn.execute("COMMIT")
            total += len(ids)
    finally:
        conn.close()


def bare_loop_postgres(db: Database, now: datetime, batch: int) -> int:
    """The same claim with psycopg only: FOR UPDATE SKIP LOCKED + UPDATE … RETURNING id."""
    conn = db.raw_connect()
    total = 0
    try:
        while True:
            with conn.cursor() as cur:
                cur.execute(
                    "UPDATE delivery SET state = 'claimed', lease_until = %s, claimed_by = %s,"
                    " attempts = attempts + 1, updated_at = %s"
                    " WHERE id IN (SELECT id FROM delivery"
                    "  WHERE state = 'pending' AND available_at <= %s"
                    "  ORDER BY available_at LIMIT %s FOR UPDATE SKIP LOCKED)"
                    " RETURNING id",
                    (now + LEASE, WORKER, now, now, batch),
                )
                ids = [r[0] for r in cur.fetchall()]
            conn.commit()
            if not ids:
                return total
            with conn.cursor() as cur:
                cur.execute(
                    "UPDATE delivery SET state = 'sent', sent_at = %s, lease_until = NULL,"
                    " updated_at = %s WHERE id = ANY(%s)",
                    (now, now, ids),
                )
            conn.commit()
            total += len(ids)
    finally:
        conn.close()


def timed_loop(
    db: Database, n: int, loop: Callable[[Database, datetime, int], int], batch: int
) -> float:
    """Seed ``n`` due rows, run ``loop`` until nothing is due; rows/s (seeding not timed)."""
    now = datetime.now(UTC)
    seed(db, n, now)
    claim_now = now + timedelta(seconds=1)
    start = time.perf_counter()
    handled = loop(db, claim_now, batch)
    elapsed = time.perf_counter() - start
    sent = count_sent(db)
    if handled != n or sent != n:
        raise RuntimeError(f"{loop.__name__}: handled {handled}, sent {sent}, wanted {n}")
    return n / elapsed


def claim_plan(db: Database) -> str:
    """How the database runs Heedful's claim with rows due: one line, from EXPLAIN.

    A plan that sorts every due row before taking ``limit`` of them makes each claim
    cost O(due backlog) instead of O(batch)."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "RETURNING" in statement.upper():
            captured.append((statement, params))

    now = datetime.now(UTC)
    seed(db, 2_000, now)
    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.engine.connect() as conn:  # a rolled-back claim: nothing changes
            trans = conn.begin()
            try:
                repo.claim_deliveries(
                    engine=_Borrowed(db.engine, conn),
                    now=now,
                    worker=WORKER,
                    limit=200,
                    lease=LEASE,
                )
            finally:
                trans.rollback()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    if not captured:
        return "could not capture the claim statement"
    statement, params = captured[0]
    raw = db.raw_connect()
    try:
        if db.backend == "sqlite":
            lines = [r[3] for r in raw.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
            sorts = any("TEMP B-TREE FOR ORDER BY" in line for line in lines)
        else:
            with raw.cursor() as cur:
                cur.execute(f"EXPLAIN {statement}", params)
                lines = [r[0] for r in cur.fetchall()]
            raw.rollback()
            sorts = any(line.strip().startswith("->  Sort") for line in lines)
    finally:
        raw.close()
    if sorts:
        return "SORTS ALL DUE ROWS per claim (no ordered index scan): cost grows with the backlog"
    return "ordered index scan (cost per claim independent of the backlog)"


class _Borrowed:
    """An Engine stand-in whose ``begin()`` hands out one existing connection."""

    def __init__(self, engine: Any, conn: sa.Connection) -> None:
        self.dialect = engine.dialect
        self._conn = conn

    def begin(self) -> Any:
        conn = self._conn

        class _Ctx:
            def __enter__(self) -> sa.Connection:
                return conn

            def __exit__(self, *_: Any) -> None:
                return None

        return _Ctx()


def bench_claim(backend: str, args: argparse.Namespace) -> bool:
    n = args.n or (5_000 if args.quick else 20_000)
    reps = args.reps or (2 if args.quick else 3)
    bare = bare_loop_sqlite if backend == "sqlite" else bare_loop_postgres
    print(f"-- claim throughput, {backend}: {n} due rows, batches of {args.batch}, {reps} reps")
    with private_database(backend, pg_url=args.pg_url) as db:
        with db.engine.begin() as conn:  # as in production: the workspace is installed
            conn.execute(sa.insert(repo.INSTALLATION).values(team_id=TEAM, bot_token="xoxb-x"))
        plan = claim_plan(db)
        for loop in (heedful_loop, bare):  # warm-up: connections, statement caches
            timed_loop(db, min(n, 1_000), loop, args.batch)
        heedful_rates: list[float] = []
        bare_rates: list[float] = []
        for rep in range(reps):
            # Alternate the order so neither side always runs on a warmer file/cache.
            order = [(heedful_loop, heedful_rates), (bare, bare_rates)]
            for loop, rates in order if rep % 2 == 0 else order[::-1]:
                rates.append(timed_loop(db, n, loop, args.batch))
    h, b = median(heedful_rates), median(bare_rates)
    ratio = h / b
    ok = ratio >= CLAIM_GOAL_RATIO
    reps_h = ", ".join(f"{r:.0f}" for r in heedful_rates)
    reps_b = ", ".join(f"{r:.0f}" for r in bare_rates)
    driver = "sqlite3" if backend == "sqlite" else "psycopg"
    print(
        f"   {'heedful claim_deliveries + finish_deliveries':46}: {h:7.0f} rows/s  (reps: {reps_h})"
    )
    print(f"   {f'bare {driver} UPDATE … RETURNING id loop':46}: {b:7.0f} rows/s  (reps: {reps_b})")
    print(f"   query plan of Heedful's claim: {plan}")
    print(
        f"   claim[{backend}] ratio heedful/bare = {ratio:.2f}x"
        f"  (goal >= {CLAIM_GOAL_RATIO}x)  {verdict(ok)}"
    )
    return ok


# =========================================================================== b) lateness


def _delivery_id(call: Any) -> int | None:
    meta = call.params.get("metadata")
    if isinstance(meta, str):
        meta = json.loads(meta)
    payload = (meta or {}).get("event_payload") or {}
    value = payload.get("delivery_id")
    return int(value) if value is not None else None


def emulator_round_trip(emu: Any, calls: int, threads: int = 8) -> list[float]:
    """Seconds per bare ``WebClient.chat_postMessage`` to the emulator, ``threads`` at once."""
    from slack_sdk import WebClient

    client = WebClient(token=emu.bot_token, base_url=emu.api_url, timeout=10, retry_handlers=[])
    metadata = {"event_type": "bench", "event_payload": {"delivery_id": -1, "kind": "notice"}}

    def one(i: int) -> float:
        start = time.perf_counter()
        client.chat_postMessage(
            channel=f"UB{i % 100:04d}", text="bare round trip", metadata=metadata
        )
        return time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(min(calls, 100))))  # warm-up
        return list(pool.map(one, range(calls)))


def enqueue_due(engine: Any, users: list[str], start: datetime, window: float, ref: str) -> None:
    n = len(users)
    rows = [
        {
            "team_id": TEAM,
            "user_id": user,
            "kind": "notice",
            "ref": f"{ref}-{i}",
            "due_at": start + timedelta(seconds=window * i / n),
            "payload": {"text": "Before you walk in: three deep breaths, then listen first."},
        }
        for i, user in enumerate(users)
    ]
    with engine.begin() as conn:
        repo.enqueue_deliveries(conn=conn, rows=rows, now=datetime.now(UTC))


def wait_until_settled(engine: Any, refs_like: str, timeout: float) -> dict[str, int]:
    """Poll until no delivery of this run is pending or claimed; returns counts by state."""
    t = repo.DELIVERY.c
    query = sa.select(t.state, sa.func.count()).where(t.ref.like(refs_like)).group_by(t.state)
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            states = {state: int(count) for state, count in conn.execute(query)}
        busy = states.get("pending", 0) + states.get("claimed", 0)
        if busy == 0 or time.monotonic() > deadline:
            return states
        time.sleep(0.1)


class _SkippedRuns(logging.Handler):
    """Counts APScheduler's "skipped: maximum number of running instances" warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "maximum number of running instances" in record.getMessage():
            self.count += 1


def lateness_of(emu: Any, due: dict[int, float]) -> tuple[list[float], int, int]:
    """Lateness (ms) of each delivery in ``due`` (id -> due epoch seconds) from the
    emulator's receive times, plus how many were never sent and how many sent twice."""
    seen: dict[int, float] = {}
    duplicated = 0
    for call in emu.calls_to("chat.postMessage"):
        delivery_id = _delivery_id(call)
        if delivery_id not in due:
            continue
        if delivery_id in seen:
            duplicated += 1
            continue
        seen[delivery_id] = call.at
    late_ms = [(seen[i] - due[i]) * 1e3 for i in seen]
    return late_ms, len(due) - len(seen), duplicated


def bench_lateness(backend: str, args: argparse.Namespace) -> bool:
    from bot.app import Heedful
    from bot.clock import SystemClock
    from bot.config import Settings
    from bot.emulator import SlackEmulator
    from bot.services import build_services

    n = args.deliveries
    reps = args.lateness_reps or (1 if args.quick else 5)
    tick = args.tick or Settings().tick_seconds
    default_tick = tick == Settings().tick_seconds
    print(
        f"-- lateness, {backend}: {n} deliveries due evenly over 1 s, {reps} reps,"
        f" tick_seconds={tick}{' (default)' if default_tick else ''}"
    )
    print("   path: Heedful(serve_http=False).start() -> APScheduler 'outbox' job -> Drainer")
    print("         -> Sender.run_once -> WebClient.chat_postMessage -> emulator (same process)")
    skipped = _SkippedRuns()
    aps_logger = logging.getLogger("apscheduler.scheduler")
    aps_logger.addHandler(skipped)
    aps_logger.propagate = args.verbose  # counted below rather than printed at every tick
    emu = SlackEmulator(signing_secret="s3cr3t", socket_mode=False).start()
    try:
        users = [f"U{i:05d}" for i in range(n)]
        warm_users = [f"UW{i:04d}" for i in range(50)]
        for user in (*users, *warm_users, *(f"UB{i:04d}" for i in range(100))):
            emu.add_user(user)

        # Baseline: the emulator's own round trip, in this process, in this run.
        base_p99s = []
        for _ in range(reps):
            trips = emulator_round_trip(emu, n)
            base_p99s.append(percentile(trips, 99) * 1e3)
        base_p50 = percentile(trips, 50) * 1e3

        runs: list[tuple[list[float], int, int, dict[str, int]]] = []
        with private_database(backend, pg_url=args.pg_url) as db:
            settings = Settings(
                slack_bot_token="xoxb-emulator",
                slack_signing_secret="s3cr3t",
                slack_api_url=emu.api_url,
                database_url=db.url,
                tick_seconds=tick,
                # The outbox's own cost, not Slack's pace: the rate budget (bot.budget) is
                # still taken and raised per batch, at its highest setting.
                slack_messages_per_minute=100_000.0,
            )
            services = build_services(settings, clock=SystemClock(), engine=db.engine)
            services.install_from_token("xoxb-emulator")
            heedful = Heedful(services, serve_http=False, run_workers=True)
            heedful.start()
            try:
                # Warm-up: connections, statement caches, the sender's thread pool.
                enqueue_due(db.engine, warm_users, datetime.now(UTC), 0.2, "warm")
                wait_until_settled(db.engine, "warm-%", timeout=30)
                skipped.count = 0
                for rep in range(reps):
                    ref = f"run{rep}"
                    start = datetime.now(UTC) + timedelta(seconds=1)
                    enqueue_due(db.engine, users, start, 1.0, ref)
                    states = wait_until_settled(db.engine, f"{ref}-%", timeout=30)
                    t = repo.DELIVERY.c
                    with db.engine.connect() as conn:
                        due = {
                            int(i): d.timestamp()
                            for i, d in conn.execute(
                                sa.select(t.id, t.due_at).where(t.ref.like(f"{ref}-%"))
                            )
                        }
                    runs.append((*lateness_of(emu, due), states))
                    time.sleep(0.3)  # let the drainer go idle, as between real bursts
            finally:
                heedful.stop()
    finally:
        emu.stop()
        aps_logger.removeHandler(skipped)
        aps_logger.propagate = True

    if not all(late for late, *_ in runs):
        print("   nothing was sent")
        return False
    per_rep_p99 = [percentile(late, 99) for late, *_ in runs]
    pooled = [ms for late, *_ in runs for ms in late]  # every DM of every burst
    p50, p95, p99 = (percentile(pooled, p) for p in (50, 95, 99))
    worst = max(pooled)
    dropped = sum(r[1] for r in runs)
    duplicated = sum(r[2] for r in runs)
    base_p99 = median(base_p99s)
    ok = p99 <= LATENESS_GOAL_P99_MS and dropped == 0 and duplicated == 0
    print(
        f"   lateness ms, all {len(pooled)} DMs: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}"
        f"  max {worst:.1f}   (p99 per burst: {', '.join(f'{v:.0f}' for v in per_rep_p99)})"
    )
    print(
        f"   sent {sum(len(r[0]) for r in runs)}/{n * reps}  dropped {dropped}"
        f"  duplicated {duplicated}  db states (last rep) {dict(sorted(runs[-1][3].items()))}"
    )
    print(
        f"   baseline: emulator round trip of {n} bare chat_postMessage from 8 threads:"
        f" p50 {base_p50:.1f} ms  p99 {base_p99:.1f} ms"
    )
    print(
        f"   APScheduler 'skipped: maximum number of running instances' warnings: {skipped.count}"
    )
    print(
        f"   lateness[{backend}, tick {tick}] p99 {p99:.1f} ms (goal <= {LATENESS_GOAL_P99_MS:.0f}"
        f" ms, 0 dropped, 0 duplicated); p99 / emulator p99 = {p99 / base_p99:.1f}x  {verdict(ok)}"
    )
    return ok


# =========================================================================== c) budget


def bench_budget(backend: str, args: argparse.Namespace) -> float:
    """Claim + send throughput of ``Sender.drain()`` with the budget, against without it
    (``sender.budget = None``), alternating, on one database and one emulator."""
    from bot.app import Heedful
    from bot.clock import SystemClock
    from bot.config import Settings
    from bot.emulator import SlackEmulator
    from bot.services import build_services

    n = args.budget_deliveries or (300 if args.quick else 1_000)
    reps = args.reps or (2 if args.quick else 3)
    print(f"-- budget cost, {backend}: {n} due DMs claimed and sent by Sender.drain(), {reps} reps")
    emu = SlackEmulator(signing_secret="s3cr3t", socket_mode=False, record_calls=False).start()
    with_rates: list[float] = []
    without_rates: list[float] = []
    try:
        users = [f"U{i:05d}" for i in range(n)]
        for user in users:
            emu.add_user(user)
        with private_database(backend, pg_url=args.pg_url) as db:
            settings = Settings(
                slack_bot_token="xoxb-emulator",
                slack_signing_secret="s3cr3t",
                slack_api_url=emu.api_url,
                database_url=db.url,
                # High enough that no DM waits for a slot: what is measured is the budget's
                # own work (a take per batch, an increase per batch of answers).
                slack_messages_per_minute=1_000_000.0,
            )
            services = build_services(settings, clock=SystemClock(), engine=db.engine)
            services.install_from_token("xoxb-emulator")
            heedful = Heedful(services, serve_http=False, run_workers=False)
            sender, budget = heedful.sender, heedful.sender.budget
            try:

                def one(ref: str, paced: bool) -> float:
                    enqueue_due(db.engine, users, datetime.now(UTC), 0.0, ref)
                    sender.budget = budget if paced else None
                    start = time.perf_counter()
                    sent = sender.drain()
                    elapsed = time.perf_counter() - start
                    if sent != n:
                        raise RuntimeError(f"sent {sent} of {n}")
                    return n / elapsed

                one("warm-with", True)  # connections, statement caches, the thread pool
                one("warm-without", False)
                for rep in range(reps):
                    order = [(True, with_rates), (False, without_rates)]
                    for paced, rates in order if rep % 2 == 0 else order[::-1]:
                        rates.append(one(f"rep{rep}-{paced}", paced))
            finally:
                sender.budget = budget
                heedful.stop()
    finally:
        emu.stop()
    w, wo = median(with_rates), median(without_rates)
    print(
        f"   {'Sender.drain() with the budget':46}: {w:7.0f} DMs/s"
        f"  (reps: {', '.join(f'{r:.0f}' for r in with_rates)})"
    )
    print(
        f"   {'Sender.drain() without a budget':46}: {wo:7.0f} DMs/s"
        f"  (reps: {', '.join(f'{r:.0f}' for r in without_rates)})"
    )
    print(f"   budget[{backend}] ratio with/without = {w / wo:.2f}x  (no goal)")
    return w / wo


# =========================================================================== main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, default_backend=None, default_help="claim on both, lateness on sqlite")
    parser.add_argument("--only", choices=("claim", "lateness", "budget"), help="run one benchmark")
    parser.add_argument("--n", type=int, help="claim: rows to claim (default 20000)")
    parser.add_argument("--batch", type=int, default=200, help="claim: batch size (default 200)")
    parser.add_argument("--reps", type=int, help="claim: repetitions (default 3)")
    parser.add_argument(
        "--deliveries", type=int, default=1_000, help="lateness: deliveries (default 1000)"
    )
    parser.add_argument(
        "--tick",
        type=float,
        help="lateness: settings.tick_seconds (default: Heedful's own default)",
    )
    parser.add_argument("--lateness-reps", type=int, help="lateness: repetitions (default 5)")
    parser.add_argument(
        "--budget-deliveries", type=int, help="budget: DMs per repetition (default 1000)"
    )
    parser.add_argument(
        "--lateness-backend",
        choices=("sqlite", "postgres", "both"),
        help="lateness: database (default: --backend if given, else sqlite)",
    )
    args = parser.parse_args(argv)
    quiet_logging(args.verbose)
    header("Heedful outbox benchmarks")
    results: list[bool] = []
    if args.only in (None, "claim"):
        for backend in backends(args.backend or "both"):
            results.append(bench_claim(backend, args))
    if args.only in (None, "lateness"):
        choice = args.lateness_backend or args.backend or "sqlite"
        for backend in backends(choice):
            results.append(bench_lateness(backend, args))
    if args.only in (None, "budget"):
        for backend in backends(args.backend or "both"):
            bench_budget(backend, args)
    print(f"== outbox: {sum(results)}/{len(results)} goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())

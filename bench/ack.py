"""Ack-path benchmark: time per signed ``message.im`` event until Slack would get its 200,
then what the inbox worker makes of the stored events.

    python bench/ack.py                        # SQLite
    python bench/ack.py --backend postgres
    python bench/ack.py --backend both --n 3000
    python bench/ack.py --rate 200 --seconds 30   # the shared-process load (issue 13)

Heedful: ``Heedful(...).router.handle(HttpRequest(POST /slack/events))`` - the real WSGI
router, the ingress Bolt app (signature check, ``authorize`` from the installation table,
``inbox_middleware``) and the inbox INSERT. No network.

Baseline: a bare Bolt ``App`` with the same signing secret, a no-op ``message`` listener,
``process_before_response=True`` and an ``authorize`` that returns a fixed result, via
``app.dispatch(BoltRequest(...))``, plus one bare INSERT of the body into a scratch table
of the same database (same engine). Every request has a unique ``event_id``.

Goal: Heedful <= 1.5x the baseline's time per event.

Then, on the same database (no goal: figures for README's "when to split web and worker"):

* **drain**: ``heedful.inbox.run_once()`` (claim a batch, replay each event through the
  worker Bolt app and its listeners, settle the batch) over ``--drain`` of the events the
  ack part stored; events per second, and SQL statements and transactions per event.
  The events it leaves are then marked done, so the next part starts from an empty inbox.
* **shared process**: ``--rate`` signed events a second for ``--seconds`` through the
  router of a Heedful started with its workers (``--role all``: the inbox job is woken by
  each stored event and drains in the ticker's thread, in the same process), against the
  bare Bolt App + INSERT at the same pace with no worker. Ack time p50/p99 of each, and
  how long the backlog takes to clear after the last event.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
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

GOAL_RATIO = 1.5
SECRET = "s3cr3t"


def signed_requests(emu: Any, prefix: str, n: int) -> list[tuple[bytes, dict[str, str]]]:
    """``n`` signed Events API bodies, each a ``message.im`` with its own ``event_id``."""
    out = []
    for i in range(n):
        ts = f"{time.time():.6f}"
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": "D0BENCH01",
            "user": "U00001",
            "text": "I noticed I interrupted twice; next time I will ask first.",
            "ts": ts,
            "event_ts": ts,
            "client_msg_id": f"{prefix}-{i}",
        }
        body = json.dumps(emu.event_envelope(event, event_id=f"Ev{prefix}{i:07d}")).encode()
        headers = {"content-type": "application/json"}
        headers.update({k.lower(): v for k, v in emu.sign(body).items()})
        out.append((body, headers))
    return out


@contextlib.contextmanager
def _captured(name: str) -> Iterator[list[str]]:
    """Collect (and hide) the ERROR lines a logger emits inside the block."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    target = logging.getLogger(name)
    handler = Collect(logging.ERROR)
    target.addHandler(handler)
    target.propagate = False
    try:
        yield lines
    finally:
        target.removeHandler(handler)
        target.propagate = True


def heedful_ack(
    db: Database, emu: Any, *, run_workers: bool = False
) -> tuple[Callable[[bytes, dict[str, str]], None], Any]:
    """Heedful's ack path: (one request, the app). One probe event is stored first.
    With ``run_workers`` the app is started (its jobs, the inbox's among them, tick)."""
    from bot.app import Heedful
    from bot.clock import SystemClock
    from bot.config import Settings
    from bot.server import HttpRequest
    from bot.services import build_services

    settings = Settings(
        slack_bot_token=emu.bot_token,
        slack_signing_secret=SECRET,
        slack_api_url=emu.api_url,
        database_url=db.url,
    )
    services = build_services(settings, clock=SystemClock(), engine=db.engine)
    services.install_from_token(emu.bot_token)

    def route(heedful: Heedful, body: bytes, headers: dict[str, str]) -> Any:
        return heedful.router.handle(
            HttpRequest(method="POST", path="/slack/events", query="", headers=headers, body=body)
        )

    heedful = Heedful(services, serve_http=False, run_workers=run_workers)
    if run_workers:
        heedful.start()
    ((probe_body, probe_headers),) = signed_requests(emu, "PROBE", 1)
    with _captured("slack_bolt") as errors:
        probe = route(heedful, probe_body, probe_headers)
    if probe.status != 200:
        # Every event would be refused: report it rather than time an error path.
        raise RuntimeError(
            f"Heedful's ingress answered {probe.status} to a valid signed event:"
            f" {'; '.join(errors) or 'no log line'}"
        )

    def one(body: bytes, headers: dict[str, str]) -> None:
        response = route(heedful, body, headers)
        if response.status != 200:
            raise RuntimeError(f"Heedful answered {response.status}: {response.body[:200]!r}")

    return one, heedful


def baseline_ack(db: Database, emu: Any) -> Callable[[bytes, dict[str, str]], None]:
    from slack_bolt import App, BoltRequest
    from slack_bolt.authorization import AuthorizeResult
    from slack_sdk import WebClient

    scratch = sa.Table(
        "bench_scratch",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    scratch.create(db.engine)
    insert = sa.text("INSERT INTO bench_scratch (body) VALUES (:body)")
    fixed = AuthorizeResult(
        enterprise_id=None,
        team_id=emu.team_id,
        bot_token=emu.bot_token,
        bot_user_id=emu.bot_user_id,
        bot_id="BHEEDFUL",
    )
    app = App(
        signing_secret=SECRET,
        client=WebClient(base_url=emu.api_url),
        authorize=lambda **_: fixed,
        process_before_response=True,
    )

    @app.event("message")
    def handle_message() -> None:
        return None

    def one(body: bytes, headers: dict[str, str]) -> None:
        text = body.decode()
        response = app.dispatch(BoltRequest(body=text, headers=headers))
        if response.status != 200:
            raise RuntimeError(f"bare Bolt answered {response.status}: {response.body!r}")
        with db.engine.begin() as conn:
            conn.execute(insert, {"body": text})

    return one


def timed(one: Callable[[bytes, dict[str, str]], None], requests: list[Any]) -> float:
    """Seconds per request, one after another (as a single Slack connection would)."""
    start = time.perf_counter()
    for body, headers in requests:
        one(body, headers)
    return (time.perf_counter() - start) / len(requests)


def count(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def bench_ack(backend: str, args: argparse.Namespace) -> bool:
    from bot.emulator import SlackEmulator

    n = args.n or (500 if args.quick else 2_000)
    reps = args.reps or (3 if args.quick else 5)
    warm = 200
    print(f"-- ack, {backend}: {n} signed message.im events per rep, {reps} reps, sequential")
    emu = SlackEmulator(signing_secret=SECRET, socket_mode=False).start()
    try:
        with private_database(backend, pg_url=args.pg_url) as db:
            heedful, app = heedful_ack(db, emu)
            bare = baseline_ack(db, emu)
            calls_before = len(emu.calls)  # auth.test from install_from_token
            timed(heedful, signed_requests(emu, "HW", warm))
            timed(bare, signed_requests(emu, "BW", warm))
            h_times: list[float] = []
            b_times: list[float] = []
            for rep in range(reps):
                # Requests are built (and signed) outside the timed loop; Bolt accepts a
                # signature for 5 minutes, far longer than a rep takes.
                pair = [
                    (heedful, signed_requests(emu, f"H{rep}x", n), h_times),
                    (bare, signed_requests(emu, f"B{rep}x", n), b_times),
                ]
                for one, requests, times in pair if rep % 2 == 0 else pair[::-1]:
                    times.append(timed(one, requests))
            stored, scratch = count(db, "inbox"), count(db, "bench_scratch")
            extra_calls = len(emu.calls) - calls_before
            expected = warm + n * reps
            if stored != expected + 1 or scratch != expected:  # + the probe
                raise RuntimeError(
                    f"stored {stored} inbox rows and {scratch} scratch rows, want {expected}"
                )
            report_ack(backend, h_times, b_times, stored, scratch, extra_calls)
            drain = args.drain if args.drain is not None else (500 if args.quick else 2_000)
            if drain:
                bench_drain(backend, db, app, min(drain, stored))
            _finish_leftovers(db)
            app.stop()
            seconds = args.seconds if args.seconds is not None else (5 if args.quick else 30)
            if seconds and args.rate:
                bench_shared(backend, db, emu, bare, rate=args.rate, seconds=seconds)
    finally:
        emu.stop()
    return median(h_times) / median(b_times) <= GOAL_RATIO


def report_ack(
    backend: str,
    h_times: list[float],
    b_times: list[float],
    stored: int,
    scratch: int,
    extra_calls: int,
) -> None:
    h, b = median(h_times) * 1e6, median(b_times) * 1e6
    ratio = h / b
    ok = ratio <= GOAL_RATIO
    reps_h = ", ".join(f"{t * 1e6:.0f}" for t in h_times)
    reps_b = ", ".join(f"{t * 1e6:.0f}" for t in b_times)
    print(f"   heedful router+ingress+inbox : {h:7.0f} us/event  (reps: {reps_h})")
    print(f"   bare Bolt App + bare INSERT  : {b:7.0f} us/event  (reps: {reps_b})")
    print(
        f"   rows stored: inbox {stored}, scratch {scratch};"
        f" Web API calls on the path: {extra_calls}"
    )
    print(
        f"   ack[{backend}] ratio heedful/bare = {ratio:.2f}x"
        f" (goal <= {GOAL_RATIO}x)  {verdict(ok)}"
    )


@contextlib.contextmanager
def _counting(engine: sa.Engine) -> Iterator[dict[str, int]]:
    """Count the SQL statements and the commits run on ``engine`` inside the block."""
    counts = {"statements": 0, "commits": 0}

    def on_statement(*_: Any) -> None:
        counts["statements"] += 1

    def on_commit(*_: Any) -> None:
        counts["commits"] += 1

    sa.event.listen(engine, "before_cursor_execute", on_statement)
    sa.event.listen(engine, "commit", on_commit)
    try:
        yield counts
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_statement)
        sa.event.remove(engine, "commit", on_commit)


def _finish_leftovers(db: Database) -> None:
    """Mark the stored events the drain left as done (so the next part starts empty)."""
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE inbox SET state = 'done', body = '' WHERE state IN ('pending', 'claimed')"
        )


def bench_drain(backend: str, db: Database, heedful: Any, limit: int) -> None:
    """The worker alone: ``inbox.run_once()`` until ``limit`` stored events are processed."""
    processed = 0
    start = time.perf_counter()
    with _counting(db.engine) as counts:
        while processed < limit:
            handled = heedful.inbox.run_once()
            if not handled:
                break
            processed += handled
    elapsed = time.perf_counter() - start
    print(
        f"   drain[{backend}] worker alone, batch {heedful.inbox.batch_size}:"
        f" {processed} events in {elapsed:.1f} s = {processed / elapsed:.0f} events/s;"
        f" {counts['statements'] / processed:.1f} statements and"
        f" {counts['commits'] / processed:.2f} commits per event"
    )


def _paced(
    one: Callable[[bytes, dict[str, str]], None], requests: list[Any], rate: float
) -> tuple[list[float], float]:
    """Send ``requests`` at ``rate`` a second (open loop: a late one goes at once);
    returns each one's ack time (s) and how far behind its slot the last one went."""
    times: list[float] = []
    start = time.perf_counter()
    lag = 0.0
    for i, (body, headers) in enumerate(requests):
        slot = start + i / rate
        now = time.perf_counter()
        if now < slot:
            time.sleep(slot - now)
        begin = time.perf_counter()
        lag = max(lag, begin - slot)
        one(body, headers)
        times.append(time.perf_counter() - begin)
    return times, lag


def bench_shared(
    backend: str,
    db: Database,
    emu: Any,
    bare: Callable[[bytes, dict[str, str]], None],
    *,
    rate: float,
    seconds: float,
) -> None:
    """``rate`` events a second for ``seconds`` into a Heedful that processes them in the
    same process, against the bare Bolt App at the same pace."""
    from bot.storage.stats import inbox_backlog

    n = int(rate * seconds)
    # "skipped: maximum number of running instances": a job still running at its next tick.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    print(f"-- shared process, {backend}: {rate:.0f} signed events/s for {seconds:.0f} s")
    b_times, b_lag = _paced(bare, signed_requests(emu, "SB", n), rate)
    one, heedful = heedful_ack(db, emu, run_workers=True)
    try:
        requests = signed_requests(emu, "SH", n)
        start = time.perf_counter()
        h_times, h_lag = _paced(one, requests, rate)
        sent = time.perf_counter()
        backlog_at_end = sum(inbox_backlog(db.engine).values())
        while sum(inbox_backlog(db.engine).values()):
            time.sleep(0.05)
        cleared = time.perf_counter()
    finally:
        heedful.stop()
    h50, h99 = percentile(h_times, 50) * 1e3, percentile(h_times, 99) * 1e3
    b50, b99 = percentile(b_times, 50) * 1e3, percentile(b_times, 99) * 1e3
    print(
        f"   heedful, worker in the process : ack p50 {h50:6.1f} ms, p99 {h99:7.1f} ms,"
        f" max {max(h_times) * 1e3:7.1f} ms (fell behind by up to {h_lag:.1f} s)"
    )
    print(
        f"   bare Bolt App + bare INSERT    : ack p50 {b50:6.1f} ms, p99 {b99:7.1f} ms,"
        f" max {max(b_times) * 1e3:7.1f} ms (fell behind by up to {b_lag:.1f} s)"
    )
    print(
        f"   shared[{backend}] ack p99 ratio {h99 / b99:.1f}x; backlog {backlog_at_end} at the"
        f" last event, cleared {cleared - sent:.1f} s later;"
        f" {n / (cleared - start):.0f} events/s processed end to end"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, default_backend="sqlite")
    parser.add_argument("--n", type=int, help="events per repetition (default 2000)")
    parser.add_argument("--reps", type=int, help="repetitions (default 5)")
    parser.add_argument(
        "--drain", type=int, help="stored events the worker alone drains (default 2000; 0: skip)"
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="shared-process load: events a second (200)"
    )
    parser.add_argument(
        "--seconds", type=float, help="shared-process load: for how long (default 30; 0: skip)"
    )
    args = parser.parse_args(argv)
    quiet_logging(args.verbose)
    header(f"Heedful ack-path benchmark ({datetime.now(UTC):%Y-%m-%d})")
    results = [bench_ack(backend, args) for backend in backends(args.backend)]
    print(f"== ack: {sum(results)}/{len(results)} goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())

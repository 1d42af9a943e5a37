"""Ack-path benchmark: time per signed ``message.im`` event until Slack would get its 200.

    python bench/ack.py                        # SQLite
    python bench/ack.py --backend postgres
    python bench/ack.py --backend both --n 3000

Heedful: ``Heedful(...).router.handle(HttpRequest(POST /slack/events))`` - the real WSGI
router, the ingress Bolt app (signature check, ``authorize`` from the installation table,
``inbox_middleware``) and the inbox INSERT. No network.

Baseline: a bare Bolt ``App`` with the same signing secret, a no-op ``message`` listener,
``process_before_response=True`` and an ``authorize`` that returns a fixed result, via
``app.dispatch(BoltRequest(...))``, plus one bare INSERT of the body into a scratch table
of the same database (same engine). Every request has a unique ``event_id``.

Goal: Heedful <= 1.5x the baseline's time per event.
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


def heedful_ack(db: Database, emu: Any) -> tuple[Callable[[bytes, dict[str, str]], None], Any]:
    """Heedful's ack path: (one request, the app). One probe event is stored first."""
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

    heedful = Heedful(services, serve_http=False, run_workers=False)  # ack path only
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
            app.stop()
    finally:
        emu.stop()
    expected = warm + n * reps
    if stored != expected + 1 or scratch != expected:  # + the probe
        raise RuntimeError(
            f"stored {stored} inbox rows and {scratch} scratch rows, want {expected}"
        )
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
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, default_backend="sqlite")
    parser.add_argument("--n", type=int, help="events per repetition (default 2000)")
    parser.add_argument("--reps", type=int, help="repetitions (default 5)")
    args = parser.parse_args(argv)
    quiet_logging(args.verbose)
    header(f"Heedful ack-path benchmark ({datetime.now(UTC):%Y-%m-%d})")
    results = [bench_ack(backend, args) for backend in backends(args.backend)]
    print(f"== ack: {sum(results)}/{len(results)} goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The rate budget (``bot.budget``) shared by two real OS processes on one database
(SQLite file, PostgreSQL), on one virtual clock both read (``bot.clock.SharedClock``):
together they never take more than the rate allows, and a 429 one of them records pauses
the other until ``Retry-After``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from waiting import wait_until

from bot.budget import Budget
from bot.clock import SharedClock

TAKER = Path(__file__).resolve().parent.parent / "budget_taker.py"
ROOT = TAKER.parent.parent
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PER_MINUTE = 120.0  # two a second, a burst of two
TEAM, METHOD = "T0001", "chat.postMessage"


class Taker:
    """A ``tests/budget_taker.py`` child; :meth:`send` a command, :meth:`answer` reads
    its reply (waiting for exactly that line)."""

    def __init__(self, db_url: str, clock: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
        self.proc = subprocess.Popen(
            [sys.executable, str(TAKER), db_url, str(clock), str(PER_MINUTE)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self._read = 0
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._follow, daemon=True)
        self._reader.start()
        assert self.answer(timeout=60) == {"ready": True}

    def _follow(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(json.loads(line))

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float = 30) -> dict[str, Any]:
        def next_line() -> dict[str, Any] | None:
            with self._lock:
                if len(self.lines) > self._read:
                    return self.lines[self._read]
            if self.proc.poll() is not None:
                assert self.proc.stderr is not None
                raise AssertionError(f"the taker exited: {self.proc.stderr.read()}")
            return None

        line = wait_until(next_line, timeout=timeout, what="the taker's answer")
        self._read += 1
        return line

    def ask(self, command: str) -> dict[str, Any]:
        self.send(command)
        return self.answer()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send("quit")
            self.proc.wait(timeout=30)


@pytest.fixture(name="shared_clock")
def fixture_shared_clock(tmp_path: Path) -> Iterator[SharedClock]:
    clock = SharedClock.create(tmp_path / "clock", START)
    yield clock
    clock.close()


@pytest.fixture(name="takers")
def fixture_takers(
    engine: Engine, db_url: str, shared_clock: SharedClock
) -> Iterator[tuple[Taker, Taker]]:
    """Two taker processes on the migrated database (``engine``) and the shared clock."""
    pair = (Taker(db_url, shared_clock.path), Taker(db_url, shared_clock.path))
    yield pair
    for taker in pair:
        taker.close()


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_two_processes_together_never_take_more_than_the_rate(
    takers: tuple[Taker, Taker], shared_clock: SharedClock
) -> None:
    a, b = takers
    grants: list[tuple[float, str, int]] = []  # (virtual second, process, slots)
    step, steps = 0.25, 60  # 15 s of virtual time, both asking for more than the rate
    for i in range(steps):
        shared_clock.set(at(i * step))
        for taker in (a, b) if i % 2 else (b, a):  # both ask before either answers
            taker.send("take 3")
        for name, taker in (("a", a), ("b", b)):
            answer = taker.answer()
            assert answer["now"] == at(i * step).timestamp()  # the clock both read
            if answer["granted"]:
                grants.append((i * step, name, answer["granted"]))

    per_second, burst = PER_MINUTE / 60, 2
    # No stretch of virtual time got more than its share of the rate plus one burst.
    for first in range(steps):
        for last in range(first, steps):
            taken = sum(g for t, _, g in grants if first * step <= t <= last * step)
            assert taken <= per_second * (last - first) * step + burst, (first, last)
    total = sum(g for _, _, g in grants)
    span = (steps - 1) * step
    assert total >= per_second * span + burst - 1  # and the rate was there to be had
    assert {name for _, name, _ in grants} == {"a", "b"}  # both processes took slots


def test_a_429_recorded_in_one_process_pauses_the_other_until_retry_after(
    takers: tuple[Taker, Taker], shared_clock: SharedClock, engine: Engine
) -> None:
    a, b = takers
    assert b.ask("take 1")["granted"] == 1
    shared_clock.set(at(1))
    assert a.ask("throttle 30")["rate"] == PER_MINUTE / 2  # a met a 429: Retry-After 30 s

    for second in (1, 10, 29.9):
        shared_clock.set(at(second))
        assert b.ask("take 1") == {"granted": 0, "paused": True, "now": at(second).timestamp()}
    pace = Budget(engine, per_minute=PER_MINUTE).read(TEAM, METHOD)
    assert pace is not None and pace.paused_until == at(31)

    shared_clock.set(at(31))  # Retry-After has passed, on the clock both read
    resumed = b.ask("take 1")
    assert (resumed["granted"], resumed["paused"]) == (1, False)
    assert a.ask("take 1")["granted"] == 0  # at the halved pace, the next slot is later

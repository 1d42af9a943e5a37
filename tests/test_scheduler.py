"""The ticker with real APScheduler: fixed jobs, wake-ups, runs brought forward."""

from __future__ import annotations

import threading
import time

from bot.scheduler import Drainer, Ticker


def test_a_drainer_runs_until_its_step_reports_no_work() -> None:
    work = [3, 2, 0]
    drainer = Drainer("d", lambda: work.pop(0))
    assert drainer() == 5 and work == []


def test_a_failing_step_is_logged_and_the_next_run_still_happens(caplog) -> None:
    calls = []

    def step() -> int:
        calls.append(1)
        raise RuntimeError("boom")

    drainer = Drainer("d", step)
    assert drainer() == 0 and drainer() == 0
    assert len(calls) == 2 and "job d failed" in caplog.text and not drainer.running


def test_wake_runs_a_job_at_once_and_next_in_brings_the_next_run_forward() -> None:
    ran = threading.Event()
    runs: list[float] = []
    due_at = [time.monotonic() + 0.3]

    def step() -> int:
        runs.append(time.monotonic())
        ran.set()
        return 0

    def next_in() -> float | None:
        remaining = due_at[0] - time.monotonic()
        return remaining if remaining > 0 else None

    ticker = Ticker()
    ticker.every(60, Drainer("job", step, next_in=next_in))  # an interval far away
    ticker.start()
    try:
        assert ran.wait(5)  # the first run is immediate
        deadline = time.monotonic() + 5
        while len(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(runs) >= 2, "next_in did not bring the run forward"
        assert runs[1] >= due_at[0] - 0.05

        before = len(runs)
        ticker.wake("job")
        deadline = time.monotonic() + 5
        while len(runs) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(runs) > before
        assert ticker.alive()
    finally:
        ticker.stop()
    assert not ticker.running

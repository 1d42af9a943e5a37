"""The ticker with real APScheduler: fixed jobs, wake-ups, runs brought forward."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from waiting import wait_until

from bot.app import Heedful
from bot.scheduler import Drainer, Ticker
from bot.services import Services


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
    # Due a second after the first run, whenever that comes: counted from the ticker's
    # start, a busy machine could begin the first run after the due time, and work
    # already due is left for the next tick (60 s away), so the test would wait in vain.
    due_at: list[float] = []

    def step() -> int:
        runs.append(time.monotonic())
        if not due_at:
            due_at.append(runs[0] + 1.0)
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
        deadline = time.monotonic() + 10
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


# --------------------------------------------------------------------------- liveness

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeNow:
    """A wall clock the test moves by hand (the jobs still run in real time)."""

    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> None:
        self.value += timedelta(**delta)


def ran_at(moment: datetime, *jobs: Drainer) -> Callable[[], bool]:
    return lambda: all(j.last_run is not None and j.last_run >= moment for j in jobs)


def test_each_job_is_judged_by_its_own_interval() -> None:
    now = FakeNow(START)
    ticker = Ticker(now=now)
    outbox, digests, housekeeping = (
        Drainer(name, lambda: 0) for name in ("outbox", "digests", "housekeeping")
    )
    ticker.every(0.05, outbox)
    ticker.every(300, digests)
    ticker.every(6 * 3600, housekeeping)
    ticker.start()
    try:
        wait_until(ran_at(START, outbox, digests, housekeeping), what="every job's first run")

        now.advance(minutes=3)  # past a 2-minute window, within the digest job's 5 minutes
        wait_until(ran_at(now(), outbox), what="the outbox ticking on")
        assert ticker.jobs() == {"outbox": "ok", "digests": "ok", "housekeeping": "ok"}
        assert ticker.alive()

        now.advance(minutes=5)  # 8 minutes: the digest job missed its tick and the grace
        wait_until(ran_at(now(), outbox), what="the outbox ticking on")
        assert ticker.jobs()["digests"] == "late" and not ticker.alive()

        now.advance(hours=5)  # housekeeping, every 6 hours, is not late after 5
        ticker.wake("digests")
        wait_until(ran_at(now(), outbox, digests), what="the digest job's run")
        assert ticker.jobs() == {"outbox": "ok", "digests": "ok", "housekeeping": "ok"}
        assert ticker.alive()

        now.advance(hours=5)  # 10 hours: housekeeping missed its 6-hour tick and the grace
        ticker.wake("digests")
        wait_until(ran_at(now(), outbox, digests), what="the digest job's run")
        assert ticker.jobs()["housekeeping"] == "late" and not ticker.alive()
    finally:
        ticker.stop()


def test_a_running_job_is_alive_until_its_round_runs_implausibly_long() -> None:
    now = FakeNow(START)
    entered, release = threading.Event(), threading.Event()

    def step() -> int:
        entered.set()
        assert release.wait(60)
        return 0

    ticker = Ticker(now=now)
    ticker.every(30, Drainer("calendars", step))
    ticker.start()
    try:
        assert entered.wait(30)
        now.advance(minutes=10)  # far past its 30 s interval, but running
        assert ticker.jobs() == {"calendars": "running"} and ticker.alive()
        now.advance(minutes=6)  # one round for 16 minutes: stuck
        assert ticker.jobs() == {"calendars": "stalled"} and not ticker.alive()
    finally:
        release.set()
        ticker.stop()


def test_healthz_stays_200_while_the_slow_jobs_wait_for_their_own_interval(
    services: Services,
) -> None:
    now = FakeNow(START)
    app = Heedful(services, serve_http=True, run_workers=True)
    app.ticker = Ticker(now=now)
    app.start()
    try:
        jobs = app.ticker._jobs
        wait_until(ran_at(START, *jobs.values()), what="every job's first run")
        now.advance(minutes=3)
        frequent = [
            jobs[name] for name in ("outbox", "prescheduler", "inbox", "calendars", "feedback")
        ]
        for job in frequent:
            app.ticker.wake(job.name)
        wait_until(ran_at(now(), *frequent), what="the frequent jobs' runs")

        with urllib.request.urlopen(f"{app.url}/healthz", timeout=10) as response:
            status, health = response.status, json.load(response)
        assert status == 200 and health["status"] == "ok" and health["database"] is True
        assert health["scheduler"] is True and set(health["jobs"].values()) == {"ok"}
        assert set(health["jobs"]) == {
            "outbox",
            "prescheduler",
            "inbox",
            "calendars",
            "digests",
            "housekeeping",
            "feedback",
        }

        now.advance(minutes=10)  # nothing ran for 10 minutes (on this clock): 503
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{app.url}/healthz", timeout=10)
        health = json.load(failed.value)
        assert failed.value.code == 503 and health["jobs"]["digests"] == "late"
    finally:
        app.stop()

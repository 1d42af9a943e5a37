"""The scheduler only ticks (DESIGN.md invariant 1).

A few fixed APScheduler jobs with explicit ids, each a module-level function that
does one bounded round of work from the database and returns. Never one job per
meeting, never a shared job store, and never APScheduler's default
``misfire_grace_time`` of 1 s (it silently drops a late run): ours is ``None``
(run however late) with ``coalesce`` (one run for many missed).

Liveness (``/healthz``) is judged per job against its own interval: a job is alive when
its last run ended less than its interval plus a grace ago (at least a minute, or half
the interval), or when it is running and its current round began less than
``STALLED_AFTER`` ago (a round is bounded by network timeouts, far below that). The
digest job (5 minutes) and housekeeping (6 hours) are not late for missing a 2-minute
window; an outbox that has not ticked for a minute is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

logger = logging.getLogger(__name__)

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
MIN_GRACE = timedelta(minutes=1)
STALLED_AFTER = timedelta(minutes=15)

Now = Callable[[], datetime]


def utc_now() -> datetime:
    """Wall-clock UTC: APScheduler runs the jobs in real time, so health is judged in it."""
    return datetime.now(UTC)


class Drainer:
    """Runs ``step`` until it reports no work, and again if woken meanwhile.

    ``step`` returns how much it did; the drain stops after a round that did nothing
    and saw no wake-up. A wake-up that arrives while the job runs is not lost.
    ``next_in``, if given, says in how many seconds the next piece of work falls due
    (None: nothing known); the ticker then runs the job at that moment rather than at
    the next interval, so a DM due between two ticks is not late by a tick.
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], int],
        *,
        next_in: Callable[[], float | None] | None = None,
        max_rounds: int = 1000,
        now: Now = utc_now,
    ) -> None:
        self.name = name
        self.step = step
        self.next_in = next_in
        self.max_rounds = max_rounds
        self.now = now
        self.running = False
        self.last_run: datetime | None = None  # when the last run ended
        self.round_began: datetime | None = None  # while running: when this round began
        self._woken = threading.Event()
        self._ticker: Ticker | None = None

    def wake(self) -> None:
        self._woken.set()

    def __call__(self) -> int:
        total = 0
        self.round_began = self.now()
        self.running = True
        try:
            for _ in range(self.max_rounds):
                self._woken.clear()
                self.round_began = self.now()
                done = self.step()
                total += done
                if not done and not self._woken.is_set():
                    break
            if self.next_in is not None and self._ticker is not None:
                seconds = self.next_in()
                # Work already due but not taken (a paused workspace, say) waits for the
                # next tick instead of spinning the job.
                if seconds is not None and seconds > 0:
                    self._ticker.run_in(self.name, seconds)
        except Exception:
            logger.exception("job %s failed; the next tick will try again", self.name)
        finally:
            self.last_run = self.now()
            self.running = False
        return total


class Ticker:
    """The APScheduler wrapper: fixed interval jobs, wake-ups on demand.

    ``now`` is the clock liveness is judged by (the tests pass one they control)."""

    def __init__(self, *, now: Now = utc_now) -> None:
        self._scheduler = BackgroundScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
        self._jobs: dict[str, Drainer] = {}
        self._intervals: dict[str, float] = {}
        self.now = now
        self.started_at: datetime | None = None

    def every(self, seconds: float, job: Drainer) -> None:
        self._jobs[job.name] = job
        self._intervals[job.name] = seconds
        job._ticker = self
        job.now = self.now
        self._scheduler.add_job(
            job,
            "interval",
            seconds=seconds,
            id=job.name,
            name=job.name,
            replace_existing=True,
            next_run_time=datetime.now(UTC),
        )

    def wake(self, name: str) -> None:
        """Run a job now (or, if it is running, once more right after)."""
        job = self._jobs.get(name)
        if job is None:
            return
        job.wake()
        if not job.running:
            self.run_in(name, 0.0)

    def run_in(self, name: str, seconds: float) -> None:
        """Bring a job's next run forward to ``seconds`` from now (never later than its
        next interval tick)."""
        if not self._scheduler.running or seconds >= self._intervals.get(name, 0.0):
            return
        job = self._scheduler.get_job(name)
        when = datetime.now(UTC) + timedelta(seconds=seconds)
        if job is not None and (job.next_run_time is None or when < job.next_run_time):
            self._scheduler.modify_job(name, next_run_time=when)

    def start(self) -> None:
        self.started_at = self.now()
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def jobs(self) -> dict[str, str]:
        """Each job's liveness: ``ok``, ``running``, ``late`` (its last run ended longer
        ago than its interval plus a grace) or ``stalled`` (a round running for longer
        than ``STALLED_AFTER``)."""
        now = self.now()
        states = {}
        for name, job in self._jobs.items():
            if job.running:
                began = job.round_began
                stalled = began is not None and now - began > STALLED_AFTER
                states[name] = "stalled" if stalled else "running"
                continue
            interval = timedelta(seconds=self._intervals[name])
            allowed = interval + max(MIN_GRACE, interval / 2)
            since = job.last_run or self.started_at
            states[name] = "late" if since is not None and now - since > allowed else "ok"
        return states

    def alive(self) -> bool:
        """Running, and every job ran within its own interval plus a grace (or is running)."""
        if not self.running:
            return False
        return all(state in ("ok", "running") for state in self.jobs().values())

    def describe(self) -> dict[str, Any]:
        return {
            name: (j.last_run.isoformat() if j.last_run else None) for name, j in self._jobs.items()
        }

"""The scheduler only ticks (DESIGN.md invariant 1).

A few fixed APScheduler jobs with explicit ids, each a module-level function that
does one bounded round of work from the database and returns. Never one job per
meeting, never a shared job store, and never APScheduler's default
``misfire_grace_time`` of 1 s (it silently drops a late run): ours is ``None``
(run however late) with ``coalesce`` (one run for many missed).
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
    ) -> None:
        self.name = name
        self.step = step
        self.next_in = next_in
        self.max_rounds = max_rounds
        self.running = False
        self.last_run: datetime | None = None
        self._woken = threading.Event()
        self._ticker: Ticker | None = None

    def wake(self) -> None:
        self._woken.set()

    def __call__(self) -> int:
        total = 0
        self.running = True
        try:
            for _ in range(self.max_rounds):
                self._woken.clear()
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
            self.running = False
            self.last_run = datetime.now(UTC)
        return total


class Ticker:
    """The APScheduler wrapper: fixed interval jobs, wake-ups on demand."""

    def __init__(self) -> None:
        self._scheduler = BackgroundScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
        self._jobs: dict[str, Drainer] = {}
        self._intervals: dict[str, float] = {}

    def every(self, seconds: float, job: Drainer) -> None:
        self._jobs[job.name] = job
        self._intervals[job.name] = seconds
        job._ticker = self
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
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def alive(self, *, tolerance: timedelta = timedelta(minutes=2)) -> bool:
        """Running, and no job has gone silent for longer than ``tolerance``."""
        if not self.running:
            return False
        now = datetime.now(UTC)
        return all(j.last_run is None or now - j.last_run < tolerance for j in self._jobs.values())

    def describe(self) -> dict[str, Any]:
        return {
            name: (j.last_run.isoformat() if j.last_run else None) for name, j in self._jobs.items()
        }

"""Slow work a person starts from Slack, kept off Bolt's listener pool.

Bolt runs command, button and form listeners on a small thread pool (five threads).
Connecting a calendar fetches and parses it, which can take 25 seconds; five people
doing so at once held every thread, and anyone else's ``/heedful help`` waited in the
queue past Slack's 3 seconds. So a listener acknowledges at once and hands such work
here: a bounded pool of its own (``workers`` threads, at most ``max_jobs`` jobs taken
and not finished) with at most one job per person at a time. A job that cannot be taken
is refused on the spot (:class:`Busy`), so the listener can say why in its answer.

A use case hands such work out as a :class:`Later` (:meth:`SlowWork.later`): reserved,
not started. Its listener acks first, with :attr:`Later.says`, then starts it; the
work's result goes to the listener's own Slack call, on the pool.

The services factory creates the pool (``Services.slow_work``); the app shuts it down
when it stops (jobs still waiting are dropped, with one log line).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from enum import StrEnum
from typing import Generic, TypeVar

from bot.messages.prompts import load_prompts

logger = logging.getLogger(__name__)

T = TypeVar("T")

WORKERS = 4  # fetching is mostly waiting; parsing holds the GIL: more would not go faster
MAX_JOBS = 32  # taken and not finished; past this the answer is "busy, try again"


class Busy(StrEnum):
    """Why a job was not taken (the prompt ``slow_work.busy.<value>`` says it)."""

    YOURS = "yours"  # this person already has a job in flight
    FULL = "full"  # the pool has as many jobs as it takes, or is shutting down


class Slot:
    """A place in the pool reserved for one person: :meth:`start` a job in it, or
    :meth:`release` it. Whatever happens, the person's place is freed once."""

    def __init__(self, work: SlowWork, key: Hashable) -> None:
        self._work = work
        self._key = key
        self._used = False

    def start(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the pool. It should catch and log its own errors; one that
        escapes is logged here."""
        if self._used:
            raise RuntimeError("a slot runs one job")
        self._used = True
        try:
            future = self._work._executor.submit(self._run, job)
        except RuntimeError:  # shut down between reserve() and start()
            self._work._free(self._key)
            logger.warning("slow work: the pool is shut down; a job was dropped")
            return
        future.add_done_callback(self._done)

    def release(self) -> None:
        """Give the place back without running anything (safe to call after start)."""
        if not self._used:
            self._used = True
            self._work._free(self._key)

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            logger.exception("slow work failed")

    def _done(self, _future: Future[None]) -> None:
        self._work._free(self._key)


class Later(Generic[T]):
    """Work reserved on the pool for one person and not started yet.

    :attr:`refused` when the pool had no place for it (nothing will run); :attr:`says`
    is what to answer at once: why not (the prompt ``slow_work.busy.<reason>``), or
    what the use case wants said when it is taken ("checking…"). Start it exactly once.
    """

    def __init__(self, slot: Slot | Busy, work: Callable[[], T], *, says: str = "") -> None:
        self._slot = slot
        self._work = work
        self.refused = isinstance(slot, Busy)
        self.says = load_prompts().text(f"slow_work.busy.{slot.value}") if self.refused else says

    def start(self, *, after: Callable[[], object], then: Callable[[T], object]) -> None:
        """Call ``after`` (the listener's ack) now; then, unless refused, run the work
        on the pool and hand its result to ``then`` there. If ``after`` raises, the
        place is freed and nothing runs."""
        slot = self._slot
        if isinstance(slot, Busy):
            after()
            return
        try:
            after()
        except BaseException:
            slot.release()
            raise
        slot.start(lambda: then(self._work()))


class SlowWork:
    """A bounded pool with one job per key (a person: team and user id) at a time."""

    def __init__(self, *, workers: int = WORKERS, max_jobs: int = MAX_JOBS) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slow-work")
        self._max_jobs = max_jobs
        self._keys: set[Hashable] = set()
        self._changed = threading.Condition()
        self._closed = False

    def reserve(self, key: Hashable) -> Slot | Busy:
        """A slot for ``key``, or why there is none. Never blocks."""
        with self._changed:
            if key in self._keys:
                return Busy.YOURS
            if self._closed or len(self._keys) >= self._max_jobs:
                return Busy.FULL
            self._keys.add(key)
        return Slot(self, key)

    def later(self, key: Hashable, work: Callable[[], T], *, says: str = "") -> Later[T]:
        """``work`` reserved for ``key`` (see :class:`Later`). Never blocks."""
        return Later(self.reserve(key), work, says=says)

    def busy(self, key: Hashable) -> bool:
        """Whether ``key`` has a job reserved or running."""
        with self._changed:
            return key in self._keys

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job is reserved or running; False if ``timeout`` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._keys, timeout=timeout)

    def shutdown(self) -> None:
        """Take no more jobs and drop those still waiting; running ones finish."""
        with self._changed:
            self._closed = True
            waiting = len(self._keys)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if waiting:
            logger.info("slow work: stopping with %d jobs not finished", waiting)

    def _free(self, key: Hashable) -> None:
        with self._changed:
            self._keys.discard(key)
            self._changed.notify_all()

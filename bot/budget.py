"""One rate budget per workspace and Slack method, shared by every process through the
database: the sender takes a slot before each post, so it never posts faster than the
budget, and Slack's answers adapt the budget.

Decisions, written down once:

* **Where it lives.** A row of ``rate_budget`` per (team, method). Every change is one
  short transaction that reads and writes the row: on PostgreSQL under a row lock
  (``SELECT … FOR UPDATE``, after an ``INSERT … ON CONFLICT DO NOTHING`` creates it), on
  SQLite under the database's single writer (``BEGIN IMMEDIATE``, ``bot.storage.db``).
  All processes on one database therefore share one pace and see every pause.
* **The pace is a token bucket** kept as its theoretical arrival time (``next_at``, the
  generic cell rate algorithm, as the emulator's limiter does): one slot every
  ``60 / per_minute`` seconds, and a burst of one second's worth (at least one) at once.
  Slots are taken for a whole batch in one transaction (:meth:`Budget.take`): a write
  per DM made the outbox many times slower (bench/outbox.py).
* **The start**: ``HEEDFUL_SLACK_MESSAGES_PER_MINUTE`` (default :data:`DEFAULT_PER_MINUTE`,
  300). Slack's rate-limit page says ``chat.postMessage`` is "special": about one message
  a second per channel, short bursts allowed, and a workspace-wide limit it gives no
  number for, which apps meet at "several hundred a minute"
  (https://docs.slack.dev/apis/web-api/rate-limits). 300 a minute (5 a second) stays
  under every figure observed for that limit with room for the app's other calls, and
  every DM goes to its own channel, so the per-channel limit is never the one met.
* **Adapting** (additive increase, multiplicative decrease, as TCP does): a 429 pauses
  the (team, method) until its ``Retry-After`` for every process and halves the rate,
  once per pause (429s to posts already on their way when the first came in say nothing
  new, as TCP halves once per window), never below a sixteenth of the configured rate
  (:data:`FLOOR_SHARE`: a storm of 429s slows a workspace, never stops it); each post
  Slack accepts raises it by a hundredth of the configured rate, never above it. The
  configured rate is the ceiling: the operator's figure is a promise the sender keeps,
  the adaptation only goes below it.
* **Per-method ceilings** (``Budget(ceilings=…)``): a method Slack limits by its tier,
  not as a message, keeps its own ceiling. ``chat.scheduleMessage`` and
  ``chat.deleteScheduledMessage`` are tier 3, "50+ per minute" per workspace
  (https://docs.slack.dev/apis/web-api/rate-limits): :data:`TIER3_PER_MINUTE`, 50. Every
  other method keeps ``HEEDFUL_SLACK_MESSAGES_PER_MINUTE``.
* **Time** is the injected clock's, so a virtual clock paces tests exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.storage import rate_budget as store
from bot.storage.db import read_only

DEFAULT_PER_MINUTE = 300.0
FLOOR_SHARE = 1 / 16  # the lowest rate, as a share of the configured one (four halvings)
DECREASE = 0.5  # a 429 multiplies the rate by this
INCREASE_SHARE = 0.01  # each accepted post adds this share of the ceiling
TIER3_PER_MINUTE = 50.0  # Slack's tier 3 ("50+ per minute"), for the methods named so


@dataclass(frozen=True)
class Slots:
    """What :meth:`Budget.take` granted: ``granted`` posts may go now; the next free slot
    for the others is ``next_free`` (a lower bound: other processes may take it first),
    then one every ``interval``. ``paused``: none was free because Slack's
    ``Retry-After`` is still being waited out (not merely the pace)."""

    granted: int
    next_free: datetime
    interval: timedelta
    paused: bool = False


class Budget:
    """The shared rate budget of one database (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        per_minute: float = DEFAULT_PER_MINUTE,
        ceilings: Mapping[str, float] | None = None,
    ) -> None:
        if per_minute <= 0 or any(rate <= 0 for rate in (ceilings or {}).values()):
            raise ValueError("per_minute must be positive")
        self.engine = engine
        self.ceiling = per_minute
        self.floor = per_minute * FLOOR_SHARE
        self.ceilings = dict(ceilings or {})

    def ceiling_of(self, method: str) -> float:
        """The highest (and starting) rate a minute of ``method``."""
        return self.ceilings.get(method, self.ceiling)

    # ------------------------------------------------------------------ slots

    def take(
        self, wanted: Mapping[tuple[str, str], int], *, now: datetime
    ) -> dict[tuple[str, str], Slots]:
        """Take up to ``wanted[(team, method)]`` slots that are free at ``now``, for every
        pair in one transaction."""
        out: dict[tuple[str, str], Slots] = {}
        with self.engine.begin() as conn:
            rows = self._lock(conn, wanted, now=now)
            for key, count in wanted.items():
                per_minute, next_at, paused = self._row(rows[key], key[1])
                interval = timedelta(seconds=60.0 / per_minute)
                tolerance = interval * (_burst(per_minute) - 1)
                if paused is not None and paused > now:
                    next_free = max(paused, (next_at or paused) - tolerance)
                    out[key] = Slots(0, next_free, interval, paused=True)
                    continue
                tat = max(next_at or now, now)
                granted = 0
                while granted < count and tat - tolerance <= now:
                    tat += interval
                    granted += 1
                if granted:
                    store.set_next_at(conn=conn, key=key, next_at=tat, now=now)
                out[key] = Slots(granted, max(tat - tolerance, now), interval)
        return out

    # ------------------------------------------------------------------ adapting

    def throttled(self, team_id: str, method: str, *, until: datetime, now: datetime) -> float:
        """Slack answered 429: pause (team, method) until ``until`` for every process and
        cut its rate. Returns the new rate a minute."""
        key = (team_id, method)
        with self.engine.begin() as conn:
            per_minute, next_at, paused = self._row(self._lock(conn, [key], now=now)[key], method)
            pausing = paused is not None and paused > now
            floor = self.ceiling_of(method) * FLOOR_SHARE
            rate = per_minute if pausing else max(floor, per_minute * DECREASE)
            store.pause(
                conn=conn,
                key=key,
                per_minute=rate,
                paused_until=max(until, paused or until),
                next_at=max(until, next_at or until),
                now=now,
            )
        return rate

    def accepted(self, counts: Mapping[tuple[str, str], int], *, now: datetime) -> None:
        """Slack accepted ``counts[(team, method)]`` posts: raise each rate a little."""
        with self.engine.begin() as conn:
            for key, count in counts.items():
                if count <= 0:
                    continue
                ceiling = self.ceiling_of(key[1])
                store.raise_rate(
                    conn=conn,
                    key=key,
                    step=ceiling * INCREASE_SHARE * count,
                    ceiling=ceiling,
                    now=now,
                )

    def read(self, team_id: str, method: str) -> store.BudgetRow | None:
        """The budget of (team, method) as stored (None: never used)."""
        with read_only(self.engine) as conn:
            return store.read(conn=conn, key=(team_id, method))

    # ------------------------------------------------------------------ internals

    def _lock(
        self, conn: sa.Connection, keys: Iterable[tuple[str, str]], *, now: datetime
    ) -> dict[tuple[str, str], store.BudgetRow]:
        return store.lock(conn=conn, keys=keys, starting_rate=self.ceiling_of, now=now)

    def _row(
        self, row: store.BudgetRow, method: str
    ) -> tuple[float, datetime | None, datetime | None]:
        """A stored row as the algorithm reads it: its rate never above the method's
        ceiling (an operator may have lowered it since)."""
        return min(row.per_minute, self.ceiling_of(method)), row.next_at, row.paused_until


def _burst(per_minute: float) -> int:
    """Slots that may be taken at once: one second's worth, at least one."""
    return max(1, math.floor(per_minute / 60.0))

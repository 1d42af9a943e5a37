"""Prometheus metrics, served at ``GET /metrics`` (text format).

The app factory (:class:`bot.app.Heedful`) builds one :class:`Metrics` and its own
registry; nothing is registered at import time, so tests and several apps in one
process each count their own. Counters are per process: every ``heedful run`` counts
what *it* did since it started, so scrape every instance and sum in Prometheus
(``sum by (kind, outcome) (rate(heedful_deliveries_total[5m]))``). The outbox gauges
read the shared database at scrape time, so every instance reports the same values.

What an operator gets (nothing here carries text, tokens, user or team ids):

* ``heedful_deliveries_total{kind,outcome}``: what this process's sender did with each DM
  it handled (``gave_up`` is the one to alert on).
* ``heedful_delivery_lateness_seconds{kind}`` (histogram): ``sent_at - due_at`` of the DMs
  this process sent; a DM sent early counts as 0. ``sent_at`` is read back from the
  database in one query as each scrape is rendered (or every :data:`LATENESS_FLUSH` DMs),
  so the send path pays nothing for it.
* ``heedful_slack_calls_total{method,outcome}``: every Web API call this process's
  clients made, Bolt's included (``bot.slack.SlackCalls``: ``ok``, Slack's error code,
  ``ratelimited`` for a 429, ``error`` when no answer came).
* Read from the shared database at each scrape (every instance reports the same):
  ``heedful_outbox_deliveries{state}`` (pending, claimed),
  ``heedful_deliveries_by_state{kind,state}`` (every kind and state present, so a new state
  appears without a change here), ``heedful_inbox_backlog{source}`` (events stored but not
  processed), ``heedful_scheduled_messages`` (deliveries Slack holds, in state
  ``scheduled``: handed to it ahead of time and not yet posted, ``bot.prescheduler``,
  ``bot.storage.stats.scheduled_messages``) and ``heedful_calendar_sync_lag_seconds{kind}``
  (how long the most overdue calendar has waited past its next check: alert on it to
  learn that calendars are not being read, ``bot.storage.stats.calendar_sync_lag``).
* ``heedful_scheduled_deletions_total{outcome}``: this process's deletions of messages
  handed to Slack ahead of time (``too_late``: asked within a minute of its time, so it
  was posted anyway; ``bot.prescheduler``).

A query that fails at scrape time drops its family from that scrape (and logs the kind
of error), so the counters are still served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from bot.clock import Clock
from bot.slack import SlackCalls
from bot.storage import deliveries, stats

logger = logging.getLogger(__name__)

DELIVERY_OUTCOMES = (
    "sent",  # Slack has it (or a history check found it there)
    "skipped",  # not sent on purpose: person unreachable, withdrawn by its composer
    "expired",  # it could no longer arrive in time (README, "Today's rule"): not sent
    "failed",  # Slack refused it for good (the person, the payload) or it cannot be sent
    "gave_up",  # transient failures or unknown outcomes used up every attempt
    "retried",  # a transient failure or unknown outcome: pending again, with backoff
    "rate_limited",  # Slack's 429 (or this process still waiting one out): pending, no attempt
    "paced",  # no slot in the workspace's rate budget yet (bot.budget): pending, no attempt
    "paused",  # the workspace's token stopped working: pending until it is reinstalled
    "lease_lost",  # another process took the row over first; this one did not send it
    "scheduled",  # handed to Slack ahead of time (bot.prescheduler); "sent" once posted
    "direct",  # Slack would not take it ahead of time: the sender posts it at its due time
    "unknown",  # a scheduling call without an answer that could not be cleared up in time
)
# What became of the deletions of scheduled messages (``bot.prescheduler``).
UNSCHEDULE_OUTCOMES = (
    "deleted",  # Slack deleted it: it will not post
    "gone",  # Slack did not know it any more, well before its time (posted or deleted)
    "too_late",  # asked within a minute of its post_at (or after): it was posted anyway
    "gave_up",  # Slack kept failing until its post_at passed
    "dropped",  # no token to ask with (the workspace uninstalled or removed)
)

# Seconds late, from on time to badly late: a paced burst spreads over seconds to a few
# minutes; a reminder more than its lead (5 min) late has missed its meeting.
LATENESS_BUCKETS = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# Sent DMs waiting for their sent_at to be read: read them at this many even unscraped.
LATENESS_FLUSH = 500


class _Row(Protocol):
    id: int
    kind: str
    due_at: datetime


class _Sent(Protocol):
    """What the sender tells its observers (``bot.sender.SentDM``), as far as read here."""

    @property
    def row(self) -> _Row: ...


class Metrics:
    """One registry and the metrics Heedful records into it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "heedful_deliveries",
            "Outcomes of DM deliveries handled by this process, by kind and outcome.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.unscheduled = Counter(
            "heedful_scheduled_deletions",
            "Deletions of messages handed to Slack ahead of time, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.lateness = Histogram(
            "heedful_delivery_lateness_seconds",
            "Seconds from due_at to sent_at of DMs sent by this process, by kind.",
            ["kind"],
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self._sent: list[tuple[int, str, datetime]] = []
        self._sent_lock = threading.Lock()
        self._read_sent_at: Callable[[list[int]], dict[int, datetime]] | None = None

    def delivery(self, kind: str, outcome: str) -> None:
        self.deliveries.labels(kind=kind, outcome=outcome).inc()

    def watch_outbox(self, engine: Engine) -> None:
        """Add the outbox depth gauge (read from the database at each scrape)."""
        self.registry.register(_OutboxDepth(engine))

    def watch_database(self, engine: Engine, clock: Clock) -> None:
        """Add the families read from the database at each scrape, and read back the
        ``sent_at`` of the DMs :meth:`on_sent` heard of."""
        self.registry.register(_DatabaseFigures(engine, clock))
        self._read_sent_at = lambda ids: stats.sent_at(engine, ids)

    def watch_slack(self, calls: SlackCalls) -> None:
        """Add ``heedful_slack_calls_total`` from the clients' call counts."""
        self.registry.register(_SlackCallCounts(calls))

    def on_sent(self, sent: _Sent) -> None:
        """A sender observer (``Sender.observers``): remember a DM this process sent."""
        row = sent.row
        with self._sent_lock:
            self._sent.append((row.id, row.kind, row.due_at))
            full = len(self._sent) >= LATENESS_FLUSH
        if full:
            self.flush_lateness()

    def flush_lateness(self) -> None:
        """Observe the lateness of the DMs remembered since the last flush, from the
        ``sent_at`` the sender stored (rows erased meanwhile are left out)."""
        with self._sent_lock:
            pending, self._sent = self._sent, []
        if not pending or self._read_sent_at is None:
            return
        try:
            sent = self._read_sent_at([i for i, _, _ in pending])
        except Exception as exc:
            logger.warning("metrics: could not read when DMs were sent (%s)", type(exc).__name__)
            with self._sent_lock:
                self._sent[:0] = pending[-LATENESS_FLUSH:]  # try again, never grow unbounded
            return
        for delivery_id, kind, due_at in pending:
            when = sent.get(delivery_id)
            if when is not None:
                late = max(0.0, (when - due_at).total_seconds())
                self.lateness.labels(kind=kind).observe(late)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition and its content type, negotiated from the ``Accept`` header as
        prometheus-client's own HTTP handler does (Prometheus text 0.0.4 by default)."""
        self.flush_lateness()
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class _OutboxDepth(Collector):
    """``heedful_outbox_deliveries{state="pending"|"claimed"}``: one indexed query."""

    NAME = "heedful_outbox_deliveries"
    HELP = "Deliveries in the outbox waiting to be sent (pending) or being sent (claimed)."

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Any]:  # registering must not query the database
        yield GaugeMetricFamily(self.NAME, self.HELP, labels=["state"])

    def collect(self) -> Iterator[Any]:
        try:
            depth = deliveries.outbox_depth(engine=self.engine)
        except Exception as exc:
            logger.warning("metrics: could not read the outbox depth (%s)", type(exc).__name__)
            return
        gauge = GaugeMetricFamily(self.NAME, self.HELP, labels=["state"])
        for state, count in sorted(depth.items()):
            gauge.add_metric([state], count)
        yield gauge


class _SlackCallCounts(Collector):
    """``heedful_slack_calls_total{method,outcome}`` from :class:`bot.slack.SlackCalls`."""

    NAME = "heedful_slack_calls"
    HELP = "Slack Web API calls made by this process, by method and outcome."

    def __init__(self, calls: SlackCalls) -> None:
        self.calls = calls

    def describe(self) -> Iterator[Any]:
        yield CounterMetricFamily(self.NAME, self.HELP, labels=["method", "outcome"])

    def collect(self) -> Iterator[Any]:
        family = CounterMetricFamily(self.NAME, self.HELP, labels=["method", "outcome"])
        for (method, outcome), count in sorted(self.calls.counts().items()):
            family.add_metric([method, outcome], count)
        yield family


class _DatabaseFigures(Collector):
    """The gauges read from the shared database at each scrape (``bot.storage.stats``)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def describe(self) -> Iterator[Any]:  # registering must not query the database
        yield from (family for family, _ in self._families())

    def collect(self) -> Iterator[Any]:
        for family, fill in self._families():
            try:
                fill(family)
            except Exception as exc:
                logger.warning("metrics: could not read %s (%s)", family.name, type(exc).__name__)
                continue
            yield family

    def _families(self) -> list[tuple[GaugeMetricFamily, Callable[[GaugeMetricFamily], None]]]:
        def deliveries(family: GaugeMetricFamily) -> None:
            for (kind, state), n in sorted(stats.deliveries_by_kind_and_state(self.engine).items()):
                family.add_metric([kind, state], n)

        def backlog(family: GaugeMetricFamily) -> None:
            for source, n in sorted(stats.inbox_backlog(self.engine).items()):
                family.add_metric([source], n)

        def scheduled(family: GaugeMetricFamily) -> None:
            family.add_metric([], stats.scheduled_messages(self.engine, now=self.clock.now()))

        def lag(family: GaugeMetricFamily) -> None:
            now = self.clock.now()
            for kind, seconds in sorted(stats.calendar_sync_lag(self.engine, now=now).items()):
                family.add_metric([kind], seconds)

        return [
            (
                GaugeMetricFamily(
                    "heedful_deliveries_by_state",
                    "Deliveries in the database, by kind and state.",
                    labels=["kind", "state"],
                ),
                deliveries,
            ),
            (
                GaugeMetricFamily(
                    "heedful_inbox_backlog",
                    "Inbox rows stored but not processed yet, by source.",
                    labels=["source"],
                ),
                backlog,
            ),
            (
                GaugeMetricFamily(
                    "heedful_scheduled_messages",
                    "DMs handed to Slack with chat.scheduleMessage and not yet posted.",
                ),
                scheduled,
            ),
            (
                GaugeMetricFamily(
                    "heedful_calendar_sync_lag_seconds",
                    "Seconds the most overdue calendar of each kind has waited past its"
                    " next check (not broken ones); grows while calendars are not read.",
                    labels=["kind"],
                ),
                lag,
            ),
        ]

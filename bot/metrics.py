"""Prometheus metrics, served at ``GET /metrics`` (text format).

The app factory (:class:`bot.app.Heedful`) builds one :class:`Metrics` and its own
registry; nothing is registered at import time, so tests and several apps in one
process each count their own. Counters are per process: every ``heedful run`` counts
what *it* did since it started, so scrape every instance and sum in Prometheus
(``sum by (kind, outcome) (rate(heedful_deliveries_total[5m]))``). The outbox gauges
read the shared database at scrape time, so every instance reports the same values.

This is the foundation: the delivery outcomes (``gave_up`` is the one to alert on) and
the outbox depth. Nothing here carries text, tokens or user ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from bot.storage import repository as repo

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
)


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

    def delivery(self, kind: str, outcome: str) -> None:
        self.deliveries.labels(kind=kind, outcome=outcome).inc()

    def watch_outbox(self, engine: Engine) -> None:
        """Add the outbox depth gauge (read from the database at each scrape)."""
        self.registry.register(_OutboxDepth(engine))

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition and its content type, negotiated from the ``Accept`` header as
        prometheus-client's own HTTP handler does (Prometheus text 0.0.4 by default)."""
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
            depth = repo.outbox_depth(self.engine)
        except Exception as exc:
            logger.warning("metrics: could not read the outbox depth (%s)", type(exc).__name__)
            return
        gauge = GaugeMetricFamily(self.NAME, self.HELP, labels=["state"])
        for state, count in sorted(depth.items()):
            gauge.add_metric([state], count)
        yield gauge

"""The app factory: Bolt apps, inbox, sender, scheduler and HTTP server, wired once.

Two Bolt apps share one set of listeners (``handlers.register_handlers``):

* the **ingress** app faces Slack (HTTP mode behind ``POST /slack/events``, where
  ``bot.ingress`` checks the signature and the payload first, or Socket Mode). It
  answers ``url_verification`` and stores every Events API payload in the inbox before
  acknowledging it (``bot.inbox``). Slash commands and interactions run their listeners
  directly, once per request (``bot.inbox.replay_guard``): they must answer within 3 s
  and Slack does not redeliver them.
* the **worker** app replays stored events through the same listeners, running them
  to completion (``process_before_response=True``) so the inbox knows when a row is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from slack_bolt import App

from bot import commitments, feedback
from bot.budget import TIER3_PER_MINUTE, Budget
from bot.digest import DigestComposer, plan_digests
from bot.inbox import SLACK, InboxProcessor, bolt_dispatcher, inbox_middleware, replay_guard
from bot.ingress import slack_events_route
from bot.listener import with_services
from bot.logging_setup import bolt_logger
from bot.metrics import Metrics
from bot.nudges import NudgeComposer
from bot.prescheduler import DELETE_METHOD, LIST_METHOD, SCHEDULE_METHOD, PreScheduler
from bot.privacy import purge_expired
from bot.replies import AckComposer
from bot.scheduler import Drainer, Ticker
from bot.sender import Composer, Sender
from bot.server import HttpRequest, HttpResponse, HttpServer, Router
from bot.services import Services
from bot.storage.models import DeliveryKind
from bot.sync import feeds, google, microsoft, oauth, polling
from bot.sync.hooks import HOOK_SOURCE, hook_dispatcher
from handlers import hooks, register_handlers

logger = logging.getLogger(__name__)

INBOX_TICK_SECONDS = 2.0
DIGEST_TICK_SECONDS = 300.0
HOUSEKEEPING_TICK_SECONDS = 6 * 3600.0
# Nudges are handed to Slack at least 10 minutes ahead: a look every few seconds is plenty
# (timed work, a deletion or an unknown outcome, wakes it sooner: ``seconds_until_due``).
PRESCHEDULE_TICK_SECONDS = 5.0


def build_bolt_app(
    services: Services, *, worker: bool, on_stored: Callable[[], None] = lambda: None
) -> App:
    """A Bolt app over Heedful's services. ``worker`` apps replay stored events.

    Neither app checks Slack's signature itself: the ingress app's only way in over HTTP
    is ``bot.ingress.slack_events_route``, which has checked it before dispatching (and,
    unlike Bolt, never logs a refused body); Socket Mode requests carry none; the worker
    replays rows that passed the ingress.
    """
    settings = services.settings
    app = App(
        name="heedful",
        logger=bolt_logger(),
        client=services.clients.anonymous(),
        signing_secret=settings.slack_signing_secret or "",
        authorize=services.bolt_authorize(),
        process_before_response=worker,
        request_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    if not worker:
        # First: an event is stored and acked here, with nothing else run before it
        # (every global middleware costs Bolt a round of argument injection: bench/ack.py).
        app.use(
            inbox_middleware(
                engine=services.engine,
                clock=services.clock,
                cipher=services.cipher,
                on_stored=on_stored,
            )
        )
        app.use(replay_guard(engine=services.engine, clock=services.clock))
    app.use(with_services(services))
    register_handlers(app)
    return app


@dataclass
class Heedful:
    """The whole running product. ``start()`` serves and ticks; tests may instead call
    ``process_inbox()`` and ``send_due()`` on a virtual clock."""

    services: Services
    composers: dict[str, Composer] = field(default_factory=dict)
    serve_http: bool = True
    run_workers: bool = True
    ticker: Ticker = field(init=False)
    ingress: App = field(init=False)
    worker: App = field(init=False)
    inbox: InboxProcessor = field(init=False)
    sender: Sender = field(init=False)
    prescheduler: PreScheduler = field(init=False)
    metrics: Metrics = field(init=False)
    router: Router = field(init=False)
    server: HttpServer | None = field(init=False, default=None)
    _socket: Any = field(init=False, default=None)
    _hooks: list[Callable[[], None]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        s = self.services
        self.ticker = Ticker()
        self.metrics = Metrics()
        self.metrics.watch_outbox(s.engine)
        self.metrics.watch_database(s.engine, s.clock)
        self.metrics.watch_slack(s.clients.calls)
        self.ingress = build_bolt_app(s, worker=False, on_stored=self._on_stored)
        self.worker = build_bolt_app(s, worker=True)
        self.inbox = InboxProcessor(
            engine=s.engine,
            clock=s.clock,
            worker_id=s.worker_id,
            dispatchers={
                SLACK: bolt_dispatcher(self.worker, s.cipher),
                HOOK_SOURCE: hook_dispatcher(s),
                google.INBOX_SOURCE: google.dispatcher(s),
                microsoft.INBOX_SOURCE: microsoft.dispatcher(s),
            },
        )
        composers: dict[str, Composer] = {
            **NudgeComposer(s).composers(),
            DeliveryKind.DIGEST: DigestComposer(s),
            DeliveryKind.ACK: AckComposer(s),
            DeliveryKind.COMMITMENT_OFFER: commitments.OfferComposer(s),
            DeliveryKind.FEEDBACK_ASK: feedback.FeedbackComposer(s),
            **self.composers,
        }
        # One budget: chat.postMessage at the configured pace, the scheduling methods at
        # Slack's tier 3 (bot.budget, bot.prescheduler).
        budget = Budget(
            s.engine,
            per_minute=s.settings.slack_messages_per_minute,
            ceilings={
                method: TIER3_PER_MINUTE for method in (SCHEDULE_METHOD, DELETE_METHOD, LIST_METHOD)
            },
        )
        lease = timedelta(seconds=s.settings.sender_lease_seconds)
        self.sender = Sender(
            engine=s.engine,
            clock=s.clock,
            clients=s.clients,
            worker_id=s.worker_id,
            composers=composers,
            cipher=s.cipher,
            lease=lease,
            metrics=self.metrics,
            budget=budget,
        )
        self.sender.observers.append(self.metrics.on_sent)
        self.prescheduler = PreScheduler(
            engine=s.engine,
            clock=s.clock,
            clients=s.clients,
            worker_id=s.worker_id,
            composers=composers,
            budget=budget,
            metrics=self.metrics,
            cipher=s.cipher,
            horizon=timedelta(hours=s.settings.preschedule_hours),
            lease=lease,
        )
        if self.run_workers:
            s.wake_outbox = lambda: self.ticker.wake("outbox")
            s.wake_inbox = lambda: self.ticker.wake("inbox")
        self.router = Router()
        if not s.settings.socket_mode:
            self.router.add(
                "POST",
                "/slack/events",
                slack_events_route(
                    self.ingress, signing_secret=s.settings.slack_signing_secret or ""
                ),
            )
        self.router.add("GET", "/healthz", self._healthz)
        self.router.add("GET", "/metrics", self._metrics)
        hooks.register(self.router, s, on_stored=self._on_stored)

    # ------------------------------------------------------------------ driving

    def process_inbox(self) -> int:
        return self.inbox.drain()

    def send_due(self) -> int:
        return self.sender.drain()

    def preschedule(self) -> int:
        """Drain the prescheduler: settle, delete, hand due-later nudges to Slack."""
        return self.prescheduler.drain()

    def plan_digests(self) -> int:
        return plan_digests(self.services)

    def housekeeping(self) -> int:
        return purge_expired(self.services)

    def ask_for_feedback(self) -> int:
        """Close the feedback weeks that ended; ask the people of meetings that did."""
        return feedback.run_once(self.services)

    def sync_google(self) -> int:
        """Renew Google push channels near their end and sync the calendars that are due
        (the tick's share of them: ``bot.sync.polling``)."""
        return oauth.poll_tick(
            self.services,
            google.GOOGLE,
            step=lambda limit: google.refresh_due(self.services, limit=limit),
        )

    def sync_microsoft(self) -> int:
        """Sync the Microsoft calendars that are due and renew subscriptions near their end
        (the tick's share of them: ``bot.sync.polling``)."""
        return oauth.poll_tick(
            self.services,
            microsoft.MICROSOFT,
            step=lambda limit: microsoft.refresh_due(self.services, limit=limit),
        )

    def _on_stored(self) -> None:
        if self.run_workers:
            self.ticker.wake("inbox")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        s = self.services.settings
        if self.run_workers:
            self.ticker.every(
                s.tick_seconds,
                Drainer("outbox", self.sender.run_once, next_in=self.sender.seconds_until_due),
            )
            self.ticker.every(
                PRESCHEDULE_TICK_SECONDS,
                Drainer(
                    "prescheduler",
                    self.prescheduler.run_once,
                    next_in=self.prescheduler.seconds_until_due,
                ),
            )
            self.ticker.every(INBOX_TICK_SECONDS, Drainer("inbox", self.inbox.run_once))
            # One run a tick: each sizes its rounds from the calendars' count and its time
            # (bot.sync.polling), so a Drainer's "again until idle" would only overrun it.
            self.ticker.every(
                polling.TICK_SECONDS,
                Drainer("calendars", lambda: feeds.poll_tick(self.services), max_rounds=1),
            )
            if s.google_enabled:
                self.ticker.every(
                    polling.TICK_SECONDS, Drainer("google", self.sync_google, max_rounds=1)
                )
            if s.microsoft_enabled:
                self.ticker.every(
                    polling.TICK_SECONDS, Drainer("microsoft", self.sync_microsoft, max_rounds=1)
                )
            self.ticker.every(DIGEST_TICK_SECONDS, Drainer("digests", self.plan_digests))
            self.ticker.every(HOUSEKEEPING_TICK_SECONDS, Drainer("housekeeping", self.housekeeping))
            self.ticker.every(feedback.TICK_SECONDS, Drainer("feedback", self.ask_for_feedback))
            self.ticker.start()
        if self.serve_http:
            self.server = HttpServer(self.router, host=s.host, port=s.port)
            self.server.start()
            logger.info("listening on http://%s:%s", self.server.host, self.server.port)
        if s.socket_mode:
            self._start_socket_mode()

    def _start_socket_mode(self) -> None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        self._socket = SocketModeHandler(
            self.ingress,
            app_token=self.services.settings.slack_app_token,
            web_client=self.services.clients.anonymous(),
        )
        self._socket.connect()
        logger.info("connected to Slack in Socket Mode")

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
        if self.server is not None:
            self.server.stop()
        self.ticker.stop()
        self.sender.close()
        self.services.slow_work.shutdown()
        self.services.http.close()

    @property
    def url(self) -> str:
        assert self.server is not None, "the HTTP server is not running"
        return f"http://{self.server.host}:{self.server.port}"

    # ------------------------------------------------------------------ health

    def _healthz(self, _request: HttpRequest) -> HttpResponse:
        """200 when the database answers and every job ran within its own interval plus a
        grace, or is running a round that has not taken implausibly long
        (``Ticker.jobs``); else 503. ``jobs`` names each job's state."""
        try:
            with self.services.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            database = True
        except Exception:
            logger.exception("health check: database unreachable")
            database = False
        scheduler = self.ticker.alive() if self.run_workers else None
        healthy = database and scheduler is not False
        status: dict[str, Any] = {
            "status": "ok" if healthy else "unhealthy",
            "database": database,
            "scheduler": scheduler,
            "mode": "socket" if self.services.settings.socket_mode else "http",
        }
        if self.run_workers:
            status["jobs"] = self.ticker.jobs()
        return HttpResponse.json(200 if healthy else 503, status)

    def _metrics(self, request: HttpRequest) -> HttpResponse:
        """Prometheus text format: this process's counters and the database's figures
        (see ``bot.metrics``)."""
        body, content_type = self.metrics.render(request.headers.get("accept", ""))
        return HttpResponse(200, body, {"Content-Type": content_type})

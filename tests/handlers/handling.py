"""Slack, as the listener tests see it: signed requests into the real app over HTTP,
and what the app then did, as the emulator recorded it.

Command, button and form listeners run on Bolt's thread pool after the ack, so a test
waits (``wait_until``) for the exact effect it asserts, or, to assert that something
did not happen, until the listeners it started have finished (:meth:`Slack.settle`).
Events are stored by the ingress and run when the test drains the inbox, as a worker
would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from factories import local, make_occurrence
from waiting import wait_until

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.emulator.models import Call, InboundResult
from bot.occurrences import apply_occurrences, opt_in
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import Delivery, SlackUser

MONDAY = "2026-03-02"
USER = "U1"  # Ana, Europe/Berlin (tests/conftest.py)
DEL = Delivery.__table__


class _Tracking(futures.Executor):
    """Bolt's listener pool, remembering what it was given to run."""

    def __init__(self, inner: futures.Executor) -> None:
        self.inner = inner
        self.started: list[futures.Future[Any]] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future[Any]:
        future = self.inner.submit(fn, *args, **kwargs)
        with self._lock:
            self.started.append(future)
        return future


class Slack:
    def __init__(self, heedful: Heedful, emulator: SlackEmulator, clock: VirtualClock) -> None:
        self.heedful = heedful
        self.services = heedful.services
        self.emulator = emulator
        self.clock = clock
        self.team = emulator.team_id
        runner = heedful.ingress.listener_runner
        self._listeners = _Tracking(runner.listener_executor)
        runner.listener_executor = self._listeners

    @property
    def url(self) -> str:
        return f"{self.heedful.url}/slack/events"

    # -- what the person does ----------------------------------------------------------

    def click(
        self, action_id: str, *, value: str | None = None, message: dict[str, Any] | None = None
    ) -> InboundResult:
        """Tap a button: on ``message``, else on the Home tab or the newest DM that has it."""
        return self.emulator.click_button(self.url, USER, action_id, value, message)

    def submit(self, view: dict[str, Any], values: dict[str, Any]) -> InboundResult:
        return self.emulator.submit_view(self.url, USER, view, values)

    def command(self, text: str) -> InboundResult:
        return self.emulator.send_command(self.url, "/heedful", text, user_id=USER)

    def event(self, event: dict[str, Any], event_id: str | None = None) -> None:
        """Deliver an event (stored and acked by the ingress) and run it, as a worker."""
        result = self.emulator.deliver_event(self.url, event, event_id=event_id)
        assert result.status == 200, result.body
        self.heedful.process_inbox()

    def open_home(self) -> dict[str, Any]:
        """Open the Home tab; returns what Heedful published there."""
        result = self.emulator.open_home(self.url, USER)
        assert result.status == 200, result.body
        self.heedful.process_inbox()
        return self.emulator.views[USER]

    def settle(self) -> None:
        """Wait until every listener started so far, and the slow work it started, is done."""
        with self._listeners._lock:
            started = list(self._listeners.started)
        futures.wait(started, timeout=30)
        assert all(f.done() for f in started), "a listener did not finish"
        assert self.services.slow_work.wait_idle(timeout=30), "slow work did not finish"

    # -- what Heedful did --------------------------------------------------------------

    def calls(self, method: str, count: int = 1) -> list[Call]:
        """The calls of ``method``, once there are ``count`` of them."""
        return wait_until(
            lambda: (calls := self.emulator.calls_to(method)) and len(calls) >= count and calls,
            what=f"{count} {method} call(s)",
        )

    def queued_replies(self) -> list[dict[str, Any]]:
        """Heedful's quiet confirmations (outbox ``notice`` rows): key, text, thread."""
        with self.services.engine.connect() as conn:
            rows = conn.execute(
                sa.select(DEL.c.ref, DEL.c.payload)
                .where(DEL.c.kind == "notice", DEL.c.user_id == USER)
                .order_by(DEL.c.id)
            ).all()
        return [{"ref": ref, **payload} for ref, payload in rows]

    def replies(self, count: int = 1) -> list[dict[str, Any]]:
        """:meth:`queued_replies`, once there are ``count``."""
        return wait_until(
            lambda: len(found := self.queued_replies()) >= count and found, what="a reply"
        )

    def user(self) -> SlackUser | None:
        with session_scope(self.services.engine) as session:
            user = repo.get_user(session=session, team_id=self.team, user_id=USER)
            if user is not None:
                session.expunge(user)
            return user

    # -- a meeting and its nudges ------------------------------------------------------

    def has_a_meeting(self, start: datetime | None = None) -> None:
        """Ana, in Berlin, with her calendar connected and a 1:1 with Ben (11:00–11:30)."""
        with session_scope(self.services.engine) as session:
            user = repo.ensure_user(
                session=session, team_id=self.team, user_id=USER, now=self.clock.now()
            )
            user.tz = "Europe/Berlin"
            user.email = "ana@example.com"
            session.add(user)
        opt_in(self.services, team_id=self.team, user_id=USER)
        apply_occurrences(
            self.services,
            team_id=self.team,
            user_id=USER,
            source="ics:1",
            occurrences=[make_occurrence(start or local(MONDAY, "11:00"), uid="ben")],
        )

    def nudge(self, at: str) -> dict[str, Any]:
        """The DM Heedful sends at ``at`` (Berlin, Monday), as it stands in the DM."""
        self.clock.set(local(MONDAY, at))
        assert self.heedful.send_due() >= 1
        return self.emulator.bot_messages(USER)[-1]

    def reminder(self) -> dict[str, Any]:
        self.has_a_meeting()
        return self.nudge("10:55")

    def question(self) -> dict[str, Any]:
        """The reflection question after the 1:1."""
        self.has_a_meeting()
        return self.nudge("11:32")

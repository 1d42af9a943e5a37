"""Helpers for the digest tests: people and their meetings, and a driver that plays the
real app on the virtual clock the way the scheduler does (plan digests every half hour,
send what is due the moment it is due, drain the inbox), recording the virtual time at
which each DM reached the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.app import Heedful
from bot.calendars.occurrence import Occurrence
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.occurrences import opt_in
from bot.prefs import Prefs
from bot.sender import METADATA_EVENT_TYPE, SentDM
from bot.services import Services
from bot.storage import occurrences as stored_occurrences
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import Delivery, PromptShown, Reflection

TEAM = "T0001"
DEL = Delivery.__table__


def at(day: str, hhmm: str, zone: str) -> datetime:
    """An aware UTC instant from a local date and time in ``zone``."""
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def make_user(services: Services, user_id: str, tz: str, **prefs: Any) -> None:
    """A person in ``tz`` who connected a calendar (opted in), with preference changes."""
    with session_scope(services.engine) as session:
        user = repo.ensure_user(
            session=session, team_id=TEAM, user_id=user_id, now=services.clock.now()
        )
        user.tz = tz
        if prefs:
            user.prefs = Prefs().with_changes(**prefs).to_json()
        session.add(user)
    opt_in(services, team_id=TEAM, user_id=user_id)


def store_meetings(services: Services, user_id: str, occurrences: Iterable[Occurrence]) -> None:
    """Meetings straight into the table, without planning nudges for them (for tests
    that only care about the digest)."""
    from bot.occurrences import occurrence_row

    rows = [occurrence_row(TEAM, user_id, occ, services.clock.now()) for occ in occurrences]
    with services.engine.begin() as conn:
        stored_occurrences.insert_occurrences(conn=conn, rows=rows)


@dataclass(frozen=True)
class DM:
    """A message Heedful posted, as the emulator holds it, and the virtual send time."""

    user: str
    at: datetime
    message: dict[str, Any]

    @property
    def payload(self) -> dict[str, Any]:
        return dict((self.message.get("metadata") or {}).get("event_payload") or {})

    @property
    def kind(self) -> str | None:
        return self.payload.get("kind")

    @property
    def text(self) -> str:
        return str(self.message.get("text") or "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.message.get("blocks") or [])

    def sections(self) -> list[str]:
        return [
            b["text"]["text"] for b in self.blocks if b.get("type") == "section" and b.get("text")
        ]

    def section(self, heading: str) -> str | None:
        """The body of the section whose first line is ``*heading*``."""
        for text in self.sections():
            first, _, rest = text.partition("\n")
            if first == f"*{heading}*":
                return rest
        return None

    def header(self) -> str | None:
        return next((b["text"]["text"] for b in self.blocks if b.get("type") == "header"), None)


@dataclass
class Driver:
    """Plays one or more Heedful instances sharing a database on the virtual clock."""

    apps: Sequence[Heedful]
    emulator: SlackEmulator
    clock: VirtualClock
    plan_every: timedelta = timedelta(minutes=30)
    sent_at: dict[str, datetime] = field(default_factory=dict)
    on_sent: list[Callable[[SentDM], None]] = field(default_factory=list)
    actions: list[tuple[datetime, Callable[[], None]]] = field(default_factory=list)
    plans: int = 0

    def __post_init__(self) -> None:
        for app in self.apps:
            app.sender.observers.append(self._observe)
        self._pool = ThreadPoolExecutor(max_workers=max(2, len(self.apps)))

    def _observe(self, sent: SentDM) -> None:
        if sent.ts:
            self.sent_at[sent.ts] = self.clock.now()
        for hook in self.on_sent:
            hook(sent)

    def later(self, delay: timedelta, action: Callable[[], None]) -> None:
        """Do ``action`` (an answer, a click) ``delay`` from now on the virtual clock."""
        self.actions.append((self.clock.now() + delay, action))

    def _all(self, method: str) -> None:
        """Call ``method`` on every instance at once (several processes, one database)."""
        if len(self.apps) == 1:
            getattr(self.apps[0], method)()
            return
        for future in [self._pool.submit(getattr(app, method)) for app in self.apps]:
            future.result()

    def run_until(self, end: datetime) -> None:
        next_plan = self.clock.now()
        engine = self.apps[0].services.engine
        while self.clock.now() < end:
            now = self.clock.now()
            if now >= next_plan:
                self._all("plan_digests")
                self.plans += 1
                next_plan = now + self.plan_every
            self._all("send_due")
            due = [a for a in self.actions if a[0] <= now]
            self.actions = [a for a in self.actions if a[0] > now]
            for _, action in sorted(due, key=lambda a: a[0]):
                action()
            self._all("process_inbox")
            candidates = [next_plan, end, *(a[0] for a in self.actions)]
            pending = repo.next_due(engine=engine)
            if pending is not None:
                candidates.append(pending if pending > now else now + timedelta(seconds=1))
            self.clock.set(max(min(candidates), now + timedelta(seconds=1)))

    def dms(self, user: str, kind: str | None = None) -> list[DM]:
        """Heedful's DMs to ``user`` (those carrying delivery metadata), oldest first."""
        found = []
        for message in self.emulator.bot_messages(user):
            meta = message.get("metadata") or {}
            if meta.get("event_type") != METADATA_EVENT_TYPE:
                continue
            dm = DM(
                user, self.sent_at.get(message["ts"], datetime.min.replace(tzinfo=UTC)), message
            )
            if kind is None or dm.kind == kind:
                found.append(dm)
        return found

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def deliveries(services: Services, user: str, kind: str | None = None) -> list[Any]:
    d = DEL.c
    query = sa.select(DEL).where(d.team_id == TEAM, d.user_id == user).order_by(d.id)
    if kind is not None:
        query = query.where(d.kind == kind)
    with services.engine.connect() as conn:
        return list(conn.execute(query))


def questions_answered(services: Services, user_id: str) -> list[str]:
    """The question ids of the prompts ``user_id`` answered (from what Heedful recorded)."""
    r, s = Reflection.__table__.c, PromptShown.__table__.c  # type: ignore[attr-defined]
    with services.engine.connect() as conn:
        answered = set(conn.execute(sa.select(r.delivery_id).where(r.user_id == user_id)).scalars())
        shown = conn.execute(
            sa.select(s.delivery_id, s.prompt_id).where(
                s.user_id == user_id, s.prompt_id.like("question.%")
            )
        ).all()
    return [prompt for delivery, prompt in shown if delivery in answered]

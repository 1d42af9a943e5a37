"""Helpers for the feedback tests: leaders and their colleagues in the emulated workspace,
meetings of series with feedback on, and a driver that plays the real app on the virtual
clock as the scheduler would (the feedback job, the outbox, the inbox), recording the
virtual time at which each DM reached the emulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from factories import make_occurrence
from waiting import wait_until

from bot import feedback
from bot.app import Heedful
from bot.calendars.occurrence import Occurrence
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.messages import feedback as fkit
from bot.occurrences import apply_occurrences, opt_in
from bot.sender import METADATA_EVENT_TYPE, SentDM
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import (
    Delivery,
    DeliveryKind,
    FeedbackBallot,
    FeedbackMeeting,
    FeedbackTally,
    OccurrenceRow,
)

TEAM = "T0001"
ANA, BEN = "U1", "U2"  # the root conftest's people: Ana in Berlin, Ben in New York
BERLIN = ZoneInfo("Europe/Berlin")
DEL = Delivery.__table__
MEETING = FeedbackMeeting.__table__
TALLY = FeedbackTally.__table__
BALLOT = FeedbackBallot.__table__
OCC = OccurrenceRow.__table__


def at(day: str, hhmm: str, zone: ZoneInfo = BERLIN) -> datetime:
    """An aware UTC instant from a local date and time: at("2026-03-02", "10:00")."""
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=zone).astimezone(UTC)


def colleagues(
    emulator: SlackEmulator, n: int, *, tz: str = "Europe/Berlin", first: int = 1
) -> list[tuple[str, str]]:
    """``n`` people in the workspace: (Slack id, address) each."""
    people = []
    for i in range(first, first + n):
        user_id, email = f"UC{i:03d}", f"colleague{i}@example.com"
        emulator.add_user(user_id, tz=tz, email=email, real_name=f"Colleague {i}")
        people.append((user_id, email))
    return people


def leader(services: Services, user_id: str, tz: str = "Europe/Berlin") -> None:
    """A person who connected a calendar (opted in), in ``tz``."""
    with session_scope(services.engine) as session:
        user = repo.ensure_user(
            session=session, team_id=TEAM, user_id=user_id, now=services.clock.now()
        )
        user.tz = tz
        session.add(user)
    opt_in(services, team_id=TEAM, user_id=user_id)


def meeting(
    leader_id: str,
    start: datetime,
    people: Iterable[str],
    *,
    series: str = "team",
    title: str = "Team sync",
    minutes: int = 30,
) -> Occurrence:
    """One instance of a weekly series of ``leader_id``'s with ``people`` invited."""
    invited = tuple(people)
    return make_occurrence(
        start,
        minutes,
        uid=series,
        title=title,
        attendees=len(invited) + 1,
        people=invited,
        recurring=True,
        recurrence_id=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        source=f"ics:{leader_id}",
    )


def store(services: Services, leader_id: str, occurrences: Sequence[Occurrence]) -> None:
    """The leader's calendar says so (a push: upserted, nothing removed)."""
    apply_occurrences(
        services,
        team_id=TEAM,
        user_id=leader_id,
        source=f"ics:{leader_id}",
        occurrences=occurrences,
    )


def ask_for_feedback(
    services: Services, leader_id: str, occurrences: Sequence[Occurrence], *, on: bool = True
) -> None:
    """Store the meetings, turn feedback on for their series (as the Home tab's button
    does), and read the calendar again (as the next poll would)."""
    store(services, leader_id, occurrences)
    if on:
        for series_key in sorted({o.series_key for o in occurrences}):
            assert feedback.set_series(
                services, team_id=TEAM, user_id=leader_id, series_key=series_key, on=True
            )
        store(services, leader_id, occurrences)


def rows(services: Services, table: sa.Table, **where: Any) -> list[Any]:
    with services.engine.connect() as conn:
        query = sa.select(table)
        for name, value in where.items():
            query = query.where(table.c[name] == value)
        return list(conn.execute(query))


def asks(services: Services, user_id: str | None = None) -> list[Any]:
    """The ``feedback_ask`` rows of the outbox (of ``user_id``)."""
    where: dict[str, Any] = {"kind": DeliveryKind.FEEDBACK_ASK}
    if user_id is not None:
        where["user_id"] = user_id
    return rows(services, DEL, **where)


@dataclass(frozen=True)
class DM:
    """A question Heedful posted, as the emulator holds it now, and when it was sent."""

    user: str
    at: datetime
    message: dict[str, Any]

    @property
    def ts(self) -> str:
        return str(self.message["ts"])

    @property
    def text(self) -> str:
        return str(self.message.get("text") or "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.message.get("blocks") or [])

    @property
    def kind(self) -> str | None:
        return ((self.message.get("metadata") or {}).get("event_payload") or {}).get("kind")

    def action_ids(self) -> list[str]:
        return [
            e["action_id"] for b in self.blocks if b.get("type") == "actions" for e in b["elements"]
        ]

    def words(self) -> str:
        """Every text of the message, blocks and fallback, in one string."""
        return f"{self.text}\n{self.blocks}"


@dataclass
class Play:
    """The real app on the virtual clock, as the scheduler would run it."""

    heedful: Heedful
    emulator: SlackEmulator
    clock: VirtualClock
    sent_at: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.heedful.sender.observers.append(self._observe)

    @property
    def services(self) -> Services:
        return self.heedful.services

    @property
    def url(self) -> str:
        return f"{self.heedful.url}/slack/events"

    def _observe(self, sent: SentDM) -> None:
        if sent.ts:
            self.sent_at[sent.ts] = self.clock.now()

    def run_until(self, end: datetime, *, digests: bool = False) -> None:
        """Advance to ``end``, stopping whenever a DM, a meeting's questions or a week's
        close falls due on the way (the feedback job ticks every minute in production;
        here it runs at each stop, and the stops include every moment it has work)."""
        while True:
            now = self.clock.now()
            if digests:
                self.heedful.plan_digests()
            self.heedful.ask_for_feedback()
            self.heedful.send_due()
            self.heedful.process_inbox()
            if now >= end:
                return
            later = [end]
            due = repo.next_due(engine=self.services.engine)
            if due is not None:
                later.append(due if due > now else now + timedelta(minutes=1))
            later += [t for t in self._feedback_due() if t > now]
            if digests:
                later.append(now + timedelta(minutes=30))
            self.clock.set(min(later))

    def _feedback_due(self) -> list[datetime]:
        """When the feedback job next has something to do (a meeting's questions, a
        week that closes)."""
        m, o, t = MEETING.c, OCC.c, TALLY.c
        with self.services.engine.connect() as conn:
            found = [
                max(end + feedback.ASK_DELAY, not_before or end)
                for end, not_before in conn.execute(
                    sa.select(o.end_at, m.not_before)
                    .join_from(
                        MEETING,
                        OCC,
                        sa.and_(
                            o.team_id == m.team_id,
                            o.user_id == m.user_id,
                            o.key == m.occurrence_key,
                        ),
                    )
                    .where(m.state == feedback.WAITING)
                )
            ]
            found += list(
                conn.execute(sa.select(t.closes_at).where(t.closed_at.is_(None))).scalars()
            )
        return found

    def dms(self, user: str, kind: str = DeliveryKind.FEEDBACK_ASK) -> list[DM]:
        """Heedful's DMs of ``kind`` to ``user``, oldest first, as they are now."""
        found = []
        for message in self.emulator.bot_messages(user):
            meta = message.get("metadata") or {}
            if meta.get("event_type") != METADATA_EVENT_TYPE:
                continue
            dm = DM(
                user, self.sent_at.get(message["ts"], datetime.min.replace(tzinfo=UTC)), message
            )
            if dm.kind == kind:
                found.append(dm)
        return found

    def tap(self, dm: DM, action_id: str) -> DM:
        """``dm.user`` taps a button of ``dm``, as it was sent; returns the DM once Heedful
        has updated it."""
        result = self.emulator.click_button(self.url, dm.user, action_id, message=dm.message)
        assert result.status == 200, result.body
        return self.updated(dm)

    def updated(self, dm: DM) -> DM:
        before = dm.message.get("edited")

        def now() -> DM | None:
            for message in self.emulator.bot_messages(dm.user):
                if message["ts"] == dm.ts and message.get("edited") not in (None, before):
                    return DM(dm.user, dm.at, message)
            return None

        return wait_until(now, what="the question to be updated")

    def answer(self, dm: DM, answer: str) -> DM:
        assert answer in fkit.ANSWERS
        return self.tap(dm, fkit.answer_action(answer))

"""Two people with one of every kind of row Heedful keeps about someone: preferences, a
calendar (whose address is a secret), meetings, deliveries of several kinds and states
(sent, pending, skipped, failed; reminder, reflection, notice, digest), reflections, the
wordings they were shown, their why and focus practice, a series they asked feedback
for with its invitees, and a commitment they asked to have brought back. Built through the
real paths where Slack is involved (the sender posts to the emulator; answers are captured as
Heedful captures them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from factories import make_occurrence
from sqlmodel import SQLModel

from bot.app import Heedful
from bot.calendars.occurrence import Status
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.feedback import set_series
from bot.focus import save_why, suggest_focus
from bot.messages.prompts import load_prompts
from bot.occurrences import apply_occurrences, opt_in
from bot.prefs import Prefs
from bot.reflections import capture_form, forget_message
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import (
    CalendarSource,
    Commitment,
    Delivery,
    GoogleCalendar,
    MicrosoftCalendar,
    OAuthState,
)

TEAM = "T0001"
BERLIN = ZoneInfo("Europe/Berlin")
SOURCE = CalendarSource.__table__
DEL = Delivery.__table__
OWNER_COLUMNS = ("user_id", "slack_user_id")


def berlin(day: int, hhmm: str) -> datetime:
    """Local time in Berlin on day ``day`` of the week of Monday 2 March 2026, as UTC."""
    hours, minutes = (int(x) for x in hhmm.split(":"))
    local = datetime(2026, 3, 2 + day, hours, minutes, tzinfo=BERLIN)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    secret: str  # the private token in their feed's address
    answer: str  # what they write after their 1:1
    why: str  # what kind of leader they want to be, and for whom

    @property
    def feed_url(self) -> str:
        return f"https://calendar.example.com/private-{self.secret}/basic.ics"

    @property
    def source(self) -> str:
        return f"ics:{self.user_id}"


ANA = Person(
    "U1",
    "Ana",
    "ana-5ecr3t-7f3c9a",
    "Asked Ben what worried him first; he opened up.",
    "One who listens first, for the quiet people on my team.",
)
BEN = Person(
    "U2",
    "Ben",
    "ben-5ecr3t-0d41e2",
    "Rushed the last item with Ana; fewer topics next time.",
    "Patient and unhurried, for the engineers who join this spring.",
)


def user_tables() -> list[sa.Table]:
    """Every table with a column naming a person (found generically)."""
    return [
        table
        for table in SQLModel.metadata.sorted_tables
        if any(name in table.c for name in OWNER_COLUMNS)
    ]


def owner(table: sa.Table) -> sa.Column[Any]:
    return next(table.c[name] for name in OWNER_COLUMNS if name in table.c)


def rows_of(services: Services, user_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored row about ``user_id``, by table name (a direct SELECT of each)."""
    found: dict[str, list[dict[str, Any]]] = {}
    with services.engine.connect() as conn:
        for table in user_tables():
            rows = conn.execute(sa.select(table).where(owner(table) == user_id)).mappings()
            found[table.name] = [dict(row) for row in rows]
    return found


def count_rows(services: Services, user_id: str) -> dict[str, int]:
    return {name: len(rows) for name, rows in rows_of(services, user_id).items()}


def seed(
    heedful: Heedful,
    services: Services,
    clock: VirtualClock,
    emulator: SlackEmulator,
    people: Sequence[Person] = (ANA, BEN),
) -> None:
    """Monday 2 March 2026, Berlin, from 07:00 to 15:00, for each person."""
    clock.set(berlin(0, "07:00"))
    now = clock.now()
    for person in people:
        with session_scope(services.engine) as session:
            user = repo.ensure_user(session=session, team_id=TEAM, user_id=person.user_id, now=now)
            user.tz = "Europe/Berlin"
            user.email = f"{person.name.lower()}@example.com"
            user.prefs = Prefs(
                lead_minutes=10, emails=(f"{person.name.lower()}@private.example.org",)
            ).to_json()
            session.add(user)
        with services.engine.begin() as conn:
            conn.execute(
                sa.insert(SOURCE).values(
                    team_id=TEAM,
                    user_id=person.user_id,
                    kind="ics",
                    url=services.cipher.encrypt(person.feed_url),
                    label=f"{person.name}'s work calendar",
                    etag='"etag-1"',
                    status="ok",
                    created_at=now,
                    last_checked_at=now,
                    next_check_at=now + timedelta(days=365),  # not polled in these tests
                )
            )
            google_source = conn.execute(
                sa.insert(SOURCE)
                .values(
                    team_id=TEAM,
                    user_id=person.user_id,
                    kind="google",
                    label=f"{person.name.lower()}@example.com",
                    status="broken",  # not synced in these tests (no Google here)
                    created_at=now,
                )
                .returning(SOURCE.c.id)
            ).scalar_one()
            conn.execute(
                sa.insert(GoogleCalendar.__table__).values(
                    source_id=google_source,
                    team_id=TEAM,
                    user_id=person.user_id,
                    account=f"{person.name.lower()}@example.com",
                    zone="Europe/Berlin",
                    tokens=services.cipher.encrypt(f'{{"refresh_token": "{person.secret}-g"}}'),
                    channel_token=services.cipher.encrypt(f"{person.secret}-channel"),
                    last_message=0,
                    old_last_message=0,
                    synced_message=0,
                    created_at=now,
                )
            )
            microsoft_source = conn.execute(
                sa.insert(SOURCE)
                .values(
                    team_id=TEAM,
                    user_id=person.user_id,
                    kind="microsoft",
                    label=f"{person.name.lower()}@example.com",
                    status="broken",  # not synced in these tests (no Microsoft here)
                    created_at=now,
                )
                .returning(SOURCE.c.id)
            ).scalar_one()
            conn.execute(
                sa.insert(MicrosoftCalendar.__table__).values(
                    source_id=microsoft_source,
                    team_id=TEAM,
                    user_id=person.user_id,
                    account=f"{person.name.lower()}@example.com",
                    token_cache=services.cipher.encrypt(f'{{"RefreshToken": "{person.secret}-m"}}'),
                    client_state=services.cipher.encrypt(f"{person.secret}-client-state"),
                    delta_link=f"https://graph.example/delta?$deltatoken={person.secret}-d",
                    notified=0,
                    synced_notified=0,
                    created_at=now,
                )
            )
            conn.execute(
                sa.insert(OAuthState.__table__).values(
                    state_hash=f"{person.user_id:0>64}",
                    provider="google",
                    team_id=TEAM,
                    user_id=person.user_id,
                    verifier=services.cipher.encrypt(f"{person.secret}-verifier"),
                    created_at=now,
                    expires_at=now + timedelta(minutes=15),
                )
            )
        opt_in(services, team_id=TEAM, user_id=person.user_id)
        save_why(  # their why, its focus suggested from the words
            services,
            team_id=TEAM,
            user_id=person.user_id,
            text=person.why,
            focus=suggest_focus(load_prompts(), person.why),
            suggested=True,
        )
        # A stored inbound event of theirs (the Home tab opened, through the signed path).
        emulator.add_user(person.user_id, tz="Europe/Berlin")
        emulator.open_home(f"{heedful.url}/slack/events", person.user_id)
        heedful.process_inbox()
        heedful.send_due()  # the welcome DM
        meetings = [
            make_occurrence(
                berlin(0, "10:00"), uid="one", title=f"1:1 of {person.name}", source=person.source
            ),
            make_occurrence(
                berlin(0, "13:00"),
                uid="team",
                title=f"Team meeting of {person.name}",
                attendees=7,
                people=tuple(f"{n}.{person.name.lower()}@example.com" for n in "abcdef"),
                source=person.source,
            ),
            make_occurrence(
                berlin(1, "10:00"),
                uid="tomorrow",
                title=f"Planning of {person.name}",
                attendees=4,
                source=person.source,
            ),
            make_occurrence(
                berlin(2, "10:00"),
                uid="later",
                title=f"Review of {person.name}",
                source=person.source,
            ),
        ]
        apply_occurrences(
            services,
            team_id=TEAM,
            user_id=person.user_id,
            source=person.source,
            occurrences=meetings,
        )
        # Feedback asked for the team meeting's series: its invitees are kept to ask.
        set_series(
            services,
            team_id=TEAM,
            user_id=person.user_id,
            series_key=meetings[1].series_key,
            on=True,
        )
        apply_occurrences(
            services,
            team_id=TEAM,
            user_id=person.user_id,
            source=person.source,
            occurrences=[meetings[1]],
        )
        # A Wednesday meeting is cancelled: its nudges are withdrawn (skipped).
        apply_occurrences(
            services,
            team_id=TEAM,
            user_id=person.user_id,
            source=person.source,
            occurrences=[replace(meetings[3], status=Status.CANCELLED)],
        )
        # A notice Slack refuses: failed.
        with services.engine.begin() as conn:
            repo.enqueue_deliveries(
                conn=conn,
                rows=[
                    {
                        "team_id": TEAM,
                        "user_id": person.user_id,
                        "kind": "notice",
                        "ref": "refused",
                        "due_at": now,
                        "payload": {"text": "A notice."},
                    },
                    {  # this week's digest, planned and pending
                        "team_id": TEAM,
                        "user_id": person.user_id,
                        "kind": "digest",
                        "ref": "2026-W10",
                        "due_at": berlin(4, "16:00"),
                        "payload": {"week_start": berlin(0, "00:00").isoformat()},
                    },
                ],
                now=now,
            )
        emulator.fault("chat.postMessage", error="msg_too_long")
        heedful.send_due()

    # The day: reminders and questions go out; each person answers after their 1:1.
    step = timedelta(minutes=1)
    while clock.now() < berlin(0, "15:00"):
        heedful.send_due()
        heedful.process_inbox()
        clock.advance(step)
    for person in people:
        (question, *_) = [
            r
            for r in deliveries(services, person.user_id)
            if r.kind == "reflection" and r.state == "sent"
        ]
        capture_form(
            services,
            team_id=TEAM,
            user_id=person.user_id,
            delivery_id=question.id,
            presence=4,
            text=person.answer,
        )
        # Something they meant to do next time, to be brought back (bot.commitments).
        with services.engine.begin() as conn:
            conn.execute(
                sa.insert(Commitment.__table__).values(  # type: ignore[attr-defined]
                    team_id=TEAM,
                    user_id=person.user_id,
                    reflection_id=question.id,
                    text=services.cipher.encrypt(f"Next time I'll ask {person.name}'s team."),
                    occurrence_key=question.occurrence_key,
                    series_key=f"{person.source}|one",
                    people=[f"a.{person.name.lower()}@example.com"],
                    state="open",
                    accepted_at=clock.now(),
                )
            )
        # A DM they deleted: its tombstone (a timestamp, no text).
        forget_message(
            services, team_id=TEAM, user_id=person.user_id, channel=None, ts="1772456400.000100"
        )


def deliveries(services: Services, user_id: str) -> list[Any]:
    d = DEL.c
    with services.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(DEL).where(d.team_id == TEAM, d.user_id == user_id).order_by(d.id)
            )
        )


def kinds_and_states(services: Services, user_id: str) -> set[tuple[str, str]]:
    return {(r.kind, r.state) for r in deliveries(services, user_id)}

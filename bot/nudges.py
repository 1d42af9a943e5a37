"""Nudges at send time, and what the user's taps on them do.

The planner decides *when*; this module decides *what*, at the moment of sending, from
the meeting as it is now: a reminder (cue + intention), a transition (a question about
the meeting that just ended and a reminder for the next) or a reflection question. A
meeting that has since gone, been declined or muted, or a user who paused, turns the
delivery into a skip with its reason (``Skip``). Wordings rotate per user: nothing is
repeated within 14 days while alternatives exist (``bot.messages.library.choose``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot import feedback
from bot.calendars.occurrence import Occurrence
from bot.meetings import OCC, after_prompt, occurrence_from_row, replan_user
from bot.messages import Message
from bot.messages import blocks as kit
from bot.messages.library import choose as choose_prompt
from bot.messages.library import (
    group_of,
    practices_for,
    primary_practice,
    rotate_practice,
)
from bot.messages.prompts import Prompts, load_prompts
from bot.planner import REFLECTION, REMINDER, TRANSITION
from bot.prefs import Prefs
from bot.sender import Composer, Skip
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import read_only, session_scope
from bot.storage.models import Delivery, PromptShown, SlackUser

logger = logging.getLogger(__name__)

HISTORY = timedelta(days=60)
WELCOME = "welcome"
USER_SKIPPED = "user_skipped"  # the error of deliveries withdrawn by "Skip this one"
DEL = Delivery.__table__  # type: ignore[attr-defined]
SHOWN = PromptShown.__table__  # type: ignore[attr-defined]
USERS = SlackUser.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Context:
    meeting: Occurrence
    zone: ZoneInfo
    shown: dict[str, datetime]
    question_practices: list[str]


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """ "10:00" in the user's zone (the day is implied: a nudge is about now)."""
    return moment.astimezone(zone).strftime("%H:%M")


class NudgeComposer:
    """Composers for the nudge kinds, bound to the services and the prompt library."""

    def __init__(self, services: Services, prompts: Prompts | None = None) -> None:
        self.services = services
        self.prompts = prompts or load_prompts()

    def composers(self) -> dict[str, Composer]:
        return {
            REMINDER: self.reminder,
            TRANSITION: self.transition,
            REFLECTION: self.reflection,
            WELCOME: self.welcome,
        }

    # ------------------------------------------------------------------ composers

    def reminder(self, row: Any) -> Message:
        ctx = self._context(row, row.occurrence_key)
        cue, intention = self._presence(row, ctx)
        message = kit.build_reminder(
            self.prompts,
            delivery_id=row.id,
            title=ctx.meeting.title,
            time=local_time(ctx.meeting.start, ctx.zone),
            cue=cue.render(),
            intention=intention.render(),
            join_url=_join_url(ctx.meeting),
            series_key=ctx.meeting.series_key,
        )
        self._remember(row, [cue.id, intention.id])
        return message

    def transition(self, row: Any) -> Message:
        ctx = self._context(row, row.occurrence_key)
        previous = self._meeting(row, (row.payload or {}).get("previous"))
        if previous is None or self._skipped_by_user(row, previous.key):
            # Nothing to ask about the meeting before (gone, or "skip this one" was
            # tapped on its reminder): only the reminder for the next one is left.
            return self.reminder(row)
        cue, intention = self._presence(row, ctx)
        question = self._question(row, ctx, previous)
        message = kit.build_transition(
            self.prompts,
            delivery_id=row.id,
            previous=previous.title,
            question=question.render(),
            title=ctx.meeting.title,
            time=local_time(ctx.meeting.start, ctx.zone),
            cue=cue.render(),
            intention=intention.render(),
            join_url=_join_url(ctx.meeting),
            series_key=ctx.meeting.series_key,
        )
        message = feedback.offer_words(self.services, row, previous, message)  # 1:1 feedback
        self._remember(row, [question.id, cue.id, intention.id])
        return message

    def reflection(self, row: Any) -> Message:
        ctx = self._context(row, row.occurrence_key)
        question = self._question(row, ctx, ctx.meeting)
        message = kit.build_reflection(
            self.prompts,
            delivery_id=row.id,
            title=ctx.meeting.title,
            question=question.render(),
            series_key=ctx.meeting.series_key,
        )
        message = feedback.offer_words(self.services, row, ctx.meeting, message)  # 1:1 feedback
        self._remember(row, [question.id])
        after_prompt(self.services, row)  # a long run of unanswered ones starts the back-off
        return message

    def welcome(self, row: Any) -> Message:
        del row
        return kit.build_welcome(self.prompts)

    # ------------------------------------------------------------------ helpers

    def _meeting(self, row: Any, key: str | None) -> Occurrence | None:
        if not key:
            return None
        c = OCC.c
        with read_only(self.services.engine) as conn:
            found = conn.execute(
                sa.select(OCC).where(
                    c.team_id == row.team_id, c.user_id == row.user_id, c.key == key
                )
            ).first()
        return occurrence_from_row(found) if found else None

    def _skipped_by_user(self, row: Any, key: str) -> bool:
        d = DEL.c
        with read_only(self.services.engine) as conn:
            found = conn.execute(
                sa.select(d.id)
                .where(
                    d.team_id == row.team_id,
                    d.user_id == row.user_id,
                    d.occurrence_key == key,
                    d.error == USER_SKIPPED,
                )
                .limit(1)
            ).first()
        return found is not None

    def _context(self, row: Any, key: str | None) -> _Context:
        now = self.services.clock.now()
        meeting = self._meeting(row, key)
        if meeting is None:
            raise Skip("meeting_gone")
        if meeting.skip_reason is not None:
            raise Skip(meeting.skip_reason.value)
        u, s = USERS.c, SHOWN.c
        with read_only(self.services.engine) as conn:
            user = conn.execute(
                sa.select(u.tz, u.prefs, u.paused_until).where(
                    u.team_id == row.team_id, u.slack_user_id == row.user_id
                )
            ).first()
            history = conn.execute(
                sa.select(s.prompt_id, s.shown_at)
                .where(
                    s.team_id == row.team_id,
                    s.user_id == row.user_id,
                    s.shown_at >= now - HISTORY,
                )
                .order_by(s.shown_at)
            ).all()
        if user is None:
            raise Skip("unknown_user")
        if user.paused_until is not None and user.paused_until > now:
            raise Skip("paused")
        if meeting.series_key in Prefs.from_json(user.prefs).muted_series:
            raise Skip("muted")
        shown: dict[str, datetime] = {}
        practices: list[str] = []
        for prompt_id, at in history:
            shown[prompt_id] = at
            if prompt_id in self.prompts and group_of(self.prompts[prompt_id]) == "question":
                practices.append(primary_practice(self.prompts[prompt_id]))
        return _Context(meeting, ZoneInfo(user.tz or "UTC"), shown, practices)

    def _presence(self, row: Any, ctx: _Context) -> tuple[Any, Any]:
        now = self.services.clock.now()
        meeting = ctx.meeting
        common = {
            "kind": meeting.kind.value,
            "recurring": meeting.recurring,
            "shown": ctx.shown,
            "now": now,
            "salt": meeting.key,
        }
        cue = choose_prompt(self.prompts, "cue", **common)
        intention = choose_prompt(self.prompts, "intention", **common)
        return cue, intention

    def _question(self, row: Any, ctx: _Context, meeting: Occurrence) -> Any:
        kind, recurring = meeting.kind.value, meeting.recurring
        available = practices_for(self.prompts, "question", kind=kind, recurring=recurring)
        practice = rotate_practice(ctx.question_practices, available) if available else None
        return choose_prompt(
            self.prompts,
            "question",
            kind=kind,
            recurring=recurring,
            shown=ctx.shown,
            now=self.services.clock.now(),
            salt=meeting.key,
            practice=practice,
        )

    def _remember(self, row: Any, prompt_ids: list[str]) -> None:
        now = self.services.clock.now()
        with self.services.engine.begin() as conn:
            conn.execute(
                sa.insert(SHOWN),
                [
                    {
                        "team_id": row.team_id,
                        "user_id": row.user_id,
                        "prompt_id": prompt_id,
                        "delivery_id": row.id,
                        "shown_at": now,
                    }
                    for prompt_id in prompt_ids
                ],
            )


def _join_url(meeting: Occurrence) -> str | None:
    url = meeting.conference_url
    return url if url and url.startswith("https://") else None


# ---------------------------------------------------------------------- user actions


def _delivery(services: Services, *, team_id: str, user_id: str, delivery_id: int) -> Any:
    d = DEL.c
    with read_only(services.engine) as conn:
        return conn.execute(
            sa.select(DEL).where(d.id == delivery_id, d.team_id == team_id, d.user_id == user_id)
        ).first()


def skip_meeting(services: Services, *, team_id: str, user_id: str, delivery_id: int) -> str | None:
    """ "Skip this one": nothing more about this meeting. Returns its title."""
    row = _delivery(services, team_id=team_id, user_id=user_id, delivery_id=delivery_id)
    if row is None or not row.occurrence_key:
        return None
    d = DEL.c
    now = services.clock.now()
    key = row.occurrence_key
    with services.engine.begin() as conn:
        # The meeting's question gets a row even when none is planned (it may be folded
        # into the next meeting's reminder, or come back with a re-plan): a skipped row
        # holds its key, so no re-plan can bring it back, and a transition leaves it out.
        repo.enqueue_deliveries(
            conn,
            [
                {
                    "team_id": team_id,
                    "user_id": user_id,
                    "kind": REFLECTION,
                    "ref": key,
                    "occurrence_key": key,
                    "due_at": now,
                }
            ],
            now=now,
        )
        conn.execute(
            sa.update(DEL)
            .where(
                d.team_id == team_id,
                d.user_id == user_id,
                d.occurrence_key == key,
                d.state == "pending",
            )
            .values(state="skipped", error=USER_SKIPPED, updated_at=now)
        )
    meeting = NudgeComposer(services)._meeting(row, key)
    return meeting.title if meeting else ""


def mute_series(services: Services, *, team_id: str, user_id: str, series_key: str) -> str:
    """ "Mute this series": no more nudges for any meeting of it. Returns its title."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session, team_id=team_id, user_id=user_id, now=now)
        prefs = Prefs.from_json(user.prefs)
        if series_key not in prefs.muted_series:
            user.prefs = prefs.with_changes(
                muted_series=[*prefs.muted_series, series_key]
            ).to_json()
            session.add(user)
    replan_user(services, team_id=team_id, user_id=user_id)
    c = OCC.c
    with read_only(services.engine) as conn:
        title = conn.execute(
            sa.select(c.title).where(
                c.team_id == team_id, c.user_id == user_id, c.series_key == series_key
            )
        ).scalar()
    return title or ""


def unmute_series(services: Services, *, team_id: str, user_id: str, series_key: str) -> None:
    now = services.clock.now()
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session, team_id=team_id, user_id=user_id, now=now)
        prefs = Prefs.from_json(user.prefs)
        kept = [key for key in prefs.muted_series if key != series_key]
        user.prefs = prefs.with_changes(muted_series=kept).to_json()
        session.add(user)
    replan_user(services, team_id=team_id, user_id=user_id)


def pause_until(services: Services, *, team_id: str, user_id: str, until: datetime | None) -> None:
    """Pause every nudge until ``until`` (None resumes now)."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session, team_id=team_id, user_id=user_id, now=now)
        user.paused_until = until
        session.add(user)
    replan_user(services, team_id=team_id, user_id=user_id)


def welcome_once(services: Services, *, team_id: str, user_id: str) -> bool:
    """Queue the welcome DM; the outbox key makes a second one impossible."""
    now = services.clock.now()
    with services.engine.begin() as conn:
        added = repo.enqueue_deliveries(
            conn,
            [
                {
                    "team_id": team_id,
                    "user_id": user_id,
                    "kind": WELCOME,
                    "ref": WELCOME,
                    "due_at": now,
                }
            ],
            now=now,
        )
    return added == 1

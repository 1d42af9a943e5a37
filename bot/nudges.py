"""Nudges at send time, and what the user's taps on them do.

The planner decides *when*; this module decides *what*, at the moment of sending, from
the meeting as it is now: a reminder (cue + intention), a transition (a question about
the meeting that just ended and a reminder for the next) or a reflection question. A
meeting that has since gone, been declined or muted, or a user who paused, turns the
delivery into a skip with its reason (``Skip``). Wordings rotate per user: nothing is
repeated within 14 days while alternatives exist (``bot.messages.library.choose``). For a
person with a focus practice (``bot.focus``), every other intention and every other question
at each size of meeting serves it, still fitted to the meeting and fresh
(``bot.messages.library.focus_lean``).

A commitment the person asked to bring back (``bot.commitments``) is quoted in the next
reminder for a meeting with the same people, and asked about in the question after it.

How to answer and who can read the answer come with a person's first
``GUIDED_QUESTIONS`` questions only (counted from the questions sent to them, transitions
included); ``/heedful help`` and the Home tab always say both. Said with every question
they became boilerplate: thirteen times a week.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot import commitments, feedback
from bot.calendars.occurrence import Occurrence
from bot.focus import Focus, focus_of
from bot.messages import Message
from bot.messages import blocks as kit
from bot.messages.library import choose as choose_prompt
from bot.messages.library import (
    focus_lean,
    group_of,
    practices_for,
    primary_practice,
    rotate_practice,
)
from bot.messages.prompts import Prompts, load_prompts
from bot.occurrences import after_prompt, occurrence_from_row, replan_user
from bot.prefs import Prefs
from bot.sender import Composer, Skip
from bot.services import Services
from bot.storage import deliveries, occurrences, prompts_shown, scheduled, users
from bot.storage.db import read_only, session_scope
from bot.storage.deliveries import ClaimedDelivery
from bot.storage.models import Delivery, DeliveryKind, DeliveryState, SlackUser
from bot.storage.prompts_shown import ShownBefore

logger = logging.getLogger(__name__)

HISTORY = timedelta(days=60)
GUIDED_QUESTIONS = 3
USER_SKIPPED = "user_skipped"  # the error of deliveries withdrawn by "Skip this one"
DEL = Delivery.__table__  # type: ignore[attr-defined]
USERS = SlackUser.__table__  # type: ignore[attr-defined]
FOCUS_GROUPS = ("intention", "question")  # the wordings that lean toward a focus practice


@dataclass(frozen=True)
class _Context:
    meeting: Occurrence
    zone: ZoneInfo
    shown: dict[str, datetime]
    question_practices: list[str]
    focus: Focus | None = None
    # The last intention and question shown since the focus was set, by (group, meeting
    # size): (prompt id, when).
    last: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)
    # Per group since the focus was set: (wordings that served it, wordings).
    balance: dict[str, tuple[int, int]] = field(default_factory=dict)


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
            DeliveryKind.REMINDER: self.reminder,
            DeliveryKind.TRANSITION: self.transition,
            DeliveryKind.REFLECTION: self.reflection,
            DeliveryKind.WELCOME: self.welcome,
        }

    # ------------------------------------------------------------------ composers

    def reminder(self, row: ClaimedDelivery) -> Message:
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
        message = commitments.quote_in_reminder(self.services, row, ctx.meeting, message)
        return replace(message, shown=(*message.shown, cue.id, intention.id))

    def transition(self, row: ClaimedDelivery) -> Message:
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
            guide=self._guided(row),
        )
        message = feedback.offer_words(self.services, row, previous, message)  # 1:1 feedback
        message = commitments.check_in_reflection(self.services, row, previous, message)
        message = commitments.quote_in_reminder(self.services, row, ctx.meeting, message)
        return replace(message, shown=(*message.shown, question.id, cue.id, intention.id))

    def reflection(self, row: ClaimedDelivery) -> Message:
        ctx = self._context(row, row.occurrence_key)
        question = self._question(row, ctx, ctx.meeting)
        message = kit.build_reflection(
            self.prompts,
            delivery_id=row.id,
            title=ctx.meeting.title,
            question=question.render(),
            series_key=ctx.meeting.series_key,
            guide=self._guided(row),
        )
        message = feedback.offer_words(self.services, row, ctx.meeting, message)  # 1:1 feedback
        message = commitments.check_in_reflection(self.services, row, ctx.meeting, message)
        after_prompt(self.services, row)  # a long run of unanswered ones starts the back-off
        return replace(message, shown=(*message.shown, question.id))

    def welcome(self, row: ClaimedDelivery) -> Message:
        del row
        return kit.build_welcome(self.prompts)

    # ------------------------------------------------------------------ helpers

    def _meeting(self, row: ClaimedDelivery, key: str | None) -> Occurrence | None:
        if not key:
            return None
        with read_only(self.services.engine) as conn:
            found = occurrences.by_key(conn=conn, team_id=row.team_id, user_id=row.user_id, key=key)
        return occurrence_from_row(found) if found else None

    def _guided(self, row: ClaimedDelivery) -> bool:
        """Whether this question is one of the person's first ``GUIDED_QUESTIONS``."""
        with read_only(self.services.engine) as conn:
            asked = deliveries.count_sent(
                conn=conn,
                team_id=row.team_id,
                user_id=row.user_id,
                kinds=(DeliveryKind.REFLECTION, DeliveryKind.TRANSITION),
                except_id=row.id,
            )
        return asked < GUIDED_QUESTIONS

    def _skipped_by_user(self, row: ClaimedDelivery, key: str) -> bool:
        with read_only(self.services.engine) as conn:
            return deliveries.any_with_error(
                conn=conn,
                team_id=row.team_id,
                user_id=row.user_id,
                occurrence_key=key,
                error=USER_SKIPPED,
            )

    def _context(self, row: ClaimedDelivery, key: str | None) -> _Context:
        now = self.services.clock.now()
        meeting = self._meeting(row, key)
        if meeting is None:
            raise Skip("meeting_gone")
        if meeting.skip_reason is not None:
            raise Skip(meeting.skip_reason.value)
        u = USERS.c
        with read_only(self.services.engine) as conn:
            user = conn.execute(
                sa.select(u.tz, u.prefs, u.paused_until).where(
                    u.team_id == row.team_id, u.slack_user_id == row.user_id
                )
            ).first()
            history = prompts_shown.shown_since(
                conn=conn, team_id=row.team_id, user_id=row.user_id, since=now - HISTORY
            )
            focus = focus_of(conn, team_id=row.team_id, user_id=row.user_id)
            last, balance = self._focus_history(conn, row, focus, history) if focus else ({}, {})
        if user is None:
            raise Skip("unknown_user")
        if user.paused_until is not None and user.paused_until > now:
            raise Skip("paused")
        if meeting.series_key in Prefs.from_json(user.prefs).muted_series:
            raise Skip("muted")
        shown: dict[str, datetime] = {}
        practices: list[str] = []
        for item in history:
            prompt_id = item.prompt_id
            shown[prompt_id] = item.shown_at
            if prompt_id in self.prompts and group_of(self.prompts[prompt_id]) == "question":
                practices.append(primary_practice(self.prompts[prompt_id]))
        zone = ZoneInfo(user.tz or "UTC")
        return _Context(meeting, zone, shown, practices, focus, last, balance)

    def _focus_history(
        self,
        conn: sa.Connection,
        row: ClaimedDelivery,
        focus: Focus,
        history: Sequence[ShownBefore],
    ) -> tuple[dict[tuple[str, str], tuple[str, datetime]], dict[str, tuple[int, int]]]:
        """What the intentions and questions shown since the focus was set say about its
        turns: the last of each group at each meeting size, (group, kind) → (prompt id,
        when); and per group, how many served the focus and how many there were.

        The focus takes every other turn within one size of meeting, not across all of them:
        across all, a day that always runs stand-up then 1:1 would give the stand-up every
        turn of the focus (using up its wordings within days) and the 1:1 none."""
        recent = [
            (
                item.prompt_id,
                item.shown_at,
                item.delivery_id,
                group_of(self.prompts[item.prompt_id]),
            )
            for item in history
            if item.shown_at >= focus.since
            and item.prompt_id in self.prompts
            and group_of(self.prompts[item.prompt_id]) in FOCUS_GROUPS
            and item.delivery_id is not None
        ]
        balance: dict[str, tuple[int, int]] = {}
        for prompt_id, _, _, group in recent:
            served, total = balance.get(group, (0, 0))
            balance[group] = (
                served + (focus.practice in self.prompts[prompt_id].practices),
                total + 1,
            )
        if not recent:
            return {}, balance
        sent = deliveries.about(conn=conn, ids={delivery_id for _, _, delivery_id, _ in recent})

        def about(delivery_id: int, group: str) -> str | None:
            """The meeting a wording was about (a transition asks about the one before)."""
            found = sent.get(delivery_id)
            if found is None:
                return None
            if found.kind == DeliveryKind.TRANSITION and group == "question":
                return found.payload.get("previous")
            return found.occurrence_key

        keys = {about(delivery_id, group) for _, _, delivery_id, group in recent} - {None}
        kinds = {
            found.key: occurrence_from_row(found).kind.value
            for found in occurrences.by_keys(
                conn=conn, team_id=row.team_id, user_id=row.user_id, keys=keys
            )
        }
        last: dict[tuple[str, str], tuple[str, datetime]] = {}
        for prompt_id, at, delivery_id, group in recent:
            kind = kinds.get(about(delivery_id, group) or "")
            if kind is not None:
                last[(group, kind)] = (prompt_id, at)
        return last, balance

    def _lean(
        self, ctx: _Context, group: str, meeting: Occurrence
    ) -> tuple[str | None, str | None]:
        """(practice, avoid_practice) for this wording: see ``library.focus_lean``."""
        return focus_lean(
            self.prompts,
            group,
            focus=ctx.focus.practice if ctx.focus else None,
            since=ctx.focus.since if ctx.focus else None,
            last=ctx.last.get((group, meeting.kind.value)),
            balance=ctx.balance.get(group, (0, 0)),
            kind=meeting.kind.value,
            recurring=meeting.recurring,
            shown=ctx.shown,
            now=self.services.clock.now(),
        )

    def _presence(self, row: ClaimedDelivery, ctx: _Context) -> tuple[Any, Any]:
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
        practice, avoid = self._lean(ctx, "intention", meeting)
        intention = choose_prompt(
            self.prompts, "intention", **common, practice=practice, avoid_practice=avoid
        )
        return cue, intention

    def _question(self, row: ClaimedDelivery, ctx: _Context, meeting: Occurrence) -> Any:
        kind, recurring = meeting.kind.value, meeting.recurring
        available = practices_for(self.prompts, "question", kind=kind, recurring=recurring)
        practice, avoid = self._lean(ctx, "question", meeting)
        if practice is None and available:  # rotate through the others
            others = [p for p in available if p != avoid] or list(available)
            practice = rotate_practice(ctx.question_practices, others)
        return choose_prompt(
            self.prompts,
            "question",
            kind=kind,
            recurring=recurring,
            shown=ctx.shown,
            now=self.services.clock.now(),
            salt=meeting.key,
            practice=practice,
            avoid_practice=avoid,
        )


def _join_url(meeting: Occurrence) -> str | None:
    url = meeting.conference_url
    return url if url and url.startswith("https://") else None


# ---------------------------------------------------------------------- user actions


def _delivery(
    services: Services, *, team_id: str, user_id: str, delivery_id: int
) -> ClaimedDelivery | None:
    with read_only(services.engine) as conn:
        return deliveries.find_delivery(
            conn=conn, team_id=team_id, user_id=user_id, delivery_id=delivery_id
        )


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
        deliveries.enqueue_deliveries(
            conn=conn,
            rows=[
                {
                    "team_id": team_id,
                    "user_id": user_id,
                    "kind": DeliveryKind.REFLECTION,
                    "ref": key,
                    "occurrence_key": key,
                    "due_at": now,
                }
            ],
            now=now,
        )
        mine = sa.and_(d.team_id == team_id, d.user_id == user_id, d.occurrence_key == key)
        scheduled.unschedule(conn, mine, now=now)  # what Slack holds for it is deleted there
        conn.execute(
            sa.update(DEL)
            .where(mine, d.state == DeliveryState.PENDING)
            .values(state=DeliveryState.SKIPPED, error=USER_SKIPPED, updated_at=now)
        )
    meeting = NudgeComposer(services)._meeting(row, key)
    return meeting.title if meeting else ""


def mute_series(services: Services, *, team_id: str, user_id: str, series_key: str) -> str:
    """ "Mute this series": no more nudges for any meeting of it. Returns its title."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        user = users.ensure_user(session=session, team_id=team_id, user_id=user_id, now=now)
        prefs = Prefs.from_json(user.prefs)
        if series_key not in prefs.muted_series:
            user.prefs = prefs.with_changes(
                muted_series=[*prefs.muted_series, series_key]
            ).to_json()
            session.add(user)
    replan_user(services, team_id=team_id, user_id=user_id)
    with read_only(services.engine) as conn:
        title = occurrences.series_title(
            conn=conn, team_id=team_id, user_id=user_id, series_key=series_key
        )
    return title or ""


def unmute_series(services: Services, *, team_id: str, user_id: str, series_key: str) -> None:
    now = services.clock.now()
    with session_scope(services.engine) as session:
        user = users.ensure_user(session=session, team_id=team_id, user_id=user_id, now=now)
        prefs = Prefs.from_json(user.prefs)
        kept = [key for key in prefs.muted_series if key != series_key]
        user.prefs = prefs.with_changes(muted_series=kept).to_json()
        session.add(user)
    replan_user(services, team_id=team_id, user_id=user_id)


def pause_until(services: Services, *, team_id: str, user_id: str, until: datetime | None) -> None:
    """Pause every nudge until ``until`` (None resumes now)."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        user = users.ensure_user(session=session, team_id=team_id, user_id=user_id, now=now)
        user.paused_until = until
        session.add(user)
    replan_user(services, team_id=team_id, user_id=user_id)


def welcome_once(services: Services, *, team_id: str, user_id: str) -> bool:
    """Queue the welcome DM; the outbox key makes a second one impossible."""
    now = services.clock.now()
    with services.engine.begin() as conn:
        return deliveries.enqueue_now(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kind=DeliveryKind.WELCOME,
            ref=DeliveryKind.WELCOME,
            now=now,
        )

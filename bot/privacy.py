"""The user's rights over their data: export it, erase it; and the purges that keep
Heedful from holding more than it needs (retention, uninstall).

Export holds everything Heedful stores about a person (settings, calendars without
their secret addresses, meetings, deliveries, reflections in clear, the wordings they
were shown, their why in clear and their focus practice, their commitments in clear).
Erase deletes all of it and cancels what was pending: nothing is sent to them afterwards
unless they start again (connect a calendar).

Feedback from others (``bot.feedback``): the export holds the series a person asked
feedback for, the meetings to ask about, their weekly totals as they may see them, and
whether they asked never to be asked; erase removes their series, meetings, totals and
the questions about their meetings. A *never ask me again* names no one and survives
any erase (it is what keeps a person from being asked again); an uninstall purges it.

**Past meetings and settled deliveries** (``purge_expired``). Nothing else ever deletes
them, and a company holds a lot of them (10,000 people over 15 days held 1.3 M rows), so
the daily purge deletes, set-based and in batches of ``PURGE_BATCH`` rows (``PURGE_PEOPLE``
people for meetings), each batch its own short transaction so a first purge of a large
backlog never holds the SQLite writer for long:

* **meetings** (``occurrence``) that ended more than ``MEETING_KEEP`` (14 days) ago;
* **deliveries** (``delivery``) that are settled (sent, skipped, failed, expired) and were
  due and settled more than ``DELIVERY_KEEP`` (14 days) ago.

Fourteen days is what the readers of past rows need, with a week to spare: the digest reads
the meetings and deliveries of its own week (and last week's, late by at most half a day:
8 days); the planner reads back at most ``PLAN_HORIZON`` (8 days) and what went out from a
day before that (``bot.occurrences``); the inbox replays a message for 7 days (``INBOX_KEEP``),
whose acknowledgement's outbox key keeps it to one; answers are matched to questions sent in
the last 24 hours; calendars are read from a day back, so a purged meeting is not read again.
Export then holds the last two weeks of meetings and deliveries (and the rows below).
Never purged: a pending, claimed, scheduling or scheduled delivery, nor the meeting it is
about, nor a meeting a feedback question still waits for (``bot.feedback``). And kept however
old, because something reads them past the two weeks:

* each person's **oldest meeting**: the planner's first meetings begin once Heedful has known
  the calendar for ``FIRST_MEETING_MIN_HISTORY`` (``PlanInput.history_since``);
* for each address a person met in a meeting with others of up to ``SMALL_MEETING_MAX``
  people, **their latest such meeting** within ``FIRST_MEETING_LOOKBACK`` (90 days) and
  ``MEETING_KEEP``: whom they met in the last 90 days stays known, so a meeting with
  someone met 40 days ago is no first meeting (one row per address met, not per meeting);
* the **welcome** (its outbox key is what sends it once, ever);
* each person's **first ``GUIDED_QUESTIONS`` questions sent** (the first ones are guided:
  ``bot.nudges``) and their **latest ``PROMPT_STREAK`` reflection questions sent** (the
  back-off counts the unanswered ones in a row: ``bot.occurrences.prompt_history``);
* a question that **offered feedback** for its series (``bot.feedback.OPT_IN_SHOWN``), while
  its ``prompt_shown`` row lasts: it keeps the offer to one per series.

What is lost past two weeks, accepted: the meeting a kept reflection, commitment or wording
was about (their rows keep its key; commitments keep their series and people), and which
meeting size an old focus wording was shown for (the focus turns look at the latest ones).
A notice's outbox key guards it for those two weeks only: a notice that must go once, ever,
keeps its own record (as ``calendar_source.broken_notified_at`` does).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot import feedback
from bot.calendars.occurrence import SMALL_MEETING_MAX
from bot.crypto import CipherError
from bot.messages.prompts import load_prompts
from bot.nudges import GUIDED_QUESTIONS
from bot.planner import FIRST_MEETING_LOOKBACK
from bot.reflections import TOMBSTONE_KEEP
from bot.services import Services
from bot.slack import Upload
from bot.storage import deliveries, scheduled
from bot.storage import occurrences as stored_occurrences
from bot.storage.db import read_only
from bot.storage.models import (
    CalendarSource,
    Commitment,
    DeletedMessage,
    Delivery,
    DeliveryKind,
    FeedbackKey,
    FeedbackMeeting,
    FeedbackSeries,
    GoogleCalendar,
    InboxItem,
    InboxState,
    Installation,
    LeaderWhy,
    MicrosoftCalendar,
    OAuthState,
    OccurrenceRow,
    PromptShown,
    RateBudget,
    Reflection,
    SlackUnschedule,
    SlackUser,
    WebhookSource,
)
from bot.sync import google, microsoft

logger = logging.getLogger(__name__)

USER_TABLES = (
    SlackUser,
    CalendarSource,
    OccurrenceRow,
    Delivery,
    Reflection,
    DeletedMessage,
    PromptShown,
    InboxItem,
    LeaderWhy,
    FeedbackSeries,
    FeedbackMeeting,
    Commitment,
    GoogleCalendar,
    MicrosoftCalendar,
    OAuthState,
)
# Tables whose ``text``/``body`` column holds private words, encrypted at rest: the export
# holds them decrypted.
PRIVATE_TEXT = {"reflection": "text", "inbox": "body", "leader_why": "text", "commitment": "text"}
# Credentials and provider bookkeeping, left out of the export (they are Heedful's keys
# to a calendar, not something the person wrote or was told).
_SECRETS = {
    "google_calendar": ("tokens", "channel_token", "old_channel_token", "sync_token"),
    "microsoft_calendar": ("token_cache", "client_state", "delta_link"),
    "oauth_state": ("verifier", "state_hash"),  # a sign-in in progress: its keys stay here
}
EXPORT_VERSION = 1
EXPORT_FILENAME = "heedful-export.json"
PROMPT_HISTORY = timedelta(days=60)
INBOX_KEEP = timedelta(days=7)
MEETING_KEEP = timedelta(days=14)  # see "Past meetings and settled deliveries" above
DELIVERY_KEEP = timedelta(days=14)
PROMPT_STREAK = 6  # the questions ``bot.occurrences.prompt_history`` looks at
PURGE_BATCH = 5000  # rows per statement (and transaction) of the purge
PURGE_PEOPLE = 200  # people per statement of the meetings' purge
KEEP_SETTLED = deliveries.SettledToKeep(
    kinds=(DeliveryKind.WELCOME,),
    first_sent=GUIDED_QUESTIONS,
    first_kinds=(DeliveryKind.REFLECTION, DeliveryKind.TRANSITION),
    latest_sent=PROMPT_STREAK,
    latest_kinds=(DeliveryKind.REFLECTION,),
    shown=(feedback.OPT_IN_SHOWN,),
)


def _table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


def _owner_column(table: sa.Table) -> sa.Column[Any]:
    return table.c.slack_user_id if table.name == "slack_user" else table.c.user_id


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def export_user(services: Services, *, team_id: str, user_id: str) -> dict[str, Any]:
    """Everything about one person, as JSON-ready data."""
    out: dict[str, Any] = {
        "format": "heedful-export",
        "version": EXPORT_VERSION,
        "team_id": team_id,
        "user_id": user_id,
        "exported_at": services.clock.now().isoformat(),
    }
    names = {
        "slack_user": "profile",
        "calendar_source": "calendars",
        "occurrence": "meetings",
        "delivery": "deliveries",
        "reflection": "reflections",
        "deleted_message": "deleted_messages",
        "prompt_shown": "wordings_shown",
        "inbox": "events_received",
        "leader_why": "why",
        "feedback_series": "feedback_series",
        "feedback_meeting": "feedback_meetings",
        "commitment": "commitments",
        "google_calendar": "google_calendars",
        "microsoft_calendar": "microsoft_calendars",
        "oauth_state": "sign_ins",
    }
    with read_only(services.engine) as conn:
        for model in USER_TABLES:
            table = _table(model)
            rows = conn.execute(
                sa.select(table)
                .where(table.c.team_id == team_id, _owner_column(table) == user_id)
                .order_by(*table.primary_key.columns)
            ).mappings()
            items = []
            for row in rows:
                item = {k: _plain(v) for k, v in row.items()}
                if table.name == "calendar_source":
                    item.pop("url", None)  # a secret: the export names the calendar, not its key
                    item.pop("etag", None)
                for secret in _SECRETS.get(table.name, ()):
                    item.pop(secret, None)
                field = PRIVATE_TEXT.get(table.name)
                if field is not None and field in item:
                    try:
                        item[field] = services.cipher.decrypt(item.get(field) or "")
                    except CipherError:  # no configured key opens it: say so, hold the rest
                        item[field] = None
                        item[f"{field}_unreadable"] = True
                items.append(item)
            if table.name in ("slack_user", "leader_why"):  # one row per person
                out[names[table.name]] = items[0] if items else None
            else:
                out[names[table.name]] = items
    out.update(feedback.export_extras(services, team_id=team_id, user_id=user_id))
    return out


def export_json(services: Services, *, team_id: str, user_id: str) -> str:
    return json.dumps(export_user(services, team_id=team_id, user_id=user_id), indent=2)


def export_upload(services: Services, *, team_id: str, user_id: str) -> Upload:
    """The person's export as a file for their DM (``/heedful export``, the Home tab)."""
    content = export_json(services, team_id=team_id, user_id=user_id)
    return Upload(EXPORT_FILENAME, content, load_prompts().text("export.comment"))


def forget(services: Services, *, team_id: str, user_id: str) -> str:
    """Erase the person at their request; returns the confirmation to show them.

    The confirmation goes to Slack directly, not through the outbox: an outbox row
    would be a row about the person, just erased."""
    erase_user(services, team_id=team_id, user_id=user_id)
    return load_prompts().text("forget.done")


def erase_user(services: Services, *, team_id: str, user_id: str) -> int:
    """Delete every row about one person (their Google calendar's push channel stopped
    and its grant revoked, their Microsoft calendar's subscription deleted, first).
    Returns how many rows went."""
    google.release(services, team_id=team_id, user_id=user_id)
    microsoft.release(services, team_id=team_id, user_id=user_id)
    removed = 0
    with services.engine.begin() as conn:
        # What Slack holds for them ahead of time is deleted there (the queue names no one).
        d = _table(Delivery).c
        scheduled.unschedule(
            conn, sa.and_(d.team_id == team_id, d.user_id == user_id), now=services.clock.now()
        )
        for model in USER_TABLES:
            table = _table(model)
            result = conn.execute(
                sa.delete(table).where(table.c.team_id == team_id, _owner_column(table) == user_id)
            )
            removed += max(result.rowcount, 0)
        removed += feedback.erase_leader(conn, team_id=team_id, user_id=user_id)
    logger.info("erased %d rows for a user of workspace %s at their request", removed, team_id)
    return removed


def purge_team(services: Services, *, team_id: str) -> int:
    """``app_uninstalled``: forget the whole workspace (Google channels stopped and grants
    revoked, Microsoft subscriptions deleted, first).

    Messages handed to Slack ahead of time (``bot.prescheduler``) are not deleted there:
    no token is left to ask with, so the deletions queued for the workspace go with it.
    We assume Slack posts nothing for an app whose tokens it revoked (its documentation
    does not say so for scheduled messages; ``app_uninstalled`` comes once every token of
    the app is revoked)."""
    google.release(services, team_id=team_id)
    microsoft.release(services, team_id=team_id)
    removed = 0
    with services.engine.begin() as conn:
        for model in (
            *USER_TABLES,
            *feedback.TEAM_TABLES,
            WebhookSource,
            InboxItem,
            RateBudget,
            SlackUnschedule,
            Installation,
        ):
            table = _table(model)
            result = conn.execute(sa.delete(table).where(table.c.team_id == team_id))
            removed += max(result.rowcount, 0)
    services.forget_authorization(team_id)
    logger.warning("purged workspace %s after uninstall (%d rows)", team_id, removed)
    return removed


def purge_expired(services: Services) -> int:
    """Daily: reflections and commitments past the retention period, old prompt history,
    tombstones of deleted messages once they guard nothing, inbox rows a week after
    they were processed or given up on, past meetings and settled deliveries (see the
    module docstring). Returns how many rows went."""
    now = services.clock.now()
    keep = timedelta(days=services.settings.retention_days)
    r, s, i = _table(Reflection).c, _table(PromptShown).c, _table(InboxItem).c
    gone, kept = _table(DeletedMessage).c, _table(Commitment).c
    removed = 0
    with services.engine.begin() as conn:
        for stmt in (
            sa.delete(_table(Reflection)).where(r.created_at < now - keep),
            sa.delete(_table(Commitment)).where(kept.accepted_at < now - keep),
            sa.delete(_table(PromptShown)).where(s.shown_at < now - max(keep, PROMPT_HISTORY)),
            sa.delete(_table(DeletedMessage)).where(gone.deleted_at < now - TOMBSTONE_KEEP),
            # A failed row keeps its body (it may hold a DM with a reflection): it goes too.
            sa.delete(_table(InboxItem)).where(
                i.state.in_((InboxState.DONE, InboxState.FAILED)), i.received_at < now - INBOX_KEEP
            ),
        ):
            removed += max(conn.execute(stmt).rowcount, 0)
    meetings = _purge_meetings(services, now)
    sent = _purge_deliveries(services, now)
    if removed or meetings or sent:
        logger.info(
            "retention: %d old rows deleted, %d past meetings, %d settled deliveries",
            removed,
            meetings,
            sent,
        )
    return removed + meetings + sent


def _purge_meetings(services: Services, now: datetime) -> int:
    """Past meetings, ``PURGE_PEOPLE`` people and at most ``PURGE_BATCH`` rows a batch."""
    removed = 0
    after: stored_occurrences.Person | None = None
    while True:
        with read_only(services.engine) as conn:
            people = stored_occurrences.people_after(conn=conn, after=after, limit=PURGE_PEOPLE)
        if not people:
            return removed
        while True:
            with services.engine.begin() as conn:
                n = stored_occurrences.delete_past_occurrences(
                    conn=conn,
                    first=people[0],
                    last=people[-1],
                    ended_before=now - MEETING_KEEP,
                    met_since=now - MEETING_KEEP - FIRST_MEETING_LOOKBACK,
                    small_max=SMALL_MEETING_MAX,
                    limit=PURGE_BATCH,
                )
            removed += n
            if n < PURGE_BATCH:
                break
        after = people[-1]


def _purge_deliveries(services: Services, now: datetime) -> int:
    """Settled deliveries, at most ``PURGE_BATCH`` rows a batch."""
    removed = 0
    while True:
        with services.engine.begin() as conn:
            n = deliveries.delete_settled(
                conn=conn, settled_before=now - DELIVERY_KEEP, keep=KEEP_SETTLED, limit=PURGE_BATCH
            )
        removed += n
        if n < PURGE_BATCH:
            return removed


# Columns that hold secrets or private text, encrypted with HEEDFUL_ENCRYPTION_KEY.
ENCRYPTED_COLUMNS: tuple[tuple[Any, str], ...] = (
    (Installation, "bot_token"),
    (CalendarSource, "url"),
    (WebhookSource, "secret"),
    (Reflection, "text"),
    (InboxItem, "body"),
    (LeaderWhy, "text"),
    (FeedbackKey, "secret"),
    (Commitment, "text"),
    (GoogleCalendar, "tokens"),
    (GoogleCalendar, "channel_token"),
    (GoogleCalendar, "old_channel_token"),
    (MicrosoftCalendar, "token_cache"),
    (MicrosoftCalendar, "client_state"),
    (OAuthState, "verifier"),
)
ROTATE_BATCH = 500


def rotate_keys(services: Services) -> int:
    """Re-encrypt every secret and private text with the first configured key.

    After adding a new key in front (``HEEDFUL_ENCRYPTION_KEY=new,old``), this rewrites
    old rows so the old key can be dropped; run after first setting a key, it encrypts
    what was stored in plain text. A value no configured key opens is left as it is
    (counted in a warning). Returns how many values were rewritten.
    The CLI first checks that the keys open the data at all (:mod:`bot.keycheck`).
    """
    if not services.cipher.enabled:
        raise ValueError("HEEDFUL_ENCRYPTION_KEY is not set: there is no key to rotate to")
    rewritten = unreadable = 0
    for model, column in ENCRYPTED_COLUMNS:
        table = _table(model)
        key = next(iter(table.primary_key.columns))
        value = table.c[column]
        last: Any = None
        while True:
            with services.engine.begin() as conn:
                query = sa.select(key, value).where(value.is_not(None), value != "")
                if last is not None:
                    query = query.where(key > last)
                rows = conn.execute(query.order_by(key).limit(ROTATE_BATCH)).all()
                if not rows:
                    break
                changes = []
                for row in rows:
                    try:
                        changes.append({"b_key": row[0], "b_value": services.cipher.rotate(row[1])})
                    except CipherError:
                        unreadable += 1
                if changes:
                    conn.execute(
                        sa.update(table)
                        .where(key == sa.bindparam("b_key"))
                        .values({column: sa.bindparam("b_value")}),
                        changes,
                    )
                rewritten += len(changes)
                last = rows[-1][0]
    if unreadable:
        logger.warning(
            "%d stored values open with no configured key and were left as they are", unreadable
        )
    logger.info("re-encrypted %d values with the first key", rewritten)
    return rewritten

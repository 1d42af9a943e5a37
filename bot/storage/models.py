"""SQLModel tables.

All datetimes are stored as UTC (``UTCDateTime`` hands back aware UTC values on
every backend, SQLite included). Slack ids are kept as Slack spells them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Column, Field, SQLModel

from bot.calendars.occurrence import MAX_ADDRESS, MAX_LINK, MAX_RECURRENCE_ID, MAX_TITLE
from bot.clock import ensure_utc


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = ensure_utc(value)
        # SQLite has no zone type: store naive UTC so string comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else ensure_utc(value)


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class DeliveryKind(StrEnum):
    """What a delivery is: the outbox's ``kind`` column, and the key of its composer."""

    REMINDER = "reminder"
    REFLECTION = "reflection"
    TRANSITION = "transition"  # a reflection on one meeting and a reminder for the next
    WELCOME = "welcome"
    DIGEST = "digest"
    NOTICE = "notice"  # its message ready-made in ``payload`` (replies, calendar notices)
    ACK = "ack"  # a reaction to a kept answer, or a short line in its place
    FEEDBACK_ASK = "feedback_ask"  # the anonymous question to a colleague
    COMMITMENT_OFFER = "commitment_offer"


class DeliveryState(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    # It could no longer arrive in time (a reminder once its meeting started, a question
    # past its validity): not sent, and counted (README, "Today's rule").
    EXPIRED = "expired"
    # Pre-scheduling (``bot.prescheduler``): a ``chat.scheduleMessage`` call is in flight,
    # leased like CLAIMED; then Slack holds it (``scheduled_message_id`` and ``channel``
    # stored) and posts it at ``due_at``. The sender claims only pending rows.
    SCHEDULING = "scheduling"
    SCHEDULED = "scheduled"


class InboxState(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"


class Installation(SQLModel, table=True):
    """A workspace Heedful is installed in."""

    team_id: str = Field(primary_key=True, max_length=32)
    enterprise_id: str | None = Field(default=None, max_length=32)
    team_name: str | None = Field(default=None, max_length=255)
    bot_user_id: str | None = Field(default=None, max_length=32)
    bot_id: str | None = Field(default=None, max_length=32)
    bot_token: str | None = Field(default=None, repr=False)
    installed_at: datetime | None = _ts()
    paused_at: datetime | None = _ts()
    pause_reason: str | None = Field(default=None, max_length=64)
    uninstalled_at: datetime | None = _ts()


class SlackUser(SQLModel, table=True):
    """A person in a workspace, with their preferences."""

    __tablename__ = "slack_user"
    __table_args__ = (sa.UniqueConstraint("team_id", "slack_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    slack_user_id: str = Field(max_length=32)
    tz: str | None = Field(default=None, max_length=64)
    tz_checked_at: datetime | None = _ts()
    email: str | None = Field(default=None, max_length=320)
    prefs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dm_channel_id: str | None = Field(default=None, max_length=32)
    opted_in_at: datetime | None = _ts()
    paused_until: datetime | None = _ts()
    unreachable_reason: str | None = Field(default=None, max_length=64)
    unreachable_at: datetime | None = _ts()
    created_at: datetime | None = _ts()


class Delivery(SQLModel, table=True):
    """The outbox: every DM is a row before it is sent.

    ``ref`` is the occurrence key or the ISO week the delivery is about; together
    with team, user and kind it makes the unique key that forbids a second copy.
    ``available_at`` is when the row may next be claimed (``due_at`` moved by retries).
    """

    __table_args__ = (
        sa.UniqueConstraint("team_id", "user_id", "kind", "ref", name="uq_delivery_key"),
        sa.Index("ix_delivery_claim", "state", "available_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    kind: str = Field(max_length=32)  # a DeliveryKind
    ref: str = Field(default="", max_length=255)
    occurrence_key: str | None = Field(default=None, max_length=255)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    available_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime | None = _ts()
    # The start of the meeting this DM prepares for (reminders, transitions): due rows
    # are claimed nearest meeting first (``deliveries.claim_deliveries``).
    meeting_start: datetime | None = _ts()
    state: str = Field(default=DeliveryState.PENDING, max_length=16)
    lease_until: datetime | None = _ts()
    claimed_by: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    needs_reconcile: bool = False
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    channel: str | None = Field(default=None, max_length=32)
    message_ts: str | None = Field(default=None, max_length=32)
    sent_at: datetime | None = _ts()
    error: str | None = Field(default=None, max_length=255)
    created_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()
    # ``chat.scheduleMessage``'s id while Slack holds the message (``bot.prescheduler``).
    scheduled_message_id: str | None = Field(default=None, max_length=64)
    # A digest of the scheduled text (never the text): what identifies the message in
    # ``chat.scheduledMessages.list`` after an ambiguous failure.
    scheduled_hash: str | None = Field(default=None, max_length=32)
    # Never pre-schedule this one again (Slack refused it ahead of time): the sender
    # posts it at its due time.
    direct: bool = False


class SlackUnschedule(SQLModel, table=True):
    """A message handed to Slack ahead of time that must not be posted any more (the
    meeting moved, was cancelled or declined, the person skipped, paused, muted or was
    erased): ``bot.prescheduler`` deletes it with ``chat.deleteScheduledMessage``. It
    holds no text and no user id: only where the message is and when it would post."""

    __tablename__ = "slack_unschedule"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "scheduled_message_id", name="uq_slack_unschedule"),
        sa.Index("ix_slack_unschedule_due", "available_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    channel: str = Field(max_length=32)
    scheduled_message_id: str = Field(max_length=64)
    post_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    available_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    attempts: int = 0
    created_at: datetime | None = _ts()


class RateBudget(SQLModel, table=True):
    """The pace of one workspace's calls to one Slack method, shared by every process
    (``bot.budget``): the current rate, the next free slot (a token bucket kept as its
    theoretical arrival time) and a pause from Slack's ``Retry-After``."""

    __tablename__ = "rate_budget"

    team_id: str = Field(primary_key=True, max_length=32)
    method: str = Field(primary_key=True, max_length=64)
    per_minute: float
    next_at: datetime | None = _ts()
    paused_until: datetime | None = _ts()
    updated_at: datetime | None = _ts()


class InboxItem(SQLModel, table=True):
    """Every inbound hook is a row before it is acknowledged.

    ``(source, external_id)`` is the provider's id (Slack ``event_id``, a webhook id):
    a retry of the same id is a no-op. ``body`` is cleared once processed.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id", name="uq_inbox_key"),
        sa.Index("ix_inbox_claim", "state", "available_at"),
        sa.Index("ix_inbox_owner", "team_id", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=255)
    team_id: str | None = Field(default=None, max_length=32)
    # Whose event it is, when the payload says (so an erase removes it too).
    user_id: str | None = Field(default=None, max_length=32)
    kind: str = Field(default="", max_length=64)
    body: str = Field(default="", sa_type=sa.Text, repr=False)
    state: str = Field(default=InboxState.PENDING, max_length=16)
    available_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    lease_until: datetime | None = _ts()
    claimed_by: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    processed_at: datetime | None = _ts()
    error: str | None = Field(default=None, max_length=255)


class Reflection(SQLModel, table=True):
    """A user's private answer to a reflection question. Readable only by its author."""

    __table_args__ = (
        sa.Index("ix_reflection_owner", "team_id", "user_id", "created_at"),
        # One row per answering message (a thread reply, a DM); form answers have no ts.
        sa.UniqueConstraint("team_id", "user_id", "message_ts", name="uq_reflection_message"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    delivery_id: int | None = Field(default=None, index=True)
    occurrence_key: str | None = Field(default=None, max_length=255)
    text: str = Field(default="", sa_type=sa.Text, repr=False)
    presence: int | None = None
    source: str = Field(default="dm", max_length=16)
    message_ts: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class DeletedMessage(SQLModel, table=True):
    """A DM the user deleted: a tombstone holding its ts and nothing of its content, so a
    late or retried copy of the message's own event cannot store the answer again.
    Erased with the person; expires a day on (``bot.reflections.TOMBSTONE_KEEP``)."""

    __tablename__ = "deleted_message"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "user_id", "message_ts", name="uq_deleted_message"),
        sa.Index("ix_deleted_message_at", "deleted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    message_ts: str = Field(max_length=32)
    deleted_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class CalendarSource(SQLModel, table=True):
    """A calendar a user connected: an ICS feed (its URL is a secret) or a push source."""

    __tablename__ = "calendar_source"
    __table_args__ = (
        sa.Index("ix_calendar_source_due", "kind", "status", "next_check_at"),
        # The poll's claim: due calendars of a kind, whatever their status, earliest first.
        sa.Index("ix_calendar_source_kind_due", "kind", "next_check_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    kind: str = Field(default="ics", max_length=16)
    # Encrypted at rest when HEEDFUL_ENCRYPTION_KEY is set (bot.crypto); never logged.
    url: str = Field(default="", sa_type=sa.Text, repr=False)
    label: str | None = Field(default=None, max_length=255)
    etag: str | None = Field(default=None, max_length=255)
    last_modified: str | None = Field(default=None, max_length=64)
    content_hash: str | None = Field(default=None, max_length=64)
    # {"frame": …, "series": {UID: …}} (bot.calendars.fingerprint): what the last whole
    # or partial read saw, so the next one re-reads only the series that changed.
    feed_print: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: str = Field(default="ok", max_length=16)
    error: str | None = Field(default=None, max_length=255)
    broken_notified_at: datetime | None = _ts()
    # No event of the feed lists an ATTENDEE (as of its last read that was not a 304):
    # its meetings' attendance is unknown, none is called solo (bot.calendars.ics).
    attendees_unknown: bool = False
    # When its owner was told that, once per feed (bot.sync.feeds).
    no_attendees_notified_at: datetime | None = _ts()
    # Transient failures in a row (timeouts, 5xx): the retry backs off with them.
    failures: int = 0
    # End of the window last expanded; an unchanged feed is re-read once it falls behind.
    expanded_until: datetime | None = _ts()
    last_checked_at: datetime | None = _ts()
    next_check_at: datetime | None = _ts()
    created_at: datetime | None = _ts()
    # When a feed's content last changed (``bot.sync.polling``: a quiet feed is polled less often).
    last_changed_at: datetime | None = _ts()


class GoogleCalendar(SQLModel, table=True):
    """The Google side of a ``calendar_source`` of kind ``google`` (``bot.sync.google``).

    ``tokens`` (the OAuth grant: refresh and access token, expiry) and ``channel_token``
    are encrypted at rest when HEEDFUL_ENCRYPTION_KEY is set; never logged. ``old_*``
    hold the channel a renewal replaced until it is stopped (notifications on either
    are accepted). ``last_message`` is the highest X-Goog-Message-Number seen on the
    current channel.
    """

    __tablename__ = "google_calendar"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(unique=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    account: str = Field(default="", max_length=MAX_ADDRESS)
    zone: str = Field(default="UTC", max_length=64)
    tokens: str = Field(default="", sa_type=sa.Text, repr=False)
    sync_token: str | None = Field(default=None, sa_type=sa.Text, repr=False)
    channel_id: str | None = Field(default=None, max_length=64, index=True)
    channel_token: str | None = Field(default=None, sa_type=sa.Text, repr=False)
    resource_id: str | None = Field(default=None, max_length=255)
    channel_expires_at: datetime | None = _ts()
    last_message: int = 0
    old_channel_id: str | None = Field(default=None, max_length=64, index=True)
    old_channel_token: str | None = Field(default=None, sa_type=sa.Text, repr=False)
    old_resource_id: str | None = Field(default=None, max_length=255)
    old_last_message: int = 0
    # The channel and message number the last sync started after: a stored push at or
    # below it was read by that sync already.
    synced_channel: str | None = Field(default=None, max_length=64)
    synced_message: int = 0
    synced_at: datetime | None = _ts()
    created_at: datetime | None = _ts()


class MicrosoftCalendar(SQLModel, table=True):
    """The Microsoft side of a ``calendar_source`` of kind ``microsoft``
    (``bot.sync.microsoft``).

    ``token_cache`` (MSAL's serialized token cache of this one connection: refresh,
    access and id token) and ``client_state`` (the subscription's secret) are encrypted
    at rest when HEEDFUL_ENCRYPTION_KEY is set; never logged. ``delta_link`` holds
    Graph's ``$deltatoken`` (a key to the calendar's changes: never exported).
    ``notified`` counts the notification batches stored; ``synced_notified`` is its value
    when the last sync began (a stored batch at or below it was read by that sync).
    """

    __tablename__ = "microsoft_calendar"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(unique=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    account: str = Field(default="", max_length=MAX_ADDRESS)
    token_cache: str = Field(default="", sa_type=sa.Text, repr=False)
    delta_link: str | None = Field(default=None, sa_type=sa.Text, repr=False)
    subscription_id: str | None = Field(default=None, max_length=64, index=True)
    client_state: str | None = Field(default=None, sa_type=sa.Text, repr=False)
    subscription_expires_at: datetime | None = _ts()
    notified: int = 0
    synced_notified: int = 0
    synced_at: datetime | None = _ts()
    created_at: datetime | None = _ts()


class OAuthState(SQLModel, table=True):
    """One sign-in in progress (``/oauth/<provider>/start`` → callback): single use,
    expiring, bound to the person who asked. ``state_hash`` is the SHA-256 of the state
    (the state itself is never stored); ``verifier`` the PKCE code verifier (Google) or
    MSAL's whole auth-code flow as JSON (Microsoft: verifier, nonce, state), encrypted."""

    __tablename__ = "oauth_state"

    id: int | None = Field(default=None, primary_key=True)
    state_hash: str = Field(unique=True, max_length=64)
    provider: str = Field(max_length=16)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    verifier: str | None = Field(default=None, sa_type=sa.Text, repr=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = _ts()


class OccurrenceRow(SQLModel, table=True):
    """A meeting instance Heedful knows of, for one user (``bot.calendars.Occurrence``)."""

    __tablename__ = "occurrence"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "user_id", "key", name="uq_occurrence_key"),
        sa.Index("ix_occurrence_user_start", "team_id", "user_id", "start_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    source: str = Field(max_length=64)
    key: str = Field(max_length=255)
    series_key: str = Field(max_length=255)
    uid: str = Field(max_length=255)
    recurrence_id: str | None = Field(default=None, max_length=MAX_RECURRENCE_ID)
    title: str = Field(default="", max_length=MAX_TITLE)
    start_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    end_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    all_day: bool = False
    status: str = Field(default="confirmed", max_length=16)
    attendees: int = 0
    # Who else was invited (lower-case addresses), kept only for meetings of up to
    # SMALL_MEETING_MAX people: where the user meets someone (bot.planner's first meetings).
    people: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    organizer: str | None = Field(default=None, max_length=MAX_ADDRESS)
    self_response: str | None = Field(default=None, max_length=16)
    transparent: bool = False
    conference_url: str | None = Field(default=None, max_length=MAX_LINK)
    external: bool = False
    recurring: bool = False
    category: str | None = Field(default=None, max_length=16)
    skip_reason: str | None = Field(default=None, max_length=16)
    # The event's iCalendar UID, by which the same meeting on two calendars is one
    # (bot.copies); a longer one is kept in the digest form of bot.occurrences.
    ical_uid: str | None = Field(default=None, max_length=255)
    # Its calendar does not say who attends (Occurrence.attendees_unknown): not solo.
    attendees_unknown: bool = False
    updated_at: datetime | None = _ts()
    # The calendar's own id of this instance when it is not ``uid``/``recurrence_id``
    # (Microsoft Graph's event id: an ``@removed`` entry names nothing else). Not part of
    # ``Occurrence``: only the sync that wrote it reads it (``bot.sync.microsoft``).
    event_id: str | None = Field(default=None, max_length=255, index=True)


class WebhookSource(SQLModel, table=True):
    """A team-level calendar push source (``POST /hooks/calendar?source=<id>``).

    ``secret`` is the Standard Webhooks signing secret (``whsec_…``), encrypted at rest
    when HEEDFUL_ENCRYPTION_KEY is set; never logged.
    """

    __tablename__ = "webhook_source"

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32, index=True)
    name: str = Field(max_length=255)
    secret: str = Field(default="", sa_type=sa.Text, repr=False)
    created_at: datetime | None = _ts()


class PromptShown(SQLModel, table=True):
    """Which wording a user was shown, and when: so nothing repeats within 14 days."""

    __tablename__ = "prompt_shown"
    __table_args__ = (sa.Index("ix_prompt_shown_user", "team_id", "user_id", "shown_at"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    prompt_id: str = Field(max_length=128)
    delivery_id: int | None = Field(default=None, index=True)
    shown_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class LeaderWhy(SQLModel, table=True):
    """A person's own why: what kind of leader they want to be and for whom, in their words
    (``text``, encrypted at rest like a reflection's, never logged), and the one practice they
    focus on for a few weeks (``focus_practice``, one of the nine practice ids). ``focus_since``
    is when that practice was set, so it moves only when the practice changes, not when the
    words do; ``focus_suggested`` says Heedful suggested it from the words (``bot.focus``)
    rather than the person picking it. One row per person."""

    __tablename__ = "leader_why"
    __table_args__ = (sa.UniqueConstraint("team_id", "user_id", name="uq_leader_why_owner"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    text: str = Field(default="", sa_type=sa.Text, repr=False)
    focus_practice: str = Field(max_length=32)
    focus_since: datetime = Field(sa_type=UTCDateTime, nullable=False)
    focus_suggested: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


# ----------------------------------------------------------------- feedback from others
# (bot.feedback). A leader opts a meeting series in; after a meeting of five or more
# colleagues each of them may get one anonymous question. What is kept, and for how long:
# the leader's own choices and the addresses to ask (until asked), weekly totals with no
# respondent in them, and keyed hashes for de-duplication until the week closes.


class FeedbackSeries(SQLModel, table=True):
    """A meeting series whose attendees a leader asked Heedful to ask for feedback."""

    __tablename__ = "feedback_series"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "user_id", "series_key", name="uq_feedback_series"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    series_key: str = Field(max_length=255)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class FeedbackMeeting(SQLModel, table=True):
    """One meeting of an opted-in series, with the addresses of the people to ask
    (``people``, cleared once they were asked). ``state``: ``waiting`` (the meeting has not
    ended, or its question is not planned yet), ``working`` (a process holds it until
    ``lease_until``), ``asked`` or ``skipped`` (``reason`` says why)."""

    __tablename__ = "feedback_meeting"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "user_id", "occurrence_key", name="uq_feedback_meeting"),
        sa.Index("ix_feedback_meeting_state", "state", "not_before"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    occurrence_key: str = Field(max_length=255)
    series_key: str = Field(max_length=255)
    people: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="waiting", max_length=16)
    reason: str | None = Field(default=None, max_length=32)
    week: str | None = Field(default=None, max_length=10)
    asked: int = 0
    not_before: datetime | None = _ts()
    lease_until: datetime | None = _ts()
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class FeedbackTally(SQLModel, table=True):
    """A leader's week of answers as counts only: no respondent, no time of answering.
    ``people`` is filled when the week closes (from the ballots, which then go); a week
    below the threshold is deleted then, unseen."""

    __tablename__ = "feedback_tally"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "leader_id", "week", name="uq_feedback_tally"),
        sa.Index("ix_feedback_tally_closes", "closed_at", "closes_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    leader_id: str = Field(max_length=32)
    week: str = Field(max_length=10)
    heard: int = 0
    somewhat: int = 0
    not_heard: int = 0
    people: int | None = None
    closes_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    closed_at: datetime | None = _ts()


class FeedbackBallot(SQLModel, table=True):
    """De-duplication while a week is open: keyed hashes (HMAC-SHA256 with the team's
    secret) of who answered about which meeting (``ballot``) and of who answered
    (``person``, to count people). No answer and no respondent id; deleted at close."""

    __tablename__ = "feedback_ballot"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "ballot", name="uq_feedback_ballot"),
        sa.Index("ix_feedback_ballot_week", "team_id", "leader_id", "week"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    leader_id: str = Field(max_length=32)
    week: str = Field(max_length=10)
    ballot: str = Field(max_length=64)
    person: str = Field(max_length=64)


class FeedbackOptOut(SQLModel, table=True):
    """*Never ask me again*: a keyed hash of the person (no id), honoured for every
    leader. Kept through anyone's erase (it is what keeps them from being asked);
    gone only when the workspace uninstalls Heedful."""

    __tablename__ = "feedback_opt_out"
    __table_args__ = (sa.UniqueConstraint("team_id", "person", name="uq_feedback_opt_out"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    person: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class FeedbackKey(SQLModel, table=True):
    """The workspace's random secret for the keyed hashes above (encrypted at rest when
    HEEDFUL_ENCRYPTION_KEY is set): without it a hash cannot be tied to anyone."""

    __tablename__ = "feedback_key"

    team_id: str = Field(primary_key=True, max_length=32)
    secret: str = Field(default="", sa_type=sa.Text, repr=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class Commitment(SQLModel, table=True):
    """Something a person said they mean to do next time, which they asked Heedful to bring
    back (``bot.commitments``): their sentence (``text``, encrypted at rest like a
    reflection's, never logged), the answer it came from (``reflection_id``: one commitment
    per answer), the meeting it was about and that meeting's series and other people as the
    occurrence keeps them (``people``: lower-case addresses, only for meetings of up to
    ``SMALL_MEETING_MAX`` people). ``state``: ``open``, ``kept``, ``partly`` or ``dropped``;
    ``quoted_for`` is the occurrence whose reminder quoted it (cleared by a "not yet", so it
    may come back once more); ``closed_at`` is when it stopped being open."""

    __tablename__ = "commitment"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "user_id", "reflection_id", name="uq_commitment_answer"),
        sa.Index("ix_commitment_owner", "team_id", "user_id", "accepted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    reflection_id: int | None = None
    text: str = Field(default="", sa_type=sa.Text, repr=False)
    occurrence_key: str | None = Field(default=None, max_length=255)
    series_key: str = Field(default="", max_length=255)
    people: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    state: str = Field(default="open", max_length=16)
    quoted_for: str | None = Field(default=None, max_length=255)
    quoted_at: datetime | None = _ts()
    accepted_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    closed_at: datetime | None = _ts()

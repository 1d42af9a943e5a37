"""Our own type for one occurrence of a calendar event, and whether it deserves a nudge.

This package (:mod:`bot.calendars`) is the calendar boundary: pure conversion of what a
calendar says (an iCalendar feed, a webhook body, Google's events) into
:class:`Occurrence` values. It imports nothing of Heedful's above it: no storage, no
services, no clock, no network. Reading calendars and acting on them is :mod:`bot.sync`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit


class Status(StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


class Response(StrEnum):
    """The user's own answer to the invitation (iCalendar PARTSTAT, lower-cased)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    NEEDS_ACTION = "needs-action"
    DELEGATED = "delegated"


class Category(StrEnum):
    """Blocks that are not meetings even when they look like one."""

    FOCUS = "focus"
    OUT_OF_OFFICE = "out-of-office"
    WORKING_LOCATION = "working-location"  # Google's "working from …" entries


class SkipReason(StrEnum):
    CANCELLED = "cancelled"
    DECLINED = "declined"
    ALL_DAY = "all-day"
    SOLO = "solo"
    FREE = "free"
    FOCUS = "focus"
    OUT_OF_OFFICE = "out-of-office"
    WORKING_LOCATION = "working-location"


class MeetingKind(StrEnum):
    ONE_ON_ONE = "one-on-one"
    SMALL = "small"
    LARGE = "large"
    EXTERNAL = "external"


SMALL_MEETING_MAX = 8  # people, the user included

# The longest values an occurrence keeps (its stored row's columns are this wide).
MAX_TITLE = 500
MAX_ADDRESS = 320  # an e-mail address (RFC 5321's 64 + 1 + 255)
MAX_LINK = 1000
MAX_RECURRENCE_ID = 64


def meeting_kind(attendees: int, *, external: bool, unknown: bool = False) -> MeetingKind:
    """What sort of meeting an occurrence with ``attendees`` people is, for fitting the
    words to it: the one rule (``Occurrence.kind`` and the digest's stored rows use it).
    When its calendar does not say who attends (``unknown``), it is a small group: words
    that fit a 1:1 or a large meeting could be wrong."""
    if external:
        return MeetingKind.EXTERNAL
    if unknown:
        return MeetingKind.SMALL
    if attendees <= 2:
        return MeetingKind.ONE_ON_ONE
    if attendees <= SMALL_MEETING_MAX:
        return MeetingKind.SMALL
    return MeetingKind.LARGE


@dataclass(frozen=True)
class Occurrence:
    """One instance of a meeting, in UTC.

    ``source`` names where it came from (``ics:<id>``, ``hook:<id>``); ``uid`` and
    ``recurrence_id`` (the instance's original start, ISO-8601 UTC, for instances of a
    series) make it unique within the source. ``attendees`` counts the people invited,
    the organizer and the user included; 0 means the event lists nobody (a personal
    block). ``self_response`` is the user's own PARTSTAT when the user is an attendee.
    ``people`` are the other people invited (lower-case addresses, the organizer included,
    the user and rooms left out), sorted: who the user meets (``bot.planner`` ranks a first
    meeting with someone above a routine one).
    ``ical_uid`` is the event's iCalendar UID (RFC 5545 ``UID``) as the calendar reports
    it, None when it reports none: the one identity two calendars may share for one
    meeting (``bot.copies``). A feed's VEVENT UID, a webhook's ``uid``, Google's
    ``iCalUID`` (one per series), Microsoft's ``iCalUId`` (one per instance).
    ``attendees_unknown``: the calendar does not say who attends (a feed that lists no
    ``ATTENDEE`` on any event, like Outlook's published calendars): ``attendees`` then
    counts only who it does name (the organizer), and the occurrence is not *solo*.
    """

    source: str
    uid: str
    recurrence_id: str | None
    title: str
    start: datetime
    end: datetime
    all_day: bool = False
    status: Status = Status.CONFIRMED
    attendees: int = 0
    organizer: str | None = None
    self_response: Response | None = None
    transparent: bool = False
    conference_url: str | None = None
    external: bool = False
    recurring: bool = False
    category: Category | None = None
    people: tuple[str, ...] = ()
    ical_uid: str | None = None
    attendees_unknown: bool = False

    @property
    def key(self) -> str:
        """Stable identity across refreshes: source, UID and recurrence id."""
        return f"{self.source}|{self.uid}|{self.recurrence_id or ''}"

    @property
    def series_key(self) -> str:
        """Identity of the series (all instances of one UID in one source)."""
        return f"{self.source}|{self.uid}"

    @property
    def skip_reason(self) -> SkipReason | None:
        """Why this occurrence gets no nudge, or None when it is eligible."""
        if self.status is Status.CANCELLED:
            return SkipReason.CANCELLED
        if self.self_response is Response.DECLINED:
            return SkipReason.DECLINED
        if self.all_day:
            return SkipReason.ALL_DAY
        if self.category is Category.OUT_OF_OFFICE:
            return SkipReason.OUT_OF_OFFICE
        if self.category is Category.FOCUS:
            return SkipReason.FOCUS
        if self.category is Category.WORKING_LOCATION:
            return SkipReason.WORKING_LOCATION
        if self.transparent:
            return SkipReason.FREE
        if self.attendees < 2 and not self.attendees_unknown:
            return SkipReason.SOLO
        return None

    @property
    def eligible(self) -> bool:
        return self.skip_reason is None

    @property
    def kind(self) -> MeetingKind:
        """What sort of meeting this is (:func:`meeting_kind`)."""
        return meeting_kind(self.attendees, external=self.external, unknown=self.attendees_unknown)


# Slack's link markup is ``<url|text>``: these characters would end or split it.
_NOT_IN_LINK = re.compile(r"[<>|\s\x00-\x1f\x7f]")


def conference_link(text: str | None) -> str | None:
    """``text`` when it is a well-formed http(s) URL that can sit inside Slack's
    ``<url|text>`` markup as it is, else None (the meeting is then shown without a link).

    Refused: other schemes, no host, a port that is not a number, and any ``<``, ``>``,
    ``|``, whitespace or control character (``https://x.example/a><!channel>`` would
    otherwise close the link and mention everyone). Whoever sends an invite writes this
    value, so it is checked where it enters (feeds, webhooks) and again where it is kept.
    """
    if not text or _NOT_IN_LINK.search(text):
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return text


_MEETING_LINK = re.compile(
    r"https://(?:[\w-]+\.)*(?:zoom\.us|zoom\.com|meet\.google\.com|teams\.microsoft\.com|"
    r"teams\.live\.com|webex\.com)(?:[/?#][^\s<>|\"'\\]*)?",
    re.IGNORECASE,
)


def find_meeting_link(*texts: str) -> str | None:
    """The first link to a known meeting service (Zoom, Meet, Teams, Webex) in free text
    (a location, a description) that :func:`conference_link` accepts, else None."""
    for text in texts:
        for found in _MEETING_LINK.finditer(text or ""):
            link = conference_link(found.group(0).rstrip(".,;:)]>"))
            if link is not None:
                return link
    return None

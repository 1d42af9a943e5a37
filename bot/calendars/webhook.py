"""The signed calendar webhook's body becomes :class:`~bot.calendars.occurrence.Occurrence`
objects: the schema, checked in full, and the conversion. Pure.

Receiving, storing and applying a push is :mod:`bot.sync.hooks`; this module only
reads a body that is already JSON.

The body (JSON object)::

    {
      "user": {"slack_id": "U0123ABCD"},
      "events": [
        {
          "uid": "evt-42@example.com",
          "recurrence_id": "2026-03-02T09:00:00Z",
          "title": "1:1 with Ben",
          "start": "2026-03-02T10:00:00+01:00",
          "end": "2026-03-02T10:30:00+01:00",
          "all_day": false,
          "status": "confirmed",
          "attendees": [
            {"email": "ana@example.com", "response": "accepted"},
            {"email": "ben@example.com", "response": "needs-action"}
          ],
          "organizer": "ben@example.com",
          "conference_url": "https://meet.example.com/abc-defg-hij",
          "transparent": false,
          "category": null
        }
      ],
      "cancel": [
        {"uid": "evt-7@example.com"},
        {"uid": "evt-9@example.com", "recurrence_id": "2026-03-03T09:00:00Z"}
      ]
    }

* ``user`` (required): ``{"slack_id": "U…"}`` or ``{"email": "…"}``, exactly one.
* ``events`` (optional, ≤ 500): each one meeting, or one instance of a series, upserted
  (a later push with the same ``uid`` and ``recurrence_id`` replaces it: moved,
  renamed, declined …). Fields:

  - ``uid`` (required): the event's id in your system, 1–160 characters. Send the
    event's iCalendar UID when your system has one: a meeting that is also on a
    calendar the person connected otherwise (a feed, Google) is recognised by it, or
    else by the same start and title, and nudged once.
  - ``recurrence_id``: for one instance of a recurring series, its *original* start
    (ISO-8601 with offset, a date for all-day series, or any stable string up to 64
    characters). Omit it for a single event.
  - ``title`` (required, may be empty; longer than 500 characters is cut).
  - ``start``, ``end`` (required): ISO-8601 with a UTC offset
    (``2026-03-02T10:00:00+01:00`` or ``…Z``); ``end`` after ``start``. With
    ``all_day: true`` they may be dates (``2026-03-02``; ``end`` exclusive), read in the
    user's Slack time zone.
  - ``all_day``, ``transparent`` (true = shown as free): booleans, default false.
  - ``status``: ``confirmed`` (default), ``tentative`` or ``cancelled``.
  - ``attendees``: e-mail strings or ``{"email", "response"?}`` objects; ``response``
    is ``accepted``, ``declined``, ``tentative``, ``needs-action`` or ``delegated``
    (Google's and Microsoft's spellings such as ``needsAction`` or
    ``tentativelyAccepted`` are understood too). The attendee whose address is the
    user's gives the user's own response.
  - ``organizer``: an e-mail address. ``conference_url``: an http(s) link, without
    spaces, ``<``, ``>`` or ``|`` (it is shown as a link in Slack).
  - ``category``: ``focus`` or ``out-of-office`` for blocks that are not meetings.
  - Unknown fields are refused (400), so a typo such as ``"all_dya"`` is not silently
    ignored.

* ``cancel`` (optional, ≤ 500): ``{"uid", "recurrence_id"?}``. Cancelling marks the
  stored meeting ``cancelled`` (it stays known, so a later push can revive it) and
  withdraws its pending nudges; without ``recurrence_id`` every stored instance of that
  ``uid`` is cancelled. A ``uid`` Heedful never received is ignored. An event sent
  with ``"status": "cancelled"`` does the same for that one instance.

Meetings follow the same rules as calendar feeds: a meeting is nudged only when it has
at least one other person, is not declined, all-day, free, focus or out-of-office, and
the user has connected a calendar (a webhook never opts a person in by itself).
People count as in feeds: everyone listed plus the organizer, the user once if they
are among them; an event that lists nobody is a personal block. The user's own
``response`` is that of the attendee with their address (``needs-action`` when it is
not given; ``accepted`` when they organize). ``external`` means someone's e-mail domain
differs from all of the user's. A ``recurrence_id`` with a time is normalised to UTC
the way feeds write it (``2026-03-02T09:00:00Z``), so the two may be compared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.calendars.attendance import Invitee, attendance
from bot.calendars.attendance import response as read_response
from bot.calendars.occurrence import (
    MAX_ADDRESS,
    MAX_LINK,
    MAX_RECURRENCE_ID,
    MAX_TITLE,
    Category,
    Occurrence,
    Response,
    Status,
    conference_link,
)

MAX_EVENTS = 500
MAX_CANCELS = 500
MAX_UID = 160  # keeps "hook:<id>|<uid>|<recurrence id>" within the key column
MAX_EMAIL = MAX_ADDRESS
MAX_URL = MAX_LINK

_EVENT_FIELDS = frozenset(
    {
        "uid",
        "recurrence_id",
        "title",
        "start",
        "end",
        "all_day",
        "status",
        "attendees",
        "organizer",
        "conference_url",
        "transparent",
        "category",
    }
)
_STATUSES = {
    "confirmed": Status.CONFIRMED,
    "tentative": Status.TENTATIVE,
    "cancelled": Status.CANCELLED,
    "canceled": Status.CANCELLED,
}
_CATEGORIES = {"focus": Category.FOCUS, "out-of-office": Category.OUT_OF_OFFICE}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class InvalidPayload(ValueError):
    """The JSON body does not follow the schema; the message names the field."""


# --------------------------------------------------------------------------- the schema


@dataclass(frozen=True)
class UserRef:
    slack_id: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class HookAttendee:
    email: str
    response: Response | None = None


@dataclass(frozen=True)
class HookEvent:
    uid: str
    recurrence_id: str | None
    title: str
    start: datetime | date  # a date only for all-day events
    end: datetime | date
    all_day: bool = False
    status: Status = Status.CONFIRMED
    attendees: tuple[HookAttendee, ...] = ()
    organizer: str | None = None
    conference_url: str | None = None
    transparent: bool = False
    category: Category | None = None


@dataclass(frozen=True)
class CancelRef:
    uid: str
    recurrence_id: str | None = None


@dataclass(frozen=True)
class HookPayload:
    user: UserRef
    events: tuple[HookEvent, ...] = ()
    cancel: tuple[CancelRef, ...] = ()


def parse_payload(data: Any) -> HookPayload:
    """Validate a decoded JSON body against the schema. Pure; raises InvalidPayload."""
    if not isinstance(data, dict):
        raise InvalidPayload("the body must be a JSON object")
    unknown = sorted(set(data) - {"user", "events", "cancel"})
    if unknown:
        raise InvalidPayload(f"unknown field {unknown[0]!r}")
    user = _user(data.get("user"))
    raw_events = _list(data.get("events", []), "events", MAX_EVENTS)
    raw_cancels = _list(data.get("cancel", []), "cancel", MAX_CANCELS)
    events = tuple(_event(item, f"events[{i}]") for i, item in enumerate(raw_events))
    cancels = tuple(_cancel(item, f"cancel[{i}]") for i, item in enumerate(raw_cancels))
    seen: dict[tuple[str, str | None], str] = {}
    for i, event in enumerate(events):
        key = (event.uid, event.recurrence_id)
        if key in seen:
            raise InvalidPayload(f"events[{i}]: the same uid and recurrence_id as {seen[key]}")
        seen[key] = f"events[{i}]"
    for i, ref in enumerate(cancels):
        clash = next(
            (
                where
                for (uid, rid), where in seen.items()
                if uid == ref.uid and (ref.recurrence_id is None or rid == ref.recurrence_id)
            ),
            None,
        )
        if clash is not None:
            raise InvalidPayload(f"cancel[{i}]: cancels {clash} of the same request")
    return HookPayload(user=user, events=events, cancel=cancels)


def _user(value: Any) -> UserRef:
    if not isinstance(value, dict):
        raise InvalidPayload('user: required, {"slack_id": "U…"} or {"email": "…"}')
    unknown = sorted(set(value) - {"slack_id", "email"})
    if unknown:
        raise InvalidPayload(f"user: unknown field {unknown[0]!r}")
    if len(value) != 1:
        raise InvalidPayload("user: give exactly one of slack_id or email")
    if "slack_id" in value:
        slack_id = value["slack_id"]
        if not isinstance(slack_id, str) or not re.fullmatch(r"[UW][A-Z0-9]{1,31}", slack_id):
            raise InvalidPayload("user.slack_id: not a Slack user id (U… or W…)")
        return UserRef(slack_id=slack_id)
    return UserRef(email=_email(value["email"], "user.email"))


def _list(value: Any, where: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidPayload(f"{where}: must be a list")
    if len(value) > limit:
        raise InvalidPayload(f"{where}: {len(value)} items; at most {limit} per request")
    return value


def _event(item: Any, where: str) -> HookEvent:
    if not isinstance(item, dict):
        raise InvalidPayload(f"{where}: must be an object")
    unknown = sorted(set(item) - _EVENT_FIELDS)
    if unknown:
        raise InvalidPayload(f"{where}: unknown field {unknown[0]!r}")
    for name in ("uid", "title", "start", "end"):
        if name not in item:
            raise InvalidPayload(f"{where}.{name}: required")
    title = item["title"]
    if not isinstance(title, str):
        raise InvalidPayload(f"{where}.title: must be a string")
    _storable(title, f"{where}.title")
    all_day = _bool(item.get("all_day", False), f"{where}.all_day")
    start = _moment(item["start"], f"{where}.start", all_day=all_day)
    end = _moment(item["end"], f"{where}.end", all_day=all_day)
    if type(start) is not type(end):
        raise InvalidPayload(f"{where}: start and end must both be dates or both date-times")
    if end <= start:  # type: ignore[operator]
        raise InvalidPayload(f"{where}.end: must be after start")
    status = item.get("status", "confirmed")
    if not isinstance(status, str) or status.lower() not in _STATUSES:
        raise InvalidPayload(f"{where}.status: one of confirmed, tentative, cancelled")
    category = item.get("category")
    if category is not None and (not isinstance(category, str) or category not in _CATEGORIES):
        raise InvalidPayload(f"{where}.category: focus, out-of-office or null")
    conference_url = item.get("conference_url")
    if conference_url is not None:
        conference_url = _url(conference_url, f"{where}.conference_url")
    organizer = item.get("organizer")
    if organizer is not None:
        organizer = _email(organizer, f"{where}.organizer")
    attendees = _list(item.get("attendees", []), f"{where}.attendees", 1000)
    return HookEvent(
        uid=_uid(item["uid"], f"{where}.uid"),
        recurrence_id=_recurrence_id(item.get("recurrence_id"), f"{where}.recurrence_id"),
        title=title[:MAX_TITLE],
        start=start,
        end=end,
        all_day=all_day,
        status=_STATUSES[status.lower()],
        attendees=tuple(_attendee(a, f"{where}.attendees[{i}]") for i, a in enumerate(attendees)),
        organizer=organizer,
        conference_url=conference_url,
        transparent=_bool(item.get("transparent", False), f"{where}.transparent"),
        category=_CATEGORIES[category] if category else None,
    )


def _cancel(item: Any, where: str) -> CancelRef:
    if not isinstance(item, dict):
        raise InvalidPayload(f"{where}: must be an object")
    unknown = sorted(set(item) - {"uid", "recurrence_id"})
    if unknown:
        raise InvalidPayload(f"{where}: unknown field {unknown[0]!r}")
    if "uid" not in item:
        raise InvalidPayload(f"{where}.uid: required")
    return CancelRef(
        uid=_uid(item["uid"], f"{where}.uid"),
        recurrence_id=_recurrence_id(item.get("recurrence_id"), f"{where}.recurrence_id"),
    )


def _storable(value: str, where: str) -> str:
    """Refuse text no database keeps as sent: a NUL character (PostgreSQL refuses it)
    or a lone surrogate (``"\\ud800"``: not encodable as UTF-8)."""
    if "\x00" in value:
        raise InvalidPayload(f"{where}: contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayload(f"{where}: not valid Unicode (a lone surrogate)") from None
    return value


def _uid(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload(f"{where}: must be a non-empty string")
    _storable(value, where)
    if len(value) > MAX_UID or "|" in value:
        raise InvalidPayload(f"{where}: at most {MAX_UID} characters, without '|'")
    return value


def _recurrence_id(value: Any, where: str) -> str | None:
    """An instance's original start, as ISO-8601 UTC when it is a date-time."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "|" in value:
        raise InvalidPayload(f"{where}: must be a non-empty string without '|'")
    _storable(value, where)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:  # as feeds write it (bot.calendars.ics)
        return _utc(parsed, where).strftime("%Y-%m-%dT%H:%M:%SZ")
    if len(value) > MAX_RECURRENCE_ID:
        raise InvalidPayload(f"{where}: at most {MAX_RECURRENCE_ID} characters")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidPayload(f"{where}: must be true or false")
    return value


def _moment(value: Any, where: str, *, all_day: bool) -> datetime | date:
    if not isinstance(value, str):
        raise InvalidPayload(f"{where}: must be an ISO-8601 string")
    if all_day and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise InvalidPayload(f"{where}: not a valid date") from None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidPayload(f"{where}: not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        raise InvalidPayload(f"{where}: needs a UTC offset (…+01:00 or …Z)")
    return _utc(parsed, where)


def _utc(value: datetime, where: str) -> datetime:
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidPayload(f"{where}: out of range") from None
    if not 1970 <= moment.year <= 2200:
        raise InvalidPayload(f"{where}: out of range")
    return moment


def _email(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_EMAIL or not _EMAIL.match(value.strip()):
        raise InvalidPayload(f"{where}: not an e-mail address")
    _storable(value, where)
    address = value.strip().lower()
    return address.removeprefix("mailto:")


def _url(value: Any, where: str) -> str:
    """A join link as :func:`conference_link` accepts it (shown inside Slack markup)."""
    link = conference_link(value) if isinstance(value, str) else None
    if link is None or len(link) > MAX_URL:
        raise InvalidPayload(
            f"{where}: an http(s) link of at most {MAX_URL} characters, "
            "without spaces, '<', '>' or '|'"
        )
    return link


def _attendee(value: Any, where: str) -> HookAttendee:
    if isinstance(value, str):
        return HookAttendee(_email(value, where))
    if not isinstance(value, dict):
        raise InvalidPayload(f"{where}: an e-mail string or an object with email")
    unknown = sorted(set(value) - {"email", "response", "name"})
    if unknown:
        raise InvalidPayload(f"{where}: unknown field {unknown[0]!r}")
    if "email" not in value:
        raise InvalidPayload(f"{where}.email: required")
    response = value.get("response")
    if response is not None:
        known = read_response(response) if isinstance(response, str) else None
        if known is None:
            raise InvalidPayload(
                f"{where}.response: accepted, declined, tentative, needs-action or delegated"
            )
        response = known
    return HookAttendee(_email(value["email"], f"{where}.email"), response)


# --------------------------------------------------------------------------- to occurrences


def hook_source_name(source_id: int) -> str:
    """The ``Occurrence.source`` of meetings pushed through a webhook source."""
    return f"hook:{source_id}"


def event_occurrence(
    event: HookEvent, *, source: str, user_emails: Sequence[str] = (), zone: str = "UTC"
) -> Occurrence:
    """Our own type from one pushed event, by the attendance rule every calendar
    follows (:func:`bot.calendars.attendance.attendance`). Pure."""
    who = attendance(
        (Invitee(a.email, a.response or Response.NEEDS_ACTION) for a in event.attendees),
        organizer=event.organizer,
        own=user_emails,
    )
    return Occurrence(
        source=source,
        uid=event.uid,
        recurrence_id=event.recurrence_id,
        title=event.title,
        start=_as_utc(event.start, zone),
        end=_as_utc(event.end, zone),
        all_day=event.all_day,
        status=event.status,
        attendees=who.attendees,
        people=who.people,
        organizer=event.organizer,
        self_response=who.self_response,
        transparent=event.transparent,
        conference_url=event.conference_url,
        external=who.external,
        recurring=event.recurrence_id is not None,
        category=event.category,
        ical_uid=event.uid,
    )


def _as_utc(value: datetime | date, zone: str) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), ZoneInfo(zone)).astimezone(UTC)

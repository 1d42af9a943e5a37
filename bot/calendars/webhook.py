"""The signed calendar webhook: ``POST /hooks/calendar?source=<id>``.

Teams that automate (Zapier, Make, n8n, Power Automate, their own scripts) push events
instead of publishing a feed. An admin creates a **webhook source** for the workspace
(``heedful calendar hook create NAME``), which gets an id and a signing secret
(``whsec_`` + base64 of 32 random bytes, shown once, kept encrypted at rest). Requests
are signed as `Standard Webhooks <https://www.standardwebhooks.com/>`_ specify: headers
``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``). Any Standard Webhooks
library signs them, e.g. in Python::

    from standardwebhooks import Webhook
    headers = {
        "webhook-id": "msg_0001",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_0001", now, body),
    }

What happens to a request:

1. The signature is checked with the ``standardwebhooks`` library (constant-time
   comparison; a timestamp more than 5 minutes away from the server's wall clock is
   refused). A missing, unknown or deleted source, a bad signature, a stale timestamp
   or one that is not a single whole number of seconds → **401** with one line of
   reason; nothing is stored.
2. The body is validated in full, up to the rows it will become: each event goes
   through the mapping that stores it (``bot.meetings.occurrence_row``), so a push
   answered 2xx is never dropped later. Anything wrong → **400** with one line naming
   the field (``events[2].start: …``); nothing is stored. That includes text with a
   NUL character or a lone surrogate (``"\\ud800"``), JSON that is not an object or is
   nested too deeply, and fields of the wrong type. At most 500 events and 500
   cancellations per request; the whole body at most 1 MiB (413 above that). A refusal
   is logged as one line with its status, never with the body.
3. The request is stored in the inbox under ``<source id>:<webhook-id>`` (encrypted at
   rest when a key is configured) and answered **202**. The same ``webhook-id`` again
   is a no-op answered **200** (``{"ok": true, "duplicate": true}``): retries are safe.
4. A worker then finds the user (by Slack id, or by e-mail: their Slack e-mail or one
   they added) and applies the events. A user Heedful does not know (never seen in
   this workspace, e.g. has not opened Heedful's App Home) is skipped and logged at
   WARNING with the webhook id; that push is not retried.

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

  - ``uid`` (required): the event's id in your system, 1–160 characters.
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

import base64
import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bot.calendars.occurrence import Category, Occurrence, Response, Status, conference_link
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import read_only
from bot.storage.models import OccurrenceRow, SlackUser, WebhookSource

logger = logging.getLogger(__name__)

WEBHOOK = WebhookSource.__table__  # type: ignore[attr-defined]
OCC = OccurrenceRow.__table__  # type: ignore[attr-defined]
USERS = SlackUser.__table__  # type: ignore[attr-defined]

HOOK_SOURCE = "calendar-hook"  # the inbox source name
MAX_EVENTS = 500
MAX_CANCELS = 500
MAX_UID = 160  # keeps "hook:<id>|<uid>|<recurrence id>" within the key column
# The columns these fields are stored in (bot.meetings.occurrence_row) set their limits.
MAX_RECURRENCE_ID = int(OCC.c.recurrence_id.type.length)
MAX_TITLE = int(OCC.c.title.type.length)
MAX_EMAIL = int(OCC.c.organizer.type.length)
MAX_URL = int(OCC.c.conference_url.type.length)
MAX_WEBHOOK_ID = 200
SECRET_PREFIX = "whsec_"

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
# Lower-cased, with "-" and "_" removed: iCalendar, Google and Microsoft spellings.
_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "organizer": Response.ACCEPTED,
    "declined": Response.DECLINED,
    "tentative": Response.TENTATIVE,
    "tentativelyaccepted": Response.TENTATIVE,
    "needsaction": Response.NEEDS_ACTION,
    "notresponded": Response.NEEDS_ACTION,
    "none": Response.NEEDS_ACTION,
    "delegated": Response.DELEGATED,
}
_CATEGORIES = {"focus": Category.FOCUS, "out-of-office": Category.OUT_OF_OFFICE}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class HookRejected(Exception):
    """A request the webhook refuses: ``status`` 400/401 and a one-line ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


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
        norm = ""
        if isinstance(response, str):
            norm = response.lower().replace("-", "").replace("_", "")
        if norm not in _RESPONSES:
            raise InvalidPayload(
                f"{where}.response: accepted, declined, tentative, needs-action or delegated"
            )
        response = _RESPONSES[norm]
    return HookAttendee(_email(value["email"], f"{where}.email"), response)


# --------------------------------------------------------------------------- to occurrences


def hook_source_name(source_id: int) -> str:
    """The ``Occurrence.source`` of meetings pushed through a webhook source."""
    return f"hook:{source_id}"


def event_occurrence(
    event: HookEvent, *, source: str, user_emails: Sequence[str] = (), zone: str = "UTC"
) -> Occurrence:
    """Our own type from one pushed event, by the rules ``bot.calendars.ics`` applies
    to a feed's attendees. Pure."""
    mine = {e.lower() for e in user_emails}
    people = {a.email for a in event.attendees if a.email not in mine}
    own = [a.response or Response.NEEDS_ACTION for a in event.attendees if a.email in mine]
    organizer_is_user = event.organizer is not None and event.organizer in mine
    if event.organizer and not organizer_is_user:
        people.add(event.organizer)
    self_response: Response | None = None
    if own:
        answered = [r for r in own if r is not Response.NEEDS_ACTION]
        self_response = (answered or own)[0]
    elif organizer_is_user:
        self_response = Response.ACCEPTED
    domains = {e.rpartition("@")[2] for e in mine}
    external = bool(domains) and any(p.rpartition("@")[2] not in domains for p in people)
    return Occurrence(
        source=source,
        uid=event.uid,
        recurrence_id=event.recurrence_id,
        title=event.title,
        start=_as_utc(event.start, zone),
        end=_as_utc(event.end, zone),
        all_day=event.all_day,
        status=event.status,
        attendees=len(people) + (1 if own or organizer_is_user else 0),
        people=tuple(sorted(people)),
        organizer=event.organizer,
        self_response=self_response,
        transparent=event.transparent,
        conference_url=event.conference_url,
        external=external,
        recurring=event.recurrence_id is not None,
        category=event.category,
    )


def _as_utc(value: datetime | date, zone: str) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), ZoneInfo(zone)).astimezone(UTC)


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class WebhookSourceInfo:
    id: int
    name: str
    created_at: datetime | None


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def create_webhook_source(services: Services, *, team_id: str, name: str) -> tuple[int, str]:
    """Create a push source for a workspace. Returns its id and its secret (shown once)."""
    name = name.strip()
    if not name:
        raise ValueError("a webhook source needs a name")
    secret = new_secret()
    with services.engine.begin() as conn:
        source_id = conn.execute(
            sa.insert(WEBHOOK)
            .values(
                team_id=team_id,
                name=name[:255],
                secret=services.cipher.encrypt(secret),
                created_at=services.clock.now(),
            )
            .returning(WEBHOOK.c.id)
        ).scalar_one()
    logger.info("webhook source %s created for team %s", source_id, team_id)
    return int(source_id), secret


def list_webhook_sources(services: Services, *, team_id: str) -> list[WebhookSourceInfo]:
    """A workspace's push sources (never their secrets)."""
    w = WEBHOOK.c
    with read_only(services.engine) as conn:
        rows = conn.execute(
            sa.select(w.id, w.name, w.created_at).where(w.team_id == team_id).order_by(w.id)
        ).all()
    return [WebhookSourceInfo(r.id, r.name, r.created_at) for r in rows]


def delete_webhook_source(services: Services, *, team_id: str, source_id: int) -> bool:
    """Stop accepting pushes from a source and forget the meetings it brought."""
    from bot.meetings import remove_source

    w, o = WEBHOOK.c, OCC.c
    source = hook_source_name(source_id)
    with services.engine.begin() as conn:
        gone = conn.execute(sa.delete(WEBHOOK).where(w.id == source_id, w.team_id == team_id))
        users = conn.execute(
            sa.select(o.user_id).where(o.team_id == team_id, o.source == source).distinct()
        ).scalars()
        affected = list(users)
    if not gone.rowcount:
        return False
    for user_id in affected:
        remove_source(services, team_id=team_id, user_id=user_id, source=source)
    logger.info("webhook source %s deleted (%d users affected)", source_id, len(affected))
    return True


def _load_source(services: Services, source_id: int) -> tuple[str, str] | None:
    """(team id, encrypted secret) of a source, or None."""
    w = WEBHOOK.c
    with read_only(services.engine) as conn:
        row = conn.execute(sa.select(w.team_id, w.secret).where(w.id == source_id)).first()
    return None if row is None else (row.team_id, row.secret)


# --------------------------------------------------------------------------- receiving


@dataclass(frozen=True)
class Accepted:
    source_id: int
    webhook_id: str
    duplicate: bool


def receive(
    services: Services,
    *,
    source: Sequence[str] | None,
    headers: Mapping[str, str],
    body: bytes,
) -> Accepted:
    """Verify, validate and store one request (steps 1–3 of the module docstring).

    ``source`` is the request's ``source`` query values. Raises HookRejected.
    """
    if not source or len(source) != 1 or not source[0].isdigit() or len(source[0]) > 12:
        raise HookRejected(400, "name the webhook source: /hooks/calendar?source=<id>")
    source_id = int(source[0])
    found = _load_source(services, source_id)
    if found is None:
        raise HookRejected(401, "unknown webhook source")
    team_id, secret = found
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HookRejected(400, "the body is not UTF-8") from None
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("webhook-timestamp")
    if timestamp is not None and not _UNIX_SECONDS.fullmatch(timestamp):
        # The library would read "1.7e9" or "12.5" as a time and sign its floor.
        raise HookRejected(401, "webhook-timestamp: one value, whole Unix seconds")
    try:
        Webhook(services.cipher.decrypt(secret)).verify(text, dict(headers), json_parse=False)
    except WebhookVerificationError as exc:
        raise HookRejected(401, _signature_reason(str(exc))) from None
    except ValueError:  # a signature header that is not "v1,<base64>"
        raise HookRejected(401, "malformed webhook-signature header") from None
    webhook_id = lowered["webhook-id"]
    if len(webhook_id) > MAX_WEBHOOK_ID or not webhook_id.isprintable():
        raise HookRejected(400, f"webhook-id: at most {MAX_WEBHOOK_ID} printable characters")
    try:
        data = json.loads(text)
    except ValueError:
        raise HookRejected(400, "the body is not JSON") from None
    except RecursionError:
        raise HookRejected(400, "the body is nested too deeply") from None
    try:
        _storable_rows(parse_payload(data), hook_source_name(source_id), services.clock.now())
    except InvalidPayload as exc:
        raise HookRejected(400, str(exc)) from None
    envelope = json.dumps({"source_id": source_id, "webhook_id": webhook_id, "payload": data})
    new = repo.store_inbox(
        services.engine,
        source=HOOK_SOURCE,
        external_id=f"{source_id}:{webhook_id}",
        body=services.cipher.encrypt(envelope),
        now=services.clock.now(),
        team_id=team_id,
        user_id=(data.get("user") or {}).get("slack_id"),
        kind="push",
    )
    if new:
        logger.debug("calendar hook %s (source %s) stored", webhook_id, source_id)
    else:
        logger.info("calendar hook %s (source %s) is a repeat", webhook_id, source_id)
    return Accepted(source_id=source_id, webhook_id=webhook_id, duplicate=not new)


def _storable_rows(payload: HookPayload, source: str, now: datetime) -> None:
    """Run every event through the mapping that will store it (as if for a user with
    no address), so a push that would fail when applied is refused now, not dropped
    after its 2xx."""
    from bot.meetings import Unstorable, occurrence_row

    for i, event in enumerate(payload.events):
        try:
            occurrence_row("", "", event_occurrence(event, source=source), now)
        except Unstorable as exc:
            raise InvalidPayload(f"events[{i}]: cannot be stored: {exc}") from None


def _signature_reason(library_message: str) -> str:
    lowered = library_message.lower()
    if "missing" in lowered:
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    if "too old" in lowered:
        return "webhook-timestamp is more than 5 minutes old"
    if "too new" in lowered:
        return "webhook-timestamp is more than 5 minutes in the future"
    if "no matching" in lowered:
        return "no valid signature for this source"
    return "invalid signature headers"


# --------------------------------------------------------------------------- processing


def hook_dispatcher(services: Services) -> Callable[[Any], None]:
    """The inbox dispatcher for ``calendar-hook`` rows."""

    def dispatch(row: Any) -> None:
        process_stored(services, row)

    return dispatch


def process_stored(services: Services, row: Any) -> None:
    """Apply one stored push (step 4). Raises only for what a retry may fix."""
    from bot.meetings import apply_occurrences, occurrence_from_row

    envelope = json.loads(services.cipher.decrypt(row.body))
    source_id = int(envelope["source_id"])
    webhook_id = str(envelope["webhook_id"])
    team_id = row.team_id
    if _load_source(services, source_id) is None:
        logger.warning(
            "calendar hook %s: webhook source %s was deleted; skipped", webhook_id, source_id
        )
        return
    try:
        payload = parse_payload(envelope["payload"])
    except InvalidPayload as exc:  # accepted under older rules: a retry cannot help
        logger.warning("calendar hook %s (source %s): %s; skipped", webhook_id, source_id, exc)
        return
    user = _find_user(services, team_id=team_id, ref=payload.user)
    if user is None:
        logger.warning(
            "calendar hook %s (source %s): no user in team %s matches the %s given; skipped",
            webhook_id,
            source_id,
            team_id,
            "slack_id" if payload.user.slack_id else "email",
        )
        return
    user_id, emails, zone = user
    source = hook_source_name(source_id)
    occurrences = [
        event_occurrence(e, source=source, user_emails=emails, zone=zone) for e in payload.events
    ]
    if payload.cancel:
        occurrences += [
            replace(occurrence_from_row(r), status=Status.CANCELLED)
            for r in _stored_instances(
                services, team_id=team_id, user_id=user_id, source=source, refs=payload.cancel
            )
        ]
    result = apply_occurrences(
        services, team_id=team_id, user_id=user_id, source=source, occurrences=occurrences
    )
    logger.info(
        "calendar hook %s (source %s) for %s: %d added, %d changed, %d skipped",
        webhook_id,
        source_id,
        user_id,
        result.added,
        result.updated,
        result.skipped,
    )


def _find_user(
    services: Services, *, team_id: str, ref: UserRef
) -> tuple[str, list[str], str] | None:
    """(Slack id, e-mail addresses, IANA zone) of the user a push names, or None."""
    from bot.prefs import Prefs

    u = USERS.c
    query = sa.select(u.slack_user_id, u.email, u.tz, u.prefs).where(u.team_id == team_id)
    with read_only(services.engine) as conn:
        if ref.slack_id:
            rows = conn.execute(query.where(u.slack_user_id == ref.slack_id)).all()
        else:
            rows = conn.execute(query.where(sa.func.lower(u.email) == ref.email)).all()
            if not rows:  # an address the user added in their preferences
                rows = [
                    r
                    for r in conn.execute(query)
                    if ref.email in {e.lower() for e in Prefs.from_json(r.prefs).emails}
                ]
    if len(rows) != 1:
        if len(rows) > 1:
            logger.warning("calendar hook: %d users of team %s share an e-mail", len(rows), team_id)
        return None
    row = rows[0]
    emails = [e.lower() for e in (row.email, *Prefs.from_json(row.prefs).emails) if e]
    return row.slack_user_id, list(dict.fromkeys(emails)), row.tz or "UTC"


def _stored_instances(
    services: Services, *, team_id: str, user_id: str, source: str, refs: Sequence[CancelRef]
) -> list[Any]:
    from bot.meetings import stored_uid

    o = OCC.c
    whole = sorted({stored_uid(source, r.uid) for r in refs if r.recurrence_id is None})
    single = [
        (stored_uid(source, r.uid), r.recurrence_id) for r in refs if r.recurrence_id is not None
    ]
    matches = []
    if whole:
        matches.append(o.uid.in_(whole))
    matches += [sa.and_(o.uid == uid, o.recurrence_id == rid) for uid, rid in single]
    with read_only(services.engine) as conn:
        return list(
            conn.execute(
                sa.select(OCC).where(
                    o.team_id == team_id,
                    o.user_id == user_id,
                    o.source == source,
                    sa.or_(*matches),
                )
            )
        )

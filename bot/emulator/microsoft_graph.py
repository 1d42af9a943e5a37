"""The fake Graph's mailboxes: events as Graph v1.0 JSON, ``calendarView/delta`` and its tokens.

Pure state without HTTP; :class:`bot.emulator.microsoft.FakeMicrosoft` holds the lock around
every call. What the rules follow:

* "event: delta" (https://learn.microsoft.com/graph/api/event-delta) and "Get incremental
  changes to events in a calendar view" (https://learn.microsoft.com/graph/delta-query-events):
  the first call needs ``startDateTime`` and ``endDateTime`` (ISO 8601; without an offset they
  are UTC); the state tokens encode them, so later calls send only ``$skiptoken`` or
  ``$deltatoken``. ``Prefer: odata.maxpagesize=N`` sets the page size, 10 by default for a
  calendar view delta; ``Prefer: outlook.timezone="…"`` (Windows or IANA name) the zone of
  ``start``/``end``, UTC by default. Every page but the last carries ``@odata.nextLink``; the
  last carries ``@odata.deltaLink`` (never both).
* The calendar view holds *instances*: single events, occurrences and exceptions of a series,
  never the ``seriesMaster``. An event is in the window when it starts before its end and ends
  after its start.
* A delta round after a ``deltaLink`` returns the events changed since, still inside the
  window, and ``{"id", "@removed": {"reason": "deleted"}}`` for events the previous round
  reported that were deleted or moved out of the window since. An event cancelled by its
  organizer stays with ``isCancelled: true`` until it is deleted, as Outlook keeps it in an
  attendee's calendar.
* "Use delta query" (https://learn.microsoft.com/graph/delta-query-overview): a state token
  the service no longer has answers **410 Gone**; here after :meth:`Mailbox.expire_tokens`,
  with code ``SyncStateNotFound``. Tokens are reusable until then (a retried page answers the
  same way).
"""

from __future__ import annotations

import base64
import copy
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bot.calendars import zones
from bot.emulator.microsoft_identity import Account

DEFAULT_PAGE_SIZE = 10
SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
RESPONSES = (
    "none",
    "organizer",
    "tentativelyAccepted",
    "accepted",
    "declined",
    "notResponded",
)
ATTENDEE_TYPES = ("required", "optional", "resource")


class GraphError(Exception):
    """A Graph error answer: status, ``error.code`` and ``error.message``."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def graph_time(moment: datetime) -> str:
    """``2026-12-07T09:00:00Z``-style with Graph's seven fractional digits where it uses them."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def parse_time(value: str, name: str) -> datetime:
    """An ISO 8601 query or body time; without an offset it is UTC. 400 otherwise."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # Graph writes 7 fractional digits; Python reads at most 6
        digits = "".join(ch for ch in rest if ch.isdigit())
        rest = digits[:6] + rest[len(digits) :]
        text = f"{head}.{rest}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise GraphError(
            400, "ErrorInvalidParameter", f"The value '{value}' of {name} is not a date."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def zone_for(name: str) -> tzinfo:
    """A ``Prefer: outlook.timezone`` value (Windows or IANA); 400 when unknown."""
    if name.upper() == "UTC":
        return UTC
    zone = zones.resolve(name)
    if zone is None:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified: {name}",
        )
    return zone


def new_event_id() -> str:
    """An opaque id shaped like Exchange's (``AAMkA…=``): base64, so it carries ``-``, ``_``
    and ``=`` that the app must keep intact."""
    return "AAMkA" + base64.urlsafe_b64encode(secrets.token_bytes(105)).decode("ascii")[:-1] + "="


def _ical_uid() -> str:
    return "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(28).upper()


@dataclass
class DeltaState:
    """What a ``$deltatoken`` stands for: the window, the change number it was issued at, and
    the ids the client was told are in the window."""

    start: datetime
    end: datetime
    seq: int
    known: frozenset[str]


@dataclass
class PageState:
    """What a ``$skiptoken`` stands for: the rest of a round, and where the round ends."""

    entries: list[tuple[str, bool]]  # (event id, removed)
    after: DeltaState


@dataclass
class Mailbox:
    """One account's default calendar.

    ``events`` holds every instance and series master by id, stored as Graph shows them plus
    private keys: ``_start``/``_end`` (aware UTC), ``_deleted``.
    """

    account: Account
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    seq: int = 0
    delta_tokens: dict[str, DeltaState] = field(default_factory=dict)
    skip_tokens: dict[str, PageState] = field(default_factory=dict)

    @property
    def zone(self) -> tzinfo:
        return zones.resolve(self.account.time_zone) or UTC

    # changes -------------------------------------------------------------------------------

    def touch(self, event: dict[str, Any], now: datetime) -> None:
        """Record a change: a new change number, ``lastModifiedDateTime``, etag, changeKey."""
        self.seq += 1
        stamp = base64.b64encode(f"{self.seq:08d}{secrets.token_hex(4)}".encode()).decode()
        event["lastModifiedDateTime"] = graph_time(now)
        event["changeKey"] = stamp
        event["@odata.etag"] = f'W/"{stamp}"'
        self.events[event["id"]] = event
        self.seqs[event["id"]] = self.seq

    def expire_tokens(self) -> None:
        """Every state token issued so far answers 410 from now on."""
        self.delta_tokens.clear()
        self.skip_tokens.clear()

    def stored(self, event_id: str) -> dict[str, Any]:
        event = self.events.get(event_id)
        if event is None or event.get("_deleted"):
            raise KeyError(f"no event {event_id} in {self.account.email}'s calendar")
        return event

    def instances(self, master_id: str) -> list[dict[str, Any]]:
        return [
            event
            for event in self.events.values()
            if event.get("seriesMasterId") == master_id and not event.get("_deleted")
        ]

    # reading -------------------------------------------------------------------------------

    def render(self, event: dict[str, Any], zone_name: str = "UTC") -> dict[str, Any]:
        """The event as Graph answers it, ``start``/``end`` written in ``zone_name``."""
        shown = {key: copy.deepcopy(value) for key, value in event.items() if key[0] != "_"}
        if event.get("isAllDay"):
            # All-day events float: midnight to midnight in whatever zone is asked for.
            for key in ("start", "end"):
                day = event[f"_{key}"].astimezone(self.zone).date()
                shown[key] = {
                    "dateTime": f"{day.isoformat()}T00:00:00.0000000",
                    "timeZone": zone_name,
                }
            return shown
        zone = zone_for(zone_name)
        for key in ("start", "end"):
            local = event[f"_{key}"].astimezone(zone)
            shown[key] = {
                "dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0",
                "timeZone": zone_name,
            }
        return shown

    def _in_window(self, event: dict[str, Any], start: datetime, end: datetime) -> bool:
        if event.get("_deleted") or event.get("type") == "seriesMaster":
            return False
        # An all-day event is stored from midnight to midnight in the mailbox's zone.
        return event["_start"] < end and event["_end"] > start

    def delta(
        self,
        query: dict[str, str],
        *,
        page_size: int,
        zone_name: str,
        graph_url: str,
    ) -> dict[str, Any]:
        """One page of ``GET /me/calendarView/delta``."""
        zone_for(zone_name)  # 400 before any token is spent
        if "$skiptoken" in query:
            page = self.skip_tokens.get(query["$skiptoken"])
            if page is None:
                raise _sync_state_not_found()
            return self._page(page, page_size, zone_name, graph_url)
        if "$deltatoken" in query:
            state = self.delta_tokens.get(query["$deltatoken"])
            if state is None:
                raise _sync_state_not_found()
            return self._page(self._round(state), page_size, zone_name, graph_url)
        missing = [name for name in ("startDateTime", "endDateTime") if not query.get(name)]
        if missing:
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters "
                f"StartDateTime and EndDateTime. Missing: {', '.join(missing)}.",
            )
        start = parse_time(query["startDateTime"], "startDateTime")
        end = parse_time(query["endDateTime"], "endDateTime")
        if end <= start:
            raise GraphError(
                400, "ErrorInvalidParameter", "endDateTime must be later than startDateTime."
            )
        first = DeltaState(start=start, end=end, seq=-1, known=frozenset())
        return self._page(self._round(first), page_size, zone_name, graph_url)

    def _round(self, state: DeltaState) -> PageState:
        """Everything a round starting from ``state`` reports, in order."""
        inside = {
            event_id
            for event_id, event in self.events.items()
            if self._in_window(event, state.start, state.end)
        }
        if state.seq < 0:
            entries = [(event_id, False) for event_id in self._by_start(inside)]
        else:
            changed = {event_id for event_id, seq in self.seqs.items() if seq > state.seq}
            entries = [(event_id, False) for event_id in self._by_start(changed & inside)]
            entries += [(event_id, True) for event_id in sorted((changed & state.known) - inside)]
        after = DeltaState(state.start, state.end, self.seq, frozenset(inside))
        return PageState(entries=entries, after=after)

    def _by_start(self, ids: set[str]) -> list[str]:
        return sorted(ids, key=lambda event_id: (self.events[event_id]["_start"], event_id))

    def _page(
        self, page: PageState, page_size: int, zone_name: str, graph_url: str
    ) -> dict[str, Any]:
        taken, rest = page.entries[:page_size], page.entries[page_size:]
        value = []
        for event_id, removed in taken:
            event = self.events[event_id]
            if removed or event.get("_deleted"):
                value.append(
                    {
                        "@odata.type": "#microsoft.graph.event",
                        "id": event_id,
                        "@removed": {"reason": "deleted"},
                    }
                )
            else:
                value.append(self.render(event, zone_name))
        answer: dict[str, Any] = {
            "@odata.context": f"{graph_url}/$metadata#Collection(event)",
            "value": value,
        }
        link = f"{graph_url}/me/calendarView/delta"
        if rest:
            token = secrets.token_urlsafe(32)
            self.skip_tokens[token] = PageState(entries=rest, after=page.after)
            answer["@odata.nextLink"] = f"{link}?$skiptoken={quote(token)}"
        else:
            token = secrets.token_urlsafe(32)
            self.delta_tokens[token] = page.after
            answer["@odata.deltaLink"] = f"{link}?$deltatoken={quote(token)}"
        return answer


def _sync_state_not_found() -> GraphError:
    return GraphError(
        410,
        "SyncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must "
        "be synchronized again.",
    )


# building events ---------------------------------------------------------------------------


def _moment(value: datetime | date, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("event times must be aware datetimes (or dates for all-day)")
        return value.astimezone(UTC)
    return datetime.combine(value, time(), zone).astimezone(UTC)


def _person(email: str, names: dict[str, str]) -> dict[str, Any]:
    return {
        "emailAddress": {"name": names.get(email, email.split("@")[0].title()), "address": email}
    }


def build_event(
    mailbox: Mailbox,
    names: dict[str, str],
    now: datetime,
    *,
    subject: str,
    start: datetime | date,
    end: datetime | date,
    attendees: Any = (),
    organizer: str | None = None,
    is_all_day: bool = False,
    show_as: str = "busy",
    response: str | None = None,
    is_cancelled: bool = False,
    join_url: str | None = None,
    ical_uid: str | None = None,
    body_preview: str = "",
    location: str = "",
    event_type: str = "singleInstance",
) -> dict[str, Any]:
    """A new event in ``mailbox`` (not stored yet), shaped like Graph's ``event`` resource."""
    if show_as not in SHOW_AS:
        raise ValueError(f"showAs must be one of {SHOW_AS}")
    own = mailbox.account.email
    organizer = organizer or own
    is_organizer = organizer == own
    response = response or ("organizer" if is_organizer else "notResponded")
    if response not in RESPONSES:
        raise ValueError(f"response must be one of {RESPONSES}")
    event_id = new_event_id()
    event: dict[str, Any] = {
        "@odata.etag": "",
        "id": event_id,
        "createdDateTime": graph_time(now),
        "lastModifiedDateTime": graph_time(now),
        "changeKey": "",
        "categories": [],
        "originalStartTimeZone": mailbox.account.time_zone,
        "originalEndTimeZone": mailbox.account.time_zone,
        "iCalUId": ical_uid or _ical_uid(),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": subject,
        "bodyPreview": body_preview,
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": is_all_day,
        "isCancelled": is_cancelled,
        "isOrganizer": is_organizer,
        "responseRequested": True,
        "seriesMasterId": None,
        "showAs": show_as,
        "type": event_type,
        "webLink": (
            "https://outlook.office365.com/owa/?itemid="
            f"{quote(event_id, safe='')}&exvsurl=1&path=/calendar/item"
        ),
        "onlineMeetingUrl": None,
        "isOnlineMeeting": join_url is not None,
        "onlineMeetingProvider": "teamsForBusiness" if join_url else "unknown",
        "onlineMeeting": {"joinUrl": join_url} if join_url else None,
        "responseStatus": {"response": response, "time": graph_time(now)},
        "location": {"displayName": location, "locationType": "default"},
        "attendees": [],
        "organizer": _person(organizer, names),
        "_start": _moment(start, mailbox.zone),
        "_end": _moment(end, mailbox.zone),
    }
    event["attendees"] = _attendees(attendees, own, response, names, now)
    if event["_end"] <= event["_start"]:
        raise ValueError("an event must end after it starts")
    return event


def _attendees(
    given: Any, own: str, response: str, names: dict[str, str], now: datetime
) -> list[dict[str, Any]]:
    """Attendees from bare emails or ``{"email", "type", "response"}`` dicts; the mailbox
    owner's entry carries the owner's own response."""
    shown = []
    for item in given:
        spec = {"email": item} if isinstance(item, str) else dict(item)
        kind = spec.get("type", "required")
        if kind not in ATTENDEE_TYPES:
            raise ValueError(f"attendee type must be one of {ATTENDEE_TYPES}")
        answer = response if spec["email"] == own else spec.get("response", "none")
        shown.append(
            {
                "type": kind,
                "status": {
                    "response": answer,
                    "time": graph_time(now) if answer != "none" else "0001-01-01T00:00:00Z",
                },
                **_person(spec["email"], names),
            }
        )
    return shown


def apply_fields(
    mailbox: Mailbox, event: dict[str, Any], names: dict[str, str], now: datetime, fields: dict
) -> None:
    """Change an event with ``add_event``'s keyword names."""
    simple = {
        "subject": "subject",
        "show_as": "showAs",
        "is_all_day": "isAllDay",
        "is_cancelled": "isCancelled",
        "body_preview": "bodyPreview",
        "ical_uid": "iCalUId",
    }
    for name, value in fields.items():
        if name in simple:
            if name == "show_as" and value not in SHOW_AS:
                raise ValueError(f"showAs must be one of {SHOW_AS}")
            event[simple[name]] = value
        elif name in ("start", "end"):
            event[f"_{name}"] = _moment(value, mailbox.zone)
        elif name == "join_url":
            event["onlineMeeting"] = {"joinUrl": value} if value else None
            event["isOnlineMeeting"] = value is not None
        elif name == "location":
            event["location"] = {"displayName": value, "locationType": "default"}
        elif name == "attendees":
            own = event["responseStatus"]["response"]
            event["attendees"] = _attendees(value, mailbox.account.email, own, names, now)
        elif name == "response":
            set_response(mailbox, event, value, now)
        else:
            raise TypeError(f"update_event() got an unexpected field {name!r}")
    if event["_end"] <= event["_start"]:
        raise ValueError("an event must end after it starts")


def set_response(mailbox: Mailbox, event: dict[str, Any], response: str, now: datetime) -> None:
    """The mailbox owner answers the invitation."""
    if response not in RESPONSES:
        raise ValueError(f"response must be one of {RESPONSES}")
    event["responseStatus"] = {"response": response, "time": graph_time(now)}
    for attendee in event["attendees"]:
        if attendee["emailAddress"]["address"] == mailbox.account.email:
            attendee["status"] = {"response": response, "time": graph_time(now)}


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def weekly_series(
    master: dict[str, Any],
    count: int,
    zone: tzinfo,
    *,
    interval: int = 1,
    days: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """``count`` occurrences of ``master`` (which becomes the ``seriesMaster``), each with its
    own id, ``seriesMasterId``, ``originalStart`` and ``iCalUId``.

    Graph's ``weekly`` recurrence pattern ("recurrencePattern resource",
    https://learn.microsoft.com/graph/api/resources/recurrencepattern): every ``interval``
    weeks on ``days`` (``daysOfWeek``; default the master's own day), weeks counted from
    ``firstDayOfWeek`` (Sunday); the first occurrence is the first such day on or after the
    start, and a ``numbered`` range counts occurrences, not weeks.
    """
    master["type"] = "seriesMaster"
    local = master["_start"].astimezone(zone)
    chosen = [d.lower() for d in days] if days else [local.strftime("%A").lower()]
    unknown = set(chosen) - set(WEEKDAYS)
    if unknown or interval < 1 or count < 1:
        raise ValueError(f"a weekly series needs days among {WEEKDAYS}, interval and count >= 1")
    master["recurrence"] = {
        "pattern": {
            "type": "weekly",
            "interval": interval,
            "daysOfWeek": sorted(set(chosen), key=WEEKDAYS.index),
            "firstDayOfWeek": "sunday",
        },
        "range": {
            "type": "numbered",
            "startDate": local.date().isoformat(),
            "numberOfOccurrences": count,
            "recurrenceTimeZone": getattr(zone, "key", "UTC"),
        },
    }
    length = master["_end"] - master["_start"]
    sunday = local.date() - timedelta(days=(local.weekday() + 1) % 7)
    offsets = sorted((WEEKDAYS.index(d) + 1) % 7 for d in set(chosen))  # from Sunday
    dates: list[date] = []
    week = 0
    while len(dates) < count:
        first = sunday + timedelta(weeks=week * interval)
        dates += [d for d in (first + timedelta(days=o) for o in offsets) if d >= local.date()]
        week += 1
    occurrences = []
    for day in dates[:count]:
        # Weekly in the organizer's zone, so a DST change keeps the local time.
        start = datetime.combine(day, local.timetz())
        start = start.replace(tzinfo=zone) if isinstance(zone, ZoneInfo) else start
        occurrence = copy.deepcopy(master)
        occurrence.pop("recurrence")
        occurrence_id = new_event_id()
        occurrence.update(
            {
                "id": occurrence_id,
                "type": "occurrence",
                "seriesMasterId": master["id"],
                "iCalUId": f"{master['iCalUId']}{start.strftime('%Y%m%d')}",
                "originalStart": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "webLink": master["webLink"].replace(
                    quote(master["id"], safe=""), quote(occurrence_id, safe="")
                ),
                "_start": start.astimezone(UTC),
                "_end": start.astimezone(UTC) + length,
            }
        )
        occurrences.append(occurrence)
    return occurrences


def request_id() -> str:
    return str(uuid.uuid4())

"""The fake Google's calendars: events as Calendar API v3 JSON, listing, sync tokens.

Pure state without HTTP; :class:`bot.emulator.google.FakeGoogle` holds the lock around every
call. Events are stored the way the API returns them (``start``/``end`` as ``dateTime`` with
an offset plus ``timeZone``, or ``date`` for all-day). A recurring event is one stored series
(``recurrence: ["RRULE:..."]``) plus its exceptions, stored as events of their own with
``recurringEventId`` and ``originalStartTime``, as Google models them; ``singleEvents=true``
expands the series with ``dateutil.rrule`` (no hand-written RRULE logic).

What the rules follow (Calendar API v3 reference, events.list, and the guide "Synchronize
resources efficiently"):

* ``nextSyncToken`` is only on the last page; with ``syncToken``, ``timeMin``, ``timeMax``,
  ``q``, ``orderBy``, ``updatedMin``, ``iCalUID``, ``privateExtendedProperty`` and
  ``sharedExtendedProperty`` are refused (400), and so is ``showDeleted=false``: deleted
  entries are always part of an incremental result.
* An incremental sync returns every event changed since the token, cancelled and deleted ones
  with ``status: "cancelled"`` and only their identity (``id``, plus ``recurringEventId`` and
  ``originalStartTime`` for an instance). With ``singleEvents=true`` a changed series comes
  back as its instances; a deleted series comes back as the series id alone, cancelled.
* A sync token the fake did not issue, or one issued before :meth:`Calendar.expire_sync_tokens`,
  answers 410 ``fullSyncRequired``.
* ``timeMin`` bounds an event's end and ``timeMax`` its start, both exclusive, both RFC 3339
  with an offset. An unbounded series with ``singleEvents=true`` and no ``timeMax`` is expanded
  up to :data:`EXPANSION_HORIZON` after now.
"""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

DEFAULT_PAGE_SIZE = 250
MAX_PAGE_SIZE = 2500
EXPANSION_HORIZON = timedelta(days=366)
EVENT_TYPES = ("default", "focusTime", "outOfOffice", "workingLocation", "birthday")
REFUSED_WITH_SYNC_TOKEN = (
    "timeMin",
    "timeMax",
    "q",
    "orderBy",
    "updatedMin",
    "iCalUID",
    "privateExtendedProperty",
    "sharedExtendedProperty",
)
_ID_ALPHABET = "abcdefghijklmnopqrstuv0123456789"  # base32hex, what Google's ids use


class CalendarApiError(Exception):
    """An error answer of the Calendar API: status, reason and message (Google's shape)."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: str,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def bad_request(message: str) -> CalendarApiError:
    return CalendarApiError(400, "badRequest", message)


def new_event_id() -> str:
    """A 26-character base32hex id, like the ids Google gives events it creates."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


def rfc3339(moment: datetime) -> str:
    """``2026-12-03T13:00:00.000Z``: how the API writes ``updated`` and ``created``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_rfc3339(value: str, name: str) -> datetime:
    """A query timestamp; Google refuses one without an offset (400)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"Bad Request: {name} is not RFC 3339") from exc
    if moment.tzinfo is None:
        raise bad_request(f"Bad Request: {name} needs a time zone offset")
    return moment


@dataclass
class Calendar:
    """One account's primary calendar.

    Attributes:
        email: the account, also the calendar id.
        time_zone: the calendar's IANA zone (all-day events and ``timeZone`` of the list).
        events: stored events (series, single events and exceptions) by id.
        seqs: the change number at which each event last changed.
    """

    email: str
    time_zone: str = "UTC"
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    seq: int = 0
    sync_tokens: dict[str, int] = field(default_factory=dict)
    pages: dict[str, tuple[str | None, list[dict[str, Any]], int]] = field(default_factory=dict)

    # changes -------------------------------------------------------------------------------

    def touch(self, event: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Record a change: a new change number, ``updated`` and ``etag``."""
        self.seq += 1
        event["updated"] = rfc3339(now)
        event["etag"] = f'"{int(now.timestamp() * 1000)}{self.seq:04d}"'
        self.events[event["id"]] = event
        self.seqs[event["id"]] = self.seq
        return event

    def expire_sync_tokens(self) -> None:
        """Invalidate every sync and page token issued so far (the next use answers 410)."""
        self.sync_tokens.clear()
        self.pages.clear()

    def get(self, event_id: str, now: datetime) -> dict[str, Any]:
        """A stored event, or an exception materialised from its series on first touch."""
        if event_id in self.events:
            return self.events[event_id]
        series_id, _, stamp = event_id.rpartition("_")
        series = self.events.get(series_id)
        if series is None or not series.get("recurrence") or not stamp:
            raise KeyError(event_id)
        for instance in self._expand(series, None, None, now):
            if instance["id"] == event_id:
                instance.pop("_generated", None)
                return instance
        raise KeyError(event_id)

    def list_entry(self) -> dict[str, Any]:
        """``calendarList.list`` with this primary calendar as its only entry."""
        entry = {
            "kind": "calendar#calendarListEntry",
            "etag": f'"{self.seq}"',
            "id": self.email,
            "summary": self.email,
            "timeZone": self.time_zone,
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
            "primary": True,
        }
        return {"kind": "calendar#calendarList", "etag": '"1"', "items": [entry]}

    # listing -------------------------------------------------------------------------------

    def list_events(self, params: dict[str, str], now: datetime) -> dict[str, Any]:
        """Answer ``events.list`` for already-authorised ``params`` (query strings)."""
        sync_token = params.get("syncToken")
        single = params.get("singleEvents", "false").lower() == "true"
        show_deleted = params.get("showDeleted", "false").lower() == "true"
        size = self._page_size(params)
        if sync_token is not None:
            refused = [name for name in REFUSED_WITH_SYNC_TOKEN if name in params]
            if refused:
                raise bad_request(f"Bad Request: {refused[0]} is not allowed with syncToken")
            if params.get("showDeleted", "").lower() == "false":
                raise bad_request("Bad Request: showDeleted=false is not allowed with syncToken")
        page_token = params.get("pageToken")
        if page_token is not None:
            if page_token not in self.pages:
                raise bad_request("Bad Request: invalid pageToken")
            owner, items, sync_seq = self.pages.pop(page_token)
            if owner != sync_token:
                raise bad_request("Bad Request: pageToken belongs to another query")
        else:
            if params.get("orderBy") == "startTime" and not single:
                raise bad_request("Bad Request: orderBy=startTime needs singleEvents=true")
            if params.get("orderBy") not in (None, "startTime", "updated"):
                raise bad_request("Bad Request: invalid orderBy")
            if sync_token is not None:
                if sync_token not in self.sync_tokens:
                    raise CalendarApiError(
                        410,
                        "fullSyncRequired",
                        "Sync token is no longer valid, a full sync is required.",
                    )
                items = self._changes(self.sync_tokens[sync_token], single, now)
            else:
                items = self._full(params, single, show_deleted, now)
            sync_seq = self.seq
        page, rest = items[:size], items[size:]
        answer: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{self.seq}"',
            "summary": self.email,
            "description": "",
            "updated": rfc3339(now),
            "timeZone": self.time_zone,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "items": page,
        }
        if rest:
            token = secrets.token_urlsafe(24)
            self.pages[token] = (sync_token, rest, sync_seq)
            answer["nextPageToken"] = token
        else:
            token = secrets.token_urlsafe(24)
            self.sync_tokens[token] = sync_seq
            answer["nextSyncToken"] = token
        return answer

    @staticmethod
    def _page_size(params: dict[str, str]) -> int:
        raw = params.get("maxResults")
        if raw is None:
            return DEFAULT_PAGE_SIZE
        try:
            size = int(raw)
        except ValueError as exc:
            raise bad_request("Bad Request: invalid maxResults") from exc
        if size < 1:
            raise bad_request("Bad Request: invalid maxResults")
        return min(size, MAX_PAGE_SIZE)

    def _full(
        self, params: dict[str, str], single: bool, show_deleted: bool, now: datetime
    ) -> list[dict[str, Any]]:
        lo = parse_rfc3339(params["timeMin"], "timeMin") if "timeMin" in params else None
        hi = parse_rfc3339(params["timeMax"], "timeMax") if "timeMax" in params else None
        if lo and hi and hi <= lo:
            raise bad_request("Bad Request: timeMax must be after timeMin")
        updated_min = (
            parse_rfc3339(params["updatedMin"], "updatedMin") if "updatedMin" in params else None
        )
        found: list[dict[str, Any]] = []
        for event in self.events.values():
            if event.get("recurringEventId") and single:
                continue  # exceptions come out of their series' expansion
            if single and event.get("recurrence") and event.get("status") != "cancelled":
                found.extend(self._expand(event, lo, hi, now, with_cancelled=show_deleted))
                continue
            if event.get("recurrence") and (lo or hi):
                if not self._expand(event, lo, hi, now):
                    continue
            elif event.get("status") != "cancelled" and not self._overlaps(event, lo, hi):
                continue
            found.append(event)
        query = params.get("q", "").lower()
        ical_uid = params.get("iCalUID")
        items = []
        for event in found:
            if event.get("status") == "cancelled" and not show_deleted:
                continue
            if query and query not in _text(event):
                continue
            if ical_uid and event.get("iCalUID") != ical_uid:
                continue
            if updated_min and parse_rfc3339(event["updated"], "updated") < updated_min:
                continue
            items.append(self._public(event))
        if params.get("orderBy") == "updated":
            items.sort(key=lambda item: (item.get("updated", ""), item["id"]))
        else:
            items.sort(key=lambda item: (self._sort_start(item), item["id"]))
        return items

    def _changes(self, since: int, single: bool, now: datetime) -> list[dict[str, Any]]:
        changed = sorted((seq, event_id) for event_id, seq in self.seqs.items() if seq > since)
        items: dict[str, dict[str, Any]] = {}  # by id: a series and its exception changed
        for _, event_id in changed:
            event = self.events[event_id]
            if single and event.get("recurrence") and event.get("status") != "cancelled":
                for instance in self._expand(event, None, None, now, with_cancelled=True):
                    items[instance["id"]] = self._public(instance)
            else:
                items[event_id] = self._public(event)
        return list(items.values())

    # expansion -----------------------------------------------------------------------------

    def _expand(
        self,
        series: dict[str, Any],
        lo: datetime | None,
        hi: datetime | None,
        now: datetime,
        *,
        with_cancelled: bool = False,
    ) -> list[dict[str, Any]]:
        """The series' instances overlapping (lo, hi), its exceptions applied."""
        all_day = "date" in series["start"]
        zone = ZoneInfo(series["start"].get("timeZone") or self.time_zone)
        if all_day:
            first = datetime.combine(date.fromisoformat(series["start"]["date"]), time())
            length = date.fromisoformat(series["end"]["date"]) - first.date()
        else:
            first = datetime.fromisoformat(series["start"]["dateTime"]).astimezone(zone)
            length = datetime.fromisoformat(series["end"]["dateTime"]) - first
        rule = rrulestr("\n".join(series["recurrence"]), dtstart=first, forceset=True)
        upper = hi or now + EXPANSION_HORIZON
        if all_day:
            lower = lo.astimezone(zone).replace(tzinfo=None) if lo else first
            starts = rule.between(
                lower - length - timedelta(days=1),
                upper.astimezone(zone).replace(tzinfo=None),
                inc=True,
            )
        else:
            starts = rule.between((lo or first) - length, upper, inc=True)
        exceptions = {
            event["id"]: event
            for event in self.events.values()
            if event.get("recurringEventId") == series["id"]
        }
        instances: list[dict[str, Any]] = []
        for start in starts:
            instance = self._instance(series, start, length, all_day, zone)
            if instance["id"] in exceptions:
                continue
            if self._overlaps(instance, lo, hi):
                instances.append(instance)
        for exception in exceptions.values():
            if exception.get("status") == "cancelled":
                if with_cancelled:
                    instances.append(exception)
            elif self._overlaps(exception, lo, hi):
                instances.append(exception)
        return instances

    def _instance(
        self,
        series: dict[str, Any],
        start: datetime,
        length: timedelta,
        all_day: bool,
        zone: ZoneInfo,
    ) -> dict[str, Any]:
        instance = copy.deepcopy(series)
        instance.pop("recurrence", None)
        instance["recurringEventId"] = series["id"]
        instance["_generated"] = True
        if all_day:
            day = start.date()
            instance["id"] = f"{series['id']}_{day:%Y%m%d}"
            instance["start"] = {"date": day.isoformat()}
            instance["end"] = {"date": (day + length).isoformat()}
            instance["originalStartTime"] = {"date": day.isoformat()}
        else:
            utc = start.astimezone(UTC)
            instance["id"] = f"{series['id']}_{utc:%Y%m%dT%H%M%SZ}"
            instance["start"] = {"dateTime": start.isoformat(), "timeZone": zone.key}
            end = (start.astimezone(UTC) + length).astimezone(zone)
            instance["end"] = {"dateTime": end.isoformat(), "timeZone": zone.key}
            instance["originalStartTime"] = dict(instance["start"])
        return instance

    def _bounds(self, event: dict[str, Any]) -> tuple[datetime, datetime]:
        return self._instant(event["start"]), self._instant(event["end"])

    def _instant(self, when: dict[str, Any]) -> datetime:
        if "dateTime" in when:
            return datetime.fromisoformat(when["dateTime"])
        day = date.fromisoformat(when["date"])
        return datetime.combine(day, time(), tzinfo=ZoneInfo(self.time_zone))

    def _overlaps(self, event: dict[str, Any], lo: datetime | None, hi: datetime | None) -> bool:
        start, end = self._bounds(event)
        return (lo is None or end > lo) and (hi is None or start < hi)

    def _sort_start(self, item: dict[str, Any]) -> str:
        if "start" not in item:
            return ""
        return self._instant(item["start"]).astimezone(UTC).isoformat()

    def _public(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event as the API shows it; cancelled ones with their identity only."""
        if event.get("status") == "cancelled":
            shown = {
                "kind": "calendar#event",
                "etag": event["etag"],
                "id": event["id"],
                "status": "cancelled",
            }
            for name in ("recurringEventId", "originalStartTime"):
                if name in event:
                    shown[name] = copy.deepcopy(event[name])
            return shown
        shown = copy.deepcopy(event)
        shown.pop("_generated", None)
        return shown


def _text(event: dict[str, Any]) -> str:
    parts = [event.get("summary", ""), event.get("description", ""), event.get("location", "")]
    return " ".join(parts).lower()


def when(value: Any, time_zone: str) -> dict[str, Any]:
    """A ``start``/``end`` dict from a datetime (aware), a date, or an API dict as is."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("event times must be timezone-aware datetimes")
        local = value.astimezone(ZoneInfo(time_zone))
        return {"dateTime": local.isoformat(), "timeZone": time_zone}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    raise TypeError(f"not an event time: {value!r}")


def build_event(
    calendar: Calendar, fields: dict[str, Any], now: datetime, person: Callable[[str], dict]
) -> dict[str, Any]:
    """A new event as the API returns it, from test-friendly ``fields`` (see ``add_event``)."""
    fields = dict(fields)
    zone = fields.pop("time_zone", None) or fields.pop("timeZone", None) or calendar.time_zone
    if "start" not in fields or "end" not in fields:
        raise ValueError("an event needs start and end")
    event_id = fields.pop("id", None) or new_event_id()
    if not re.fullmatch(r"[a-v0-9]{5,1024}", event_id):
        raise ValueError(f"Google refuses event id {event_id!r}: 5-1024 characters of a-v, 0-9")
    event: dict[str, Any] = {
        "kind": "calendar#event",
        "id": event_id,
        "status": "confirmed",
        "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
        "created": rfc3339(now),
        "summary": "",
        "creator": {**person(calendar.email), "self": True},
        "organizer": {**person(calendar.email), "self": True},
        "iCalUID": f"{event_id}@google.com",
        "sequence": 0,
        "reminders": {"useDefault": True},
        "eventType": "default",
    }
    apply_fields(calendar, event, fields, zone, person)
    return event


def apply_fields(
    calendar: Calendar,
    event: dict[str, Any],
    fields: dict[str, Any],
    zone: str,
    person: Callable[[str], dict],
) -> None:
    """Set API fields on ``event``; times and attendees accept test-friendly values."""
    for name, value in fields.items():
        if name in ("start", "end", "originalStartTime"):
            event[name] = when(value, zone)
        elif name == "attendees":
            event[name] = [_attendee(calendar, item) for item in value]
        elif name in ("organizer", "creator") and isinstance(value, str):
            event[name] = person(value)
            if value == calendar.email:
                event[name]["self"] = True
        elif name == "eventType" and value not in EVENT_TYPES:
            raise ValueError(f"unknown eventType {value!r}")
        elif value is None:
            event.pop(name, None)
        else:
            event[name] = copy.deepcopy(value)
    if "dateTime" in event["start"] and "date" in event["end"]:
        raise ValueError("start and end must both be timed or both all-day")
    if calendar._instant(event["end"]) < calendar._instant(event["start"]):
        raise ValueError("an event cannot end before it starts")


def _attendee(calendar: Calendar, item: Any) -> dict[str, Any]:
    attendee = {"email": item} if isinstance(item, str) else dict(item)
    attendee.setdefault("responseStatus", "needsAction")
    if attendee["email"] == calendar.email:
        attendee["self"] = True
    return attendee

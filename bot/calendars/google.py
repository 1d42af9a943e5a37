"""Google Calendar's events become :class:`~bot.calendars.occurrence.Occurrence` objects.

Input is one item of ``events.list`` with ``singleEvents=true`` (Calendar API v3, the
`Event resource <https://developers.google.com/calendar/api/v3/reference/events>`_), as
JSON. Pure: reading the API, syncing and storing is :mod:`bot.sync.google`.

* **Identity.** A single event is ``uid`` = its ``id``. An instance of a recurring event
  is ``uid`` = ``recurringEventId`` and ``recurrence_id`` = its ``originalStartTime``,
  in UTC the way feeds write it (``2026-03-02T09:00:00Z``, or a date for all-day series),
  so a moved instance keeps its identity and a cancelled one finds its row.
  ``ical_uid`` is the event's ``iCalUID`` (RFC 5545 UID; for every instance of a
  recurring event, the series' one), by which the same meeting on another calendar is
  recognised (``bot.copies``).
* **Cancelled** items (``status: cancelled``; an incremental sync sends deleted events
  this way, often with nothing but ``id``, ``recurringEventId`` and
  ``originalStartTime``) are :func:`cancellation` references, not occurrences.
* **Who** is in it: :func:`bot.calendars.attendance.attendance`, the rule every calendar
  follows. The person's own addresses are theirs plus the calendar's id and any attendee
  or organizer Google marks ``self``; ``resource: true`` attendees are rooms.
* **Not a meeting**: ``eventType`` ``focusTime``, ``outOfOffice`` and
  ``workingLocation``; ``transparency: transparent`` is *free*; a ``date`` start is
  all-day (its midnight read in the calendar's zone).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.calendars import zones
from bot.calendars.attendance import Invitee, attendance, category, response
from bot.calendars.occurrence import (
    Occurrence,
    Response,
    Status,
    conference_link,
    find_meeting_link,
)

_STATUSES = {"confirmed": Status.CONFIRMED, "tentative": Status.TENTATIVE}


class UnreadableEvent(ValueError):
    """An item that cannot become an occurrence; the message says why (one line, no text
    of the event)."""


@dataclass(frozen=True)
class Cancellation:
    """A cancelled or deleted event: every stored instance of ``uid`` when
    ``recurrence_id`` is None, else that one instance."""

    uid: str
    recurrence_id: str | None


def source_name(source_id: int) -> str:
    """The ``Occurrence.source`` of a connected Google calendar."""
    return f"google:{source_id}"


def is_cancelled(item: Mapping[str, Any]) -> bool:
    return item.get("status") == "cancelled"


def cancellation(item: Mapping[str, Any]) -> Cancellation:
    """What a cancelled item withdraws."""
    event_id = _id(item.get("id"))
    series = item.get("recurringEventId")
    if series:
        original = item.get("originalStartTime")
        if isinstance(original, Mapping):
            return Cancellation(_id(series), _original(original))
        return Cancellation(_id(series), None)
    return Cancellation(event_id, None)


def event_occurrence(
    item: Mapping[str, Any], *, source: str, own: Collection[str], zone: str
) -> Occurrence:
    """Our own type from one event instance (not a cancelled one). ``own``: the person's
    addresses and the calendar's id; ``zone``: the calendar's IANA zone, for all-day
    dates. Raises :class:`UnreadableEvent`."""
    event_id = _id(item.get("id"))
    start, all_day = _moment(item.get("start"), zone, "start")
    end, _ = _moment(item.get("end"), zone, "end")
    if end < start:
        raise UnreadableEvent("its end is before its start")
    mine = set(own)
    attendees = item.get("attendees") or []
    if not isinstance(attendees, list):
        raise UnreadableEvent("attendees is not a list")
    invitees = []
    for entry in attendees:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("email"), str):
            continue
        if entry.get("self"):
            mine.add(entry["email"])
        invitees.append(
            Invitee(
                entry["email"],
                response(str(entry.get("responseStatus") or "")) or Response.NEEDS_ACTION,
                person=not entry.get("resource"),
            )
        )
    organizer_email = None
    organizer = item.get("organizer")
    if isinstance(organizer, Mapping) and isinstance(organizer.get("email"), str):
        organizer_email = organizer["email"]
        if organizer.get("self"):
            mine.add(organizer_email)
    who = attendance(invitees, organizer=organizer_email, own=mine)
    series = item.get("recurringEventId")
    original = item.get("originalStartTime")
    title = _text(item.get("summary")).strip()
    return Occurrence(
        source=source,
        uid=_id(series) if series else event_id,
        recurrence_id=_original(original) if series and isinstance(original, Mapping) else None,
        title=title,
        start=start,
        end=end,
        all_day=all_day,
        status=_STATUSES.get(_text(item.get("status")), Status.CONFIRMED),
        attendees=who.attendees,
        people=who.people,
        organizer=who.organizer,
        self_response=who.self_response,
        transparent=item.get("transparency") == "transparent",
        conference_url=_link(item),
        external=who.external,
        recurring=bool(series),
        category=category(title, kind=_text(item.get("eventType"))),
        ical_uid=_text(item.get("iCalUID")) or None,
    )


def _link(item: Mapping[str, Any]) -> str | None:
    link = conference_link(_text(item.get("hangoutLink")))
    if link is not None:
        return link
    data = item.get("conferenceData")
    points = data.get("entryPoints") if isinstance(data, Mapping) else None
    for point in points if isinstance(points, list) else []:
        if isinstance(point, Mapping) and point.get("entryPointType") == "video":
            link = conference_link(_text(point.get("uri")))
            if link is not None:
                return link
    return find_meeting_link(_text(item.get("location")), _text(item.get("description")))


def _moment(value: Any, zone: str, name: str) -> tuple[datetime, bool]:
    """(UTC time, whether it is a date) of a ``start`` / ``end`` / ``originalStartTime``."""
    if not isinstance(value, Mapping):
        raise UnreadableEvent(f"no {name}")
    try:
        if isinstance(value.get("dateTime"), str):
            moment = datetime.fromisoformat(value["dateTime"])
            if moment.tzinfo is None:  # Google always gives an offset; be safe
                moment = moment.replace(tzinfo=_zone(value.get("timeZone"), zone))
            return moment.astimezone(UTC), False
        if isinstance(value.get("date"), str):
            day = date.fromisoformat(value["date"])
            local = datetime.combine(day, time(0), _zone(value.get("timeZone"), zone))
            return local.astimezone(UTC), True
    except ValueError:
        raise UnreadableEvent(f"its {name} is not a date or time") from None
    raise UnreadableEvent(f"no {name}")


def _original(value: Mapping[str, Any]) -> str:
    if isinstance(value.get("date"), str) and not value.get("dateTime"):
        return value["date"]
    moment, _ = _moment(value, "UTC", "originalStartTime")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone(name: Any, fallback: str) -> ZoneInfo:
    found = zones.resolve(name) if isinstance(name, str) and name else None
    return found or zones.resolve(fallback) or ZoneInfo("UTC")


def _id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise UnreadableEvent("no id")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""

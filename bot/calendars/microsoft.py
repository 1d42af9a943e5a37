"""Microsoft Graph's events become :class:`~bot.calendars.occurrence.Occurrence` objects.

Input is one item of ``GET /me/calendarView/delta`` (Graph v1.0, the
`event resource <https://learn.microsoft.com/graph/api/resources/event>`_), as JSON.
calendarView returns *instances* (``type`` ``singleInstance``, ``occurrence``,
``exception``), never a series master. Pure: reading Graph, syncing and storing is
:mod:`bot.sync.microsoft`.

* **Identity.** A single event is ``uid`` = its ``id``. An instance of a series is
  ``uid`` = ``seriesMasterId`` and ``recurrence_id`` = its ``originalStart`` in UTC the
  way feeds write it (``2026-03-02T09:00:00Z``), so commitments and mutes match by
  series and a moved instance keeps its identity. Graph's own ``id`` of the instance is
  kept beside the row (:func:`event_id`): a removal (``@removed``) carries nothing else.
  ``ical_uid`` is the event's ``iCalUId`` (unlike Google's, a different one for each
  instance of a series), by which the same meeting on another calendar is recognised
  (``bot.copies``).
* **Withdrawn.** ``{"id": …, "@removed": {…}}`` (deleted, or moved out of the window) is a
  :class:`Removal` by Graph id; ``isCancelled: true`` is a :class:`Cancellation` by
  identity. Neither is an occurrence.
* **Who** is in it: :func:`bot.calendars.attendance.attendance`, the rule every calendar
  follows. Graph gives the person's own answer as ``responseStatus`` (an attendee's copy
  of an invitation often lists them as ``none`` under ``attendees``): it is the answer of
  their entry, or of an entry added for them when they are not listed and do not
  organize. ``isOrganizer`` makes the organizer theirs. ``type: resource`` attendees are
  rooms.
* **Not a meeting**: ``showAs`` ``oof`` is out of office (as Google's ``outOfOffice``),
  ``free`` is *free* (transparent); ``isAllDay`` is all-day. The person's own
  ``declined`` is a skip reason through the attendance rule's ``self_response``.
* **Times.** ``start``/``end`` are ``{"dateTime": "2026-12-07T09:00:00.0000000",
  "timeZone": "UTC"}`` (the zone of ``Prefer: outlook.timezone``, UTC by default; a
  Windows or IANA name); an all-day event's midnight is read in the person's zone (Slack's).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
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

# Graph writes seven digits of fractions of a second; fromisoformat reads up to six.
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


class UnreadableEvent(ValueError):
    """An item that cannot become an occurrence; the message says why (one line, no text
    of the event)."""


@dataclass(frozen=True)
class Cancellation:
    """A cancelled event: every stored instance of ``uid`` when ``recurrence_id`` is
    None, else that one instance."""

    uid: str
    recurrence_id: str | None


@dataclass(frozen=True)
class Removal:
    """An ``@removed`` entry: the instance whose Graph id is ``event_id`` is gone from the
    window (deleted, or moved out of it)."""

    event_id: str


def source_name(source_id: int) -> str:
    """The ``Occurrence.source`` of a connected Microsoft calendar."""
    return f"microsoft:{source_id}"


def event_id(item: Mapping[str, Any]) -> str:
    """Graph's id of this instance (what an ``@removed`` entry names)."""
    return _id(item.get("id"))


def is_removed(item: Mapping[str, Any]) -> bool:
    return "@removed" in item


def is_cancelled(item: Mapping[str, Any]) -> bool:
    return item.get("isCancelled") is True


def withdrawal(item: Mapping[str, Any]) -> Removal | Cancellation:
    """What a removed or cancelled item withdraws."""
    if is_removed(item):
        return Removal(_id(item.get("id")))
    series = item.get("seriesMasterId")
    if isinstance(series, str) and series:
        original = item.get("originalStart")
        return Cancellation(series, _original(original) if isinstance(original, str) else None)
    return Cancellation(_id(item.get("id")), None)


def event_occurrence(
    item: Mapping[str, Any], *, source: str, own: Collection[str], zone: str
) -> Occurrence:
    """Our own type from one event instance (not a removed or cancelled one). ``own``:
    the person's addresses (their Slack address and the mailbox's); ``zone``: the
    person's zone (IANA or Windows name), for all-day events. Raises
    :class:`UnreadableEvent`."""
    the_id = _id(item.get("id"))
    all_day = item.get("isAllDay") is True
    start = _moment(item.get("start"), zone, "start", all_day=all_day)
    end = _moment(item.get("end"), zone, "end", all_day=all_day)
    if end < start:
        raise UnreadableEvent("its end is before its start")
    mine = {a.strip().lower() for a in own if a}
    own_answer = response(_text(_get(item, "responseStatus", "response")))
    organizer_email = _text(_get(item, "organizer", "emailAddress", "address")) or None
    if organizer_email and item.get("isOrganizer") is True:
        mine.add(organizer_email.strip().lower())
    attendees = item.get("attendees") or []
    if not isinstance(attendees, list):
        raise UnreadableEvent("attendees is not a list")
    invitees = []
    listed = False
    for entry in attendees:
        if not isinstance(entry, Mapping):
            continue
        address = _text(_get(entry, "emailAddress", "address"))
        if not address:
            continue
        answer = response(_text(_get(entry, "status", "response")))
        if address.strip().lower() in mine:
            listed = True
            answer = own_answer or answer
        invitees.append(
            Invitee(
                address,
                answer or Response.NEEDS_ACTION,
                person=_text(entry.get("type")).lower() != "resource",
            )
        )
    hosting = organizer_email is not None and organizer_email.strip().lower() in mine
    if not listed and not hosting and own_answer is not None and invitees and mine:
        # Invited (under an address Graph does not list, e.g. through a group): their
        # answer still counts, under one of their own addresses.
        invitees.append(Invitee(sorted(mine)[0], own_answer))
    who = attendance(invitees, organizer=organizer_email, own=mine)
    series = item.get("seriesMasterId")
    original = item.get("originalStart")
    title = _text(item.get("subject")).strip()
    show_as = _text(item.get("showAs"))
    return Occurrence(
        source=source,
        uid=series if isinstance(series, str) and series else the_id,
        recurrence_id=(
            _original(original) if isinstance(series, str) and series and original else None
        ),
        title=title,
        start=start,
        end=end,
        all_day=all_day,
        status=Status.CONFIRMED,
        attendees=who.attendees,
        people=who.people,
        organizer=who.organizer,
        self_response=who.self_response,
        transparent=show_as.lower() == "free",
        conference_url=_link(item),
        external=who.external,
        recurring=bool(series),
        category=category(title, busy=show_as),
        ical_uid=_text(item.get("iCalUId")) or None,
    )


def _link(item: Mapping[str, Any]) -> str | None:
    link = conference_link(_text(_get(item, "onlineMeeting", "joinUrl")))
    if link is not None:
        return link
    return find_meeting_link(
        _text(_get(item, "location", "displayName")), _text(item.get("bodyPreview"))
    )


def _moment(value: Any, zone: str, name: str, *, all_day: bool) -> datetime:
    """The UTC time of a ``start`` / ``end`` (``dateTime`` in ``timeZone``). An all-day
    event's date is read at midnight in the person's zone (Graph writes it in the zone
    asked for, which is UTC: the date is what counts)."""
    if not isinstance(value, Mapping) or not isinstance(value.get("dateTime"), str):
        raise UnreadableEvent(f"no {name}")
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value["dateTime"].rstrip("Z")))
    except ValueError:
        raise UnreadableEvent(f"its {name} is not a date and time") from None
    if all_day:
        return moment.replace(tzinfo=_zone(zone, "UTC"), hour=0, minute=0).astimezone(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(value.get("timeZone"), "UTC"))
    return moment.astimezone(UTC)


def _original(value: str) -> str:
    """``originalStart`` (``2026-12-07T09:00:00Z``, sometimes with fractions or an
    offset) in UTC as feeds write a recurrence id."""
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        raise UnreadableEvent("its originalStart is not a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone(name: Any, fallback: str) -> ZoneInfo:
    found = zones.resolve(name) if isinstance(name, str) and name else None
    return found or zones.resolve(fallback) or ZoneInfo("UTC")


def _get(item: Any, *path: str) -> Any:
    for step in path:
        if not isinstance(item, Mapping):
            return None
        item = item.get(step)
    return item


def _id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise UnreadableEvent("no id")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""

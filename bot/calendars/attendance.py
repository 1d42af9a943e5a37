"""Who is in a meeting, for every calendar kind: the one attendance rule.

Feeds (:mod:`bot.calendars.ics`), the signed webhook (:mod:`bot.calendars.webhook`) and
Google Calendar (:mod:`bot.calendars.google`) each turn their own attendee list into
:class:`Invitee` values and call :func:`attendance`; nothing else counts people,
reads the person's own answer or decides *external*. A block that is not a meeting
(focus time, out of office) is told by :func:`category` from the same clues everywhere.

The rule:

* **People** are everyone invited who is a person (rooms, resources and Google's
  calendar addresses are not), plus the organizer, minus the person themselves.
* **Attendees** counts those people and the person once when they are listed or
  organize. 0 or 1 is a personal block (``SkipReason.SOLO``).
* **Own response**: the person's own answer when they are listed (an answer beats
  *needs action* when they are listed twice, e.g. under two addresses); *accepted*
  when they organize and are not listed; else unknown.
* **External**: someone's e-mail domain differs from every domain of the person's own
  addresses (unknown without an address of theirs).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from bot.calendars.occurrence import Category, Response

# Lower-cased, with "-" and "_" removed: iCalendar PARTSTAT, Google's responseStatus and
# Microsoft's response spellings.
RESPONSES = {
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

_FOCUS_TITLE = re.compile(r"^\W*focus(?:\s+time)?\W*$", re.IGNORECASE)
_OOO_TITLE = re.compile(r"^\W*(?:out\s+of\s+(?:the\s+)?office|ooo|oof)\b", re.IGNORECASE)
_FOCUS_TYPES = {"focustime", "focus"}
_OOO_TYPES = {"outofoffice", "oof"}
_WHERE_TYPES = {"workinglocation"}


def response(text: str | None) -> Response | None:
    """Our :class:`Response` for any calendar's spelling of an answer, or None."""
    if not text:
        return None
    return RESPONSES.get(text.strip().lower().replace("-", "").replace("_", ""))


@dataclass(frozen=True)
class Invitee:
    """One entry of an event's attendee list, as a calendar gives it.

    ``address`` is an e-mail address (any case; ``mailto:`` already removed);
    ``response`` the answer given (None when the calendar gives none we know);
    ``person`` is False for rooms and other resources.
    """

    address: str
    response: Response | None = Response.NEEDS_ACTION
    person: bool = True


@dataclass(frozen=True)
class Attendance:
    attendees: int
    people: tuple[str, ...]  # lower-case addresses, sorted; the person left out
    organizer: str | None  # lower-case; None when it is no person's address
    self_response: Response | None
    external: bool


def is_calendar_address(address: str) -> bool:
    """Google's addresses of calendars, rooms and groups are not people."""
    return address.endswith(".calendar.google.com")


def attendance(
    invitees: Iterable[Invitee], *, organizer: str | None, own: Collection[str]
) -> Attendance:
    """Apply the rule of the module docstring. ``own`` holds the person's addresses."""
    mine = {a.strip().lower() for a in own if a and a.strip()}
    people: set[str] = set()
    answers: list[Response | None] = []
    listed = False
    for invitee in invitees:
        address = invitee.address.strip().lower()
        if not address or not invitee.person or is_calendar_address(address):
            continue
        if address in mine:
            listed = True
            answers.append(invitee.response)
        else:
            people.add(address)
    host = organizer.strip().lower() if organizer else None
    if host is not None and (not host or is_calendar_address(host)):
        host = None
    hosting = host is not None and host in mine
    if host is not None and not hosting:
        people.add(host)
    self_response: Response | None = None
    if answers:
        answered = [r for r in answers if r is not Response.NEEDS_ACTION]
        self_response = (answered or answers)[0]
    elif hosting:
        self_response = Response.ACCEPTED
    domains = {a.rpartition("@")[2] for a in mine if "@" in a}
    external = bool(domains) and any(
        "@" in p and p.rpartition("@")[2] not in domains for p in people
    )
    return Attendance(
        attendees=len(people) + (1 if listed or hosting else 0),
        people=tuple(sorted(people)),
        organizer=host,
        self_response=self_response,
        external=external,
    )


def category(title: str, *, kind: str = "", busy: str = "") -> Category | None:
    """Focus time, out of office or a working location, from the calendar's event type
    (Google's ``eventType``: ``focusTime``, ``outOfOffice``, ``workingLocation``), its
    busy status (Microsoft's ``oof``) or a title that says so ("Focus time", "OOO");
    None for anything else."""
    kind = kind.strip().lower().replace("-", "").replace("_", "")
    busy = busy.strip().lower()
    if busy == "oof" or kind in _OOO_TYPES or _OOO_TITLE.match(title):
        return Category.OUT_OF_OFFICE
    if kind in _FOCUS_TYPES or _FOCUS_TITLE.match(title):
        return Category.FOCUS
    if kind in _WHERE_TYPES:
        return Category.WORKING_LOCATION
    return None

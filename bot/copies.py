"""One meeting on two calendars (pure): which occurrences are copies of one meeting.

A person may connect more than one calendar (a feed, a webhook, Google, Microsoft 365),
and a meeting they are invited to often shows on several: a Google calendar and the
Outlook calendar it forwards to, a work feed and the same work account through its API.
Each calendar gives it its own ``Occurrence`` (its own ``source`` and ``uid``), and
without this rule the person would be reminded twice and asked twice.

**The rule.** Two occurrences of one person are one meeting when they come from
*different* sources, start at the same instant, and either carry the same iCalendar UID
(``Occurrence.ical_uid``) or the same title, compared without regard to case and runs of
white space (an empty title names nothing). Within one source nothing is folded: one
calendar holding two events at the same time with the same name means two events.

Why both tests, and why the start in both: Google's ``iCalUID`` is one per *series*
("in recurring events, all occurrences of one event have different ids while they all
share the same iCalUIDs", `Event resource
<https://developers.google.com/calendar/api/v3/reference/events>`_), a feed's UID is the
series' UID too, while Microsoft Graph's ``iCalUId`` differs for each occurrence of a
recurring series (`event resource
<https://learn.microsoft.com/en-us/graph/api/resources/event>`_). So the same start
with the same UID recognises a series instance on Google and on a feed; Microsoft's
per-instance UID matches another calendar's only for single events, and the title
(which Outlook and Google copy from the invitation) covers its instances. The start is
required in both cases, so the instances of one series (one UID) stay apart, and
"Weekly sync" at 10:00 and at 15:00 stay two meetings. UIDs are compared exactly
(RFC 5545 gives no case rule; calendars copy them verbatim).

**Grouping.** :func:`meetings` groups a person's occurrences into meetings: at most one
occurrence per source in a group. First each occurrence joins the first group it
matches by UID (in :func:`preference` order, cancelled occurrences last), then each
group joins the first earlier group it matches by title.
The result depends only on the occurrences, never on their order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from bot.calendars.occurrence import Occurrence, Status

# Which copy of a meeting speaks for it, when none has been nudged yet: a calendar read
# through its API first (pushed within seconds, and it carries the person's own answer),
# then a webhook, then a polled feed (it lags by up to a poll). Unknown kinds come last.
SOURCE_ORDER = ("google", "microsoft", "hook", "ics")


def normal_title(title: str) -> str:
    """A title as :func:`same_meeting` compares it: case-folded, white space collapsed."""
    return " ".join(title.split()).casefold()


def same_meeting(a: Occurrence, b: Occurrence) -> bool:
    """Whether ``a`` and ``b`` are one meeting on two calendars (see the module
    docstring): different sources, the same start, and the same iCalendar UID or the
    same (non-empty) title."""
    if a.source == b.source or a.start != b.start:
        return False
    return _same_uid(a, b) or _same_title(a, b)


def preference(occurrence: Occurrence) -> tuple[int, str]:
    """Sort key of the copy that speaks for a meeting: :data:`SOURCE_ORDER`, then key."""
    kind = occurrence.source.split(":", 1)[0]
    rank = SOURCE_ORDER.index(kind) if kind in SOURCE_ORDER else len(SOURCE_ORDER)
    return rank, occurrence.key


def meetings(occurrences: Iterable[Occurrence]) -> list[tuple[Occurrence, ...]]:
    """The occurrences grouped into meetings (see "Grouping" in the module docstring),
    by start; in each group the live copies come first, in :func:`preference` order. A
    meeting on one calendar only is a group of one."""
    by_start: dict[datetime, list[Occurrence]] = defaultdict(list)
    # Cancelled ones last: a meeting cancelled and sent out again at the same time is a
    # new event, and its copies belong with the new one.
    ordered = sorted(
        occurrences, key=lambda o: (o.start, o.status is Status.CANCELLED, preference(o))
    )
    place = {id(o): i for i, o in enumerate(ordered)}
    for occurrence in ordered:
        by_start[occurrence.start].append(occurrence)
    found: list[tuple[Occurrence, ...]] = []
    for same_start in by_start.values():
        # The UID first, so a title shared by two events of one calendar cannot take the
        # copy that the UID names for the other; then the title joins whole groups.
        groups: list[list[Occurrence]] = []
        for occurrence in same_start:
            home = next((g for g in groups if _joins(g, [occurrence], _same_uid)), None)
            if home is None:
                groups.append([occurrence])
            else:
                home.append(occurrence)
        merged: list[list[Occurrence]] = []
        for group in groups:
            home = next((g for g in merged if _joins(g, group, _same_title)), None)
            if home is None:
                merged.append(group)
            else:
                home.extend(group)
        found += [tuple(sorted(g, key=lambda o: place[id(o)])) for g in merged]
    return found


def _joins(
    group: list[Occurrence],
    others: list[Occurrence],
    same: Callable[[Occurrence, Occurrence], bool],
) -> bool:
    """Whether ``others`` may join ``group``: no calendar twice, and ``same`` holds for
    one pair of them."""
    if {m.source for m in group} & {o.source for o in others}:
        return False
    return any(same(m, o) for m in group for o in others)


def _same_uid(a: Occurrence, b: Occurrence) -> bool:
    return bool(a.ical_uid) and a.ical_uid == b.ical_uid


def _same_title(a: Occurrence, b: Occurrence) -> bool:
    title = normal_title(a.title)
    return bool(title) and title == normal_title(b.title)

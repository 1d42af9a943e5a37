"""iCalendar data becomes :class:`~bot.calendars.occurrence.Occurrence` objects.

:func:`parse_ics` reads a feed as Google, Outlook, Apple, Thunderbird and friends write
it, expands its recurring events over a window and returns every occurrence that
overlaps the window, cancelled, declined and all-day ones included (their
``skip_reason`` says why they get no nudge).

How the wild is tamed:

* **Time zones.** A TZID is read as an IANA name when it is one; a Windows name
  (``W. Europe Standard Time``) or a globally unique id (``/mozilla.org/…/Europe/Berlin``)
  is mapped to its IANA zone (:mod:`bot.calendars.zones`); any other name is taken
  from the feed's own VTIMEZONE, registered under a name derived from its content
  (icalendar keeps one process-wide cache of zones by TZID, and two feeds may give
  "Customized Time Zone" different rules). A TZID nobody defines (``"Western/Central
  Europe"`` with no VTIMEZONE) is treated as floating, which is also what icalendar
  makes of a name it cannot find: the TZID is removed before icalendar reads the feed,
  so it never looks the name up (``TZID=Europe`` names a tzdata directory and made it
  fail the whole feed). Floating times are read in ``default_tz`` (the user's zone),
  or in ``X-WR-TIMEZONE`` (Google, Apple), which is applied with
  :func:`x_wr_timezone.to_standard`.
* **Recurrence rules as written in the wild.** A negative ``COUNT`` beside ``UNTIL``
  (Confluence) is ignored, as recurring-ical-events does, and the series ends at
  ``UNTIL``.
* **One bad event is one problem.** Events are expanded one UID at a time with
  recurring-ical-events' series, so an event without DTSTART, with an unparsable
  RRULE or an invalid date is reported as a :class:`Problem` and the rest of the feed
  is still read. A rule that would repeat absurdly often (``FREQ=SECONDLY`` since last
  year) is refused before it is expanded, and a series yields at most
  :data:`MAX_INSTANCES` occurrences per window.
* **Cancelled stays cancelled.** An instance cancelled with ``STATUS:CANCELLED`` comes
  out with :attr:`Status.CANCELLED`; an EXDATE'd instance does not come out at all.
* **No attendee list is no answer.** Some published calendars (Outlook's "publish
  calendar" links among them) leave every ``ATTENDEE`` out. When no event of a feed
  lists one (:func:`lists_no_attendees`), its occurrences say that attendance is unknown
  (``Occurrence.attendees_unknown``) instead of calling every meeting a solo block.

Only this function's module touches icalendar objects: :func:`_occurrence` is the one
place where they become our type.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import icalendar
import x_wr_timezone
from icalendar.prop import vBroken
from icalendar.timezone import tzp
from recurring_ical_events.adapters.event import EventAdapter
from recurring_ical_events.occurrence import Occurrence as _RieOccurrence
from recurring_ical_events.series import Series

from bot.calendars import zones
from bot.calendars.attendance import Invitee, attendance, category, response
from bot.calendars.occurrence import (
    Category,
    Occurrence,
    Response,
    Status,
    conference_link,
    find_meeting_link,
)

logger = logging.getLogger(__name__)

MAX_INSTANCES = 1000
"""At most this many occurrences of one series in one window; the rest is a Problem."""

MAX_RULE_STEPS = 50_000
"""A rule whose expansion up to the window's end would take more steps is refused."""

MAX_FEED_STEPS = 2_000_000
"""All rules of one feed together (bounds the time one hostile feed can take)."""

MAX_FEED_SECONDS = 15.0
"""Past this, the feed's remaining events are skipped (a rule that can never occur
makes dateutil search up to the year 9999: seconds per rule)."""

# In the order problems are reported (a tuple: the same reason on every run).
_TIMING = ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "RRULE", "RDATE", "EXDATE")
_ONE_DAY = timedelta(days=1)


class CalendarError(Exception):
    """The data is not an iCalendar at all. The message is one line for the user."""


@dataclass(frozen=True)
class Problem:
    """One event that was skipped, and why (one line)."""

    uid: str | None
    summary: str | None
    reason: str


@dataclass(frozen=True)
class ParsedFeed:
    occurrences: list[Occurrence]  # sorted by start
    problems: list[Problem] = field(default_factory=list)


def parse_ics(
    data: bytes | str,
    *,
    source: str,
    start: datetime,
    end: datetime,
    user_emails: Sequence[str] = (),
    default_tz: str = "UTC",
    attendees_unknown: bool | None = None,
) -> ParsedFeed:
    """Every occurrence of ``data`` that overlaps ``[start, end)``, sorted by start.

    ``start`` and ``end`` must be timezone-aware. ``user_emails`` are the user's own
    addresses (their response, "solo", "external"). ``default_tz`` is an IANA name:
    floating times and all-day dates are read in it. ``attendees_unknown`` says whether
    the whole feed lists no attendee (:func:`lists_no_attendees`); None: ``data`` is the
    whole feed, and it is decided from it (give it when ``data`` is a part of the feed).
    Raises :class:`CalendarError` when ``data`` is not an iCalendar; a broken event is a
    :class:`Problem` instead.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    zone = zones.resolve(default_tz)
    if zone is None:
        raise ValueError(f"unknown time zone {default_tz!r}")
    text = _decode(data)
    if attendees_unknown is None:
        attendees_unknown = _no_attendees(text)
    text = _prepare_zones(text)
    ctx = _Context(
        source=source,
        zone=zone,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        user=_User.of(user_emails),
        attendees_unknown=attendees_unknown,
    )
    deadline = time.monotonic() + MAX_FEED_SECONDS
    skipped = 0
    for calendar in _read_calendars(text):
        _drop_unusable(calendar, ctx)  # first: x-wr-timezone's copies lose icalendar's errors
        calendar = _standardize(calendar)
        ctx.cancel_all = str(calendar.get("METHOD", "")).strip().upper() == "CANCEL"
        for uid, components in _by_uid(calendar).items():
            if skipped or time.monotonic() > deadline:
                skipped += 1
                continue
            ctx.occurrences.extend(_expand(uid, components, ctx))
    if skipped:
        reason = f"skipped {skipped} events: the feed took too long to expand"
        ctx.problems.append(Problem(uid=None, summary=None, reason=reason))
    ctx.occurrences.sort(key=lambda o: (o.start, o.end, o.uid, o.recurrence_id or ""))
    logger.debug("%s: %d occurrences, %d problems", source, len(ctx.occurrences), len(ctx.problems))
    return ParsedFeed(ctx.occurrences, ctx.problems)


# --------------------------------------------------------------------------- reading


_FOLD = re.compile(rb"\r?\n[ \t]")
_FOLD_TEXT = re.compile(r"\r?\n[ \t]")
_LINE_WITHOUT_COLON = re.compile(r"^[^:\r\n]*(?:\r?\n|\r|$)", re.MULTILINE)


def _decode(data: bytes | str) -> str:
    """Text with its lines unfolded (RFC 5545 3.1).

    Unfolding the bytes before decoding keeps a UTF-8 character that a writer split
    across a fold whole. UTF-16 (some Windows tools) and Windows-1252 are accepted too.
    """
    if isinstance(data, str):
        return _FOLD_TEXT.sub("", data.lstrip("\ufeff"))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _FOLD_TEXT.sub("", data.decode("utf-16", errors="replace").lstrip("\ufeff"))
    data = _FOLD.sub(b"", data.removeprefix(b"\xef\xbb\xbf"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# Case-sensitive and starting with a literal, as the TZID scans below: every writer we
# know writes upper case; the case-blind scan runs only for a feed without any.
_ATTENDEE = re.compile(r"\nATTENDEE[;:]")
_ATTENDEE_ANY_CASE = re.compile(r"\nATTENDEE[;:]", re.IGNORECASE)
_VEVENT = re.compile(r"^BEGIN:VEVENT", re.IGNORECASE | re.MULTILINE)


def lists_no_attendees(data: bytes | str) -> bool:
    """Whether the feed ``data`` has events and none of them lists an ``ATTENDEE``: who
    attends its meetings is unknown (Outlook's published calendars leave them all out).
    One scan of the unfolded text, no parse."""
    return _no_attendees(_decode(data))


def _no_attendees(text: str) -> bool:
    if _ATTENDEE.search(text) is not None or _ATTENDEE_ANY_CASE.search(text) is not None:
        return False
    return _VEVENT.search(text) is not None


def _read_calendars(text: str) -> list[icalendar.Calendar]:
    head = text.lstrip()[:2048]
    if not head:
        raise CalendarError("the calendar is empty")
    at = head.upper().find("BEGIN:VCALENDAR")
    if at < 0:
        lowered = head[:200].lower()
        if lowered.startswith("<"):
            raise CalendarError("this is a web page, not a calendar (a sign-in page?)")
        if lowered.startswith(("{", "[")):
            raise CalendarError("this is JSON, not an iCalendar file")
        raise CalendarError("not an iCalendar file (it does not start with BEGIN:VCALENDAR)")
    text = text.lstrip()[at:]
    try:
        parsed = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception:
        # A stray line without a colon outside of any event stops icalendar; such a
        # line means nothing in iCalendar, so drop them all and try once more.
        try:
            parsed = icalendar.Calendar.from_ical(_LINE_WITHOUT_COLON.sub("", text), multiple=True)
        except Exception as exc:
            raise CalendarError(f"not a valid iCalendar file: {_one_line(exc)}") from None
    calendars = [c for c in parsed if getattr(c, "name", "") == "VCALENDAR"]
    if not calendars:
        raise CalendarError("the calendar is incomplete (no END:VCALENDAR)")
    return calendars


def _standardize(calendar: icalendar.Calendar) -> icalendar.Calendar:
    """Apply X-WR-TIMEZONE (Google, Apple): UTC and floating times move into that zone."""
    name = calendar.get("X-WR-TIMEZONE")
    if not name:
        return calendar
    zone = zones.resolve(str(name))
    if zone is None:
        logger.debug("ignoring unknown X-WR-TIMEZONE %r", str(name)[:64])
        return calendar
    try:
        return x_wr_timezone.to_standard(calendar, timezone=zone)
    except Exception:  # the times keep their own zones: still mostly right
        logger.debug("X-WR-TIMEZONE could not be applied", exc_info=True)
        return calendar


# --------------------------------------------------------------------------- time zones

# Case-sensitive, starting with a literal, no look-behind: every writer we know uses
# upper case, and this way the scan of a large feed runs at ~1 ms/MB instead of ~15.
_TZID_PARAM = re.compile(r';TZID=(?:"([^"\r\n]*)"|([^";:\r\n]*))')
_TZID_PROP = re.compile(r"\nTZID((?:;[^:\r\n]*)?):([^\r\n]*?)(\r?)$", re.MULTILINE)
_X_WR_TIMEZONE = re.compile(r"\nX-WR-TIMEZONE((?:;[^:\r\n]*)?):([^\r\n]*?)(\r?)$", re.MULTILINE)
_VTIMEZONE = re.compile(
    r"^BEGIN:VTIMEZONE\r?\n.*?^END:VTIMEZONE[ \t]*(?:\r?\n|$)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)
_CUSTOM_PREFIX = "heedful-vtimezone-"
_custom_zones: dict[str, bool] = {}  # content-derived TZID -> icalendar could build it
_MAX_CUSTOM_ZONES = 5000  # icalendar's zone cache lives as long as the process


def _prepare_zones(text: str) -> str:
    """Rewrite TZIDs so icalendar resolves each one as described in the module doc.

    The common case (every TZID an IANA name) costs one scan and no copy.
    """
    names = {
        m.group(1) if m.group(1) is not None else m.group(2) for m in _TZID_PARAM.finditer(text)
    }
    names.update(m.group(2) for m in _TZID_PROP.finditer(text))
    names.update(m.group(2) for m in _X_WR_TIMEZONE.finditer(text))
    unknown = {n for n in names if zones.iana(n) is None or n != n.strip()}
    if not unknown:
        return text
    rename: dict[str, str] = {}
    blocks: dict[str, str] = {}
    for block in _VTIMEZONE.findall(text):
        found = _TZID_PROP.search(block)
        if found:
            blocks.setdefault(found.group(2), block)
    drop: list[str] = []
    floating: set[str] = set()
    for name in unknown:
        canonical = zones.canonical_name(name)
        if canonical is not None:
            rename[name] = canonical
        elif name in blocks:
            custom = _custom_zone(name, blocks[name])
            if custom is None:
                drop.append(blocks[name])  # not a usable definition: the times float
                floating.add(name)
            else:
                rename[name] = custom
        else:
            floating.add(name)
    for block in drop:
        text = text.replace(block, "")
    if not rename and not floating:
        return text

    def param(m: re.Match[str]) -> str:
        name = m.group(1) if m.group(1) is not None else m.group(2)
        if name in floating:
            return ""  # icalendar never looks it up ("Europe" is a tzdata directory)
        new = rename.get(name)
        return m.group(0) if new is None else f";TZID={new}"

    def tzid(m: re.Match[str]) -> str:
        new = rename.get(m.group(2))
        return m.group(0) if new is None else f"\nTZID{m.group(1)}:{new}{m.group(3)}"

    def x_wr(m: re.Match[str]) -> str:
        new = rename.get(m.group(2))
        return m.group(0) if new is None else f"\nX-WR-TIMEZONE{m.group(1)}:{new}{m.group(3)}"

    text = _TZID_PARAM.sub(param, text)
    text = _TZID_PROP.sub(tzid, text)
    return _X_WR_TIMEZONE.sub(x_wr, text)


def _custom_zone(name: str, block: str) -> str | None:
    """Register a VTIMEZONE under a name derived from its definition; None if unusable."""
    digest = hashlib.sha256(_TZID_PROP.sub("\nTZID:", block).encode()).hexdigest()[:20]
    custom = _CUSTOM_PREFIX + digest
    known = _custom_zones.get(custom)
    if known is None and len(_custom_zones) >= _MAX_CUSTOM_ZONES:
        logger.warning("too many distinct VTIMEZONE definitions; reading %r as floating", name)
        return None
    if known is None:
        renamed = _TZID_PROP.sub(lambda m: f"\nTZID:{custom}{m.group(3)}", block, count=1)
        try:
            component = icalendar.Timezone.from_ical(renamed)
            tzp.cache_timezone_component(component)
            known = tzp.timezone(custom) is not None
        except Exception:
            logger.debug("unusable VTIMEZONE %r", name[:64], exc_info=True)
            known = False
        _custom_zones[custom] = known
    return custom if known else None


# --------------------------------------------------------------------------- expanding


@dataclass
class _User:
    addresses: frozenset[str]

    @classmethod
    def of(cls, emails: Iterable[str]) -> _User:
        addresses = frozenset(a for a in (_address_text(e) for e in emails) if a)
        return cls(addresses)


@dataclass
class _Context:
    source: str
    zone: tzinfo
    start: datetime
    end: datetime
    user: _User
    attendees_unknown: bool = False  # no event of the feed lists an ATTENDEE
    cancel_all: bool = False
    steps: int = 0
    occurrences: list[Occurrence] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    details: dict[int, _Details] = field(default_factory=dict)

    def problem(self, component: Any, uid: str | None, reason: str) -> None:
        summary = _text(component.get("SUMMARY")) or None
        self.problems.append(Problem(uid=uid, summary=summary, reason=reason))


class _Adapter(EventAdapter):
    """recurring-ical-events' view of one VEVENT, keeping the VEVENT at hand."""

    def __init__(self, component: icalendar.Event) -> None:
        super().__init__(component)
        self.event = component


class _Instance(_RieOccurrence):
    """One instance as recurring-ical-events computes it, without copying the VEVENT."""

    def __init__(self, adapter: _Adapter, start: Any = None, end: Any = None) -> None:
        super().__init__(adapter, start, end)
        self.adapter = adapter


class _Series(Series):
    occurrence = _Instance  # type: ignore[assignment]


def _drop_unusable(calendar: icalendar.Calendar, ctx: _Context) -> None:
    """Remove the VEVENTs that cannot be used from the calendar; each is a problem."""
    kept = []
    for component in calendar.subcomponents:
        if component.name == "VEVENT":
            reason = _check(component)
            if reason is not None:
                ctx.problem(component, _text(component.get("UID")).strip() or None, reason)
                continue
        kept.append(component)
    calendar.subcomponents[:] = kept


def _by_uid(calendar: icalendar.Calendar) -> dict[str, list[icalendar.Event]]:
    """The calendar's VEVENTs grouped by UID (a made-up, stable one when missing)."""
    groups: dict[str, list[icalendar.Event]] = {}
    for component in calendar.subcomponents:
        if component.name == "VEVENT":
            uid = _text(component.get("UID")).strip() or _made_up_uid(component)
            groups.setdefault(uid, []).append(component)
    return groups


_SINGLE = ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID")


def _check(component: icalendar.Event) -> str | None:
    """Why this VEVENT cannot be used, or None. Drops broken properties that don't matter."""
    for name in _TIMING:
        value = component.get(name)
        if value is None:
            continue
        raw = _broken_raw(value)
        if raw is not None:
            if name == "RRULE":
                return f"unparsable RRULE: {_short(raw)}"
            return f"invalid {name}: {_short(raw)}"
        if name in _SINGLE and isinstance(value, list):
            return f"more than one {name}"
    for name, _message in component.errors:
        if name is not None and name.upper() not in _TIMING:
            _drop_broken(component, name)
    if component.get("DTSTART") is None:
        return "no DTSTART"
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        value = component.get(name)
        if value is not None and not isinstance(getattr(value, "dt", None), date):
            return f"invalid {name}"
    duration = component.get("DURATION")
    if duration is not None and not isinstance(getattr(duration, "dt", None), timedelta):
        return "invalid DURATION"
    _drop_negative_count(component)
    return None


def _drop_negative_count(component: icalendar.Event) -> None:
    """Ignore a negative COUNT, as recurring-ical-events does: Confluence writes
    ``COUNT=-1`` beside a valid ``UNTIL`` when later instances are deleted, and the
    series ends at UNTIL. Removed from the rule itself, so that the expansion bound
    (:func:`_rule_steps`) and the range check (:func:`_never`) see the rule expanded."""
    rules = component.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        count = rule.get("COUNT")
        if count and isinstance(count[0], int) and count[0] < 0:
            del rule["COUNT"]


def _broken_raw(value: Any) -> str | None:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, vBroken):
            return str(item)
    return None


def _drop_broken(component: icalendar.Event, name: str) -> None:
    value = component.get(name)
    if isinstance(value, list):
        kept = [v for v in value if not isinstance(v, vBroken)]
        if kept:
            component[name] = kept
        else:
            component.pop(name, None)
    elif isinstance(value, vBroken):
        component.pop(name, None)


def _made_up_uid(component: icalendar.Event) -> str:
    """A stable UID for an event without one (the same event gives the same UID)."""
    try:
        raw = component.to_ical()
    except Exception:
        raw = repr(sorted((k, str(v)) for k, v in component.items())).encode()
    return "heedful-" + hashlib.sha256(raw).hexdigest()[:32]


_FREQ_SECONDS = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3600,
    "DAILY": 86400,
    "WEEKLY": 7 * 86400,
    "MONTHLY": 31 * 86400,
    "YEARLY": 366 * 86400,
}
# How many values one BY-part can add per period of each FREQ (RFC 5545 3.3.10,
# "expand"); parts that only filter at a FREQ are missing (they never add steps).
_EXPANDS: dict[str, dict[str, int]] = {
    "BYSECOND": {"MINUTELY": 1, "HOURLY": 1, "DAILY": 1, "WEEKLY": 1, "MONTHLY": 1, "YEARLY": 1},
    "BYMINUTE": {"HOURLY": 1, "DAILY": 1, "WEEKLY": 1, "MONTHLY": 1, "YEARLY": 1},
    "BYHOUR": {"DAILY": 1, "WEEKLY": 1, "MONTHLY": 1, "YEARLY": 1},
    "BYDAY": {"WEEKLY": 1, "MONTHLY": 5, "YEARLY": 53},
    "BYMONTHDAY": {"MONTHLY": 1, "YEARLY": 12},
    "BYYEARDAY": {"YEARLY": 1},
    "BYWEEKNO": {"YEARLY": 7},
    "BYMONTH": {"YEARLY": 1},
}


def _rule_steps(component: icalendar.Event, ctx: _Context) -> tuple[int, str]:
    """An upper bound of the instances dateutil generates for this VEVENT's rules up to
    the end of the window (it always starts at DTSTART), and the FREQ of the worst rule.
    """
    rules = component.get("RRULE")
    if rules is None:
        return 0, ""
    first = _utc(component["DTSTART"].dt, ctx.zone)
    total, worst, worst_steps = 0, "", -1
    for rule in rules if isinstance(rules, list) else [rules]:
        freq = _text(rule.get("FREQ")).upper()
        if freq not in _FREQ_SECONDS:
            continue
        interval = rule.get("INTERVAL") or [1]
        period = _FREQ_SECONDS[freq] * max(1, int(interval[0]))
        horizon = ctx.end + _ONE_DAY
        until = (rule.get("UNTIL") or [None])[0]
        if isinstance(until, date):
            horizon = min(horizon, _utc(until, ctx.zone))
        periods = int(max(0.0, (horizon - first).total_seconds()) // period) + 1
        per_period = 1
        for part, factors in _EXPANDS.items():
            values = rule.get(part)
            if values and freq in factors:
                per_period *= len(values) * factors[freq]
        steps = periods * min(per_period, period)
        count = (rule.get("COUNT") or [None])[0]
        if isinstance(count, int):
            steps = min(steps, max(count, 1))
        total += steps
        if steps > worst_steps:
            worst, worst_steps = freq, steps
    return total, worst


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_RANGES = {  # RFC 5545 3.3.10; dateutil does not check all of them
    "BYSECOND": (0, 60),
    "BYMINUTE": (0, 59),
    "BYHOUR": (0, 23),
    "BYMONTHDAY": (1, 31),
    "BYYEARDAY": (1, 366),
    "BYWEEKNO": (1, 53),
    "BYMONTH": (1, 12),
    "BYSETPOS": (1, 366),
    "INTERVAL": (1, 1_000_000),
    "COUNT": (0, 1_000_000_000),
}
_SIGNED = frozenset({"BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS"})  # -1 = the last


def _never(component: icalendar.Event) -> str | None:
    """Why a rule of this VEVENT is unusable although it parsed, or None: a BY-value out of
    range, or a rule that can never occur (BYMONTHDAY=30 in February). dateutil would
    search up to the year 9999 for an instance of either: seconds per rule."""
    rules = component.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        text = _short(rule.to_ical().decode())
        for part, (low, high) in _RANGES.items():
            for value in rule.get(part) or []:
                number = abs(value) if part in _SIGNED and isinstance(value, int) else value
                if not isinstance(number, int) or not low <= number <= high:
                    return f"unparsable RRULE: {text} ({part} out of range)"
        days = rule.get("BYMONTHDAY") or []
        months = rule.get("BYMONTH") or range(1, 13)
        if days and all(abs(d) > _MONTH_DAYS[m - 1] for d in days for m in months):
            return f"the rule never occurs: {text}"
    return None


def _expand(uid: str, components: list[icalendar.Event], ctx: _Context) -> list[Occurrence]:
    """The occurrences of one UID in the window; a failure is one Problem for the UID."""
    first = components[0]
    found: list[Occurrence] = []
    try:
        for component in components:
            never = _never(component)
            if never:
                ctx.problem(component, uid, never)
                return []
        steps, freq = 0, ""
        for component in components:
            more, worst = _rule_steps(component, ctx)
            steps += more
            freq = worst or freq
        if steps > MAX_RULE_STEPS or ctx.steps + steps > MAX_FEED_STEPS:
            ctx.problem(first, uid, f"the rule repeats too often to expand (FREQ={freq})")
            return []
        ctx.steps += steps
        recurring = any("RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c for c in components)
        span_start, span_end = ctx.start, ctx.end
        if any(_floats(c) for c in components):
            # recurring-ical-events compares floating times and dates as if in UTC:
            # widen the span, then keep what overlaps the window in the user's zone.
            span_start, span_end = span_start - _ONE_DAY, span_end + _ONE_DAY
        series = _Series([_Adapter(c) for c in components])
        for instance in series.between(span_start, span_end):
            occurrence = _occurrence(instance, uid, recurring, ctx)
            if occurrence is None:
                continue
            if len(found) == MAX_INSTANCES:
                ctx.problem(
                    first,
                    uid,
                    f"more than {MAX_INSTANCES} occurrences in the window; "
                    f"kept the first {MAX_INSTANCES}",
                )
                break
            found.append(occurrence)
    except Exception as exc:
        logger.debug("%s: cannot expand %s", ctx.source, uid, exc_info=True)
        ctx.problem(first, uid, _expansion_error(exc))
        return []
    return found


def _floats(component: icalendar.Event) -> bool:
    for name in ("DTSTART", "RECURRENCE-ID"):
        value = component.get(name)
        if value is not None:
            dt = value.dt
            if not isinstance(dt, datetime) or dt.tzinfo is None:
                return True
    return False


def _expansion_error(exc: Exception) -> str:
    text = _one_line(exc, with_type=False)
    if "rrule" in text.lower() or type(exc).__name__ == "BadRuleStringFormat":
        return f"unparsable RRULE: {_short(text)}"
    return f"cannot expand the event: {_short(text)}"


# --------------------------------------------------------------------------- our type


@dataclass(frozen=True)
class _Details:
    """What one VEVENT says about all of its instances."""

    title: str
    status: Status
    attendees: int
    people: tuple[str, ...]
    organizer: str | None
    self_response: Response | None
    transparent: bool
    conference_url: str | None
    external: bool
    category: Category | None
    all_day_flag: bool


def _occurrence(instance: _Instance, uid: str, recurring: bool, ctx: _Context) -> Occurrence | None:
    """The one place where an expanded VEVENT instance becomes our Occurrence
    (None when it does not overlap the window)."""
    adapter = instance.adapter
    event = adapter.event
    details = ctx.details.get(id(event))
    if details is None:
        details = ctx.details[id(event)] = _details(event, ctx.user)
    raw_start, raw_end = instance.start, instance.end
    all_day = not isinstance(raw_start, datetime) or details.all_day_flag
    start, end = _utc(raw_start, ctx.zone), _utc(raw_end, ctx.zone)
    if end < start:
        start, end = end, start
    if not (start < ctx.end and (end > ctx.start or (end == start and start >= ctx.start))):
        return None
    recurrence_id = None
    if recurring:
        original: Any = raw_start
        if adapter.recurrence_ids:
            if adapter.this_and_future:
                original = raw_start - adapter.move_recurrences_by
            else:
                original = event["RECURRENCE-ID"].dt
        recurrence_id = _recurrence_id(original, ctx.zone)
    return Occurrence(
        source=ctx.source,
        uid=uid,
        recurrence_id=recurrence_id,
        title=details.title,
        start=start,
        end=end,
        all_day=all_day,
        status=Status.CANCELLED if ctx.cancel_all else details.status,
        attendees=details.attendees,
        people=details.people,
        organizer=details.organizer,
        self_response=details.self_response,
        transparent=details.transparent,
        conference_url=details.conference_url,
        external=details.external,
        recurring=recurring,
        category=details.category,
        # A UID made up for a VEVENT without one names nothing another calendar knows.
        ical_uid=uid if _text(event.get("UID")).strip() else None,
        attendees_unknown=ctx.attendees_unknown,
    )


def _utc(value: date | datetime, zone: tzinfo) -> datetime:
    """UTC for a date (its midnight in ``zone``) or a datetime (floating: in ``zone``)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)


def _recurrence_id(original: date | datetime, zone: tzinfo) -> str:
    """``2026-03-02T09:00:00Z`` for a time, ``2026-03-02`` for a date."""
    if not isinstance(original, datetime):
        return original.isoformat()
    return _utc(original, zone).strftime("%Y-%m-%dT%H:%M:%SZ")


_STATUSES = {"CANCELLED": Status.CANCELLED, "TENTATIVE": Status.TENTATIVE}
_NOT_PEOPLE = ("ROOM", "RESOURCE")


def _invitees(event: icalendar.Event) -> list[Invitee]:
    found = []
    attendees = event.get("ATTENDEE")
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        if attendee is None:
            continue
        params = getattr(attendee, "params", {})
        address = _address(attendee)
        if address:
            found.append(
                Invitee(
                    address,
                    response(str(params.get("PARTSTAT", "NEEDS-ACTION"))),
                    person=str(params.get("CUTYPE", "INDIVIDUAL")).upper() not in _NOT_PEOPLE,
                )
            )
    return found


def _details(event: icalendar.Event, user: _User) -> _Details:
    who = attendance(
        _invitees(event), organizer=_address(event.get("ORGANIZER")), own=user.addresses
    )
    title = _text(event.get("SUMMARY")).strip()
    busy = _text(event.get("X-MICROSOFT-CDO-BUSYSTATUS")).strip().upper()
    return _Details(
        title=title,
        status=_STATUSES.get(_text(event.get("STATUS")).strip().upper(), Status.CONFIRMED),
        attendees=who.attendees,
        people=who.people,
        organizer=who.organizer,
        self_response=who.self_response,
        transparent=_text(event.get("TRANSP")).strip().upper() == "TRANSPARENT" or busy == "FREE",
        conference_url=_conference_url(event),
        external=who.external,
        category=category(title, kind=_text(event.get("X-GOOGLE-EVENT-TYPE")), busy=busy),
        all_day_flag=_text(event.get("X-MICROSOFT-CDO-ALLDAYEVENT")).strip().upper() == "TRUE",
    )


def _conference_url(event: icalendar.Event) -> str | None:
    """The meeting's join link: a conference property, else a known meeting service's
    link in the location, URL or description. Only a link :func:`conference_link`
    accepts is kept (the sender of an invite writes these)."""
    for name in ("X-GOOGLE-CONFERENCE", "CONFERENCE", "X-MICROSOFT-SKYPETEAMSMEETINGURL"):
        values = event.get(name)
        for value in values if isinstance(values, list) else [values]:
            link = conference_link(_text(value).strip())
            if link is not None:
                return link
    return find_meeting_link(*(_text(event.get(n)) for n in ("LOCATION", "URL", "DESCRIPTION")))


def _address(value: Any) -> str | None:
    """A calendar user address as a lower-case e-mail (or the raw URI when it is none)."""
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
        if value is None:
            return None
    email = getattr(value, "params", {}).get("EMAIL")
    return _address_text(str(email) if email else str(value)) or None


def _address_text(text: str) -> str:
    text = text.strip().strip('"').strip()
    if text[:7].lower() == "mailto:":
        text = text[7:].strip()
    return text.lower()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value)


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(exc: BaseException, *, with_type: bool = True) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if not with_type:
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

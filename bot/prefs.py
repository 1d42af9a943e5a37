"""A person's preferences, kept as JSON on their user row, with defaults and bounds.

**Working hours** are the user's own: a start and an end time (local, in their Slack
zone) and a set of working days, by default 08:00–19:00, Monday to Friday. Nothing is
sent outside them (the planner drops, never delays). ``quiet_start`` and ``quiet_end``
keep their stored names: the start of the working day, and its end ("24:00" is
midnight, so ``00:00–24:00`` every day means no quiet hours at all). A day ends after
it starts: overnight hours (22:00–06:00) are not supported, and stored values that say
otherwise fall back to the defaults rather than silence someone for good.

**Questions a day** (``max_reflections_per_day``): 2 by default, 0 to 4. Fewer, sharper
questions: ``bot.planner`` spends them on the meetings that matter most. A stored value
above 4 (from before this range, or written by hand) reads as 4, the most Heedful asks
now, rather than falling back to the default: whoever set it wanted many questions.
(Before the range changed no form offered this setting, so every stored value was the
old default of 4 written out with the others; migration 0007 removed those.)

:func:`parse_hours` reads ``/heedful hours HH:MM-HH:MM [DAYS]`` (pure, no I/O).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, time, timedelta
from typing import Any

WEEKDAYS = (0, 1, 2, 3, 4)  # Monday … Friday
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
DAY_START = "00:00"
DAY_END = "24:00"  # the end of a working day that runs until midnight
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Prefs:
    lead_minutes: int = 5
    reflection_delay_minutes: int = 2
    quiet_start: str = "08:00"  # the working day starts at this local time …
    quiet_end: str = "19:00"  # … and ends at this one ("24:00": at midnight)
    working_days: tuple[int, ...] = WEEKDAYS
    max_reminders_per_day: int = 6
    max_reflections_per_day: int = 2  # questions a day, 0-4 (see the module docstring)
    digest_weekday: int = 4  # Friday
    digest_time: str = "16:00"
    muted_series: tuple[str, ...] = ()
    emails: tuple[str, ...] = field(default=())

    @property
    def quiet_hours_off(self) -> bool:
        """Every minute of every day is a working minute."""
        return (
            self.quiet_start == DAY_START
            and self.quiet_end == DAY_END
            and set(self.working_days) == set(EVERY_DAY)
        )

    def working_at(self, local: datetime) -> bool:
        """Whether ``local`` (a time in the user's own zone) is within their working
        hours, on one of their working days."""
        if local.weekday() not in self.working_days:
            return False
        since_midnight = timedelta(
            hours=local.hour,
            minutes=local.minute,
            seconds=local.second,
            microseconds=local.microsecond,
        )
        start = timedelta(minutes=minutes_of(self.quiet_start))
        end = timedelta(minutes=minutes_of(self.quiet_end))
        return start <= since_midnight < end

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("working_days", "muted_series", "emails"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Prefs:
        """Read stored preferences; anything missing or out of bounds takes its default."""
        data = data or {}
        defaults = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in data:
                values[f.name] = _coerce(
                    f.name, data[f.name], getattr(defaults, f.name), stored=True
                )
        start = values.get("quiet_start", defaults.quiet_start)
        end = values.get("quiet_end", defaults.quiet_end)
        if minutes_of(end) <= minutes_of(start):  # a day that ends before it starts
            values["quiet_start"], values["quiet_end"] = defaults.quiet_start, defaults.quiet_end
        return cls(**values)

    def with_changes(self, **changes: Any) -> Prefs:
        """A copy with validated changes; raises ValueError naming a bad field."""
        data = self.to_json()
        for name, value in changes.items():
            if name not in data:
                raise ValueError(f"unknown setting {name}")
            coerced = _coerce(name, value, None)
            if coerced is None:
                raise ValueError(f"{name} cannot be {value!r}")
            data[name] = coerced
        if minutes_of(data["quiet_end"]) <= minutes_of(data["quiet_start"]):
            raise ValueError("the working day must end after it starts")
        return Prefs.from_json(data)


BOUNDS = {
    "lead_minutes": (1, 30),
    "reflection_delay_minutes": (0, 60),
    "max_reminders_per_day": (0, 20),
    "max_reflections_per_day": (0, 4),
    "digest_weekday": (0, 6),
}


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def minutes_of(value: str) -> int:
    """Minutes since midnight of "HH:MM", "24:00" included (1440)."""
    return MINUTES_PER_DAY if value == DAY_END else _clock(parse_hhmm(value))


def _clock(moment: time) -> int:
    return moment.hour * 60 + moment.minute


# Stored values above the top of these ranges read as the top (see the module docstring).
CLAMPED_ON_READ = frozenset({"max_reflections_per_day"})


def _coerce(name: str, value: Any, default: Any, *, stored: bool = False) -> Any:
    try:
        if name in BOUNDS:
            low, high = BOUNDS[name]
            number = int(value)
            if stored and name in CLAMPED_ON_READ and number > high:
                return high
            return number if low <= number <= high else default
        if name == "quiet_end":
            # A timepicker cannot say 24:00: its 00:00, as an end, is midnight.
            text = str(value)
            if text in (DAY_END, DAY_START):
                return DAY_END
            return parse_hhmm(text).strftime("%H:%M")
        if name in ("quiet_start", "digest_time"):
            return parse_hhmm(str(value)).strftime("%H:%M")
        if name == "working_days":
            days = tuple(sorted({int(d) for d in value if 0 <= int(d) <= 6}))
            return days or default
        if name in ("muted_series", "emails"):
            return tuple(str(v) for v in value)
    except (TypeError, ValueError):
        return default
    return default


# ---------------------------------------------------------------- /heedful hours


class HoursError(ValueError):
    """``/heedful hours`` could not be read; ``prompt_id`` says what was wrong."""

    def __init__(self, prompt_id: str) -> None:
        super().__init__(prompt_id)
        self.prompt_id = prompt_id


@dataclass(frozen=True)
class WorkingHours:
    """What ``/heedful hours`` asked for; ``days`` None keeps the working days as they are."""

    start: str
    end: str
    days: tuple[int, ...] | None = None

    def changes(self) -> dict[str, Any]:
        """The preference changes it makes (for :meth:`Prefs.with_changes`)."""
        found: dict[str, Any] = {"quiet_start": self.start, "quiet_end": self.end}
        if self.days is not None:
            found["working_days"] = list(self.days)
        return found


DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_SETS = {
    "every day": EVERY_DAY,
    "everyday": EVERY_DAY,
    "daily": EVERY_DAY,
    "all week": EVERY_DAY,
    "weekdays": WEEKDAYS,
    "weekends": (5, 6),
    "weekend": (5, 6),
}
_TIME = r"\d{1,2}(?::\d{2})?"
_DASH = r"\s*(?:-|–|—|\bto\b)\s*"
_HOURS = re.compile(rf"(?P<start>{_TIME}){_DASH}(?P<end>{_TIME})(?P<rest>(?:[\s,].*)?)", re.DOTALL)
_RANGE_DASH = re.compile(_DASH)
_SEPARATORS = re.compile(r"(?:\s*,\s*|\s+and\s+|\s*&\s*|\s+)")


def parse_hours(text: str) -> WorkingHours:
    """``HH:MM-HH:MM [DAYS]`` → working hours; raises :class:`HoursError`.

    Times are 24-hour ("9:30" and "9" are fine); the end may be "24:00" (or "00:00",
    midnight) and must come after the start. DAYS is a range (``mon-fri``; ``sun-thu``
    wraps over the weekend), a list (``mon,tue,thu``, ``mon tue thu``), a mix
    (``mon-wed,fri``), or ``every day`` / ``weekdays`` / ``weekends``; day names may be
    written out or shortened to two letters or more. Without DAYS, the days stay.
    """
    found = _HOURS.fullmatch(text.strip().lower())
    if found is None:
        raise HoursError("command.hours_usage")
    start = _time_of(found["start"], end=False)
    end = _time_of(found["end"], end=True)
    if minutes_of(end) <= minutes_of(start):
        raise HoursError("command.hours_order")
    rest = found["rest"].strip(" \t\n,")
    return WorkingHours(start, end, parse_days(rest) if rest else None)


def _time_of(raw: str, *, end: bool) -> str:
    hours, _, minutes = raw.partition(":")
    h, m = int(hours), int(minutes or 0)
    if (h, m) == (24, 0) and end:
        return DAY_END
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise HoursError("command.hours_usage")
    if (h, m) == (0, 0) and end:
        return DAY_END  # "until 00:00" is until midnight
    return f"{h:02d}:{m:02d}"


def parse_days(text: str) -> tuple[int, ...]:
    """Day words → weekday numbers (0 = Monday), sorted; raises :class:`HoursError`."""
    phrase = " ".join(text.lower().split())
    if phrase in DAY_SETS:
        return DAY_SETS[phrase]
    phrase = _RANGE_DASH.sub("-", phrase)
    days: set[int] = set()
    for item in _SEPARATORS.split(phrase):
        if item in ("", "and"):
            continue
        if item in DAY_SETS:
            days.update(DAY_SETS[item])
            continue
        first, dash, last = item.partition("-")
        if not dash:
            days.add(_day(first))
            continue
        a, b = _day(first), _day(last)
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    if not days:
        raise HoursError("command.hours_days")
    return tuple(sorted(days))


def _day(word: str) -> int:
    """A day's name, written out or shortened to two letters or more ("th", "thu",
    "thurs"), plural allowed ("mondays")."""
    word = word.strip(".")
    if word.endswith("s") and word[:-1] in DAY_NAMES:
        word = word[:-1]
    if word == "weds":
        return 2
    matches = [n for n, name in enumerate(DAY_NAMES) if len(word) >= 2 and name.startswith(word)]
    if len(matches) != 1:
        raise HoursError("command.hours_days")
    return matches[0]

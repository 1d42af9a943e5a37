"""A person's preferences, kept as JSON on their user row, with defaults and bounds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import time
from typing import Any

WEEKDAYS = (0, 1, 2, 3, 4)  # Monday … Friday


@dataclass(frozen=True)
class Prefs:
    lead_minutes: int = 5
    reflection_delay_minutes: int = 2
    quiet_start: str = "08:00"  # nothing before this local time …
    quiet_end: str = "19:00"  # … nor from this local time on
    working_days: tuple[int, ...] = WEEKDAYS
    max_reminders_per_day: int = 6
    max_reflections_per_day: int = 4
    digest_weekday: int = 4  # Friday
    digest_time: str = "16:00"
    muted_series: tuple[str, ...] = ()
    emails: tuple[str, ...] = field(default=())

    @property
    def day_start(self) -> time:
        return parse_hhmm(self.quiet_start)

    @property
    def day_end(self) -> time:
        return parse_hhmm(self.quiet_end)

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
                values[f.name] = _coerce(f.name, data[f.name], getattr(defaults, f.name))
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
        return Prefs.from_json(data)


BOUNDS = {
    "lead_minutes": (1, 30),
    "reflection_delay_minutes": (0, 60),
    "max_reminders_per_day": (0, 20),
    "max_reflections_per_day": (0, 20),
    "digest_weekday": (0, 6),
}


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _coerce(name: str, value: Any, default: Any) -> Any:
    try:
        if name in BOUNDS:
            low, high = BOUNDS[name]
            number = int(value)
            return number if low <= number <= high else default
        if name in ("quiet_start", "quiet_end", "digest_time"):
            return parse_hhmm(str(value)).strftime("%H:%M")
        if name == "working_days":
            days = tuple(sorted({int(d) for d in value if 0 <= int(d) <= 6}))
            return days or default
        if name in ("muted_series", "emails"):
            return tuple(str(v) for v in value)
    except (TypeError, ValueError):
        return default
    return default

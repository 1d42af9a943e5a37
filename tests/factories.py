"""Small factories for our own types (``make_occurrence(...)``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.calendars.occurrence import Occurrence
from bot.prefs import Prefs

BERLIN = ZoneInfo("Europe/Berlin")


def local(day: str, hhmm: str, zone: ZoneInfo = BERLIN) -> datetime:
    """An aware datetime from a local date and time, e.g. local("2026-03-02", "10:00")."""
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=zone)


def make_occurrence(
    start: datetime,
    minutes: int = 30,
    *,
    uid: str | None = None,
    title: str = "1:1 with Ben",
    attendees: int = 2,
    source: str = "ics:1",
    **fields: Any,
) -> Occurrence:
    return Occurrence(
        source=source,
        uid=uid or f"{title}-{start.isoformat()}",
        recurrence_id=fields.pop("recurrence_id", None),
        title=title,
        start=start.astimezone(ZoneInfo("UTC")),
        end=(start + timedelta(minutes=minutes)).astimezone(ZoneInfo("UTC")),
        attendees=attendees,
        **fields,
    )


def settings_values(**chosen: Any) -> dict[str, Any]:
    """The ``state.values`` of a submitted settings form: the defaults, with ``chosen``."""
    prefs = {**Prefs().to_json(), **chosen}

    def option(value: Any) -> dict[str, Any]:
        return {"type": "static_select", "selected_option": {"value": str(value)}}

    def clock(value: str) -> dict[str, Any]:
        return {"type": "timepicker", "selected_time": value}

    days = [{"value": str(d)} for d in prefs["working_days"]]
    return {
        "lead_minutes": {"value": option(prefs["lead_minutes"])},
        "reflection_delay_minutes": {"value": option(prefs["reflection_delay_minutes"])},
        "max_reflections_per_day": {"value": option(prefs["max_reflections_per_day"])},
        "quiet_start": {"value": clock(prefs["quiet_start"])},
        "quiet_end": {"value": clock(prefs["quiet_end"])},
        "working_days": {"value": {"type": "checkboxes", "selected_options": days}},
        "digest_weekday": {"value": option(prefs["digest_weekday"])},
        "digest_time": {"value": clock(prefs["digest_time"])},
    }

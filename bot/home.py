"""What the App Home shows a person, and the settings behind it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot import feedback
from bot.calendars import sources
from bot.meetings import OCC, replan_user
from bot.messages import blocks as kit
from bot.messages.prompts import Prompts, load_prompts
from bot.nudges import welcome_once
from bot.planner import NUDGE_KINDS
from bot.prefs import DAY_END, DAY_START, Prefs
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import read_only, session_scope
from bot.storage.models import Delivery
from bot.users import remember_user

DEL = Delivery.__table__  # type: ignore[attr-defined]
HOME_HORIZON = timedelta(days=7)


def open_home(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    dm_channel: str | None = None,
    profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Record the visit, welcome a first-time visitor (once), return the Home view."""
    remember_user(
        services, team_id=team_id, user_id=user_id, profile=profile, dm_channel=dm_channel
    )
    welcome_once(services, team_id=team_id, user_id=user_id)
    return home_view(services, team_id=team_id, user_id=user_id)


def home_view(services: Services, *, team_id: str, user_id: str) -> dict[str, Any]:
    prompts = load_prompts()
    view = kit.build_home_view(
        prompts, home_state(services, prompts, team_id=team_id, user_id=user_id)
    )
    # Feedback from others: which series ask for it (bot.feedback).
    return feedback.with_home(services, prompts, view, team_id=team_id, user_id=user_id)


def _when(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    local = moment.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    return local.strftime("%a %H:%M")


def home_state(
    services: Services, prompts: Prompts, *, team_id: str, user_id: str
) -> kit.HomeState:
    now = services.clock.now()
    with session_scope(services.engine) as session:  # never creates a row (after an erase)
        user = repo.get_user(session, team_id=team_id, user_id=user_id)
        zone_name = user.tz if user else None
        prefs_json = dict(user.prefs or {}) if user else {}
        connected = user is not None and user.opted_in_at is not None
        paused = user.paused_until if user else None
    zone = ZoneInfo(zone_name or "UTC")
    prefs = Prefs.from_json(prefs_json)
    d, o = DEL.c, OCC.c
    with read_only(services.engine) as conn:
        upcoming = conn.execute(
            sa.select(d.kind, d.due_at, o.title)
            .select_from(
                DEL.outerjoin(
                    OCC,
                    sa.and_(
                        o.team_id == d.team_id, o.user_id == d.user_id, o.key == d.occurrence_key
                    ),
                )
            )
            .where(
                d.team_id == team_id,
                d.user_id == user_id,
                d.state == "pending",
                d.kind.in_(NUDGE_KINDS),
                d.due_at < now + HOME_HORIZON,
            )
            .order_by(d.due_at)
            .limit(kit.MAX_HOME_ITEMS)
        ).all()
        muted_titles = (
            dict(
                conn.execute(
                    sa.select(o.series_key, sa.func.max(o.title))
                    .where(
                        o.team_id == team_id,
                        o.user_id == user_id,
                        o.series_key.in_(prefs.muted_series),
                    )
                    .group_by(o.series_key)
                ).all()
            )
            if prefs.muted_series
            else {}
        )
    statuses = {
        "ok": prompts.text("home.calendar_status.ok"),
        "broken": prompts.text("home.calendar_status.broken"),
    }
    calendars = [
        (s.id, s.name, statuses.get(s.status, s.status))
        for s in sources.list_sources(services, team_id=team_id, user_id=user_id)
    ]
    return kit.HomeState(
        zone=zone_name,
        connected=connected,
        paused_until=(
            _day_words(paused.astimezone(zone)) if paused is not None and paused > now else None
        ),
        next_items=[
            (_when(due, zone, now), prompts.text(f"home.kind.{kind}"), title or "")
            for kind, due, title in upcoming
        ],
        settings=settings_summary(prompts, prefs),
        calendars=calendars,
        muted=[(key, muted_titles.get(key, "")) for key in prefs.muted_series],
    )


def _day_words(moment: datetime) -> str:
    """ "Monday 6 April" (portable: no %-d)."""
    return f"{moment:%A} {moment.day} {moment:%B}"


def settings_summary(prompts: Prompts, prefs: Prefs) -> dict[str, str]:
    return {
        "lead": str(prefs.lead_minutes),
        "delay": str(prefs.reflection_delay_minutes),
        "hours": hours_in_words(prompts, prefs),
        "digest_day": prompts.text(f"day.{prefs.digest_weekday}"),
        "digest_time": prefs.digest_time,
    }


def hours_in_words(prompts: Prompts, prefs: Prefs) -> str:
    """ "08:00–19:00, Monday to Friday", "all day, every day" … (pure)."""
    if prefs.quiet_hours_off:
        return prompts.text("hours.off")
    days = days_in_words(prompts, prefs.working_days)
    if prefs.quiet_start == DAY_START and prefs.quiet_end == DAY_END:
        return prompts.text("hours.all_day", days=days)
    return prompts.text("hours.span", start=prefs.quiet_start, end=prefs.quiet_end, days=days)


def days_in_words(prompts: Prompts, days: Sequence[int]) -> str:
    """ "every day", "Monday to Friday", "Sunday to Thursday" (a run over the weekend),
    "Saturday and Sunday", "Monday, Tuesday and Thursday" (pure)."""
    chosen = sorted(set(days))
    if len(chosen) == 7:
        return prompts.text("hours.days.every")
    names = [prompts.text(f"day.{n}") for n in chosen]
    # A run of three days or more, maybe across the weekend, reads as "first to last".
    first = next((n for n in chosen if (n - 1) % 7 not in chosen), None)
    if first is not None and len(chosen) >= 3:
        run = [(first + i) % 7 for i in range(len(chosen))]
        if set(run) == set(chosen):
            return prompts.text(
                "hours.days.range",
                first=prompts.text(f"day.{run[0]}"),
                last=prompts.text(f"day.{run[-1]}"),
            )
    if len(names) == 1:
        return names[0]
    return prompts.text("hours.days.list", items=", ".join(names[:-1]), last=names[-1])


def settings_form(services: Services, *, team_id: str, user_id: str) -> dict[str, Any]:
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session, team_id=team_id, user_id=user_id, now=services.clock.now())
        prefs = Prefs.from_json(user.prefs)
    return kit.build_settings_form(load_prompts(), prefs.to_json())


def read_settings_form(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted settings, or errors by block id (pure: no I/O before ack)."""

    def pick(block: str) -> Any:
        element = (values.get(block) or {}).get("value") or {}
        if "selected_option" in element:
            return (element.get("selected_option") or {}).get("value")
        if "selected_time" in element:
            return element.get("selected_time")
        if "selected_options" in element:
            return [o["value"] for o in element.get("selected_options") or []]
        return None

    changes = {
        "lead_minutes": pick("lead_minutes"),
        "reflection_delay_minutes": pick("reflection_delay_minutes"),
        "quiet_start": pick("quiet_start"),
        "quiet_end": pick("quiet_end"),
        "working_days": pick("working_days") or [],
        "digest_weekday": pick("digest_weekday"),
        "digest_time": pick("digest_time"),
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    errors: dict[str, str] = {}
    if not changes["working_days"]:
        errors["working_days"] = load_prompts().text("settings.no_days")
    hours = {k: v for k, v in changes.items() if k in ("quiet_start", "quiet_end")}
    try:  # the end may be 00:00 (midnight), and comes after the start
        Prefs().with_changes(**hours)
    except ValueError:
        errors["quiet_end"] = load_prompts().text("settings.bad_hours")
    return changes, errors


def save_settings(
    services: Services, *, team_id: str, user_id: str, changes: Mapping[str, Any]
) -> str:
    """Store new settings and re-plan the user's nudges. Returns the confirmation."""
    with session_scope(services.engine) as session:
        user = repo.ensure_user(session, team_id=team_id, user_id=user_id, now=services.clock.now())
        user.prefs = Prefs.from_json(user.prefs).with_changes(**changes).to_json()
        session.add(user)
    replan_user(services, team_id=team_id, user_id=user_id)
    return load_prompts().text("settings.saved")

"""What the App Home shows a person, the settings behind it, and what its buttons
and forms do. Each use case of a button or a form returns the Home tab as it is now,
for the listener to publish; the payload is read here."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot import commitments, feedback
from bot.focus import their_why
from bot.messages import blocks as kit
from bot.messages import feedback as fkit
from bot.messages.prompts import Prompts, load_prompts
from bot.nudges import pause_until, unmute_series, welcome_once
from bot.occurrences import replan_user
from bot.planner import NUDGE_KINDS
from bot.prefs import DAY_END, DAY_START, Prefs
from bot.privacy import forget
from bot.services import Services
from bot.storage import deliveries, occurrences, users
from bot.storage.db import read_only, session_scope
from bot.sync import feeds, google, microsoft
from bot.users import needs_profile, remember_user

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


def on_home_opened(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    event: Mapping[str, Any],
    profile: Callable[[], Mapping[str, Any]],
) -> dict[str, Any] | None:
    """``app_home_opened``: the Home view to publish, or None for another tab.

    ``profile`` asks Slack for the person's profile (``users.info``); it is called only
    when the zone we hold is missing or over a day old."""
    if event.get("tab") not in (None, "home"):
        return None
    fresh = profile() if needs_profile(services, team_id=team_id, user_id=user_id) else None
    return open_home(
        services, team_id=team_id, user_id=user_id, dm_channel=event.get("channel"), profile=fresh
    )


def home_view(services: Services, *, team_id: str, user_id: str) -> dict[str, Any]:
    prompts = load_prompts()
    view = kit.build_home_view(
        prompts, home_state(services, prompts, team_id=team_id, user_id=user_id)
    )
    # What they meant to do, still open (bot.commitments).
    view = fkit.with_home_section(
        view, commitments.home_blocks(services, prompts, team_id=team_id, user_id=user_id)
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
        user = users.get_user(session=session, team_id=team_id, user_id=user_id)
        zone_name = user.tz if user else None
        prefs_json = dict(user.prefs or {}) if user else {}
        connected = user is not None and user.opted_in_at is not None
        paused = user.paused_until if user else None
    zone = ZoneInfo(zone_name or "UTC")
    prefs = Prefs.from_json(prefs_json)
    with read_only(services.engine) as conn:
        upcoming = deliveries.upcoming(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kinds=NUDGE_KINDS,
            before=now + HOME_HORIZON,
            limit=kit.MAX_HOME_ITEMS,
        )
        muted_titles = occurrences.series_titles(
            conn=conn, team_id=team_id, user_id=user_id, series_keys=prefs.muted_series
        )
    statuses = {
        "ok": prompts.text("home.calendar_status.ok"),
        "broken": prompts.text("home.calendar_status.broken"),
    }
    calendars: list[tuple[int, str, str]] = []
    for s in feeds.list_sources(services, team_id=team_id, user_id=user_id):
        status = statuses.get(s.status, s.status)
        if s.attendees_unknown:  # its solo blocks are nudged too: say why, and what to do
            status = prompts.text("home.calendar_status.attendees_unknown", status=status)
        calendars.append((s.id, s.name, status))
    mine = google.connected(services, team_id=team_id, user_id=user_id)
    if mine is not None:
        name = mine.account or prompts.text("google.account_unknown")
        calendars.append((mine.source_id, name, statuses.get(mine.status, mine.status)))
    google_link = None
    if services.settings.google_enabled and (mine is None or mine.status == "broken"):
        # A new single-use link each time the tab is drawn (valid google.STATE_TTL).
        google_link = google.connect_link(services, team_id=team_id, user_id=user_id)
    outlook = microsoft.connected(services, team_id=team_id, user_id=user_id)
    if outlook is not None:
        name = outlook.account or prompts.text("microsoft.account_unknown")
        calendars.append((outlook.source_id, name, statuses.get(outlook.status, outlook.status)))
    microsoft_link = None
    if services.settings.microsoft_enabled and (outlook is None or outlook.status == "broken"):
        # A new single-use link each time the tab is drawn (valid microsoft.STATE_TTL).
        microsoft_link = microsoft.connect_link(services, team_id=team_id, user_id=user_id)
    why = their_why(services, team_id=team_id, user_id=user_id)
    return kit.HomeState(
        zone=zone_name,
        connected=connected,
        paused_until=(
            day_words(paused.astimezone(zone)) if paused is not None and paused > now else None
        ),
        next_items=[
            (_when(u.due_at, zone, now), prompts.text(f"home.kind.{u.kind}"), u.title or "")
            for u in upcoming
        ],
        settings=settings_summary(prompts, prefs),
        calendars=calendars,
        google_link=google_link,
        microsoft_link=microsoft_link,
        muted=[(key, muted_titles.get(key, "")) for key in prefs.muted_series],
        why=(
            kit.WhyCard(
                text=why.text,
                practice=why.focus,
                since=day_words(why.focus_since.astimezone(zone)),
                suggested=why.suggested,
            )
            if why is not None
            else None
        ),
    )


def day_words(moment: datetime) -> str:
    """ "Monday 6 April" (portable: no %-d)."""
    return f"{moment:%A} {moment.day} {moment:%B}"


def settings_summary(prompts: Prompts, prefs: Prefs) -> dict[str, str]:
    return {
        "lead": str(prefs.lead_minutes),
        "delay": str(prefs.reflection_delay_minutes),
        "questions": str(prefs.max_reflections_per_day),
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
        user = users.ensure_user(
            session=session, team_id=team_id, user_id=user_id, now=services.clock.now()
        )
        prefs = Prefs.from_json(user.prefs)
    return kit.build_settings_form(load_prompts(), prefs.to_json())


def settings_form_errors(view: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with a submitted settings form, by block id (pure: it runs before
    the ack, and any error keeps the form open)."""
    return read_settings_form(view["state"]["values"])[1]


def on_settings_form(
    services: Services, *, team_id: str, user_id: str, view: Mapping[str, Any]
) -> dict[str, Any]:
    """The settings form was submitted (and passed :func:`settings_form_errors`): store
    the settings, re-plan, and return the Home tab."""
    changes, errors = read_settings_form(view["state"]["values"])
    if errors:
        raise ValueError(f"a settings form with errors was submitted: {sorted(errors)}")
    save_settings(services, team_id=team_id, user_id=user_id, changes=changes)
    return home_view(services, team_id=team_id, user_id=user_id)


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
        "max_reflections_per_day": pick("max_reflections_per_day"),
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
        user = users.ensure_user(
            session=session, team_id=team_id, user_id=user_id, now=services.clock.now()
        )
        user.prefs = Prefs.from_json(user.prefs).with_changes(**changes).to_json()
        session.add(user)
    replan_user(services, team_id=team_id, user_id=user_id)
    return load_prompts().text("settings.saved")


# --------------------------------------------------------------------------- buttons


def on_resume(services: Services, *, team_id: str, user_id: str) -> dict[str, Any]:
    """ "Resume": nudges start again; returns the Home tab."""
    pause_until(services, team_id=team_id, user_id=user_id, until=None)
    return home_view(services, team_id=team_id, user_id=user_id)


def on_remove_calendar(
    services: Services, *, team_id: str, user_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """ "Remove" beside a calendar (the button's value is its source id); returns the
    Home tab."""
    source_id = int(body["actions"][0]["value"])
    if not feeds.disconnect_source(
        services, team_id=team_id, user_id=user_id, source_id=source_id
    ) and not google.disconnect(services, team_id=team_id, user_id=user_id, source_id=source_id):
        microsoft.disconnect(services, team_id=team_id, user_id=user_id, source_id=source_id)
    return home_view(services, team_id=team_id, user_id=user_id)


def on_unmute(
    services: Services, *, team_id: str, user_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """ "Unmute" beside a muted series (the button's value is its key); returns the Home
    tab."""
    series_key = str(body["actions"][0]["value"])
    unmute_series(services, team_id=team_id, user_id=user_id, series_key=series_key)
    return home_view(services, team_id=team_id, user_id=user_id)


def connect_form() -> dict[str, Any]:
    """The form that asks for a calendar's address."""
    return kit.build_connect_form(load_prompts())


def erase_form() -> dict[str, Any]:
    """The form that asks once before erasing everything."""
    return kit.build_erase_form(load_prompts())


@dataclass(frozen=True)
class Erased:
    """After an erase from the Home tab: the Home tab to publish and the confirmation
    to post (directly: see ``bot.privacy.forget``)."""

    home: dict[str, Any]
    text: str


def on_erase(services: Services, *, team_id: str, user_id: str) -> Erased:
    """The erase form was submitted: erase everything about the person."""
    text = forget(services, team_id=team_id, user_id=user_id)
    return Erased(home=home_view(services, team_id=team_id, user_id=user_id), text=text)


def on_feedback_toggle(
    services: Services, *, team_id: str, user_id: str, action: Mapping[str, Any]
) -> dict[str, Any]:
    """A tap on the Home tab's *Ask for feedback* or *Stop asking* (``action``, as Slack
    sends it): turn feedback on or off for the series, read the calendar again when it
    was turned on (so the series' next meetings and their invitees are kept at once), and
    return the Home view anew."""
    on = action.get("action_id") == fkit.ACTION_SERIES_ON
    series_key = str(action.get("value") or "")
    _feedback_series(services, team_id=team_id, user_id=user_id, series_key=series_key, on=on)
    return home_view(services, team_id=team_id, user_id=user_id)


def on_feedback_opt_in(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    action: Mapping[str, Any],
    message: Mapping[str, Any],
) -> tuple[str, list[dict[str, Any]]]:
    """*Ask for feedback next time* on a reflection question (``action``, its value the
    series key): feedback on for the series, as from the Home tab. Returns the question's
    text and blocks for ``chat.update``, the button turned into a short line."""
    series_key = str(action.get("value") or "")
    on = _feedback_series(
        services, team_id=team_id, user_id=user_id, series_key=series_key, on=True
    )
    prompts = load_prompts()
    note = prompts.text("feedback.opted_in" if on else "feedback.opt_in_gone")
    blocks = kit.replace_actions(list(message.get("blocks") or []), fkit.BLOCK_OPT_IN, note)
    return str(message.get("text") or note), blocks


def _feedback_series(
    services: Services, *, team_id: str, user_id: str, series_key: str, on: bool
) -> bool:
    """Feedback on or off for one of the person's series; turned on, their calendars are
    read again (so the series' next meetings and their invitees are kept at once). False
    when the series is none of theirs."""
    changed = bool(series_key) and feedback.set_series(
        services, team_id=team_id, user_id=user_id, series_key=series_key, on=on
    )
    if changed and on:
        feeds.read_again(services, team_id=team_id, user_id=user_id)
    return changed


def on_commitment(
    services: Services, *, team_id: str, user_id: str, action: Mapping[str, Any]
) -> dict[str, Any]:
    """*Did it* or *Drop* beside an open commitment (``action``, as Slack sends it): close
    it, and return the Home view anew."""
    commitments.close(services, team_id=team_id, user_id=user_id, action=action)
    return home_view(services, team_id=team_id, user_id=user_id)

"""``/heedful``: parsing (pure) and running its subcommands.

Answers are ephemeral (only the person who typed the command sees them). ``connect``
fetches the calendar, which can take longer than Slack's 3 seconds: it runs on the
slow-work pool, never on Bolt's listener threads (``bot.connecting``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bot import interactions
from bot.digest import digest_so_far
from bot.focus import their_why
from bot.home import day_words, hours_in_words, save_settings, settings_summary
from bot.messages.blocks import build_forget_confirm
from bot.messages.mrkdwn import escape, link
from bot.messages.prompts import load_prompts
from bot.prefs import HoursError, Prefs, WorkingHours, parse_hours
from bot.privacy import export_upload
from bot.services import Services
from bot.slack import Upload
from bot.storage import users
from bot.storage.db import session_scope
from bot.sync import feeds, google, microsoft

MAX_PAUSE_DAYS = 366

# `/heedful connect outlook` (or `connect microsoft`): Microsoft sign-in.
MICROSOFT_WORDS = ("outlook", "microsoft")


@dataclass(frozen=True)
class Reply:
    """An ephemeral answer, and maybe a file to upload to the user's DM."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    upload: Upload | None = None


@dataclass(frozen=True)
class Command:
    name: str  # help, pause, resume, settings, hours, connect, digest, export, forget, unknown
    argument: str = ""
    until: date | None = None
    hours: WorkingHours | None = None  # ``hours`` without one shows the current hours
    error: str | None = None  # a prompt id explaining what was wrong


def parse(text: str, *, today: date) -> Command:
    """``text`` is what followed ``/heedful``; ``today`` is the user's local date."""
    words = text.strip().split()
    if not words:
        return Command("help")
    name, rest = words[0].lower(), words[1:]
    if name in ("help", "resume", "settings", "digest", "export", "forget"):
        return Command(name)
    if name == "connect":
        if not rest:
            return Command("connect", error="command.connect_usage")
        return Command("connect", argument=rest[0].strip("<>"))
    if name == "pause":
        return _parse_pause(rest, today=today)
    if name == "hours":
        if not rest:
            return Command("hours")
        try:
            return Command("hours", hours=parse_hours(" ".join(rest)))
        except HoursError as exc:
            return Command("hours", error=exc.prompt_id)
    return Command("unknown", argument=words[0][:40])


def _parse_pause(rest: list[str], *, today: date) -> Command:
    phrase = " ".join(rest).lower()
    if not phrase:
        return Command("pause", until=today + timedelta(days=1))
    if m := re.fullmatch(r"for (\d{1,3}) (day|days|week|weeks)", phrase):
        days = int(m.group(1)) * (7 if m.group(2).startswith("week") else 1)
        if 0 < days <= MAX_PAUSE_DAYS:
            return Command("pause", until=today + timedelta(days=days))
    if m := re.fullmatch(r"until (\d{4}-\d{2}-\d{2})", phrase):
        try:
            until = date.fromisoformat(m.group(1))
        except ValueError:
            return Command("pause", error="command.pause_usage")
        if until <= today:
            return Command("pause", error="command.pause_past")
        return Command("pause", until=until)
    return Command("pause", error="command.pause_usage")


def user_today(services: Services, *, team_id: str, user_id: str) -> date:
    zone = interactions.user_zone(services, team_id=team_id, user_id=user_id)
    return services.clock.now().astimezone(zone).date()


def answer(services: Services, *, team_id: str, user_id: str, text: str) -> Reply:
    """``/heedful <text>``: read in the person's own day, carried out, answered."""
    today = user_today(services, team_id=team_id, user_id=user_id)
    return reply(services, team_id=team_id, user_id=user_id, command=parse(text, today=today))


def run(services: Services, *, team_id: str, user_id: str, command: Command) -> str:
    """Carry out a parsed command; returns the ephemeral answer as text."""
    return reply(services, team_id=team_id, user_id=user_id, command=command).text


def reply(services: Services, *, team_id: str, user_id: str, command: Command) -> Reply:
    """Carry out a parsed command; returns the ephemeral answer (and any upload)."""
    prompts = load_prompts()
    if command.error is None and command.name == "digest":
        message = digest_so_far(services, team_id=team_id, user_id=user_id)
        return Reply(message.text, message.blocks or None)
    if command.error is None and command.name == "export":
        upload = export_upload(services, team_id=team_id, user_id=user_id)
        return Reply(prompts.text("export.preparing"), upload=upload)
    if command.error is None and command.name == "forget":
        message = build_forget_confirm(prompts)
        return Reply(message.text, message.blocks)
    return Reply(_run_text(services, team_id=team_id, user_id=user_id, command=command))


def _run_text(services: Services, *, team_id: str, user_id: str, command: Command) -> str:
    prompts = load_prompts()
    if command.error:
        return prompts.text(command.error)
    if command.name == "pause" and command.until is not None:
        return interactions.pause_to(services, team_id=team_id, user_id=user_id, day=command.until)
    if command.name == "resume":
        return interactions.resume(services, team_id=team_id, user_id=user_id)
    if command.name == "settings":
        prefs = _prefs(services, team_id=team_id, user_id=user_id)
        answer = prompts.text("home.settings_summary", **settings_summary(prompts, prefs))
        return answer + _focus_line(services, team_id=team_id, user_id=user_id)
    if command.name == "hours":
        return _hours(services, team_id=team_id, user_id=user_id, hours=command.hours)
    if command.name == "connect" and command.argument.strip().lower() == "google":
        return _google_link(services, team_id=team_id, user_id=user_id)
    if command.name == "connect" and command.argument.strip().lower() in MICROSOFT_WORDS:
        return _microsoft_link(services, team_id=team_id, user_id=user_id)
    if command.name == "connect":
        try:
            connected = feeds.connect_feed(
                services, team_id=team_id, user_id=user_id, url=command.argument
            )
        except feeds.FeedConnectError as exc:
            return str(exc)
        name = next(
            (
                s.name
                for s in feeds.list_sources(services, team_id=team_id, user_id=user_id)
                if s.id == connected.source_id
            ),
            "",
        )
        return feeds.connected_text(
            prompts,
            name=name,
            upcoming=connected.upcoming,
            attendees_unknown=connected.attendees_unknown,
        )
    if command.name == "unknown":
        return (
            prompts.text("command.unknown", word=escape(command.argument))
            + "\n"
            + prompts.text("command.help")
        )
    prefs = _prefs(services, team_id=team_id, user_id=user_id)
    return (
        prompts.text("command.help")
        + "\n"
        + prompts.text("hours.help", hours=hours_in_words(prompts, prefs))
    )


def _google_link(services: Services, *, team_id: str, user_id: str) -> str:
    """``/heedful connect google``: a single-use sign-in link (``bot.sync.google``)."""
    prompts = load_prompts()
    try:
        url = google.connect_link(services, team_id=team_id, user_id=user_id)
    except google.NotConfigured:
        return prompts.text("google.connect.not_configured")
    shown = link(url, prompts.text("google.connect.button")) or escape(url)
    return prompts.text("google.connect.link", link=shown)


def _microsoft_link(services: Services, *, team_id: str, user_id: str) -> str:
    """``/heedful connect outlook``: a single-use sign-in link (``bot.sync.microsoft``)."""
    prompts = load_prompts()
    try:
        url = microsoft.connect_link(services, team_id=team_id, user_id=user_id)
    except microsoft.NotConfigured:
        return prompts.text("microsoft.connect.not_configured")
    shown = link(url, prompts.text("microsoft.connect.button")) or escape(url)
    return prompts.text("microsoft.connect.link", link=shown)


def _focus_line(services: Services, *, team_id: str, user_id: str) -> str:
    """ "\nFocus for the next few weeks: …" when the person has a focus, else nothing."""
    why = their_why(services, team_id=team_id, user_id=user_id)
    if why is None:
        return ""
    zone = interactions.user_zone(services, team_id=team_id, user_id=user_id)
    prompts = load_prompts()
    return "\n" + prompts.text(
        "settings.focus",
        practice=prompts.text(f"focus.name.{why.focus}"),
        since=day_words(why.focus_since.astimezone(zone)),
    )


def _prefs(services: Services, *, team_id: str, user_id: str) -> Prefs:
    """The user's preferences, for showing (no row is created for someone unknown)."""
    with session_scope(services.engine) as session:
        user = users.get_user(session=session, team_id=team_id, user_id=user_id)
        return Prefs.from_json(user.prefs if user else None)


def _hours(services: Services, *, team_id: str, user_id: str, hours: WorkingHours | None) -> str:
    """``/heedful hours``: show the working hours, or set them (and re-plan the nudges)."""
    prompts = load_prompts()
    zone = interactions.user_zone(services, team_id=team_id, user_id=user_id).key
    if hours is None:
        prefs = _prefs(services, team_id=team_id, user_id=user_id)
        words = hours_in_words(prompts, prefs)
        return prompts.text("hours.now", hours=words, zone=zone)
    save_settings(services, team_id=team_id, user_id=user_id, changes=hours.changes())
    prefs = _prefs(services, team_id=team_id, user_id=user_id)
    if prefs.quiet_hours_off:
        answer = prompts.text("hours.done_off")
    else:
        answer = prompts.text("hours.done", hours=hours_in_words(prompts, prefs), zone=zone)
    if prefs.digest_weekday not in prefs.working_days:  # their own choice: say, don't move
        day = prompts.text(f"day.{prefs.digest_weekday}")
        answer += "\n" + prompts.text("hours.digest_day_off", day=day, time=prefs.digest_time)
    return answer

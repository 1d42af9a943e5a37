"""What a tap, a form or a DM does, and what Heedful answers: the logic behind the
thin listeners in ``handlers/``. Nothing here calls Slack; each function returns what
the listener should post, update or open."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot import nudges, reflections, replies
from bot.messages import blocks as kit
from bot.messages.prompts import load_prompts
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import session_scope

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Update:
    """Replace a message's content (``chat.update``)."""

    text: str
    blocks: list[dict[str, Any]]


def user_zone(services: Services, *, team_id: str, user_id: str) -> ZoneInfo:
    with session_scope(services.engine) as session:
        user = repo.get_user(session, team_id=team_id, user_id=user_id)
        return ZoneInfo(user.tz if user and user.tz else "UTC")


def on_skip(
    services: Services, *, team_id: str, user_id: str, delivery_id: int, message: dict[str, Any]
) -> Update:
    title = nudges.skip_meeting(services, team_id=team_id, user_id=user_id, delivery_id=delivery_id)
    note = load_prompts().text("done.skipped", title=title or "")
    return _acted(message, "nudge", note)


def on_mute(
    services: Services, *, team_id: str, user_id: str, series_key: str, message: dict[str, Any]
) -> Update:
    title = nudges.mute_series(services, team_id=team_id, user_id=user_id, series_key=series_key)
    return _acted(message, "nudge", load_prompts().text("done.muted", title=title))


def on_tap(
    services: Services, *, team_id: str, user_id: str, value: str, message: dict[str, Any]
) -> Update | None:
    """A presence button: ``value`` is "<delivery id>:<1-5>"."""
    delivery, _, presence = value.partition(":")
    kept = reflections.capture_form(
        services,
        team_id=team_id,
        user_id=user_id,
        delivery_id=int(delivery),
        presence=int(presence),
        source="tap",
    )
    if kept in (reflections.Kept.NOTHING_OPEN, reflections.Kept.CLOSED):
        return _acted(message, "reflect", load_prompts().text(kept.value))
    prompts = load_prompts()
    label = next((prompts.text(pid) for pid, score in kit.TAPS if str(score) == presence), presence)
    note = replies.rotated(
        services,
        team_id=team_id,
        user_id=user_id,
        family=replies.TAPPED,
        delivery_id=int(delivery),
        answer=label,
    )
    return _acted(message, "reflect", note)


def reflection_form(
    services: Services, *, team_id: str, user_id: str, delivery_id: int
) -> dict[str, Any]:
    prompts = load_prompts()
    question = ""
    prompt, _ = reflections.prompt_for_delivery(
        services, team_id=team_id, user_id=user_id, delivery_id=delivery_id
    )
    if prompt is not None:  # only the person who was asked sees which question it was
        question_id = reflections.question_for(services, delivery_id=delivery_id)
        question = prompts[question_id].render() if question_id in prompts else ""
    return kit.build_reflection_form(prompts, delivery_id=delivery_id, question=question)


def on_reflection_form(
    services: Services, *, team_id: str, user_id: str, metadata: str, values: dict[str, Any]
) -> tuple[str | None, str] | None:
    """The form was submitted. Returns (thread_ts, text): the confirmation to post in the
    thread of the question, like a reply's (None: nothing to say)."""
    presence_raw = (
        (values.get(kit.BLOCK_PRESENCE, {}).get(kit.INPUT_PRESENCE) or {}).get("selected_option")
        or {}
    ).get("value")
    text = (values.get(kit.BLOCK_TEXT, {}).get(kit.INPUT_TEXT) or {}).get("value") or ""
    kept = reflections.capture_form(
        services,
        team_id=team_id,
        user_id=user_id,
        delivery_id=int(metadata),
        presence=int(presence_raw) if presence_raw else None,
        text=text,
    )
    note = reflections.confirmation(kept)
    if kept in (reflections.Kept.NEW, reflections.Kept.UPDATED):
        # No message of theirs to react to: a short line, rotated.
        note = replies.rotated(
            services,
            team_id=team_id,
            user_id=user_id,
            family=replies.KEPT_LINES,
            delivery_id=int(metadata),
        )
    if note is None:
        return None
    prompt, _ = reflections.prompt_for_delivery(
        services, team_id=team_id, user_id=user_id, delivery_id=int(metadata)
    )
    return (prompt.message_ts if prompt else None), note


def pause_form(services: Services, *, team_id: str, user_id: str) -> dict[str, Any]:
    zone = user_zone(services, team_id=team_id, user_id=user_id)
    tomorrow = (services.clock.now().astimezone(zone) + timedelta(days=1)).date()
    return kit.build_pause_form(load_prompts(), initial_date=tomorrow.isoformat())


def read_pause_form(values: dict[str, Any]) -> tuple[date | None, dict[str, str]]:
    """The chosen date, or errors by block id for the form (pure: no I/O before ack)."""
    raw = (values.get(kit.BLOCK_UNTIL, {}).get(kit.INPUT_UNTIL) or {}).get("selected_date")
    try:
        return date.fromisoformat(raw or ""), {}
    except ValueError:
        return None, {kit.BLOCK_UNTIL: load_prompts().text("pause.label")}


def pause_to(services: Services, *, team_id: str, user_id: str, day: date) -> str:
    """Pause until the start of ``day`` in the user's zone. Returns the confirmation."""
    zone = user_zone(services, team_id=team_id, user_id=user_id)
    until = datetime.combine(day, datetime.min.time(), zone)
    nudges.pause_until(services, team_id=team_id, user_id=user_id, until=until)
    return load_prompts().text("done.paused", until=f"{day:%A} {day.day} {day:%B}")


def resume(services: Services, *, team_id: str, user_id: str) -> str:
    nudges.pause_until(services, team_id=team_id, user_id=user_id, until=None)
    return load_prompts().text("done.resumed")


def on_direct_message(
    services: Services, *, team_id: str, event: dict[str, Any]
) -> tuple[str, str] | None:
    """A DM event. Returns (thread_ts, text) to answer in a thread, or None."""
    if event.get("subtype") == "message_deleted":
        # Slack documents only channel and deleted_ts; previous_message usually comes too.
        previous = event.get("previous_message") or {}
        if previous.get("bot_id"):  # one of Heedful's own messages
            return None
        reflections.forget_message(
            services,
            team_id=team_id,
            user_id=previous.get("user") if isinstance(previous.get("user"), str) else None,
            channel=event.get("channel") if isinstance(event.get("channel"), str) else None,
            ts=str(event.get("deleted_ts") or previous.get("ts") or ""),
        )
        return None  # deleted quietly: a DM about it would be noise in the person's DM
    if event.get("subtype") == "message_changed":
        edited = event.get("message") or {}
        if not edited.get("user") or edited.get("bot_id"):
            return None
        kept = reflections.capture_edit(
            services,
            team_id=team_id,
            user_id=edited["user"],
            ts=str(edited.get("ts")),
            text=str(edited.get("text") or ""),
        )
        # An edit is taken quietly, unless it had to be cut: nothing is cut silently.
        if kept is not reflections.Kept.TRUNCATED:
            return None
        note = reflections.confirmation(kept)
        return (str(edited.get("thread_ts") or edited.get("ts")), note) if note else None
    if event.get("subtype") or event.get("bot_id") or not event.get("user"):
        return None
    kept = reflections.capture_message(
        services,
        team_id=team_id,
        user_id=event["user"],
        text=str(event.get("text") or ""),
        ts=str(event["ts"]),
        thread_ts=event.get("thread_ts"),
    )
    thread_ts = event.get("thread_ts") or event["ts"]
    channel = event.get("channel")
    if kept is reflections.Kept.NEW and isinstance(channel, str) and channel:
        # Acknowledged on the message itself (a reaction; a line only if that fails).
        replies.acknowledge(
            services,
            team_id=team_id,
            user_id=event["user"],
            channel=channel,
            ts=str(event["ts"]),
            thread_ts=thread_ts,
        )
        return None
    text = reflections.confirmation(kept)
    if kept is reflections.Kept.NEW:  # no channel named: the line, in the thread
        text = replies.rotated(
            services, team_id=team_id, user_id=event["user"], family=replies.KEPT_LINES
        )
    return (thread_ts, text) if text else None


def _acted(message: dict[str, Any], block_id: str, note: str) -> Update:
    blocks = kit.replace_actions(list(message.get("blocks") or []), block_id, note)
    return Update(text=str(message.get("text") or note), blocks=blocks)

"""What a tap, a form or a DM does, and what Heedful answers: the logic behind the
thin listeners in ``handlers/``. Each use case takes the payload as Slack sent it
(``body``, ``view``, ``event``) and reads it here; a confirmation DM goes through the
outbox (``bot.replies``) under a key made here from the payload, so a repeat cannot
confirm twice. Nothing here calls Slack; each function returns what the listener
should update or open."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot import commitments, nudges, reflections, replies
from bot.messages import blocks as kit
from bot.messages.prompts import load_prompts
from bot.replies import reply
from bot.services import Services
from bot.storage import scheduled, users
from bot.storage.db import session_scope

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Update:
    """Replace the content of the message ``ts`` in ``channel`` (``chat.update``)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]


def user_zone(services: Services, *, team_id: str, user_id: str) -> ZoneInfo:
    with session_scope(services.engine) as session:
        user = users.get_user(session=session, team_id=team_id, user_id=user_id)
        return ZoneInfo(user.tz if user and user.tz else "UTC")


def on_skip(services: Services, *, team_id: str, user_id: str, body: dict[str, Any]) -> Update:
    """ "Skip this one" on a reminder: the button's value is the delivery id."""
    title = nudges.skip_meeting(
        services, team_id=team_id, user_id=user_id, delivery_id=int(_value(body))
    )
    note = load_prompts().text("done.skipped", title=title or "")
    return _acted(body, "nudge", note)


def on_mute(services: Services, *, team_id: str, user_id: str, body: dict[str, Any]) -> Update:
    """ "Mute this series": the button's value is the series key."""
    title = nudges.mute_series(services, team_id=team_id, user_id=user_id, series_key=_value(body))
    return _acted(body, "nudge", load_prompts().text("done.muted", title=title))


def on_tap(services: Services, *, team_id: str, user_id: str, body: dict[str, Any]) -> Update:
    """A presence button: its value is "<delivery id>:<1-5>"."""
    delivery, _, presence = _value(body).partition(":")
    _adopt_ts(services, team_id=team_id, user_id=user_id, delivery_id=int(delivery), body=body)
    kept = reflections.capture_form(
        services,
        team_id=team_id,
        user_id=user_id,
        delivery_id=int(delivery),
        presence=int(presence),
        source="tap",
    )
    if kept in (reflections.Kept.NOTHING_OPEN, reflections.Kept.CLOSED):
        return _acted(body, "reflect", load_prompts().text(kept.value))
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
    return _acted(body, "reflect", note)


def reflection_form(
    services: Services, *, team_id: str, user_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The "Write a line" form for the question whose delivery id is the button's value."""
    prompts = load_prompts()
    delivery_id = int(_value(body))
    _adopt_ts(services, team_id=team_id, user_id=user_id, delivery_id=delivery_id, body=body)
    question = ""
    prompt, _ = reflections.prompt_for_delivery(
        services, team_id=team_id, user_id=user_id, delivery_id=delivery_id
    )
    if prompt is not None:  # only the person who was asked sees which question it was
        question_id = reflections.question_for(services, delivery_id=delivery_id)
        question = prompts[question_id].render() if question_id in prompts else ""
    return kit.build_reflection_form(prompts, delivery_id=delivery_id, question=question)


def on_reflection_form(
    services: Services, *, team_id: str, user_id: str, view: dict[str, Any]
) -> None:
    """The "Write a line" form was submitted: keep it, and queue the confirmation for the
    thread of the question, like a reply's (one per submitted view)."""
    values = view["state"]["values"]
    metadata = view.get("private_metadata") or "0"
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
        return
    prompt, _ = reflections.prompt_for_delivery(
        services, team_id=team_id, user_id=user_id, delivery_id=int(metadata)
    )
    thread_ts = prompt.message_ts if prompt else None
    if kept in (reflections.Kept.NEW, reflections.Kept.UPDATED):
        # An intention for next time in what they wrote: offer to bring it back.
        commitments.offer(
            services,
            team_id=team_id,
            user_id=user_id,
            delivery_id=int(metadata),
            thread_ts=thread_ts,
        )
    reply(
        services,
        team_id=team_id,
        user_id=user_id,
        text=note,
        thread_ts=thread_ts,
        key=f"form:{_view_key(view, thread_ts)}",
    )


def pause_form(services: Services, *, team_id: str, user_id: str) -> dict[str, Any]:
    zone = user_zone(services, team_id=team_id, user_id=user_id)
    tomorrow = (services.clock.now().astimezone(zone) + timedelta(days=1)).date()
    return kit.build_pause_form(load_prompts(), initial_date=tomorrow.isoformat())


def pause_form_errors(view: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with a submitted pause form, by block id (pure: it runs before
    the ack, and any error keeps the form open)."""
    return _pause_day(view)[1]


def on_pause_form(services: Services, *, team_id: str, user_id: str, view: dict[str, Any]) -> None:
    """The pause form was submitted (and passed :func:`pause_form_errors`): pause, and
    queue the confirmation (one per submitted view)."""
    day, errors = _pause_day(view)
    if day is None:
        raise ValueError(f"a pause form with errors was submitted: {sorted(errors)}")
    text = pause_to(services, team_id=team_id, user_id=user_id, day=day)
    key = f"pause:{_view_key(view, day.isoformat())}"
    reply(services, team_id=team_id, user_id=user_id, text=text, key=key)


def _pause_day(view: Mapping[str, Any]) -> tuple[date | None, dict[str, str]]:
    values = view["state"]["values"]
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


def on_direct_message(services: Services, *, team_id: str, event: dict[str, Any]) -> None:
    """A ``message`` event (Bolt routes every one here, whatever its subtype): in a DM
    to Heedful, an answer to a reflection question, an edit of one, or its deletion.
    A confirmation is queued in the answer's thread, once per message (and edit)."""
    # Slack's documented message_deleted carries no channel_type: its owner is found
    # from the DM channel (bot.reflections.forget_message).
    if event.get("channel_type") != "im" and event.get("subtype") != "message_deleted":
        return
    answer = _answer(services, team_id=team_id, event=event)
    if answer is None:
        return
    user_id, thread_ts, text = answer
    edited = (event.get("message") or {}).get("ts", "")
    reply(
        services,
        team_id=team_id,
        user_id=user_id,
        text=text,
        thread_ts=thread_ts,
        key=f"message:{event.get('ts')}:{edited}",
    )


def _answer(
    services: Services, *, team_id: str, event: dict[str, Any]
) -> tuple[str, str, str] | None:
    """What to answer a DM event with: (user id, thread_ts, text), or None."""
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
        thread_ts = str(edited.get("thread_ts") or edited.get("ts"))
        return (edited["user"], thread_ts, note) if note else None
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
    if kept in (reflections.Kept.NEW, reflections.Kept.TRUNCATED):
        # An intention for next time in their answer: offer to bring it back (after the
        # acknowledgement, in the same thread).
        commitments.offer(
            services,
            team_id=team_id,
            user_id=event["user"],
            message_ts=str(event["ts"]),
            thread_ts=thread_ts,
        )
    if kept is reflections.Kept.NEW and isinstance(channel, str) and channel:
        return None
    text = reflections.confirmation(kept)
    if kept is reflections.Kept.NEW:  # no channel named: the line, in the thread
        text = replies.rotated(
            services, team_id=team_id, user_id=event["user"], family=replies.KEPT_LINES
        )
    return (event["user"], thread_ts, text) if text else None


def _adopt_ts(
    services: Services, *, team_id: str, user_id: str, delivery_id: int, body: Mapping[str, Any]
) -> None:
    """A tap on a message Slack posted for us ahead of time tells its ts, which we were
    never told (``bot.prescheduler``): keep it, so answers in its thread find it."""
    ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts")
    if ts:
        scheduled.adopt_message_ts(
            services.engine, team_id=team_id, user_id=user_id, delivery_id=delivery_id, ts=str(ts)
        )


def _value(body: Mapping[str, Any]) -> str:
    """The value of the button that was tapped."""
    return str(body["actions"][0]["value"])


def _view_key(view: Mapping[str, Any], fallback: str | None) -> str:
    """What names one submitted form: Slack's view id (or hash)."""
    return str(view.get("id") or view.get("hash") or fallback)


def _acted(body: Mapping[str, Any], block_id: str, note: str) -> Update:
    """The tapped message with its buttons in ``block_id`` replaced by ``note``."""
    message = body.get("message") or {}
    blocks = kit.replace_actions(list(message.get("blocks") or []), block_id, note)
    return Update(
        channel=body["channel"]["id"],
        ts=message["ts"],
        text=str(message.get("text") or note),
        blocks=blocks,
    )

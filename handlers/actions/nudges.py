"""Taps on a reminder or a reflection prompt. Each: ack, one call into bot/, one Slack call."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot import interactions

logger = logging.getLogger(__name__)


def _update(client: WebClient, body: dict[str, Any], update: interactions.Update | None) -> None:
    if update is not None:
        client.chat_update(
            channel=body["channel"]["id"],
            ts=body["message"]["ts"],
            text=update.text,
            blocks=update.blocks,
        )


def handle_skip(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    ack()
    try:
        update = interactions.on_skip(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            delivery_id=int(body["actions"][0]["value"]),
            message=body.get("message") or {},
        )
        _update(client, body, update)
    except Exception:
        logger.exception("skip failed")


def handle_mute(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    ack()
    try:
        update = interactions.on_mute(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            series_key=body["actions"][0]["value"],
            message=body.get("message") or {},
        )
        _update(client, body, update)
    except Exception:
        logger.exception("mute failed")


def handle_pause(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    ack()
    try:
        view = interactions.pause_form(
            context["heedful"], team_id=context.team_id, user_id=context.user_id
        )
        client.views_open(trigger_id=body["trigger_id"], view=view)
    except Exception:
        logger.exception("opening the pause form failed")


def handle_tap(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    ack()
    try:
        update = interactions.on_tap(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            value=body["actions"][0]["value"],
            message=body.get("message") or {},
        )
        _update(client, body, update)
    except Exception:
        logger.exception("storing a tap failed")


def handle_write(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    ack()
    try:
        view = interactions.reflection_form(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            delivery_id=int(body["actions"][0]["value"]),
        )
        client.views_open(trigger_id=body["trigger_id"], view=view)
    except Exception:
        logger.exception("opening the reflection form failed")

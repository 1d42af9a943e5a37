"""Taps about feedback from others: a series turned on or off on the Home tab, a 1:1's
*Ask them how it was*, and an attendee's answer or *never ask me again*. Each: ack, one
call into ``bot.feedback``, one Slack call."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot import feedback

logger = logging.getLogger(__name__)


def handle_feedback_series(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    ack()
    try:
        view = feedback.toggle_series(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            action=body["actions"][0],
        )
        client.views_publish(user_id=context.user_id, view=view)
    except Exception:
        logger.exception("turning feedback on or off failed")


def handle_feedback_words(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    try:
        client.views_open(trigger_id=body["trigger_id"], view=feedback.words_form())
    except Exception:
        logger.exception("opening the feedback words failed")


def handle_feedback_answer(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    ack()
    try:
        text, blocks = feedback.on_answer(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            action=body["actions"][0],
            message=body.get("message") or {},
        )
        client.chat_update(
            channel=body["channel"]["id"], ts=body["message"]["ts"], text=text, blocks=blocks
        )
    except Exception:
        logger.exception("storing a feedback answer failed")


def handle_feedback_never(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    ack()
    try:
        text, blocks = feedback.never_ask(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            message=body.get("message") or {},
        )
        client.chat_update(
            channel=body["channel"]["id"], ts=body["message"]["ts"], text=text, blocks=blocks
        )
    except Exception:
        logger.exception("storing never-ask-again failed")

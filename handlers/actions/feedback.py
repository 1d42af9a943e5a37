"""Taps about feedback from others: a series turned on or off on the Home tab or from a
reflection question's *Ask for feedback next time*, a 1:1's
*Ask them how it was*, and an attendee's answer or *never ask me again*. Each: one call
into ``bot.feedback``, one Slack call."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot import feedback, home
from bot.listener import acked, replace_tapped
from bot.services import Services


@acked
def handle_feedback_series(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    view = home.on_feedback_toggle(
        services, team_id=team_id, user_id=user_id, action=body["actions"][0]
    )
    client.views_publish(user_id=user_id, view=view)


@acked
def handle_feedback_opt_in(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    replace_tapped(
        client,
        body,
        *home.on_feedback_opt_in(
            services,
            team_id=team_id,
            user_id=user_id,
            action=body["actions"][0],
            message=body.get("message") or {},
        ),
    )


@acked
def handle_feedback_words(body: dict[str, Any], client: WebClient) -> None:
    client.views_open(trigger_id=body["trigger_id"], view=feedback.words_form())


@acked
def handle_feedback_answer(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    replace_tapped(
        client,
        body,
        *feedback.on_answer(
            services,
            team_id=team_id,
            user_id=user_id,
            action=body["actions"][0],
            message=body.get("message") or {},
        ),
    )


@acked
def handle_feedback_never(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    replace_tapped(
        client,
        body,
        *feedback.never_ask(
            services, team_id=team_id, user_id=user_id, message=body.get("message") or {}
        ),
    )

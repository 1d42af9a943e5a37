"""Taps on a reminder or a reflection question: one call into bot/, one Slack call."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot import interactions
from bot.listener import acked
from bot.services import Services


@acked
def handle_skip(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    done = interactions.on_skip(services, team_id=team_id, user_id=user_id, body=body)
    client.chat_update(channel=done.channel, ts=done.ts, text=done.text, blocks=done.blocks)


@acked
def handle_mute(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    done = interactions.on_mute(services, team_id=team_id, user_id=user_id, body=body)
    client.chat_update(channel=done.channel, ts=done.ts, text=done.text, blocks=done.blocks)


@acked
def handle_pause(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    view = interactions.pause_form(services, team_id=team_id, user_id=user_id)
    client.views_open(trigger_id=body["trigger_id"], view=view)


@acked
def handle_tap(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    done = interactions.on_tap(services, team_id=team_id, user_id=user_id, body=body)
    client.chat_update(channel=done.channel, ts=done.ts, text=done.text, blocks=done.blocks)


@acked
def handle_write(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    view = interactions.reflection_form(services, team_id=team_id, user_id=user_id, body=body)
    client.views_open(trigger_id=body["trigger_id"], view=view)

"""Taps about commitments: *Bring this back* under an answer, *Did you do it?* on a
reflection question, and *Did it* / *Drop* on the Home tab. Each: one call into ``bot/``,
one Slack call."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot import commitments, home
from bot.listener import acked, replace_tapped
from bot.services import Services


@acked
def handle_commitment_keep(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    replace_tapped(
        client,
        body,
        *commitments.accept(
            services,
            team_id=team_id,
            user_id=user_id,
            action=body["actions"][0],
            message=body.get("message") or {},
        ),
    )


@acked
def handle_commitment_check(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    replace_tapped(
        client,
        body,
        *commitments.on_check(
            services,
            team_id=team_id,
            user_id=user_id,
            action=body["actions"][0],
            message=body.get("message") or {},
        ),
    )


@acked
def handle_commitment_home(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    view = home.on_commitment(services, team_id=team_id, user_id=user_id, action=body["actions"][0])
    client.views_publish(user_id=user_id, view=view)

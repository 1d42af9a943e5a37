"""The "Write my why" / "Edit" / "Choose another" button (welcome DM, Home tab, digest):
open the form; and the digest's three-week offer, *Keep it* or *Move on*: one call into
``bot.why``, one Slack call."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot import why
from bot.listener import acked, replace_tapped
from bot.services import Services


@acked
def handle_why_open(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    view = why.form_view(services, team_id=team_id, user_id=user_id)
    client.views_open(trigger_id=body["trigger_id"], view=view)


@acked
def handle_focus_keep(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    replace_tapped(
        client,
        body,
        *why.on_focus_keep(
            services,
            team_id=team_id,
            user_id=user_id,
            action=body["actions"][0],
            message=body.get("message") or {},
        ),
    )


@acked
def handle_focus_next(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    replace_tapped(
        client,
        body,
        *why.on_focus_next(
            services,
            team_id=team_id,
            user_id=user_id,
            action=body["actions"][0],
            message=body.get("message") or {},
        ),
    )

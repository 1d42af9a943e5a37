"""The "Write my why" / "Edit" button (welcome DM and Home tab): open the form."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot import why
from bot.listener import acked
from bot.services import Services


@acked
def handle_why_open(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    view = why.form_view(services, team_id=team_id, user_id=user_id)
    client.views_open(trigger_id=body["trigger_id"], view=view)

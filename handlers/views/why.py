"""The "Your why" form was submitted: refused with field errors, or saved and Home shown."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot import why
from bot.listener import acked
from bot.services import Services


@acked(refuse=why.form_errors)
def handle_why_submission(
    services: Services, team_id: str, user_id: str, view: dict[str, Any], client: WebClient
) -> None:
    home = why.on_form(services, team_id=team_id, user_id=user_id, view=view)
    client.views_publish(user_id=user_id, view=home)

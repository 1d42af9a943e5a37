from __future__ import annotations

from typing import Any

from bot.services import Services
from bot.users import on_user_change


def handle_user_change(services: Services, team_id: str, event: dict[str, Any]) -> None:
    """A person changed their profile: keep their time zone current."""
    on_user_change(services, team_id=team_id, event=event)

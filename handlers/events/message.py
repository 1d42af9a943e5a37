from __future__ import annotations

from typing import Any

from bot.interactions import on_direct_message
from bot.services import Services


def handle_message(services: Services, team_id: str, event: dict[str, Any]) -> None:
    """A DM to Heedful: an answer to a reflection question, an edit of one, or its
    deletion. Bolt routes every ``message`` event here, whatever its subtype."""
    on_direct_message(services, team_id=team_id, event=event)

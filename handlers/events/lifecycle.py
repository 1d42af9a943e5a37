from __future__ import annotations

from typing import Any

from bot.services import Services
from bot.workspaces import on_tokens_revoked, on_uninstalled


def handle_app_uninstalled(services: Services, team_id: str) -> None:
    on_uninstalled(services, team_id=team_id)


def handle_tokens_revoked(services: Services, team_id: str, event: dict[str, Any]) -> None:
    on_tokens_revoked(services, team_id=team_id, event=event)

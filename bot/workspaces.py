"""Workspace lifecycle: uninstall and revoked tokens stop all sending."""

from __future__ import annotations

import logging

from bot.services import Services
from bot.storage import repository as repo

logger = logging.getLogger(__name__)


def on_uninstalled(services: Services, *, team_id: str) -> None:
    """``app_uninstalled``: stop everything and forget the whole workspace."""
    from bot.privacy import purge_team

    repo.pause_installation(
        services.engine, team_id=team_id, reason="app_uninstalled", now=services.clock.now()
    )
    purge_team(services, team_id=team_id)


def on_tokens_revoked(services: Services, *, team_id: str, bot_user_ids: list[str]) -> None:
    """``tokens_revoked``: if the bot token went, stop sending until a new install."""
    if not bot_user_ids:
        return
    repo.pause_installation(
        services.engine, team_id=team_id, reason="tokens_revoked", now=services.clock.now()
    )
    logger.warning("bot token revoked for workspace %s; sending paused", team_id)

"""Workspace lifecycle: uninstall and revoked tokens stop all sending."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.services import Services
from bot.storage import installations

logger = logging.getLogger(__name__)


def on_uninstalled(services: Services, *, team_id: str) -> None:
    """``app_uninstalled``: stop everything and forget the whole workspace."""
    from bot.privacy import purge_team

    installations.pause_installation(
        engine=services.engine, team_id=team_id, reason="app_uninstalled", now=services.clock.now()
    )
    purge_team(services, team_id=team_id)


def on_tokens_revoked(services: Services, *, team_id: str, event: Mapping[str, Any]) -> None:
    """``tokens_revoked``: if the bot token went (``event["tokens"]["bot"]`` names the
    bot users whose tokens were revoked), stop sending until a new install."""
    if not (event.get("tokens") or {}).get("bot"):
        return
    installations.pause_installation(
        engine=services.engine, team_id=team_id, reason="tokens_revoked", now=services.clock.now()
    )
    logger.warning("bot token revoked for workspace %s; sending paused", team_id)

"""Workspace lifecycle: uninstall and revoked tokens stop all sending."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from bot.services import Services
from bot.storage import repository as repo
from bot.storage.models import Installation

logger = logging.getLogger(__name__)


def on_uninstalled(services: Services, *, team_id: str) -> None:
    """``app_uninstalled``: stop sending to the workspace and forget its token."""
    now = services.clock.now()
    repo.pause_installation(services.engine, team_id=team_id, reason="app_uninstalled", now=now)
    table = Installation.__table__  # type: ignore[attr-defined]
    with services.engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.team_id == team_id)
            .values(uninstalled_at=now, bot_token=None)
        )
    services.forget_authorization(team_id)
    logger.warning("Heedful was uninstalled from workspace %s", team_id)


def on_tokens_revoked(services: Services, *, team_id: str, bot_user_ids: list[str]) -> None:
    """``tokens_revoked``: if the bot token went, stop sending until a new install."""
    if not bot_user_ids:
        return
    repo.pause_installation(
        services.engine, team_id=team_id, reason="tokens_revoked", now=services.clock.now()
    )
    logger.warning("bot token revoked for workspace %s; sending paused", team_id)

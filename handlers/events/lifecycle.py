from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext

from bot.workspaces import on_tokens_revoked, on_uninstalled


def handle_app_uninstalled(context: BoltContext) -> None:
    on_uninstalled(context["heedful"], team_id=context.team_id)


def handle_tokens_revoked(event: dict[str, Any], context: BoltContext) -> None:
    bots = list((event.get("tokens") or {}).get("bot") or [])
    on_tokens_revoked(context["heedful"], team_id=context.team_id, bot_user_ids=bots)

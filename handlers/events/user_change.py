from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext

from bot.users import on_user_change


def handle_user_change(event: dict[str, Any], context: BoltContext) -> None:
    """A person changed their profile: keep their time zone current."""
    on_user_change(context["heedful"], team_id=context.team_id, profile=event.get("user") or {})

"""What the App Home shows a person."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.messages.blocks import build_home_view
from bot.messages.prompts import load_prompts
from bot.services import Services
from bot.users import remember_user


def open_home(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    dm_channel: str | None = None,
    profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Record the visit and return the Home view to publish."""
    user = remember_user(
        services, team_id=team_id, user_id=user_id, profile=profile, dm_channel=dm_channel
    )
    return build_home_view(load_prompts(), zone=user.tz, connected=user.opted_in_at is not None)

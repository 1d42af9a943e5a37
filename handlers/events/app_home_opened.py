from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.home import open_home
from bot.users import needs_profile


def handle_app_home_opened(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """Publish the Home tab (and learn the user's zone on the way)."""
    if event.get("tab") not in (None, "home"):
        return
    heedful = context["heedful"]
    team_id, user_id = context.team_id, event["user"]
    profile = None
    if needs_profile(heedful, team_id=team_id, user_id=user_id):
        profile = client.users_info(user=user_id)["user"]
    view = open_home(
        heedful, team_id=team_id, user_id=user_id, dm_channel=event.get("channel"), profile=profile
    )
    client.views_publish(user_id=user_id, view=view)

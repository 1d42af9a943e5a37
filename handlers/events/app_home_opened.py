from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.home import open_home
from bot.users import needs_profile

logger = logging.getLogger(__name__)


def handle_app_home_opened(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """Publish the Home tab (and learn the user's zone on the way).

    A view Slack refuses is logged and the event is finished: publishing the same view
    again cannot help, and the next visit publishes a fresh one. (The inbox retries a
    listener that raises, so letting the error out would repeat it with every retry.)
    """
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
    try:
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as exc:
        logger.warning(
            "Slack refused the Home tab of %s (%s); not retried",
            user_id,
            exc.response.get("error"),
        )

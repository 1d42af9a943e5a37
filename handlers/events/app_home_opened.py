from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import home
from bot.services import Services

logger = logging.getLogger(__name__)


def handle_app_home_opened(
    services: Services, team_id: str, user_id: str, event: dict[str, Any], client: WebClient
) -> None:
    """Publish the Home tab (and learn the user's zone on the way).

    A view Slack refuses is logged and the event is finished: publishing the same view
    again cannot help, and the next visit publishes a fresh one. (The inbox retries a
    listener that raises, so letting the error out would repeat it with every retry.)
    """
    view = home.on_home_opened(
        services,
        team_id=team_id,
        user_id=user_id,
        event=event,
        profile=lambda: client.users_info(user=user_id)["user"],
    )
    if view is None:
        return
    try:
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as exc:
        logger.warning(
            "Slack refused the Home tab of %s (%s); not retried",
            user_id,
            exc.response.get("error"),
        )

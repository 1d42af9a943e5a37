"""The "Write my why" / "Edit" button (welcome DM and Home tab): open the form."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot import why

logger = logging.getLogger(__name__)


def handle_why_open(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    ack()
    try:
        view = why.form_view(context["heedful"], team_id=context.team_id, user_id=context.user_id)
        client.views_open(trigger_id=body["trigger_id"], view=view)
    except Exception:
        logger.exception("opening the why form failed")

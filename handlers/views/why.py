"""The "Your why" form was submitted: refuse it with field errors, or save and show Home."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot import why

logger = logging.getLogger(__name__)


def handle_why_submission(
    ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    form, errors = why.read_form(view["state"]["values"])
    if form is None:
        ack(response_action="errors", errors=errors)
        return
    ack()
    try:
        home = why.submit(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            form=form,
            submission_id=str(view.get("id") or view.get("hash") or ""),
        )
        client.views_publish(user_id=context.user_id, view=home)
    except Exception:
        logger.exception("saving the why failed")

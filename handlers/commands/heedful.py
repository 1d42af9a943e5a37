from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot import commands
from bot.messages.prompts import load_prompts

logger = logging.getLogger(__name__)


def handle_heedful(
    ack: Ack, command: dict[str, Any], context: BoltContext, respond: Respond, client: WebClient
) -> None:
    """``/heedful …``: ack at once (connect fetches a calendar), answer ephemerally."""
    heedful = context["heedful"]
    text = command.get("text") or ""
    if text.strip().lower().startswith("connect "):
        ack(text=load_prompts().text("connect.checking"))
    else:
        ack()
    try:
        today = commands.user_today(heedful, team_id=context.team_id, user_id=context.user_id)
        parsed = commands.parse(text, today=today)
        answer = commands.reply(
            heedful, team_id=context.team_id, user_id=context.user_id, command=parsed
        )
        respond(
            text=answer.text,
            blocks=answer.blocks,
            response_type="ephemeral",
            replace_original=False,
        )
        if answer.upload is not None:
            upload_to_dm(client, context.user_id, answer.upload)
    except Exception:
        logger.exception("/heedful failed")


def upload_to_dm(client: WebClient, user_id: str, upload: commands.Upload) -> None:
    """Slack's file upload flow (files.getUploadURLExternal + completeUploadExternal)."""
    channel = client.conversations_open(users=user_id)["channel"]["id"]
    client.files_upload_v2(
        channel=channel,
        content=upload.content,
        filename=upload.filename,
        title=upload.filename,
        initial_comment=upload.comment,
    )

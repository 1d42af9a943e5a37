from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot import commands
from bot.messages.prompts import load_prompts
from bot.slow_work import Busy

logger = logging.getLogger(__name__)


def handle_heedful(
    ack: Ack, command: dict[str, Any], context: BoltContext, respond: Respond, client: WebClient
) -> None:
    """``/heedful …``: ack at once, answer ephemerally. ``connect`` fetches a calendar,
    which is slow: it runs on the slow-work pool (``bot.slow_work``), never here."""
    heedful = context["heedful"]
    text = command.get("text") or ""
    if text.strip().lower().startswith("connect "):
        _connect_in_background(ack, heedful, context, respond, text)
        return
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


def _connect_in_background(
    ack: Ack, heedful: Any, context: BoltContext, respond: Respond, text: str
) -> None:
    """Ack with "checking…" (or why not now), then connect on the slow-work pool and
    answer through ``respond`` (the command's response_url)."""
    team_id, user_id = context.team_id, context.user_id
    slot = heedful.slow_work.reserve((team_id, user_id))
    if isinstance(slot, Busy):
        ack(text=load_prompts().text(f"slow_work.busy.{slot.value}"))
        return

    def connect() -> None:
        try:
            today = commands.user_today(heedful, team_id=team_id, user_id=user_id)
            parsed = commands.parse(text, today=today)
            answer = commands.run(heedful, team_id=team_id, user_id=user_id, command=parsed)
            respond(text=answer, response_type="ephemeral", replace_original=False)
        except Exception:
            logger.exception("/heedful connect failed")

    try:
        ack(text=load_prompts().text("connect.checking"))
    except BaseException:
        slot.release()
        raise
    slot.start(connect)


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

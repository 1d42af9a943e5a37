"""``/heedful …``: answered ephemerally, through ``respond``."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot import commands, connecting
from bot.listener import acked
from bot.services import Services
from bot.slack import upload_to_dm


@acked
def handle_heedful(
    services: Services,
    team_id: str,
    user_id: str,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
) -> None:
    text = command.get("text") or ""
    answer = commands.answer(services, team_id=team_id, user_id=user_id, text=text)
    respond(
        text=answer.text, blocks=answer.blocks, response_type="ephemeral", replace_original=False
    )
    if answer.upload is not None:
        upload_to_dm(client, user_id, answer.upload)


@acked
def handle_heedful_connect(
    ack: Ack,
    services: Services,
    team_id: str,
    user_id: str,
    command: dict[str, Any],
    respond: Respond,
) -> None:
    """``/heedful connect <url>``: "checking…" (or why not now) in the ack; the feed is
    read on the slow-work pool, and the answer comes through ``respond``."""
    text = command.get("text") or ""
    later = connecting.from_command(services, team_id=team_id, user_id=user_id, text=text)
    later.start(
        after=lambda: ack(text=later.says),
        then=lambda answer: respond(text=answer, response_type="ephemeral", replace_original=False),
    )


def is_connect(command: dict[str, Any]) -> bool:
    """Bolt's matcher for :func:`handle_heedful_connect`."""
    return connecting.is_connect(command.get("text") or "")

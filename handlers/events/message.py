from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.interactions import on_direct_message


def handle_message(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """A DM to Heedful: an answer to a reflection question, or an edit of one."""
    if event.get("channel_type") != "im":
        return
    answer = on_direct_message(context["heedful"], team_id=context.team_id, event=event)
    if answer is not None:
        thread_ts, text = answer
        client.chat_postMessage(
            channel=event.get("channel") or event["user"], thread_ts=thread_ts, text=text
        )

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext

from bot.interactions import on_direct_message
from bot.replies import reply


def handle_message(event: dict[str, Any], context: BoltContext) -> None:
    """A DM to Heedful: an answer to a reflection question, an edit of one, or its
    deletion. Bolt routes every ``message`` event here, whatever its subtype."""
    # Slack's documented message_deleted carries no channel_type: its owner is found
    # from the DM channel (bot.reflections.forget_message).
    if event.get("channel_type") != "im" and event.get("subtype") != "message_deleted":
        return
    heedful = context["heedful"]
    answer = on_direct_message(heedful, team_id=context.team_id, event=event)
    if answer is not None:
        thread_ts, text = answer
        reply(
            heedful,
            team_id=context.team_id,
            user_id=context.user_id,
            text=text,
            thread_ts=thread_ts,
            key=f"message:{event.get('ts')}:{(event.get('message') or {}).get('ts', '')}",
        )

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot import commands, home, interactions, privacy
from bot.messages import blocks as kit
from bot.messages.prompts import load_prompts
from bot.replies import reply
from bot.slow_work import Busy

logger = logging.getLogger(__name__)


def handle_reflection_submission(
    ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """The "Write a line" form: store it, then a quiet confirmation in the question's thread."""
    ack()
    try:
        answer = interactions.on_reflection_form(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            metadata=view.get("private_metadata") or "0",
            values=view["state"]["values"],
        )
        if answer is not None:
            thread_ts, text = answer
            reply(
                context["heedful"],
                team_id=context.team_id,
                user_id=context.user_id,
                text=text,
                thread_ts=thread_ts,
                key=f"form:{view.get('id') or view.get('hash') or thread_ts}",
            )
    except Exception:
        logger.exception("storing a reflection form failed")


def handle_pause_submission(
    ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    day, errors = interactions.read_pause_form(view["state"]["values"])
    if day is None:
        ack(response_action="errors", errors=errors)
        return
    ack()
    try:
        heedful = context["heedful"]
        text = interactions.pause_to(
            heedful, team_id=context.team_id, user_id=context.user_id, day=day
        )
        reply(
            heedful,
            team_id=context.team_id,
            user_id=context.user_id,
            text=text,
            key=f"pause:{view.get('id') or view.get('hash') or day.isoformat()}",
        )
    except Exception:
        logger.exception("confirming a pause failed")


def handle_connect_submission(
    ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """Close the form at once, then connect on the slow-work pool (``bot.slow_work``),
    never on Bolt's listener threads: the answer comes as a DM and the Home tab is
    refreshed. While the person's previous calendar is still being checked (or the pool
    is full) the form stays open and says so."""
    heedful = context["heedful"]
    team_id, user_id = context.team_id, context.user_id
    url = ((view["state"]["values"].get(kit.BLOCK_URL) or {}).get(kit.INPUT_URL) or {}).get("value")
    slot = heedful.slow_work.reserve((team_id, user_id))
    if isinstance(slot, Busy):
        busy = load_prompts().text(f"slow_work.busy.{slot.value}")
        ack(response_action="errors", errors={kit.BLOCK_URL: busy})
        return

    def connect() -> None:
        try:
            answer = commands.run(
                heedful,
                team_id=team_id,
                user_id=user_id,
                command=commands.Command(
                    "connect", argument=url or "", error=None if url else "command.connect_usage"
                ),
            )
            reply(
                heedful,
                team_id=team_id,
                user_id=user_id,
                text=answer,
                key=f"connect:{view.get('id') or view.get('hash') or url}",
            )
            client.views_publish(
                user_id=user_id,
                view=home.home_view(heedful, team_id=team_id, user_id=user_id),
            )
        except Exception:
            logger.exception("connecting a calendar from the Home tab failed")

    try:
        ack()
    except BaseException:
        slot.release()
        raise
    slot.start(connect)


def handle_settings_submission(
    ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    changes, errors = home.read_settings_form(view["state"]["values"])
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()
    heedful = context["heedful"]
    try:
        home.save_settings(
            heedful, team_id=context.team_id, user_id=context.user_id, changes=changes
        )
        client.views_publish(
            user_id=context.user_id,
            view=home.home_view(heedful, team_id=context.team_id, user_id=context.user_id),
        )
    except Exception:
        logger.exception("saving settings failed")


def handle_erase_submission(ack: Ack, context: BoltContext, client: WebClient) -> None:
    """The Home tab's erase form: erase, refresh the Home tab, confirm in the DM.

    The confirmation is posted directly, not through the outbox: an outbox row would be
    a row about the person, just erased."""
    ack()
    heedful = context["heedful"]
    try:
        privacy.erase_user(heedful, team_id=context.team_id, user_id=context.user_id)
        client.views_publish(
            user_id=context.user_id,
            view=home.home_view(heedful, team_id=context.team_id, user_id=context.user_id),
        )
        client.chat_postMessage(channel=context.user_id, text=load_prompts().text("forget.done"))
    except Exception:
        logger.exception("erasing a user failed")

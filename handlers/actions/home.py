"""Buttons on the Home tab."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot import commands, home, interactions, nudges, privacy
from bot.calendars import sources
from bot.messages import blocks as kit
from bot.messages.prompts import load_prompts
from handlers.commands.heedful import upload_to_dm

logger = logging.getLogger(__name__)


def _republish(client: WebClient, context: BoltContext) -> None:
    view = home.home_view(context["heedful"], team_id=context.team_id, user_id=context.user_id)
    client.views_publish(user_id=context.user_id, view=view)


def handle_home_resume(ack: Ack, context: BoltContext, client: WebClient) -> None:
    ack()
    try:
        interactions.resume(context["heedful"], team_id=context.team_id, user_id=context.user_id)
        _republish(client, context)
    except Exception:
        logger.exception("resume failed")


def handle_home_settings(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    ack()
    try:
        view = home.settings_form(
            context["heedful"], team_id=context.team_id, user_id=context.user_id
        )
        client.views_open(trigger_id=body["trigger_id"], view=view)
    except Exception:
        logger.exception("opening the settings form failed")


def handle_home_connect(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    try:
        client.views_open(
            trigger_id=body["trigger_id"], view=kit.build_connect_form(load_prompts())
        )
    except Exception:
        logger.exception("opening the connect form failed")


def handle_home_remove(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    ack()
    try:
        sources.disconnect_source(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            source_id=int(body["actions"][0]["value"]),
        )
        _republish(client, context)
    except Exception:
        logger.exception("removing a calendar failed")


def handle_home_unmute(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    ack()
    try:
        nudges.unmute_series(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            series_key=body["actions"][0]["value"],
        )
        _republish(client, context)
    except Exception:
        logger.exception("unmuting failed")


def handle_home_export(ack: Ack, context: BoltContext, client: WebClient) -> None:
    ack()
    try:
        answer = commands.reply(
            context["heedful"],
            team_id=context.team_id,
            user_id=context.user_id,
            command=commands.Command("export"),
        )
        if answer.upload is not None:
            upload_to_dm(client, context.user_id, answer.upload)
    except Exception:
        logger.exception("export from the Home tab failed")


def handle_home_erase(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    try:
        client.views_open(trigger_id=body["trigger_id"], view=kit.build_erase_form(load_prompts()))
    except Exception:
        logger.exception("opening the erase form failed")


def handle_erase_confirm(ack: Ack, context: BoltContext, respond: Respond) -> None:
    """The button under ``/heedful forget``: erase, then say so in place of the question."""
    ack()
    try:
        privacy.erase_user(context["heedful"], team_id=context.team_id, user_id=context.user_id)
        respond(text=load_prompts().text("forget.done"), replace_original=True)
    except Exception:
        logger.exception("erasing a user failed")

"""Buttons on the Home tab: one call into bot/, one Slack call."""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from bot import home, privacy
from bot.listener import acked
from bot.services import Services
from bot.slack import upload_to_dm


@acked
def handle_home_resume(services: Services, team_id: str, user_id: str, client: WebClient) -> None:
    view = home.on_resume(services, team_id=team_id, user_id=user_id)
    client.views_publish(user_id=user_id, view=view)


@acked
def handle_home_settings(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    view = home.settings_form(services, team_id=team_id, user_id=user_id)
    client.views_open(trigger_id=body["trigger_id"], view=view)


@acked
def handle_home_connect(body: dict[str, Any], client: WebClient) -> None:
    client.views_open(trigger_id=body["trigger_id"], view=home.connect_form())


@acked
def handle_home_google() -> None:
    """ "Connect Google Calendar" is a link: the browser opens it; the tap is only acked."""


@acked
def handle_home_microsoft() -> None:
    """ "Connect Outlook calendar" is a link: the browser opens it; the tap is only acked."""


@acked
def handle_home_remove(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    view = home.on_remove_calendar(services, team_id=team_id, user_id=user_id, body=body)
    client.views_publish(user_id=user_id, view=view)


@acked
def handle_home_unmute(
    services: Services, team_id: str, user_id: str, body: dict[str, Any], client: WebClient
) -> None:
    view = home.on_unmute(services, team_id=team_id, user_id=user_id, body=body)
    client.views_publish(user_id=user_id, view=view)


@acked
def handle_home_export(services: Services, team_id: str, user_id: str, client: WebClient) -> None:
    upload = privacy.export_upload(services, team_id=team_id, user_id=user_id)
    upload_to_dm(client, user_id, upload)


@acked
def handle_home_erase(body: dict[str, Any], client: WebClient) -> None:
    client.views_open(trigger_id=body["trigger_id"], view=home.erase_form())


@acked
def handle_erase_confirm(services: Services, team_id: str, user_id: str, respond: Respond) -> None:
    """The button under ``/heedful forget``: erase, then say so in place of the question."""
    done = privacy.forget(services, team_id=team_id, user_id=user_id)
    respond(text=done, replace_original=True)

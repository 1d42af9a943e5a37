"""Modal submissions: one call into bot/, at most one Slack call. A form whose input is
wrong stays open with the error beside it (``refuse``)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot import connecting, home, interactions
from bot.listener import acked
from bot.services import Services


@acked
def handle_reflection_submission(
    services: Services, team_id: str, user_id: str, view: dict[str, Any]
) -> None:
    """The "Write a line" form: kept, then a quiet confirmation in the question's thread."""
    interactions.on_reflection_form(services, team_id=team_id, user_id=user_id, view=view)


@acked(refuse=interactions.pause_form_errors)
def handle_pause_submission(
    services: Services, team_id: str, user_id: str, view: dict[str, Any]
) -> None:
    interactions.on_pause_form(services, team_id=team_id, user_id=user_id, view=view)


@acked
def handle_connect_submission(
    ack: Ack,
    services: Services,
    team_id: str,
    user_id: str,
    view: dict[str, Any],
    client: WebClient,
) -> None:
    """Close the form at once and read the feed on the slow-work pool: the answer comes
    as a DM and the Home tab is refreshed. While the person's previous calendar is still
    being checked (or the pool is full) the form stays open and says so."""
    later = connecting.from_form(services, team_id=team_id, user_id=user_id, view=view)
    if later.refused:
        ack(response_action="errors", errors=connecting.busy_errors(later))
        return
    later.start(after=ack, then=lambda tab: client.views_publish(user_id=user_id, view=tab))


@acked(refuse=home.settings_form_errors)
def handle_settings_submission(
    services: Services, team_id: str, user_id: str, view: dict[str, Any], client: WebClient
) -> None:
    tab = home.on_settings_form(services, team_id=team_id, user_id=user_id, view=view)
    client.views_publish(user_id=user_id, view=tab)


@acked
def handle_erase_submission(
    services: Services, team_id: str, user_id: str, client: WebClient
) -> None:
    """The Home tab's erase form: erase, refresh the Home tab, confirm in the DM."""
    erased = home.on_erase(services, team_id=team_id, user_id=user_id)
    client.views_publish(user_id=user_id, view=erased.home)
    client.chat_postMessage(channel=user_id, text=erased.text)

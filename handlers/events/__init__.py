"""Events API listeners.

They run from the inbox (see ``bot.inbox``), never on Slack's request thread: an
exception here is logged by Bolt and the stored event is retried with backoff, so
event listeners let errors propagate instead of swallowing them, and are not wrapped
in ``bot.listener.acked`` (the inbox acked the event when it stored it). Like every
listener they name ``services``, ``team_id`` and ``user_id`` as parameters.
"""

from __future__ import annotations

from slack_bolt import App

from handlers.events.app_home_opened import handle_app_home_opened
from handlers.events.lifecycle import handle_app_uninstalled, handle_tokens_revoked
from handlers.events.message import handle_message
from handlers.events.user_change import handle_user_change


def register(app: App) -> None:
    app.event("app_home_opened")(handle_app_home_opened)
    app.event("app_uninstalled")(handle_app_uninstalled)
    app.event("tokens_revoked")(handle_tokens_revoked)
    app.event("user_change")(handle_user_change)
    app.event("message")(handle_message)

"""Modal submissions."""

from __future__ import annotations

from slack_bolt import App

from bot.messages import blocks as kit
from bot.messages import feedback as fkit
from handlers.views.feedback import handle_feedback_words_submission
from handlers.views.forms import (
    handle_connect_submission,
    handle_erase_submission,
    handle_pause_submission,
    handle_reflection_submission,
    handle_settings_submission,
)
from handlers.views.why import handle_why_submission


def register(app: App) -> None:
    app.view(kit.VIEW_REFLECTION)(handle_reflection_submission)
    app.view(kit.VIEW_PAUSE)(handle_pause_submission)
    app.view(kit.VIEW_CONNECT)(handle_connect_submission)
    app.view(kit.VIEW_SETTINGS)(handle_settings_submission)
    app.view(kit.VIEW_ERASE)(handle_erase_submission)
    app.view(kit.VIEW_WHY)(handle_why_submission)
    app.view(fkit.VIEW_WORDS)(handle_feedback_words_submission)

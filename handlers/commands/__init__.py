"""The /heedful slash command."""

from __future__ import annotations

from slack_bolt import App

from handlers.commands.heedful import handle_heedful


def register(app: App) -> None:
    app.command("/heedful")(handle_heedful)

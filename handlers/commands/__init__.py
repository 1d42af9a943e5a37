"""The /heedful slash command. ``connect`` has a listener of its own (it is slow);
Bolt runs the first listener that matches, so it is bound first."""

from __future__ import annotations

from slack_bolt import App

from handlers.commands.heedful import handle_heedful, handle_heedful_connect, is_connect


def register(app: App) -> None:
    app.command("/heedful", matchers=[is_connect])(handle_heedful_connect)
    app.command("/heedful")(handle_heedful)

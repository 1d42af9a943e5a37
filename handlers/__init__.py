"""Thin Bolt listeners. Each package has ``register(app)``; this binds them all."""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, events, views


def register_handlers(app: App) -> None:
    events.register(app)
    actions.register(app)
    views.register(app)
    commands.register(app)

"""Thin Bolt listeners. Each package has ``register(app)``; this binds them all.

A listener names ``services``, ``team_id`` and ``user_id`` (with Bolt's own ``body``,
``client`` …), makes one call into ``bot/`` and its Slack call; commands, buttons and
forms are wrapped in ``bot.listener.acked`` (ack first, catch, log). No package here
imports another: what two share lives in ``bot/``.
"""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, events, views


def register_handlers(app: App) -> None:
    events.register(app)
    actions.register(app)
    views.register(app)
    commands.register(app)

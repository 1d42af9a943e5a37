"""Pure Block Kit builders. Each returns a :class:`Message` or a view dict; the
words come from ``prompts/``; nothing here does I/O."""

from __future__ import annotations

from typing import Any

from bot.messages.prompts import Prompts


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def build_home_view(prompts: Prompts, *, zone: str | None, connected: bool) -> dict[str, Any]:
    """The App Home tab."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": prompts.text("home.title")}},
        _section(prompts.text("home.intro")),
    ]
    if not connected:
        blocks.append(_section(prompts.text("home.not_connected")))
    blocks.append({"type": "divider"})
    blocks.append(_context(prompts.text("home.privacy")))
    if zone:
        blocks.append(_context(prompts.text("home.zone", zone=zone)))
    return {"type": "home", "blocks": blocks}

"""Structural tests of the pure Block Kit builders."""

from __future__ import annotations

import pytest

from bot.messages import Message
from bot.messages.blocks import HomeState, build_home_view
from bot.messages.prompts import load_prompts


def test_home_view_for_a_new_user_asks_for_a_calendar_and_makes_the_privacy_promise() -> None:
    prompts = load_prompts()
    view = build_home_view(prompts, HomeState(zone="Europe/Berlin", connected=False))
    assert view["type"] == "home"
    texts = [str(b) for b in view["blocks"]]
    assert view["blocks"][0]["type"] == "header"
    assert any(prompts.text("home.not_connected") in t for t in texts)
    assert any(prompts.text("home.privacy") in t for t in texts)
    assert any("Europe/Berlin" in t for t in texts)
    assert len(view["blocks"]) <= 100


def test_home_view_once_connected_drops_the_call_to_connect() -> None:
    prompts = load_prompts()
    view = build_home_view(prompts, HomeState(zone=None, connected=True))
    assert not any(prompts.text("home.not_connected") in str(b) for b in view["blocks"])


def test_messages_enforce_slack_limits() -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    with pytest.raises(ValueError, match="fallback"):
        Message(text="  ")
    with pytest.raises(ValueError, match="50"):
        Message(text="t", blocks=[section] * 51)
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    with pytest.raises(ValueError, match="3000"):
        Message(text="t", blocks=[too_long])
    assert Message(text="t", blocks=[section]).plain() == Message(text="t")

"""Connecting a calendar from Slack: ``/heedful connect <url>`` or the Home tab's form.

Reading a feed can take 25 seconds, so it never runs on Bolt's listener threads: each
use case reserves the person's place on the slow-work pool and returns a
:class:`~bot.slow_work.Later`, which the listener starts once it has acked (one
calendar at a time per person; a busy pool is said at once, in the ack).
"""

from __future__ import annotations

from typing import Any

from bot import commands, home
from bot.messages import blocks as kit
from bot.messages.prompts import load_prompts
from bot.replies import reply
from bot.services import Services
from bot.slow_work import Later


def is_connect(text: str) -> bool:
    """Whether ``/heedful <text>`` connects a calendar feed (slow), or is answered at once.
    ``connect`` without an address is answered at once, with how to use it, and so is
    ``connect google`` and ``connect outlook`` (their answer is a sign-in link: nothing to
    read yet)."""
    words = text.strip().lower().split()
    signs_in = words[1:] in (["google"], ["outlook"], ["microsoft"])
    return len(words) >= 2 and words[0] == "connect" and not signs_in


def from_command(services: Services, *, team_id: str, user_id: str, text: str) -> Later[str]:
    """``/heedful connect …``: says "checking…" at once; its result is the answer."""

    def connect() -> str:
        today = commands.user_today(services, team_id=team_id, user_id=user_id)
        command = commands.parse(text, today=today)
        return commands.run(services, team_id=team_id, user_id=user_id, command=command)

    checking = load_prompts().text("connect.checking")
    return services.slow_work.later((team_id, user_id), connect, says=checking)


def from_form(
    services: Services, *, team_id: str, user_id: str, view: dict[str, Any]
) -> Later[dict[str, Any]]:
    """The Home tab's connect form: the answer comes as a DM (through the outbox, once
    per submitted form); its result is the Home tab to publish."""
    values = view["state"]["values"]
    url = ((values.get(kit.BLOCK_URL) or {}).get(kit.INPUT_URL) or {}).get("value")
    key = f"connect:{view.get('id') or view.get('hash') or url}"

    def connect() -> dict[str, Any]:
        command = commands.Command(
            "connect", argument=url or "", error=None if url else "command.connect_usage"
        )
        answer = commands.run(services, team_id=team_id, user_id=user_id, command=command)
        reply(services, team_id=team_id, user_id=user_id, text=answer, key=key)
        return home.home_view(services, team_id=team_id, user_id=user_id)

    return services.slow_work.later((team_id, user_id), connect)


def busy_errors(later: Later[Any]) -> dict[str, str]:
    """The connect form's errors when the pool refused it: the form stays open."""
    return {kit.BLOCK_URL: later.says}

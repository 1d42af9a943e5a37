"""handlers/commands/heedful.py: ``/heedful``, answered ephemerally; ``connect``, on the
slow-work pool with "checking…" in the ack."""

from __future__ import annotations

import json
import socket

from factories import local
from handling import USER, Slack
from waiting import wait_until

from bot.messages.prompts import load_prompts

PROMPTS = load_prompts()


def _closed_port() -> int:
    """A loopback port nothing listens on (the OS picks it, then it is let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_help_is_answered_ephemerally(slack: Slack) -> None:
    assert slack.command("help").body == ""
    (answer,) = wait_until(lambda: slack.emulator.responses, what="the answer")
    assert answer["payload"]["response_type"] == "ephemeral"
    assert PROMPTS.text("command.help") in answer["payload"]["text"]


def test_pause_reads_the_date_in_the_persons_own_day(slack: Slack) -> None:
    slack.has_a_meeting()
    slack.command("pause for 2 days")
    wait_until(lambda: slack.emulator.responses, what="the answer")
    assert slack.user().paused_until == local("2026-03-04", "00:00")  # Wednesday, in Berlin


def test_export_answers_and_uploads_the_file(slack: Slack) -> None:
    slack.has_a_meeting()
    slack.command("export")
    slack.calls("files.completeUploadExternal")
    (answer,) = slack.emulator.responses
    assert answer["payload"]["text"] == PROMPTS.text("export.preparing")
    (content,) = slack.emulator.files.values()
    assert json.loads(content)["user_id"] == USER


def test_connect_says_checking_in_the_ack_and_answers_when_done(slack: Slack) -> None:
    slack.has_a_meeting()
    feed = f"http://127.0.0.1:{_closed_port()}/ana.ics"

    ack = slack.command(f"connect {feed}")

    assert ack.body == PROMPTS.text("connect.checking")
    (answer,) = wait_until(lambda: slack.emulator.responses, what="the answer")
    assert answer["payload"]["response_type"] == "ephemeral"
    assert answer["payload"]["text"] != PROMPTS.text("connect.checking")
    assert slack.services.slow_work.wait_idle(timeout=30)


def test_connect_while_the_last_one_is_checked_says_so_in_the_ack(slack: Slack) -> None:
    held = slack.services.slow_work.reserve((slack.team, USER))  # a connect still running
    try:
        ack = slack.command("connect https://calendar.example.com/ana.ics")
    finally:
        held.release()  # type: ignore[union-attr]
    assert ack.body == PROMPTS.text("slow_work.busy.yours")
    slack.settle()
    assert slack.emulator.responses == []


def test_connect_without_an_address_says_how(slack: Slack) -> None:
    slack.command("connect")
    (answer,) = wait_until(lambda: slack.emulator.responses, what="the answer")
    assert answer["payload"]["text"] == PROMPTS.text("command.connect_usage")

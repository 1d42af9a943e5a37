"""Connecting calendars never takes Bolt's listener threads from other people: signed
slash commands and form submissions into the real app, a real slow feed server on
loopback, and the Slack emulator recording every answer. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
from waiting import wait_until

from bot.app import Heedful
from bot.emulator import SlackEmulator
from bot.messages import blocks as kit
from bot.messages.prompts import load_prompts

PROMPTS = load_prompts()
EMPTY_CALENDAR = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nEND:VCALENDAR\r\n"
CONNECTING = ["U1", "U2", "U3", "U4", "U5"]


@pytest.fixture(name="gate")
def fixture_gate(feed_server: Any) -> Iterator[threading.Event]:
    """A slow feed: every request waits until the test opens the gate."""
    gate = threading.Event()

    def slow(_request: Any) -> tuple[int, dict[str, str], bytes]:
        gate.wait(timeout=60)
        return 200, {"Content-Type": "text/calendar"}, EMPTY_CALENDAR

    feed_server.routes["/slow.ics"] = slow
    yield gate
    gate.set()  # whatever happened, let the server's threads go


def command(emulator: SlackEmulator, heedful: Heedful, user: str, text: str) -> Any:
    return emulator.send_command(heedful.url + "/slack/events", "/heedful", text, user_id=user)


def answers(emulator: SlackEmulator, result: Any) -> list[str]:
    """The texts posted to the response_url of one command."""
    response_id = urlsplit(result.request["response_url"]).path.removeprefix("/response/")
    return [
        r["payload"].get("text", "") for r in emulator.responses if r["response_id"] == response_id
    ]


def test_slow_connects_leave_everyone_elses_commands_answered_within_slacks_limit(
    heedful: Heedful, emulator: SlackEmulator, feed_server: Any, gate: threading.Event
) -> None:
    for user in ("U3", "U4", "U5", "U6", "U7"):
        emulator.add_user(user, tz="Europe/Berlin", email=f"{user.lower()}@example.com")
    url = feed_server.url("/slow.ics")
    events_url = heedful.url + "/slack/events"

    # Five people connect a slow calendar at once: each is told at once it is being checked.
    with ThreadPoolExecutor(max_workers=len(CONNECTING)) as pool:
        connects = list(
            pool.map(lambda u: command(emulator, heedful, u, f"connect {url}"), CONNECTING)
        )
    for result in connects:
        assert (result.status, result.body) == (200, PROMPTS.text("connect.checking"))
    wait_until(lambda: len(feed_server.requests) >= 4, what="the slow feed being fetched")

    # Someone else's /heedful help is acknowledged, and answered, while they all wait (the
    # gate still holds every fetch: a listener pool they filled could not answer it at all).
    help_result = command(emulator, heedful, "U6", "help")
    assert help_result.status == 200
    wait_until(lambda: answers(emulator, help_result), what="the answer to /heedful help")
    assert not gate.is_set()

    # A second connect by someone whose first is in flight gets a clear answer, by
    # command or by the Home tab's form; nobody else is held up by it.
    again = command(emulator, heedful, "U1", f"connect {url}")
    assert again.body == PROMPTS.text("slow_work.busy.yours")
    form = kit.build_connect_form(PROMPTS)  # the Home tab's form, as Slack shows it
    values = {kit.BLOCK_URL: {kit.INPUT_URL: url}}
    refused = emulator.submit_view(events_url, "U1", form, values)
    assert refused.json == {
        "response_action": "errors",
        "errors": {kit.BLOCK_URL: PROMPTS.text("slow_work.busy.yours")},
    }
    accepted = emulator.submit_view(events_url, "U7", form, values)
    assert (accepted.status, accepted.body) == (200, "")  # the form closes at once

    # The slow feed answers: every connect completes and is answered where it was asked.
    gate.set()
    connected = PROMPTS.text("calendar.connected.none", name="127.0.0.1")
    for result in connects:
        assert wait_until(lambda r=result: answers(emulator, r), what="a connect's answer") == [
            connected
        ]

    def u7_told() -> bool:
        heedful.send_due()
        return any(m["text"] == connected for m in emulator.bot_messages("U7"))

    wait_until(u7_told, what="the Home tab's connect answered in the DM")
    assert heedful.services.slow_work.wait_idle(timeout=30)
    assert answers(emulator, again) == []  # refused at once: nothing more to say

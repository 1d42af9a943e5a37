"""Socket Mode end to end: a real Bolt app with slack_sdk's built-in client, over ws://.

One emulator and one connected Bolt app serve the whole module, because the built-in client
needs about a second to shut down (its message loop polls a queue with a 1 s timeout).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from waiting import wait_until
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bot.emulator import SlackEmulator

ANA = "U123"


class Seen:
    """What the Bolt listeners saw, with a way to wait for it."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self.changed = threading.Condition()

    def add(self, kind: str, value: Any) -> None:
        with self.changed:
            self.items.append((kind, value))
            self.changed.notify_all()

    def wait_for(self, kind: str, timeout: float = 5.0) -> Any:
        with self.changed:
            self.changed.wait_for(lambda: any(k == kind for k, _ in self.items), timeout)
            for k, value in self.items:
                if k == kind:
                    return value
        raise AssertionError(f"no {kind} seen within {timeout} s")


@pytest.fixture(name="socket_setup", scope="module")
def socket_setup_fixture() -> Iterator[tuple[SlackEmulator, SocketModeHandler, Seen]]:
    """An emulator with a Bolt app connected to it over Socket Mode."""
    seen = Seen()
    with SlackEmulator() as emu:
        emu.add_user(ANA, tz="Europe/Berlin", email="ana@example.com")
        app = App(
            signing_secret="x",
            client=WebClient(base_url=emu.api_url, token=emu.bot_token),
        )

        @app.event("message")
        def handle_message(event: dict, say: Any) -> None:
            seen.add("message", event)
            say(text=f"heard: {event['text']}")

        @app.event("app_home_opened")
        def handle_app_home_opened(event: dict, client: WebClient) -> None:
            client.views_publish(
                user_id=event["user"],
                view={
                    "type": "home",
                    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hi"}}],
                },
            )
            seen.add("home", event)

        @app.command("/heedful")
        def handle_command(ack: Any, command: dict) -> None:
            ack(text=f"pong {command['text']}")

        @app.view("reflection")
        def handle_reflection(ack: Any, view: dict) -> None:
            ack(response_action="clear")
            seen.add("view", view["state"]["values"])

        @app.action("reflect_open")
        def handle_reflect_open(ack: Any, body: dict) -> None:
            ack()
            seen.add("action", body["actions"][0])

        handler = SocketModeHandler(
            app, app_token=emu.app_token, web_client=WebClient(base_url=emu.api_url)
        )
        handler.connect()
        emu.wait_for_socket(timeout=5)
        try:
            yield emu, handler, seen
        finally:
            handler.client.default_auto_reconnect_enabled = False
            handler.client.auto_reconnect_enabled = False
            emu.disconnect_sockets(notify=False)
            handler.close()


@pytest.fixture(name="socket_emulator")
def socket_emulator_fixture(
    socket_setup: tuple[SlackEmulator, SocketModeHandler, Seen],
) -> SlackEmulator:
    emu, _, seen = socket_setup
    emu.reset()
    with seen.changed:
        seen.items.clear()
    return emu


@pytest.fixture(name="seen")
def seen_fixture(socket_setup: tuple[SlackEmulator, SocketModeHandler, Seen]) -> Seen:
    return socket_setup[2]


def test_the_builtin_client_connects_through_apps_connections_open(
    socket_setup: tuple[SlackEmulator, SocketModeHandler, Seen],
) -> None:
    emu, handler, _ = socket_setup

    assert emu.socket_connected
    assert handler.client.is_connected()
    assert handler.client.wss_uri.startswith("ws://127.0.0.1:")


def test_event_over_socket_reaches_the_bolt_listener_and_is_acked(
    socket_emulator: SlackEmulator, seen: Seen
) -> None:
    result = socket_emulator.deliver_event(
        None,
        {
            "type": "message",
            "channel_type": "im",
            "user": ANA,
            "text": "hello",
            "channel": socket_emulator.dm_channel(ANA),
            "ts": "1.000001",
        },
        via="socket",
    )

    assert result.status == 200
    assert result.via == "socket"
    assert result.envelope_id
    assert seen.wait_for("message")["text"] == "hello"
    wait_until(lambda: len(socket_emulator.messages(ANA)) == 1)
    assert socket_emulator.messages(ANA)[0]["text"] == "heard: hello"


def test_user_says_uses_the_socket_when_connected(
    socket_emulator: SlackEmulator, seen: Seen
) -> None:
    socket_emulator.user_says(None, ANA, "I listened")

    assert seen.wait_for("message")["channel_type"] == "im"
    wait_until(lambda: len(socket_emulator.bot_messages(ANA)) == 1)
    assert socket_emulator.inbound[-1].via == "socket"


def test_slash_command_ack_payload_comes_back(socket_emulator: SlackEmulator) -> None:
    result = socket_emulator.send_command(None, "/heedful", "ping", user_id=ANA, via="socket")

    assert result.json == {"text": "pong ping"}


def test_view_submission_response_action_comes_back(
    socket_emulator: SlackEmulator, seen: Seen
) -> None:
    view = {
        "type": "modal",
        "callback_id": "reflection",
        "title": {"type": "plain_text", "text": "Reflect"},
        "blocks": [],
    }

    result = socket_emulator.submit_view(None, ANA, view, {"answer": {"text": "calm"}})

    assert result.json == {"response_action": "clear"}
    assert seen.wait_for("view") == {
        "answer": {"text": {"type": "plain_text_input", "value": "calm"}}
    }


def test_button_click_and_home_open_over_socket(socket_emulator: SlackEmulator, seen: Seen) -> None:
    socket_emulator.click_button(None, ANA, "reflect_open", value="occ-1")
    socket_emulator.open_home(None, ANA)

    assert seen.wait_for("action")["value"] == "occ-1"
    seen.wait_for("home")
    wait_until(lambda: ANA in socket_emulator.views)


def test_apps_connections_open_needs_the_app_token(socket_emulator: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(base_url=socket_emulator.api_url, token=socket_emulator.bot_token).api_call(
            "apps.connections.open"
        )

    assert excinfo.value.response["error"] == "not_allowed_token_type"


def test_websocket_sends_hello_and_rejects_unknown_tickets(socket_emulator: SlackEmulator) -> None:
    app_client = WebClient(base_url=socket_emulator.api_url, token=socket_emulator.app_token)
    url = app_client.apps_connections_open(app_token=socket_emulator.app_token)["url"]

    with connect(url, open_timeout=5) as websocket:
        hello = json.loads(websocket.recv(timeout=5))
    with pytest.raises(InvalidStatus):
        connect(url.replace("ticket=", "ticket=forged-"), open_timeout=5)

    assert hello["type"] == "hello"
    assert hello["connection_info"] == {"app_id": "AHEEDFUL"}
    assert hello["num_connections"] >= 1

"""The emulator acting as Slack towards an app over HTTP: signatures and payload shapes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient
from waiting import wait_until

from bot.emulator import SlackEmulator

if TYPE_CHECKING:
    from tests.emulator.conftest import SignedApp

ANA = "U123"


def _form(body: bytes) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(body.decode()).items()}


def test_sign_matches_slack_sdk_signature_verifier(emulator: SlackEmulator) -> None:
    body = b'{"type":"event_callback"}'
    verifier = SignatureVerifier(emulator.signing_secret)

    headers = emulator.sign(body)
    stale = emulator.sign(body, timestamp=int(time.time()) - 600)

    assert verifier.is_valid_request(body, headers)
    assert headers["X-Slack-Signature"].startswith("v0=")
    assert not verifier.is_valid_request(body, stale)
    assert not verifier.is_valid_request(body + b" ", headers)


def test_event_envelope_looks_like_slacks(emulator: SlackEmulator) -> None:
    event = {"type": "app_home_opened", "user": ANA}

    first = emulator.event_envelope(event)
    second = emulator.event_envelope(event)

    assert first["type"] == "event_callback"
    assert first["api_app_id"] == "AHEEDFUL"
    assert first["team_id"] == "T0001"
    assert first["event"] == event
    assert first["event_id"].startswith("Ev")
    assert first["event_id"] != second["event_id"]
    assert first["authorizations"][0] == {
        "enterprise_id": None,
        "team_id": "T0001",
        "user_id": "UHEEDFUL",
        "is_bot": True,
        "is_enterprise_install": False,
    }
    assert emulator.event_envelope(event, event_id="EvFIXED")["event_id"] == "EvFIXED"


def test_deliver_event_posts_signed_json_the_app_can_verify(
    emulator: SlackEmulator, signed_app: SignedApp
) -> None:
    result = emulator.deliver_event(signed_app.url, {"type": "app_home_opened", "user": ANA})

    assert result.status == 200
    assert result.via == "http"
    [request] = signed_app.requests
    assert request["path"] == "/slack/events"
    assert request["headers"]["Content-Type"] == "application/json"
    assert "X-Slack-Retry-Num" not in request["headers"]
    body = json.loads(request["body"])
    assert body["event"] == {"type": "app_home_opened", "user": ANA}
    assert body["event_id"] == result.request["event_id"]
    assert emulator.inbound == [result]


def test_retries_carry_slack_retry_headers_and_keep_the_event_id(
    emulator: SlackEmulator, signed_app: SignedApp
) -> None:
    emulator.deliver_event(
        signed_app.url,
        {"type": "message"},
        event_id="Ev123",
        retry_num=1,
        retry_reason="http_timeout",
    )

    headers = signed_app.requests[0]["headers"]
    assert headers["X-Slack-Retry-Num"] == "1"
    assert headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert json.loads(signed_app.requests[0]["body"])["event_id"] == "Ev123"


def test_a_wrong_secret_or_stale_timestamp_is_rejected_by_the_app(
    emulator: SlackEmulator, signed_app: SignedApp
) -> None:
    wrong = emulator.deliver_event(signed_app.url, {"type": "x"}, signing_secret="nope")
    stale = emulator.deliver_event(signed_app.url, {"type": "x"}, timestamp=int(time.time()) - 3600)

    assert (wrong.status, stale.status) == (401, 401)
    assert not wrong.ok


def test_send_command_is_form_encoded_like_slack(
    emulator: SlackEmulator, signed_app: SignedApp
) -> None:
    signed_app.answer = {"text": "ok"}

    result = emulator.send_command(signed_app.url, "/heedful", "week", user_id=ANA)

    assert result.status == 200
    assert result.json == {"text": "ok"}
    request = signed_app.requests[0]
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    form = _form(request["body"])
    assert form["command"] == "/heedful"
    assert form["text"] == "week"
    assert form["user_id"] == ANA
    assert form["channel_id"] == emulator.dm_channel(ANA)
    assert form["channel_name"] == "directmessage"
    assert form["team_id"] == "T0001"
    assert form["api_app_id"] == "AHEEDFUL"
    assert form["trigger_id"]
    assert form["response_url"].startswith(emulator.base_url)


def test_posts_to_response_url_are_recorded(emulator: SlackEmulator, signed_app: SignedApp) -> None:
    emulator.send_command(signed_app.url, "/heedful", "", user_id=ANA)
    response_url = _form(signed_app.requests[0]["body"])["response_url"]

    WebhookClient(response_url).send(text="Done", response_type="ephemeral")

    [response] = emulator.responses
    assert response["payload"] == {"text": "Done", "response_type": "ephemeral"}


def test_click_button_finds_the_button_in_the_bots_message(
    emulator: SlackEmulator, signed_app: SignedApp, client: WebClient
) -> None:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "How did it go?"}},
        {
            "type": "actions",
            "block_id": "answers",
            "elements": [
                {
                    "type": "button",
                    "action_id": "reflect_open",
                    "text": {"type": "plain_text", "text": "Answer"},
                    "value": "occ-1",
                }
            ],
        },
    ]
    posted = client.chat_postMessage(channel=ANA, text="How did it go?", blocks=blocks)

    emulator.click_button(signed_app.url, ANA, "reflect_open")

    payload = json.loads(_form(signed_app.requests[0]["body"])["payload"])
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == ANA
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": posted["channel"],
        "is_ephemeral": False,
    }
    [action] = payload["actions"]
    assert action["action_id"] == "reflect_open"
    assert action["block_id"] == "answers"
    assert action["value"] == "occ-1"
    assert action["text"]["text"] == "Answer"
    assert payload["message"]["ts"] == posted["ts"]
    assert payload["trigger_id"]
    assert payload["response_url"].startswith(emulator.base_url)


def test_submit_view_builds_state_values(emulator: SlackEmulator, signed_app: SignedApp) -> None:
    signed_app.answer = {"response_action": "clear"}
    view = {
        "type": "modal",
        "callback_id": "reflection",
        "private_metadata": "occ-1",
        "title": {"type": "plain_text", "text": "Reflect"},
        "blocks": [],
    }

    result = emulator.submit_view(
        signed_app.url, ANA, view, {"answer": {"text": "I listened more"}}
    )

    payload = json.loads(_form(signed_app.requests[0]["body"])["payload"])
    assert result.json == {"response_action": "clear"}
    assert payload["type"] == "view_submission"
    assert payload["view"]["callback_id"] == "reflection"
    assert payload["view"]["private_metadata"] == "occ-1"
    assert payload["view"]["state"]["values"] == {
        "answer": {"text": {"type": "plain_text_input", "value": "I listened more"}}
    }


def test_user_says_stores_the_message_and_delivers_a_dm_event(
    emulator: SlackEmulator, signed_app: SignedApp
) -> None:
    ts = emulator.user_says(signed_app.url, ANA, "I paused before the 1:1")

    [stored] = emulator.messages(ANA)
    event = json.loads(signed_app.requests[0]["body"])["event"]
    assert stored["ts"] == ts
    assert stored["user"] == ANA
    assert event["type"] == "message"
    assert event["channel_type"] == "im"
    assert event["channel"] == emulator.dm_channel(ANA)
    assert event["user"] == ANA
    assert event["text"] == "I paused before the 1:1"
    assert event["ts"] == event["event_ts"] == ts
    assert "thread_ts" not in event


def test_user_says_in_a_thread_and_without_a_receiver(
    emulator: SlackEmulator, signed_app: SignedApp, client: WebClient
) -> None:
    question = client.chat_postMessage(channel=ANA, text="How did it go?")

    emulator.user_says(None, ANA, "stored only")
    emulator.user_says(signed_app.url, ANA, "in thread", thread_ts=question["ts"])

    assert len(signed_app.requests) == 1
    event = json.loads(signed_app.requests[0]["body"])["event"]
    assert event["thread_ts"] == question["ts"]
    assert event["parent_user_id"] == "UHEEDFUL"
    assert [m["text"] for m in emulator.messages(ANA)][1:] == ["stored only", "in thread"]


def test_user_edits_delivers_message_changed(
    emulator: SlackEmulator, signed_app: SignedApp
) -> None:
    ts = emulator.user_says(None, ANA, "first try")

    emulator.user_edits(signed_app.url, ANA, ts, "second try")

    event = json.loads(signed_app.requests[0]["body"])["event"]
    assert event["subtype"] == "message_changed"
    assert event["channel_type"] == "im"
    assert event["message"]["text"] == "second try"
    assert event["message"]["ts"] == ts
    assert event["message"]["edited"]["user"] == ANA
    assert event["previous_message"]["text"] == "first try"
    assert emulator.messages(ANA)[0]["text"] == "second try"
    assert emulator.messages(ANA)[0]["edited"] is not None


def test_user_change_event_reflects_update_user(
    emulator: SlackEmulator, signed_app: SignedApp
) -> None:
    emulator.update_user(ANA, tz="America/Chicago")

    emulator.deliver_event(signed_app.url, emulator.user_change_event(ANA))

    event = json.loads(signed_app.requests[0]["body"])["event"]
    assert event["type"] == "user_change"
    assert event["user"]["tz"] == "America/Chicago"


def test_via_socket_without_a_client_fails_fast(emulator: SlackEmulator) -> None:
    with pytest.raises(ConnectionError):
        emulator.deliver_event(None, {"type": "app_home_opened"}, via="socket")


@pytest.fixture(name="bolt_http_app")
def bolt_http_app_fixture(emulator: SlackEmulator) -> Iterator[str]:
    """A real Bolt app in HTTP mode (signature checks on) behind wsgiref; yields its URL."""
    app = App(
        signing_secret=emulator.signing_secret,
        client=WebClient(base_url=emulator.api_url, token=emulator.bot_token),
    )

    @app.event("message")
    def handle_message(event: dict, say: Any) -> None:
        say(text=f"heard: {event['text']}")

    @app.command("/heedful")
    def handle_command(ack: Any, command: dict) -> None:
        ack(text=f"pong {command['text']}")

    @app.action("reflect_open")
    def handle_reflect_open(ack: Any, respond: Any) -> None:
        ack()
        respond(text="Opening your reflection")

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, SlackRequestHandler(app), handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/slack/events"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_bolt_over_http_accepts_signed_events_commands_and_actions(
    emulator: SlackEmulator, bolt_http_app: str
) -> None:
    emulator.user_says(bolt_http_app, ANA, "hello")
    command = emulator.send_command(bolt_http_app, "/heedful", "ping", user_id=ANA)
    click = emulator.click_button(bolt_http_app, ANA, "reflect_open", value="occ-1")
    forged = emulator.deliver_event(bolt_http_app, {"type": "message"}, signing_secret="bad")

    assert emulator.inbound[0].status == 200
    assert command.body == "pong ping"  # Bolt answers ack(text=...) as text/plain over HTTP
    assert click.status == 200
    assert forged.status == 401
    wait_until(lambda: len(emulator.bot_messages(ANA)) == 1)
    assert emulator.bot_messages(ANA)[0]["text"] == "heard: hello"
    wait_until(lambda: len(emulator.responses) == 1)
    assert emulator.responses[0]["payload"]["text"] == "Opening your reflection"

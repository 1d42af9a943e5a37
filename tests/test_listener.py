"""The one wrapper every command, button and form listener runs in (``bot.listener``),
on a Bolt app of its own: what Slack gets back, and what the log says."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.listener import acked, with_services

CANARY = "CANARY-what-the-person-typed-5e1f"
SERVICES = object()  # what with_services hands on, whatever it is
LOGGER = __name__  # a listener's failure is logged by the listener's own module


def _button(value: str = CANARY) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": "U1", "team_id": "T1"},
        "trigger_id": "1.2.abc",
        "actions": [{"type": "button", "action_id": "tap", "block_id": "b", "value": value}],
    }


def _form(text: str = CANARY) -> dict[str, Any]:
    values = {"words": {"words_value": {"type": "plain_text_input", "value": text}}}
    return {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": "U1", "team_id": "T1"},
        "trigger_id": "1.2.abc",
        "view": {"id": "V1", "type": "modal", "callback_id": "form", "state": {"values": values}},
    }


def _command(text: str = CANARY) -> dict[str, Any]:
    return {"command": "/heedful", "text": text, "team_id": "T1", "user_id": "U1"}


def _authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
    """A workspace without asking Slack: these listeners make no Slack call."""
    return AuthorizeResult(
        enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-unused", bot_user_id="UB"
    )


def _app(register: Callable[[App], None], *, before_response: bool = True) -> App:
    app = App(
        signing_secret="unused",
        authorize=_authorize,
        request_verification_enabled=False,
        process_before_response=before_response,
    )
    app.use(with_services(SERVICES))  # type: ignore[arg-type]
    register(app)
    return app


def _dispatch(app: App, body: dict[str, Any]) -> BoltResponse:
    return app.dispatch(BoltRequest(body=body, mode="socket_mode"))


@pytest.fixture(name="logs")
def fixture_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def _failures(logs: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in logs.records if r.name == LOGGER and r.levelno >= logging.ERROR]


def test_a_listener_names_services_team_and_user_and_is_acked_first() -> None:
    seen: list[Any] = []

    @acked
    def handle_tap(services: Any, team_id: str, user_id: str, body: dict[str, Any]) -> None:
        seen.append((services, team_id, user_id, body["actions"][0]["value"]))

    response = _dispatch(_app(lambda app: app.action("tap")(handle_tap)), _button("7"))
    assert (response.status, response.body) == (200, "")
    assert seen == [(SERVICES, "T1", "U1", "7")]
    assert handle_tap.__name__ == "handle_tap"  # Bolt names the listener in its own logs


@pytest.mark.parametrize("before_response", [True, False], ids=["worker", "ingress"])
def test_a_failing_listener_is_acked_and_logged_by_name_without_the_payload(
    logs: pytest.LogCaptureFixture, before_response: bool
) -> None:
    failed: list[bool] = []

    @acked
    def handle_tap(body: dict[str, Any]) -> None:
        try:
            int(body["actions"][0]["value"])  # ValueError: invalid literal … 'CANARY-…'
        finally:
            failed.append(True)

    app = _app(lambda app: app.action("tap")(handle_tap), before_response=before_response)
    response = _dispatch(app, _button())

    assert (response.status, response.body) == (200, "")  # no error, no traceback for Slack
    if not before_response:  # the listener runs on Bolt's pool after the ack
        from waiting import wait_until

        wait_until(lambda: _failures(logs), what="the failure to be logged")
    (record,) = _failures(logs)
    assert record.getMessage() == "handle_tap failed"
    assert record.exc_info is not None
    assert "ValueError" in logs.text and "handle_tap" in logs.text  # class and traceback
    assert CANARY not in logs.text  # but not the exception's message, which quotes the value
    assert failed == [True]


def test_a_listener_that_acks_itself_answers_in_its_ack() -> None:
    @acked
    def handle_command(ack: Ack, command: dict[str, Any]) -> None:
        ack(text=f"checking {len(command['text'])} characters")

    response = _dispatch(_app(lambda app: app.command("/heedful")(handle_command)), _command())
    assert (response.status, response.body) == (200, f"checking {len(CANARY)} characters")


def test_a_listener_that_acks_itself_is_acked_when_it_raises_first(
    logs: pytest.LogCaptureFixture,
) -> None:
    @acked
    def handle_command(ack: Ack, command: dict[str, Any]) -> None:
        raise RuntimeError(command["text"])

    response = _dispatch(_app(lambda app: app.command("/heedful")(handle_command)), _command())
    assert (response.status, response.body) == (200, "")
    assert [r.getMessage() for r in _failures(logs)] == ["handle_command failed"]
    assert CANARY not in logs.text


def _words_errors(view: dict[str, Any]) -> dict[str, str]:
    words = view["state"]["values"]["words"]["words_value"]["value"]
    return {} if words.strip() else {"words": "Write a few words."}


def test_a_form_with_errors_stays_open_and_its_listener_does_not_run() -> None:
    ran: list[str] = []

    @acked(refuse=_words_errors)
    def handle_form(view: dict[str, Any]) -> None:
        ran.append(view["id"])

    app = _app(lambda app: app.view("form")(handle_form))
    refused = _dispatch(app, _form("   "))
    assert json.loads(refused.body) == {
        "response_action": "errors",
        "errors": {"words": "Write a few words."},
    }
    assert ran == []

    taken = _dispatch(app, _form("Listened first."))
    assert (taken.status, taken.body) == (200, "")  # closes the form
    assert ran == ["V1"]


def test_a_form_listener_need_not_name_the_view_its_check_reads() -> None:
    ran: list[str] = []

    @acked(refuse=_words_errors)
    def handle_form(user_id: str) -> None:
        ran.append(user_id)

    response = _dispatch(_app(lambda app: app.view("form")(handle_form)), _form())
    assert (response.status, response.body, ran) == (200, "", ["U1"])


def test_a_refused_slack_call_is_logged_with_slacks_error_code(
    logs: pytest.LogCaptureFixture,
) -> None:
    @acked
    def handle_tap(body: dict[str, Any]) -> None:
        answer = {"ok": False, "error": "invalid_blocks", "echo": body["actions"][0]["value"]}
        raise SlackApiError(
            f"chat.update failed: {answer}",
            SlackResponse(
                client=None,
                http_verb="POST",
                api_url="https://slack.example/api/chat.update",
                req_args={},
                data=answer,
                headers={},
                status_code=200,
            ),
        )

    response = _dispatch(_app(lambda app: app.action("tap")(handle_tap)), _button())
    assert (response.status, response.body) == (200, "")
    assert len(_failures(logs)) == 1
    assert "SlackApiError (invalid_blocks)" in logs.text
    assert CANARY not in logs.text

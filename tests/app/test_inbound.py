"""Signed requests into the real app over HTTP, as Slack sends them."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from posting import post, request_log
from waiting import wait_until

from bot.app import Heedful
from bot.emulator import SlackEmulator
from bot.storage.models import InboxItem

HOME_OPENED = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}


def _post_oversized(heedful: Heedful, length: int) -> int:
    """Announce a body over the limit, send a little of it, and read the answer (the
    server answers before reading the rest, so a plain client may see a broken pipe)."""
    import socket

    assert heedful.server is not None
    with socket.create_connection((heedful.server.host, heedful.server.port), timeout=10) as sock:
        head = (
            "POST /slack/events HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"{" + b" " * 4096)
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def _events_url(heedful: Heedful) -> str:
    return f"{heedful.url}/slack/events"


def _inbox(heedful: Heedful) -> list[Any]:
    t = InboxItem.__table__
    with heedful.services.engine.connect() as conn:
        return list(conn.execute(sa.select(t)))


def _signed(emulator: SlackEmulator, payload: dict[str, Any], **kw: Any) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **emulator.sign(body, **kw)}
    return body, headers


def _healthy(heedful: Heedful) -> bool:
    with urllib.request.urlopen(f"{heedful.url}/healthz", timeout=5) as response:
        return response.status == 200 and json.load(response)["database"] is True


def test_forged_tampered_and_stale_requests_get_401_and_are_never_stored(
    heedful: Heedful, emulator: SlackEmulator
) -> None:
    envelope = emulator.event_envelope(HOME_OPENED)
    body, headers = _signed(emulator, envelope)

    forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
    assert post(_events_url(heedful), body, forged)[0] == 401

    tampered = body.replace(b"U1", b"U2")
    assert post(_events_url(heedful), tampered, headers)[0] == 401

    stale_body, stale_headers = _signed(emulator, envelope, timestamp=int(time.time()) - 301)
    assert post(_events_url(heedful), stale_body, stale_headers)[0] == 401

    unsigned = {"Content-Type": "application/json"}
    assert post(_events_url(heedful), body, unsigned)[0] == 401

    assert _inbox(heedful) == []
    heedful.process_inbox()
    assert emulator.calls_to("views.publish") == []


def test_url_verification_is_answered_only_when_signed(
    heedful: Heedful, emulator: SlackEmulator
) -> None:
    challenge = {"type": "url_verification", "token": "t", "challenge": "abc123"}
    body, headers = _signed(emulator, challenge)
    status, answer = post(_events_url(heedful), body, headers)
    assert status == 200 and b"abc123" in answer

    status, answer = post(_events_url(heedful), body, {"Content-Type": "application/json"})
    assert status == 401 and b"abc123" not in answer


def test_garbage_and_oversized_bodies_get_4xx_and_the_server_stays_healthy(
    heedful: Heedful, emulator: SlackEmulator
) -> None:
    garbage = b"\xff\xfe not json at all {{{"
    status, _ = post(_events_url(heedful), garbage, emulator.sign(garbage))
    assert 400 <= status < 500

    half_json = b'{"type": "event_callback", "event": '
    status, _ = post(
        _events_url(heedful),
        half_json,
        {"Content-Type": "application/json", **emulator.sign(half_json)},
    )
    assert 400 <= status < 500

    no_event_id = {"type": "event_callback", "team_id": emulator.team_id, "event": HOME_OPENED}
    body, headers = _signed(emulator, no_event_id)
    assert post(_events_url(heedful), body, headers)[0] == 400

    assert _post_oversized(heedful, 2 * 1024 * 1024) == 413

    assert post(f"{heedful.url}/nowhere", b"{}", {})[0] == 404
    assert _inbox(heedful) == []
    assert _healthy(heedful)


def test_an_event_delivered_four_times_has_one_effect(
    heedful: Heedful, emulator: SlackEmulator
) -> None:
    envelope = emulator.event_envelope(HOME_OPENED)
    for retry in range(4):
        headers = {}
        if retry:
            headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        body, signed = _signed(emulator, envelope)
        status, _ = post(_events_url(heedful), body, {**signed, **headers})
        assert status == 200
        heedful.process_inbox()

    (row,) = _inbox(heedful)
    assert row.state == "done" and row.body == ""  # processed, and its body is not kept
    assert len(emulator.calls_to("views.publish")) == 1
    assert emulator.views["U1"]["type"] == "home"


def test_events_no_listener_wants_still_get_200(heedful: Heedful, emulator: SlackEmulator) -> None:
    for event in (
        {"type": "reaction_added", "user": "U1", "reaction": "wave"},
        {"type": "pin_added", "user": "U1", "channel_id": "D1"},
    ):
        body, headers = _signed(emulator, emulator.event_envelope(event))
        assert post(_events_url(heedful), body, headers)[0] == 200
    assert heedful.process_inbox() == 2
    assert {row.state for row in _inbox(heedful)} == {"done"}


def test_app_home_learns_the_users_zone_from_slack(
    heedful: Heedful, emulator: SlackEmulator
) -> None:
    from bot.storage import repository as repo
    from bot.storage.db import session_scope

    body, headers = _signed(emulator, emulator.event_envelope(HOME_OPENED))
    assert post(_events_url(heedful), body, headers)[0] == 200
    heedful.process_inbox()
    with session_scope(heedful.services.engine) as session:
        user = repo.get_user(session=session, team_id=emulator.team_id, user_id="U1")
        assert user is not None
        assert (user.tz, user.email, user.dm_channel_id) == (
            "Europe/Berlin",
            "ana@example.com",
            "D1",
        )

    emulator.update_user("U1", tz="Asia/Tokyo")
    change = emulator.user_change_event("U1")
    body, headers = _signed(emulator, emulator.event_envelope(change))
    assert post(_events_url(heedful), body, headers)[0] == 200
    heedful.process_inbox()
    with session_scope(heedful.services.engine) as session:
        assert (
            repo.get_user(session=session, team_id=emulator.team_id, user_id="U1").tz
            == "Asia/Tokyo"
        )


def test_a_refused_request_body_is_never_logged(
    heedful: Heedful, emulator: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "CANARY-a-private-reflection-4b1d"
    event = {"type": "message", "channel_type": "im", "user": "U1", "text": canary, "ts": "1.2"}
    body = json.dumps(emulator.event_envelope(event)).encode()
    forged = {"Content-Type": "application/json", **emulator.sign(body, timestamp=1)}
    assert post(_events_url(heedful), body, forged)[0] == 401
    assert "signature" in caplog.text
    assert canary not in caplog.text


def _form(emulator: SlackEmulator, fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    body = urlencode(fields).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded", **emulator.sign(body)}


def _malformed(emulator: SlackEmulator) -> dict[str, tuple[bytes, dict[str, str]]]:
    """Signed bodies (only Slack's secret could sign them) that are not Slack payloads."""
    envelope = emulator.event_envelope(HOME_OPENED)
    command = {"command": "/heedful", "text": "help", "team_id": emulator.team_id}
    click = {"type": "block_actions", "user": {"id": "U1"}, "team": {"id": emulator.team_id}}
    submission = {
        "type": "view_submission",
        "user": {"id": "U1"},
        "team": {"id": emulator.team_id},
        "view": {"callback_id": "settings", "state": {"values": {}}},
    }
    cases = {
        "a JSON list": _signed_json(emulator, [envelope]),
        "a JSON number": _signed_json(emulator, 7),
        "event a string": _signed_json(emulator, {**envelope, "event": "app_home_opened"}),
        "team_id a number": _signed_json(emulator, {**envelope, "team_id": 7}),
        "authorizations a string": _signed_json(emulator, {**envelope, "authorizations": "x"}),
        "event.user a number": _signed_json(
            emulator, {**envelope, "event": {**HOME_OPENED, "user": 7}}
        ),
        "event without type": _signed_json(emulator, {**envelope, "event": {"user": "U1"}}),
        "nested 100,000 deep": _signed_raw(
            emulator, b'{"type": "event_callback", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        ),
        "a command without user_id": _form(emulator, command),
        "a command's team_id a list": _fake_list_team(emulator, command),
        "payload a JSON list": _form(emulator, {"payload": json.dumps([click])}),
        "payload not JSON": _form(emulator, {"payload": "{"}),
        "payload nested deep": _form(emulator, {"payload": "[" * 100_000 + "]" * 100_000}),
        "payload user a string": _form(emulator, {"payload": json.dumps({**click, "user": "U1"})}),
        "block_actions without actions": _form(emulator, {"payload": json.dumps(click)}),
        "block_actions with an empty action": _form(
            emulator, {"payload": json.dumps({**click, "actions": [{}]})}
        ),
        "block_actions with actions an object": _form(
            emulator, {"payload": json.dumps({**click, "actions": {"action_id": "x"}})}
        ),
        "view_submission with view a list": _form(
            emulator, {"payload": json.dumps({**submission, "view": []})}
        ),
        "view_submission without state": _form(
            emulator,
            {"payload": json.dumps({**submission, "view": {"callback_id": "settings"}})},
        ),
        "a form that is not a form": _signed_raw(emulator, b"just some words", "text/plain"),
    }
    return cases


def _signed_json(emulator: SlackEmulator, value: Any) -> tuple[bytes, dict[str, str]]:
    return _signed_raw(emulator, json.dumps(value).encode())


def _signed_raw(
    emulator: SlackEmulator, body: bytes, content_type: str = "application/json"
) -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": content_type, **emulator.sign(body)}


def _fake_list_team(emulator: SlackEmulator, command: dict[str, str]) -> Any:
    """The JSON twin of a slash command whose team_id is a list."""
    return _signed_json(emulator, {**command, "user_id": "U1", "team_id": ["T1"]})


def test_signed_bodies_that_are_not_slack_payloads_get_400_and_one_log_line(
    heedful: Heedful, emulator: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answers = {}
    for what, (body, headers) in _malformed(emulator).items():
        caplog.clear()
        answers[what] = post(_events_url(heedful), body, headers)[0]
        lines = request_log(caplog)
        assert len(lines) <= 1, (what, caplog.text)
        assert not any(r.exc_info for r in lines), (what, caplog.text)
    assert {what: status for what, status in answers.items() if status != 400} == {}
    assert _inbox(heedful) == []
    assert emulator.responses == [] and emulator.calls == emulator.calls_to("auth.test")
    assert _healthy(heedful)


@pytest.mark.parametrize(
    "header", ["", "yesterday", "1e9", "\xb9\xb2\xb3", "-1", "1700000000, 1700000000"]
)
def test_a_timestamp_that_is_not_a_number_gets_401(
    heedful: Heedful, emulator: SlackEmulator, caplog: pytest.LogCaptureFixture, header: str
) -> None:
    caplog.set_level(logging.INFO)
    body, headers = _signed(emulator, emulator.event_envelope(HOME_OPENED))
    status, _ = post(_events_url(heedful), body, {**headers, "X-Slack-Request-Timestamp": header})
    assert status == 401
    (line,) = request_log(caplog)
    assert not line.exc_info
    assert _inbox(heedful) == []


def test_a_command_whose_text_holds_the_word_payload_is_answered(
    heedful: Heedful, emulator: SlackEmulator
) -> None:
    """Bolt's own form parser turns any body containing "payload" into {} (unhandled)."""
    result = emulator.send_command(_events_url(heedful), "/heedful", "payload", user_id="U1")
    assert result.status == 200
    wait_until(lambda: emulator.responses, what="the answer to /heedful payload")

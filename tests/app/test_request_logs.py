"""What a real ``heedful run`` writes to its log when anyone sends it anything.

Forged, stale, tampered and malformed requests carry a canary (a private reflection)
and a second canary after a newline (an attempt to forge a log line). Every one must
get a 4xx, and neither canary may reach the log, at DEBUG or at INFO.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from posting import post
from processes import LISTENING, RUNNING, Process
from waiting import wait_until

from bot.emulator import SlackEmulator
from bot.emulator.inbound import sign

pytestmark = pytest.mark.slow

CANARY = "CANARY-a-private-reflection-4b1d"
FORGED = "CANARY-FORGED-LINE-9c2e"
FAKE_LINE_START = "1999-01-01 00:00:00,000 "
# A reflection whose second line would read as a log line of its own.
TEXT = f"{CANARY}\n{FAKE_LINE_START}INFO    bot.app: {FORGED}"
# A value that is logged (an event id, in the line about a repeated event) and would
# start a line of its own if line breaks in logged values were not escaped.
EVENT_ID = f"Ev0NEWLINE\n{FAKE_LINE_START}WARNING bot.app: forged by an event id"


def _raw_post(host: str, port: int, path: str, headers: list[tuple[str, str]], body: bytes) -> int:
    """A request with exactly these header lines (repeated names, odd bytes) and body."""
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    head += f"Content-Length: {len(body)}\r\n\r\n"
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + body)
        status_line = sock.makefile("rb").readline().decode("latin-1")
    return int(status_line.split()[1])


def _message_im(emulator: SlackEmulator, text: str) -> bytes:
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": emulator.dm_channel("U1"),
        "user": "U1",
        "text": text,
        "ts": f"{time.time():.6f}",
    }
    return json.dumps(emulator.event_envelope(event)).encode()


def _json(emulator: SlackEmulator, body: bytes, **kw: int) -> dict[str, str]:
    return {"Content-Type": "application/json", **emulator.sign(body, **kw)}


def _form(emulator: SlackEmulator, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded", **emulator.sign(body)}


def _refused_and_malformed(emulator: SlackEmulator) -> list[tuple[str, bytes, dict[str, str]]]:
    """(what, body, headers) of requests that must all be answered with a 4xx."""
    body = _message_im(emulator, TEXT)
    good = _json(emulator, body)
    stale = int(time.time()) - 301
    deep = b'{"type": "event_callback", "x": ' + b"[" * 100_000 + json.dumps(TEXT).encode()
    deep += b"]" * 100_000 + b"}"
    envelope = json.loads(body)
    cases: list[tuple[str, bytes, dict[str, str]]] = [
        ("wrong secret", body, {"Content-Type": "application/json", **sign(body, "nope")}),
        ("stale", body, _json(emulator, body, timestamp=stale)),
        ("from the future", body, _json(emulator, body, timestamp=int(time.time()) + 600)),
        ("tampered", body.replace(b"U1", b"U2"), good),
        ("unsigned", body, {"Content-Type": "application/json"}),
        ("text timestamp", body, {**good, "X-Slack-Request-Timestamp": "yesterday"}),
        ("empty timestamp", body, {**good, "X-Slack-Request-Timestamp": ""}),
        ("bad signature shape", body, {**good, "X-Slack-Signature": f"v0={TEXT[:20]}"}),
        ("unsigned newline", TEXT.encode(), {"Content-Type": "text/plain"}),
        ("not UTF-8", TEXT.encode() + b"\xff\xfe", _json(emulator, TEXT.encode() + b"\xff")),
    ]
    signed_bodies = {
        "not JSON": TEXT.encode(),
        "a JSON list": json.dumps([envelope]).encode(),
        "a JSON string": json.dumps(TEXT).encode(),
        "event a string": json.dumps({**envelope, "event": TEXT}).encode(),
        "team_id a number": json.dumps({**envelope, "team_id": 7, "note": TEXT}).encode(),
        "event_id a list": json.dumps({**envelope, "event_id": [TEXT]}).encode(),
        "nested 100,000 deep": deep,
    }
    for what, signed in signed_bodies.items():
        cases.append((what, signed, _json(emulator, signed)))
    forms = {
        "payload a JSON list": urlencode({"payload": json.dumps([TEXT])}),
        "payload not JSON": urlencode({"payload": TEXT}),
        "payload nested deep": urlencode({"payload": "[" * 100_000 + "]" * 100_000}),
        "payload user a string": urlencode(
            {"payload": json.dumps({"type": "block_actions", "user": TEXT, "actions": TEXT})}
        ),
        "command with team_id a list": urlencode(
            {"command": "/heedful", "text": TEXT, "team_id": "[1]", "user_id": ""}
        ),
    }
    for what, form in forms.items():
        cases.append((what, form.encode(), _form(emulator, form.encode())))
    return cases


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_no_request_body_reaches_the_log_of_a_real_process(
    level: str,
    emulator: SlackEmulator,
    run_env: dict[str, str],
    tmp_path: Path,
    processes: list[Process],
) -> None:
    run = Process("all", {**run_env, "HEEDFUL_LOG_LEVEL": level}, tmp_path)
    processes.append(run)
    url = run.wait_for(LISTENING).group(1)
    run.wait_for(RUNNING)
    events = f"{url}/slack/events"
    host, port = url.removeprefix("http://").rsplit(":", 1)

    answers = {
        what: post(events, body, headers)[0]
        for what, body, headers in _refused_and_malformed(emulator)
    }
    body = _message_im(emulator, TEXT)
    good = _json(emulator, body)
    answers["repeated timestamp"] = _raw_post(
        host,
        int(port),
        "/slack/events",
        [
            ("Content-Type", "application/json"),
            ("X-Slack-Request-Timestamp", good["X-Slack-Request-Timestamp"]),
            ("X-Slack-Request-Timestamp", good["X-Slack-Request-Timestamp"]),
            ("X-Slack-Signature", good["X-Slack-Signature"]),
        ],
        body,
    )
    answers["non-ASCII signature"] = _raw_post(
        host,
        int(port),
        "/slack/events",
        [
            ("Content-Type", "application/json"),
            ("X-Slack-Request-Timestamp", good["X-Slack-Request-Timestamp"]),
            ("X-Slack-Signature", "v0=\xe9" + "0" * 63),
        ],
        body,
    )
    bad = {what: status for what, status in answers.items() if not 400 <= status < 500}
    assert bad == {}, json.dumps(bad)

    # The real thing, signed: a reflection that the app stores. It is processed, and its
    # text must not reach the log on the way either (slack-sdk logs bodies at DEBUG).
    result = emulator.deliver_event(events, json.loads(body)["event"])
    assert result.status == 200
    wait_until(lambda: emulator.calls_to("chat.postMessage"), what="the answer to the reflection")
    # Slack echoes the bot's own DMs as message events (a confirmation can quote the
    # person); Bolt skips them, and at DEBUG it used to log the whole event.
    own = {
        "type": "message",
        "channel_type": "im",
        "channel": emulator.dm_channel("U1"),
        "user": emulator.bot_user_id,
        "bot_id": "BHEEDFUL",
        "text": TEXT,
        "ts": f"{time.time():.6f}",
    }
    assert emulator.deliver_event(events, own).status == 200

    # A signed event whose id holds a line break, delivered twice: the repeat is logged
    # at INFO with the id, escaped on its line.
    home = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}
    for _ in range(2):
        assert emulator.deliver_event(events, home, event_id=EVENT_ID).status == 200
    run.wait_for("is a repeat")

    assert run.stop() == 0
    log = run.log
    assert CANARY not in log
    assert FORGED not in log
    assert "Traceback" not in log
    assert "forged by an event id" in log
    assert not [line for line in run.lines if line.startswith(FAKE_LINE_START)]

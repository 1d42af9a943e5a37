"""Requests from "Slack" to the app: signing, payload builders and the HTTP transport.

The builders return exactly what Slack sends: Events API ``event_callback`` envelopes, slash
command form fields, and ``block_actions`` / ``view_submission`` payloads.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import string
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from bot.emulator.models import InboundResult
from bot.emulator.state import EmulatorConfig

_ID_ALPHABET = string.ascii_uppercase + string.digits


def random_id(prefix: str, length: int = 9) -> str:
    """A Slack-looking id such as ``Ev0A1B2C3D4``."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def new_trigger_id() -> str:
    """A trigger id in Slack's shape (``digits.digits.hex``)."""
    return f"{secrets.randbelow(10**10)}.{int(time.time())}.{secrets.token_hex(16)}"


def sign(body: bytes, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` headers for ``body``."""
    stamp = str(int(time.time()) if timestamp is None else int(timestamp))
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def event_envelope(
    config: EmulatorConfig, event: dict[str, Any], event_id: str | None = None
) -> dict[str, Any]:
    """An Events API ``event_callback`` body around ``event``."""
    now = int(time.time())
    return {
        "token": config.verification_token,
        "team_id": config.team_id,
        "context_team_id": config.team_id,
        "context_enterprise_id": None,
        "api_app_id": config.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or random_id("Ev"),
        "event_time": now,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": config.team_id,
                "user_id": config.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_urlsafe(24)}",
    }


def command_form(
    config: EmulatorConfig,
    *,
    command: str,
    text: str,
    user_id: str,
    user_name: str,
    channel_id: str,
    response_url: str,
    trigger_id: str,
) -> dict[str, str]:
    """The form fields of a slash command invocation in a DM."""
    return {
        "token": config.verification_token,
        "team_id": config.team_id,
        "team_domain": config.team_domain,
        "channel_id": channel_id,
        "channel_name": "directmessage",
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": config.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def user_ref(config: EmulatorConfig, user_id: str, user_name: str) -> dict[str, Any]:
    """The ``user`` object of interaction payloads."""
    return {
        "id": user_id,
        "username": user_name,
        "name": user_name,
        "team_id": config.team_id,
    }


def team_ref(config: EmulatorConfig) -> dict[str, Any]:
    """The ``team`` object of interaction payloads."""
    return {"id": config.team_id, "domain": config.team_domain}


def find_action_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[Any, Any]:
    """(block, element) of the interactive element with ``action_id`` in ``blocks``."""
    for block in blocks or []:
        candidates = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        if isinstance(block.get("element"), dict):
            candidates.append(block["element"])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block, element
    return None, None


def normalize_state_values(values: dict[str, Any]) -> dict[str, Any]:
    """Accept Slack's ``state.values`` shape or the shorthand ``{block: {action: "text"}}``."""
    normalized: dict[str, Any] = {}
    for block_id, actions in values.items():
        normalized[block_id] = {}
        for action_id, value in actions.items():
            if isinstance(value, dict):
                normalized[block_id][action_id] = value
            else:
                normalized[block_id][action_id] = {"type": "plain_text_input", "value": value}
    return normalized


def post(
    app_url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float = 10.0,
    request: Any = None,
) -> InboundResult:
    """POST ``body`` to ``app_url`` with a fresh connection and read the whole answer."""
    url = urlsplit(app_url)
    if url.scheme not in {"http", "https"} or not url.hostname:
        raise ValueError(f"not an http(s) URL: {app_url!r}")
    connection_class = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(url.hostname, url.port, timeout=timeout)
    path = url.path or "/"
    if url.query:
        path = f"{path}?{url.query}"
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        answer_headers = dict(response.getheaders())
        status = response.status
    finally:
        connection.close()
    text = raw.decode("utf-8", errors="replace")
    parsed: Any = None
    if text.strip().startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    return InboundResult(
        status=status,
        body=text,
        json=parsed,
        headers=answer_headers,
        via="http",
        request=request,
    )


def encode_form(fields: dict[str, str]) -> bytes:
    """``application/x-www-form-urlencoded`` body."""
    return urlencode(fields).encode()


def encode_payload_form(payload: dict[str, Any]) -> bytes:
    """The ``payload=<json>`` form body of interactivity requests."""
    return urlencode({"payload": json.dumps(payload)}).encode()

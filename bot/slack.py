"""Slack Web API clients, one per workspace token, all honouring ``SLACK_API_URL``;
and the one Slack call listeners share, :func:`upload_to_dm`.

Only this module, the sender and the handlers touch ``WebClient`` (``lookup_by_email`` is
here for ``bot.feedback``, which finds a meeting's attendees in the workspace).

The clients are built with **no retry handlers**: slack-sdk's default retries a
request once after a connection error, which for ``chat.postMessage`` can post the
same DM twice (the connection may drop after Slack stored the message). Retries are
the sender's job: it knows which failures are safe to repeat and reconciles the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

DEFAULT_TIMEOUT_SECONDS = 10


class SlackClients:
    """Hands out one cached :class:`WebClient` per token."""

    def __init__(self, *, base_url: str, timeout: int = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._clients: dict[str | None, WebClient] = {}
        self._lock = threading.Lock()

    def for_token(self, token: str | None) -> WebClient:
        with self._lock:
            client = self._clients.get(token)
            if client is None:
                client = WebClient(
                    token=token, base_url=self.base_url, timeout=self.timeout, retry_handlers=[]
                )
                self._clients[token] = client
            return client

    def anonymous(self) -> WebClient:
        """A client with no token, for Bolt's own use (authorize supplies the token)."""
        return self.for_token(None)


@dataclass(frozen=True)
class Upload:
    """A file for the person's DM (their export)."""

    filename: str
    content: str
    comment: str


def upload_to_dm(client: WebClient, user_id: str, upload: Upload) -> None:
    """Slack's file upload flow (files.getUploadURLExternal + completeUploadExternal)
    into the person's DM with Heedful."""
    channel = client.conversations_open(users=user_id)["channel"]["id"]
    client.files_upload_v2(
        channel=channel,
        content=upload.content,
        filename=upload.filename,
        title=upload.filename,
        initial_comment=upload.comment,
    )


@dataclass(frozen=True)
class Lookup:
    """What ``users.lookupByEmail`` said about one address: the person (``user``, Slack's
    user object), or nobody in the workspace (``found`` False, ``error`` None), or a rate
    limit (``retry_after`` seconds), or another error (``error``: Slack's code, or the
    kind of failure when no answer came)."""

    user: Mapping[str, Any] | None = None
    retry_after: float | None = None
    error: str | None = None

    @property
    def found(self) -> bool:
        return self.user is not None


# Answers that mean: this address is no one Heedful can ask in this workspace.
NOT_FOUND = frozenset({"users_not_found", "user_not_found", "invalid_email"})


def lookup_by_email(client: WebClient, email: str) -> Lookup:
    """``users.lookupByEmail`` (needs the ``users:read.email`` scope), classified."""
    try:
        response = client.users_lookupByEmail(email=email)
    except SlackApiError as exc:
        answer = exc.response
        code = str(answer.get("error") or f"http_{answer.status_code}")
        if answer.status_code == 429 or code == "ratelimited":
            raw = next(
                (v for k, v in (answer.headers or {}).items() if k.lower() == "retry-after"), None
            )
            try:
                wait = float(raw[0] if isinstance(raw, list | tuple) else raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                wait = 1.0
            return Lookup(retry_after=max(0.0, min(wait, 3600.0)))
        return Lookup(error=None if code in NOT_FOUND else code)
    except Exception as exc:  # no answer: try again later
        return Lookup(error=f"io:{type(exc).__name__}")
    user = response.get("user")
    return Lookup(user=user) if isinstance(user, Mapping) else Lookup(error="no_user")

"""Slack Web API clients, one per workspace token, all honouring ``SLACK_API_URL``;
and the one Slack call listeners share, :func:`upload_to_dm`.

Only this module, the sender and the handlers touch ``WebClient``.

The clients are built with **no retry handlers**: slack-sdk's default retries a
request once after a connection error, which for ``chat.postMessage`` can post the
same DM twice (the connection may drop after Slack stored the message). Retries are
the sender's job: it knows which failures are safe to repeat and reconciles the rest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from slack_sdk import WebClient

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

"""Slack Web API clients, one per workspace token, all honouring ``SLACK_API_URL``.

Only this module, the sender and the handlers touch ``WebClient``.

The clients are built with **no retry handlers**: slack-sdk's default retries a
request once after a connection error, which for ``chat.postMessage`` can post the
same DM twice (the connection may drop after Slack stored the message). Retries are
the sender's job: it knows which failures are safe to repeat and reconciles the rest.
"""

from __future__ import annotations

import threading

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

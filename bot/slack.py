"""Slack Web API clients, one per workspace token, all honouring ``SLACK_API_URL``;
and the one Slack call listeners share, :func:`upload_to_dm`.

Only this module, the sender and the handlers touch ``WebClient`` (``lookup_by_email`` is
here for ``bot.feedback``, which finds a meeting's attendees in the workspace).

The clients are built with **no retrying handlers**: slack-sdk's default retries a
request once after a connection error, which for ``chat.postMessage`` can post the
same DM twice (the connection may drop after Slack stored the message). Retries are
the sender's job: it knows which failures are safe to repeat and reconciles the rest.
Their one handler, :class:`SlackCalls`, never retries: it counts every Web API call
and how it ended, for ``heedful_slack_calls_total`` (``bot.metrics``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest as RetryRequest
from slack_sdk.http_retry.response import HttpResponse as RetryResponse
from slack_sdk.http_retry.state import RetryState

DEFAULT_TIMEOUT_SECONDS = 10

# What a label may hold: a Web API method name, a Slack error code. Anything else (a
# proxy's odd answer) is counted as "other", so no value from outside can grow the series.
_METHOD = re.compile(r"[A-Za-z0-9_.]{1,64}")
_CODE = re.compile(r"[a-z0-9_]{1,64}")


class SlackCalls(RetryHandler):
    """Counts every Web API call the app's clients make, by method and outcome.

    It is hooked as the clients' only retry handler because that is the one place every
    attempt passes, whoever makes it: slack-sdk consults a client's retry handlers after
    each HTTP answer and each failure to get one (``BaseClient._perform_urllib_http_request``),
    and Bolt's per-request clients copy the list of the client the App was given
    (``App._init_context``: ``retry_handlers=self._client.retry_handlers.copy()``), so
    handlers' calls are counted too although Bolt builds a plain ``WebClient`` for them.
    A subclass or a wrapped ``api_call`` would miss those. It never asks for a retry.

    Outcomes: ``ok``; ``ratelimited`` (HTTP 429, or Slack's ``ratelimited`` code);
    Slack's error code (``channel_not_found``, ``invalid_auth``: a closed, documented set;
    ``other`` if an answer's code is not shaped like one); ``http_5xx`` / ``http_4xx`` for a
    non-200 answer without a code; ``error`` when no answer came (connection refused, reset,
    timeout). Requests to other URLs (a file's upload URL) are not Web API calls and are
    not counted. No label holds a user, a team, a token or any text.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__(max_retry_count=0)
        self.base_url = base_url
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def can_retry(
        self,
        *,
        state: RetryState,
        request: RetryRequest,
        response: RetryResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = self._method(request.url)
        if method is not None:
            outcome = call_outcome(response)
            with self._lock:
                self._counts[(method, outcome)] = self._counts.get((method, outcome), 0) + 1
        return False

    def _method(self, url: str) -> str | None:
        if not url.startswith(self.base_url):
            return None
        method = url[len(self.base_url) :].split("?", 1)[0]
        return method if _METHOD.fullmatch(method) else "other"

    def counts(self) -> dict[tuple[str, str], int]:
        """(method, outcome) → calls so far (a copy)."""
        with self._lock:
            return dict(self._counts)


def call_outcome(response: RetryResponse | None) -> str:
    """The ``outcome`` label of one Web API call (see :class:`SlackCalls`)."""
    if response is None:
        return "error"
    if response.status_code == 429:
        return "ratelimited"
    body = response.body
    if body is None and response.data:
        try:
            body = json.loads(response.data)
        except ValueError:
            body = None
    if isinstance(body, Mapping):
        if body.get("ok") is True and response.status_code == 200:
            return "ok"
        code = body.get("error")
        if isinstance(code, str) and code:
            return code if _CODE.fullmatch(code) else "other"
    if response.status_code == 200:
        return "other"  # a 200 that is not Slack's JSON
    return f"http_{response.status_code // 100}xx"


class SlackClients:
    """Hands out one cached :class:`WebClient` per token."""

    def __init__(self, *, base_url: str, timeout: int = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._clients: dict[str | None, WebClient] = {}
        self._lock = threading.Lock()
        self.calls = SlackCalls(base_url)

    def for_token(self, token: str | None) -> WebClient:
        with self._lock:
            client = self._clients.get(token)
            if client is None:
                client = WebClient(
                    token=token,
                    base_url=self.base_url,
                    timeout=self.timeout,
                    retry_handlers=[self.calls],
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


# Lookups that failed for want of an answer: worth asking again later.
LOOKUP_TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)


@dataclass(frozen=True)
class Lookup:
    """What ``users.lookupByEmail`` said about one address: the person (``user``, Slack's
    user object), or nobody in the workspace (``found`` False, ``error`` None), or a rate
    limit (``retry_after`` seconds), or another error (``error``: Slack's code, or the
    kind of failure when no answer came; ``transient``: worth asking again later)."""

    user: Mapping[str, Any] | None = None
    retry_after: float | None = None
    error: str | None = None
    transient: bool = False

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
        if code in NOT_FOUND:
            return Lookup()
        no_answer = not answer.get("error") and answer.status_code >= 500
        return Lookup(error=code, transient=no_answer or code in LOOKUP_TRANSIENT_ERRORS)
    except Exception as exc:  # no answer: try again later
        return Lookup(error=f"io:{type(exc).__name__}", transient=True)
    user = response.get("user")
    return Lookup(user=user) if isinstance(user, Mapping) else Lookup(error="no_user")

"""Plain data types shared by the Slack emulator's parts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

Via = Literal["auto", "http", "socket"]
ANSWER_AFTER_LIMIT = 30.0  # seconds an ``answer_after`` fault holds its answer at most


@dataclass(frozen=True)
class Call:
    """One Web API request the emulator received.

    Attributes:
        method: the API method name, e.g. ``"chat.postMessage"``.
        params: query, form and JSON arguments merged (body wins over query); the ``token``
            argument is removed from here and kept in ``token``.
        token: the token from ``Authorization: Bearer`` or the ``token`` argument, if any.
        at: ``time.time()`` when the request arrived.
        fault: the scripted fault applied to this call, if any.
    """

    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    fault: Fault | None = None


@dataclass
class Fault:
    """A scripted failure for the next ``times`` calls of one Web API method.

    Attributes:
        method: the API method name, or ``"*"`` for any method.
        status: HTTP status to answer with; anything but 200 answers
            ``{"ok": false, "error": error or "internal_error"}`` (``"ratelimited"`` for 429).
        error: with status 200, answer ``{"ok": false, "error": error}``.
        retry_after: value of the ``Retry-After`` header, emitted verbatim (``"1.5"``, ``2``).
        delay: seconds to sleep before doing anything else.
        drop_after_store: perform the method, then close the connection without a response.
        drop_before_store: close the connection without performing the method.
        answer_after: perform the method, then answer only once this event is set (at
            most :data:`ANSWER_AFTER_LIMIT` seconds later): a Slack slower than the caller's
            lease, whose answer arrives after others acted on the call's silence.
        times: how many more calls this fault applies to.
    """

    method: str
    status: int = 200
    error: str | None = None
    retry_after: str | float | int | None = None
    delay: float = 0.0
    drop_after_store: bool = False
    drop_before_store: bool = False
    answer_after: threading.Event | None = None
    times: int = 1

    @property
    def response_error(self) -> str | None:
        """The ``error`` code to answer with, or None when this fault does not answer an error."""
        if self.status != 200:
            if self.error:
                return self.error
            return "ratelimited" if self.status == 429 else "internal_error"
        return self.error


@dataclass
class InboundResult:
    """What the app answered to a request the emulator sent it (as Slack).

    Attributes:
        status: HTTP status (200 for an acknowledged Socket Mode envelope).
        body: the response body as text (for Socket Mode: the ack payload as JSON, or "").
        json: the parsed body (Socket Mode: the ack ``payload``), or None.
        headers: response headers (empty for Socket Mode).
        via: ``"http"`` or ``"socket"``.
        envelope_id: the Socket Mode envelope id, when sent over Socket Mode.
        request: the body that was sent (the Events API envelope, the command's form fields,
            or the interaction payload).
    """

    status: int
    body: str
    json: Any | None = None
    headers: dict[str, str] = field(default_factory=dict)
    via: str = "http"
    envelope_id: str | None = None
    request: Any | None = None

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300


class EmulatorError(Exception):
    """Raised by the emulator's own helpers (never sent over the wire)."""

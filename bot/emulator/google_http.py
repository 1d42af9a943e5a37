"""The fake Google's HTTP specifics: its call records and Google's error shapes.

The server, answers and routing are shared with the fake Microsoft
(:mod:`bot.emulator.fake_http`).
"""

from __future__ import annotations

import json
from typing import Any

from bot.emulator.fake_http import FakeCall
from bot.emulator.google_calendar import CalendarApiError

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


GoogleCall = FakeCall  # one request the fake answered; tokens, codes and state left out


def google_error(
    status: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    **extra: str,
) -> dict[str, Any]:
    """Google's JSON error body: ``{"error": {"code", "message", "errors", "status"}}``."""
    detail = {"domain": domain, "reason": reason, "message": message, **extra}
    error: dict[str, Any] = {"code": status, "message": message, "errors": [detail]}
    if status in _STATUS_NAMES:
        error["status"] = _STATUS_NAMES[status]
    return {"error": error}


def json_body(body: bytes) -> dict[str, Any]:
    """A JSON object request body; 400 ``parseError`` otherwise."""
    try:
        decoded = json.loads(body or b"{}")
    except ValueError:
        raise CalendarApiError(400, "parseError", "Parse Error") from None
    if not isinstance(decoded, dict):
        raise CalendarApiError(400, "parseError", "Parse Error")
    return decoded

"""``POST /hooks/calendar?source=<id>``: the signed calendar webhook (bot.sync.hooks).

Verify, validate and store in one call, then answer: 202 when stored, 200 for a
repeated ``webhook-id``, 400/401 with one line of reason. A refusal is one INFO line
with its status only: nothing here logs the body, or the reason (it can quote the body).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.server import HttpRequest, HttpResponse, Route
from bot.services import Services
from bot.sync.hooks import HookRejected, receive

logger = logging.getLogger(__name__)


def calendar_hook_route(services: Services, *, on_stored: Callable[[], None]) -> Route:
    def handle_calendar_hook(request: HttpRequest) -> HttpResponse:
        try:
            accepted = receive(
                services,
                source=request.query_params().get("source"),
                headers=request.headers,
                body=request.body,
            )
        except HookRejected as rejected:
            logger.info("calendar hook refused with %d", rejected.status)
            return HttpResponse.text(rejected.status, rejected.reason)
        if accepted.duplicate:
            return HttpResponse.json(200, {"ok": True, "duplicate": True})
        on_stored()
        return HttpResponse.json(202, {"ok": True, "duplicate": False})

    return handle_calendar_hook

"""Microsoft 365 over HTTP: change notifications (``POST /hooks/microsoft``) and
lifecycle notifications (``POST /hooks/microsoft/lifecycle``), in :mod:`bot.sync.microsoft`;
its sign-in routes are :mod:`handlers.hooks.sign_in`. A ``?validationToken=`` on either
hook is Graph's validation request, answered before anything else. Nothing here logs a
query string, a header value or a body."""

from __future__ import annotations

from collections.abc import Callable

from bot.server import HttpRequest, HttpResponse, Route
from bot.services import Services
from bot.sync import microsoft

_TEXT = {
    "Content-Type": "text/plain; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _validation(request: HttpRequest) -> HttpResponse | None:
    """Graph's validation request, or None when this is no such request."""
    tokens = request.query_params().get("validationToken")
    if tokens is None and "validationToken=" not in request.query:
        return None
    token = tokens[0] if tokens and len(tokens) == 1 else None
    answer = microsoft.validation(token, accept=request.headers.get("accept", ""))
    return HttpResponse(answer.status, (answer.text or "").encode(), _TEXT)


def hook_route(services: Services, *, on_stored: Callable[[], None]) -> Route:
    def handle_microsoft_hook(request: HttpRequest) -> HttpResponse:
        validated = _validation(request)
        if validated is not None:
            return validated
        answer = microsoft.receive(services, body=request.body)
        if answer.stored:
            on_stored()
        return HttpResponse(answer.status)

    return handle_microsoft_hook


def lifecycle_route(services: Services, *, on_stored: Callable[[], None]) -> Route:
    def handle_microsoft_lifecycle(request: HttpRequest) -> HttpResponse:
        validated = _validation(request)
        if validated is not None:
            return validated
        answer = microsoft.receive_lifecycle(services, body=request.body)
        if answer.stored:
            on_stored()
        return HttpResponse(answer.status)

    return handle_microsoft_lifecycle

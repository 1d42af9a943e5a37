"""Microsoft 365 over HTTP: sign-in (``GET /oauth/microsoft/start`` and
``/oauth/microsoft/callback``), change notifications (``POST /hooks/microsoft``) and
lifecycle notifications (``POST /hooks/microsoft/lifecycle``), all in
:mod:`bot.sync.microsoft`. A ``?validationToken=`` on either hook is Graph's validation
request, answered before anything else. Nothing here logs a query string, a header value
or a body."""

from __future__ import annotations

from collections.abc import Callable

from bot.server import HttpRequest, HttpResponse, Route
from bot.services import Services
from bot.sync import microsoft

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_TEXT = {
    "Content-Type": "text/plain; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _answer(page: microsoft.Page) -> HttpResponse:
    if page.location is not None:
        return HttpResponse(page.status, b"", {"Location": page.location, **_NO_STORE})
    return HttpResponse(
        page.status, page.html.encode(), {"Content-Type": "text/html; charset=utf-8", **_NO_STORE}
    )


def start_route(services: Services) -> Route:
    def handle_microsoft_start(request: HttpRequest) -> HttpResponse:
        states = request.query_params().get("state") or []
        state = states[0] if len(states) == 1 else None
        return _answer(microsoft.start(services, state=state))

    return handle_microsoft_start


def callback_route(services: Services) -> Route:
    def handle_microsoft_callback(request: HttpRequest) -> HttpResponse:
        return _answer(microsoft.finish(services, query=request.query_params()))

    return handle_microsoft_callback


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

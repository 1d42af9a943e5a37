"""Google Calendar over HTTP: sign-in (``GET /oauth/google/start`` and
``/oauth/google/callback``) and push notifications (``POST /hooks/google``), all in
:mod:`bot.sync.google`. Nothing here logs a query string, a header value or a body."""

from __future__ import annotations

from collections.abc import Callable

from bot.server import HttpRequest, HttpResponse, Route
from bot.services import Services
from bot.sync import google

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _answer(page: google.Page) -> HttpResponse:
    if page.location is not None:
        return HttpResponse(page.status, b"", {"Location": page.location, **_NO_STORE})
    return HttpResponse(
        page.status, page.html.encode(), {"Content-Type": "text/html; charset=utf-8", **_NO_STORE}
    )


def start_route(services: Services) -> Route:
    def handle_google_start(request: HttpRequest) -> HttpResponse:
        states = request.query_params().get("state") or []
        state = states[0] if len(states) == 1 else None
        return _answer(google.start(services, state=state))

    return handle_google_start


def callback_route(services: Services) -> Route:
    def handle_google_callback(request: HttpRequest) -> HttpResponse:
        return _answer(google.finish(services, query=request.query_params()))

    return handle_google_callback


def push_route(services: Services, *, on_stored: Callable[[], None]) -> Route:
    def handle_google_push(request: HttpRequest) -> HttpResponse:
        notified = google.receive(services, headers=request.headers)
        if notified.stored:
            on_stored()
        return HttpResponse(notified.status)

    return handle_google_push

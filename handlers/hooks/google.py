"""Google Calendar push notifications over HTTP (``POST /hooks/google``), in
:mod:`bot.sync.google`; its sign-in routes are :mod:`handlers.hooks.sign_in`. Nothing
here logs a header value or a body."""

from __future__ import annotations

from collections.abc import Callable

from bot.server import HttpRequest, HttpResponse, Route
from bot.services import Services
from bot.sync import google


def push_route(services: Services, *, on_stored: Callable[[], None]) -> Route:
    def handle_google_push(request: HttpRequest) -> HttpResponse:
        notified = google.receive(services, headers=request.headers)
        if notified.stored:
            on_stored()
        return HttpResponse(notified.status)

    return handle_google_push

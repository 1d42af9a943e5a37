"""Sign-in at a calendar provider over HTTP (``GET /oauth/<provider>/start`` and
``/oauth/<provider>/callback``): the same two routes for Google and Microsoft, each
handing the query to its provider's ``start`` or ``finish`` in :mod:`bot.sync`
(their shared part is :mod:`bot.sync.oauth`). The pages are never cached and send no
Referer. Nothing here logs a query string."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from bot.server import HttpRequest, HttpResponse, Route
from bot.sync.oauth import Page, one

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _answer(page: Page) -> HttpResponse:
    if page.location is not None:
        return HttpResponse(page.status, b"", {"Location": page.location, **_NO_STORE})
    return HttpResponse(
        page.status, page.html.encode(), {"Content-Type": "text/html; charset=utf-8", **_NO_STORE}
    )


class Start(Protocol):
    def __call__(self, *, state: str | None) -> Page: ...


class Finish(Protocol):
    def __call__(self, *, query: Mapping[str, Sequence[str]]) -> Page: ...


def start_route(start: Start) -> Route:
    """The route that opens a sign-in: ``start(state=…)`` with the one ``state`` given."""

    def handle_oauth_start(request: HttpRequest) -> HttpResponse:
        return _answer(start(state=one(request.query_params(), "state")))

    return handle_oauth_start


def callback_route(finish: Finish) -> Route:
    """The route the provider redirects back to: ``finish(query=…)``."""

    def handle_oauth_callback(request: HttpRequest) -> HttpResponse:
        return _answer(finish(query=request.query_params()))

    return handle_oauth_callback

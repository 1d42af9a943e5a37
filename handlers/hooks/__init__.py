"""HTTP routes (calendar pushes, Google and Microsoft sign-in and notifications).
``register`` binds them on the app's router."""

from __future__ import annotations

from collections.abc import Callable

from bot.server import Router
from bot.services import Services
from handlers.hooks import google, microsoft
from handlers.hooks.calendar import calendar_hook_route


def register(router: Router, services: Services, *, on_stored: Callable[[], None]) -> None:
    router.add("POST", "/hooks/calendar", calendar_hook_route(services, on_stored=on_stored))
    router.add("POST", "/hooks/google", google.push_route(services, on_stored=on_stored))
    router.add("GET", "/oauth/google/start", google.start_route(services))
    router.add("GET", "/oauth/google/callback", google.callback_route(services))
    router.add("POST", "/hooks/microsoft", microsoft.hook_route(services, on_stored=on_stored))
    router.add(
        "POST",
        "/hooks/microsoft/lifecycle",
        microsoft.lifecycle_route(services, on_stored=on_stored),
    )
    router.add("GET", "/oauth/microsoft/start", microsoft.start_route(services))
    router.add("GET", "/oauth/microsoft/callback", microsoft.callback_route(services))

"""HTTP routes (calendar pushes, Google sign-in). ``register`` binds them on the app's router."""

from __future__ import annotations

from collections.abc import Callable

from bot.server import Router
from bot.services import Services
from handlers.hooks import google
from handlers.hooks.calendar import calendar_hook_route


def register(router: Router, services: Services, *, on_stored: Callable[[], None]) -> None:
    router.add("POST", "/hooks/calendar", calendar_hook_route(services, on_stored=on_stored))
    router.add("POST", "/hooks/google", google.push_route(services, on_stored=on_stored))
    router.add("GET", "/oauth/google/start", google.start_route(services))
    router.add("GET", "/oauth/google/callback", google.callback_route(services))

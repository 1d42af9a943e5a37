"""HTTP routes (calendar pushes, Google and Microsoft sign-in and notifications).
``register`` binds them on the app's router."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bot.server import Router
from bot.services import Services
from bot.sync import google as google_sync
from bot.sync import microsoft as microsoft_sync
from handlers.hooks import google, microsoft, sign_in
from handlers.hooks.calendar import calendar_hook_route


def register(router: Router, services: Services, *, on_stored: Callable[[], None]) -> None:
    router.add("POST", "/hooks/calendar", calendar_hook_route(services, on_stored=on_stored))
    router.add("POST", "/hooks/google", google.push_route(services, on_stored=on_stored))
    router.add("POST", "/hooks/microsoft", microsoft.hook_route(services, on_stored=on_stored))
    router.add(
        "POST",
        "/hooks/microsoft/lifecycle",
        microsoft.lifecycle_route(services, on_stored=on_stored),
    )
    for provider in (google_sync, microsoft_sync):
        name = provider.PROVIDER
        start = sign_in.start_route(partial(provider.start, services))
        router.add("GET", f"/oauth/{name}/start", start)
        finish = sign_in.callback_route(partial(provider.finish, services))
        router.add("GET", f"/oauth/{name}/callback", finish)

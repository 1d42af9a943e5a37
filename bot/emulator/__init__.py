"""A Slack Web API and Socket Mode emulator on loopback, for the tests and ``heedful demo``.

Beside it, ``FakeGoogle`` (``bot/emulator/google.py``): Google's OAuth 2.0 server and
Calendar API v3 with push notifications, for the Google Calendar connection; and
``FakeMicrosoft`` (``bot/emulator/microsoft.py``): the Microsoft identity platform and Graph
(calendar view delta, change notifications) over loopback HTTPS, for Outlook calendars.

A real ``slack_sdk.WebClient(base_url=emulator.api_url)`` talks to it over HTTP; Bolt's
``SocketModeHandler`` connects to it over a real WebSocket. Nothing starts at import time::

    from bot.emulator import SlackEmulator

    with SlackEmulator() as emu:
        emu.add_user("U123", tz="Europe/Berlin", email="ana@example.com")
        ...

What slack_sdk's ``WebClient`` (urllib) does against scripted faults, pinned by
``tests/emulator/test_emulator_faults.py``:

* ``drop_after_store`` / ``drop_before_store``: ``http.client.RemoteDisconnected`` (a
  ``ConnectionResetError``, so a ``ConnectionError``) raised as is, not wrapped. BUT the default
  ``WebClient`` has a ``ConnectionErrorRetryHandler`` (one retry) and silently resends: a message
  stored before the drop is posted twice. Build the sender's client with ``retry_handlers=[]``.
* a read timeout (``delay`` > the client's ``timeout``): the builtin ``TimeoutError``, not
  retried; the emulator still performs the method after the delay, like Slack would.
* HTTP 429/5xx: ``SlackApiError`` with ``e.response.status_code`` and
  ``e.response.headers["Retry-After"]`` verbatim. slack_sdk's own ``RateLimitErrorRetryHandler``
  calls ``int()`` on that header and raises ``ValueError`` for ``"1.5"``.

With ``SlackEmulator(rate_limits=RateLimits())`` it also answers 429 as Slack does beyond its
rate limits (``bot/emulator/limits.py``), with a whole-seconds ``Retry-After`` that slack_sdk's
handler honours; ``SlackEmulator.rate_limited`` counts the 429s per method. With
``clock=`` it keeps the app's (virtual) time: scheduled messages are posted at ``post_at``.
"""

from typing import TYPE_CHECKING, Any

from bot.emulator.limits import RateLimits
from bot.emulator.models import Call, EmulatorError, Fault, InboundResult

if TYPE_CHECKING:
    from bot.emulator.emulator import SlackEmulator
    from bot.emulator.google import FakeGoogle
    from bot.emulator.microsoft import FakeMicrosoft

__all__ = [
    "Call",
    "EmulatorError",
    "FakeGoogle",
    "FakeMicrosoft",
    "Fault",
    "InboundResult",
    "RateLimits",
    "SlackEmulator",
]


def __getattr__(name: str) -> Any:
    """``SlackEmulator`` is imported on first use (PEP 562): it needs Heedful's
    dependencies, and ``python -m bot.emulator`` run by a Python without them must reach
    ``__main__`` to say so in one line instead of a traceback."""
    if name == "SlackEmulator":
        from bot.emulator.emulator import SlackEmulator

        globals()[name] = SlackEmulator
        return SlackEmulator
    if name == "FakeGoogle":
        from bot.emulator.google import FakeGoogle

        globals()[name] = FakeGoogle
        return FakeGoogle
    if name == "FakeMicrosoft":
        from bot.emulator.microsoft import FakeMicrosoft

        globals()[name] = FakeMicrosoft
        return FakeMicrosoft
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

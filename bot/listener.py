"""How every Slack listener in ``handlers/`` runs.

Two pieces, so that a listener is a few lines making one call into ``bot/``:

* :func:`with_services`, a global Bolt middleware, puts Heedful's :class:`Services` in
  Bolt's context under ``services``. Bolt hands a listener every context key it names
  as a parameter, as it does ``team_id`` and ``user_id`` (which it fills from the
  payload), so a listener declares ``services: Services, team_id: str, user_id: str``
  beside Bolt's own ``body``, ``view``, ``client``, ``respond``…

* :func:`acked` wraps each listener of a request Slack does not send again (a slash
  command, a button, a form): it acks first, then runs the listener; an exception is
  logged with the listener's name, its class and its traceback, but not its message,
  which can quote the payload (``int("…")`` does), and the person sees nothing broken,
  because Slack already has its ack. A listener that must answer in the ack
  itself (a busy message, a form that stays open with an error) names ``ack`` and acks
  itself; if it raises first, the wrapper acks for it. A form listener can instead
  name a pure ``refuse`` check: its errors keep the form open, and nothing else runs.

Events API listeners are not wrapped: the inbox stored and acked the event before
they run (``bot.inbox``), and an exception there must reach the inbox, which retries
the event with backoff.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services import Services

Listener = TypeVar("Listener", bound=Callable[..., None])
Refuse = Callable[[Mapping[str, Any]], Mapping[str, str]]


def with_services(services: Services) -> Callable[..., Any]:
    """A global Bolt middleware: ``services`` for every listener that names it."""

    def attach(context: BoltContext, next: Callable[[], Any]) -> Any:
        context["services"] = services
        return next()

    return attach


@overload
def acked(listen: Listener, /) -> Listener: ...


@overload
def acked(*, refuse: Refuse | None = None) -> Callable[[Listener], Listener]: ...


def acked(
    listen: Listener | None = None, /, *, refuse: Refuse | None = None
) -> Listener | Callable[[Listener], Listener]:
    """Make ``listen`` a Bolt listener that acks at once, catches and logs.

    ``@acked`` acks before the listener runs, unless the listener names ``ack`` (then
    it acks itself, and is acked if it raises before doing so). ``@acked(refuse=check)``
    is for a form: ``check(view)`` (pure: it runs before the ack) returns the errors to
    show by block id; any error keeps the form open and the listener does not run.
    """

    def wrap(listen: Listener) -> Listener:
        return _wrap(listen, refuse)

    return wrap if listen is None else wrap(listen)


def _wrap(listen: Listener, refuse: Refuse | None) -> Listener:
    wanted = list(inspect.signature(listen).parameters)
    acks_itself = "ack" in wanted
    needs = ["ack", *(["view"] if refuse is not None else [])]
    offered = wanted + [name for name in needs if name not in wanted]
    log = logging.getLogger(listen.__module__)

    def listener(**kwargs: Any) -> None:
        ack: Ack = kwargs["ack"]
        try:
            if refuse is not None and (errors := dict(refuse(kwargs["view"]))):
                ack(response_action="errors", errors=errors)
                return
            if not acks_itself:
                ack()
            listen(**{name: kwargs[name] for name in wanted})
        except Exception as exc:
            log.error("%s failed", listen.__name__, exc_info=_without_message(exc))
        finally:
            if ack.response is None:
                ack()

    # Bolt reads the parameter names to inject (inspect.getfullargspec of the listener,
    # after inspect.unwrap): offer it the wrapped listener's, plus ``ack``. No
    # ``__wrapped__``, or Bolt would read the wrapped listener's own names instead.
    listener.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in offered]
    )
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(listener, attribute, getattr(listen, attribute))
    return listener  # type: ignore[return-value]


class ListenerFailed(Exception):
    """Stands in for what a listener raised, in the log: its class (and Slack's error
    code, for a Slack API call refused), with the original traceback, and no message."""


def _without_message(exc: Exception) -> ListenerFailed:
    what = f"{type(exc).__module__}.{type(exc).__qualname__}"
    if isinstance(exc, SlackApiError):
        what += f" ({exc.response.get('error')})"
    return ListenerFailed(what).with_traceback(exc.__traceback__)


def replace_tapped(
    client: WebClient, body: Mapping[str, Any], text: str, blocks: list[dict[str, Any]]
) -> None:
    """Show the message a button was tapped on as ``text`` and ``blocks`` (``chat.update``):
    what a use case returns for a tap that turns its buttons into a short line."""
    client.chat_update(
        channel=body["channel"]["id"], ts=body["message"]["ts"], text=text, blocks=blocks
    )

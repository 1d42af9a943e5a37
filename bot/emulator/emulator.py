"""``SlackEmulator``: the Web API, Socket Mode and inbound requests of one fake workspace."""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.emulator import inbound
from bot.emulator.blocks import validate_submission, validate_view_response
from bot.emulator.fake_http import RunsInWith
from bot.emulator.http_server import (
    API_PREFIX,
    FILES_PREFIX,
    RESPONSE_PREFIX,
    UPLOAD_PREFIX,
    EmulatorHTTPServer,
    start_http_server,
)
from bot.emulator.limits import RateLimits
from bot.emulator.models import Call, EmulatorError, Fault, InboundResult, Via
from bot.emulator.socket_mode import SocketModeServer
from bot.emulator.state import DEFAULT_TZ, EmulatorConfig, Workspace
from bot.emulator.web_api import WebApi, public_message
from bot.messages.mrkdwn import escape

logger = logging.getLogger(__name__)

EVENTS_API = "events_api"
SLASH_COMMANDS = "slash_commands"
INTERACTIVE = "interactive"


class SlackEmulator(RunsInWith):
    """A Slack workspace on loopback: Web API over HTTP, Socket Mode over WebSocket.

    Point a real ``slack_sdk.WebClient(base_url=emulator.api_url)`` at it. Everything it
    receives is recorded (``calls``), DMs are kept per user (``messages``), and faults can be
    scripted per method (``fault``). Acting as Slack, it also signs and delivers events, slash
    commands and interactions to an app over HTTP or over the Socket Mode connection.

    It keeps its own time (``clock``, plus :meth:`advance`): messages scheduled with
    ``chat.scheduleMessage`` are posted once that time passes their ``post_at`` (looked at
    before each request, on :meth:`tick` and when messages are read), and with
    ``rate_limits`` it answers 429 as Slack does beyond them, measured on that time.

    Usage::

        with SlackEmulator() as emu:
            emu.add_user("U123", tz="Europe/Berlin", email="ana@example.com")
            client = WebClient(base_url=emu.api_url, token=emu.bot_token)
    """

    def __init__(
        self,
        signing_secret: str = "s3cr3t",
        team_id: str = "T0001",
        team_name: str = "Acme",
        bot_token: str = "xoxb-emulator",
        app_token: str = "xapp-emulator",
        bot_user_id: str = "UHEEDFUL",
        bot_id: str = "BHEEDFUL",
        *,
        app_id: str = "AHEEDFUL",
        host: str = "127.0.0.1",
        port: int = 0,
        socket_mode: bool = True,
        record_calls: bool = True,
        clock: Callable[[], datetime] | None = None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        """Configure the workspace; nothing binds until :meth:`start`.

        Args:
            signing_secret: secret used to sign requests sent to the app.
            team_id: workspace id.
            team_name: workspace name (its domain is derived from it).
            bot_token: the only accepted bot token.
            app_token: the only accepted app-level token (``apps.connections.open``).
            bot_user_id: the bot's user id (author of bot messages).
            bot_id: the bot's ``B…`` id.
            app_id: the app id (``api_app_id`` in payloads).
            host: interface to bind (keep loopback).
            port: HTTP port; 0 lets the OS choose.
            socket_mode: also run the Socket Mode WebSocket endpoint.
            record_calls: keep every call in :attr:`calls` (turn off for long benchmarks).
            clock: returns the emulator's time as an aware UTC datetime (default: real
                time); pass the app's virtual clock (``clock.now``) so scheduled messages
                fall due and rate limits refill on it. :meth:`advance` moves it further.
            rate_limits: enforce Slack's rate limits (:class:`RateLimits`); None (the
                default) enforces none.
        """
        self.config = EmulatorConfig(
            signing_secret=signing_secret,
            team_id=team_id,
            team_name=team_name,
            bot_token=bot_token,
            app_token=app_token,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
        )
        self.host = host
        self.requested_port = port
        self.socket_mode_enabled = socket_mode
        self._clock = clock or (lambda: datetime.now(UTC))
        self._offset = timedelta()
        self.workspace = Workspace(
            self.config,
            record_calls=record_calls,
            clock=lambda: self.now().timestamp(),
            rate_limits=rate_limits,
        )
        self.api = WebApi(
            self.workspace,
            upload_url=lambda file_id: f"{self.base_url}{UPLOAD_PREFIX}{file_id}",
            file_url=lambda file_id, name: f"{self.base_url}{FILES_PREFIX}{file_id}/{name}",
            socket_url=self._new_socket_url,
        )
        self._http: EmulatorHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._socket: SocketModeServer | None = None
        self._inbound: list[InboundResult] = []
        self._inbound_lock = threading.Lock()

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> SlackEmulator:
        """Bind the HTTP (and Socket Mode) servers and serve them in daemon threads."""
        if self._http is not None:
            return self
        self._http, self._http_thread = start_http_server(
            self.host, self.requested_port, workspace=self.workspace, api=self.api
        )
        if self.socket_mode_enabled:
            self._socket = SocketModeServer(app_id=self.config.app_id, host=self.host)
            self._socket.start()
        logger.info("Slack emulator listening on %s", self.api_url)
        return self

    def stop(self) -> None:
        """Close Socket Mode connections and both servers. Safe to call twice."""
        socket_server, self._socket = self._socket, None
        if socket_server is not None:
            socket_server.stop()
        http_server, self._http = self._http, None
        if http_server is not None:
            http_server.shutdown()
            http_server.server_close()
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None
        logger.info("Slack emulator stopped")

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._http is not None

    @property
    def port(self) -> int:
        """The HTTP port the OS assigned."""
        if self._http is None:
            raise EmulatorError("the emulator is not started")
        return int(self._http.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``: pass as ``WebClient(base_url=...)``."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def signing_secret(self) -> str:
        """The secret requests to the app are signed with."""
        return self.config.signing_secret

    @property
    def bot_token(self) -> str:
        """The accepted bot token."""
        return self.config.bot_token

    @property
    def app_token(self) -> str:
        """The accepted app-level token."""
        return self.config.app_token

    @property
    def bot_user_id(self) -> str:
        """The bot's user id."""
        return self.config.bot_user_id

    @property
    def team_id(self) -> str:
        """The workspace id."""
        return self.config.team_id

    # clock ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The emulator's time: the clock plus every :meth:`advance`."""
        return self._clock() + self._offset

    def advance(self, by: timedelta | float) -> list[str]:
        """Move the emulator's time forward (a timedelta or seconds), then :meth:`tick`."""
        with self.workspace.lock:
            self._offset += by if isinstance(by, timedelta) else timedelta(seconds=by)
        return self.tick()

    def tick(self) -> list[str]:
        """Post the scheduled messages due by now on the emulator's clock; their ts."""
        return self.api.deliver_due()

    # users ---------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        tz: str = DEFAULT_TZ,
        email: str | None = None,
        real_name: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        *,
        display_name: str | None = None,
    ) -> dict[str, Any]:
        """Create (or replace) a user; returns its ``users.info`` ``user`` object.

        ``tz`` defaults to America/Los_Angeles (Slack's default for new accounts); without
        ``email`` the profile has none (as when the app lacks ``users:read.email``).
        """
        return self.workspace.add_user(
            user_id,
            tz=tz,
            email=email,
            real_name=real_name,
            display_name=display_name,
            is_bot=is_bot,
            deleted=deleted,
            bot_id=f"B{user_id[1:]}" if is_bot else None,
        )

    def update_user(self, user_id: str, **changes: Any) -> dict[str, Any]:
        """Change a user's ``tz``, ``email``, ``real_name``, ``display_name``, ``deleted`` …"""
        return self.workspace.update_user(user_id, **changes)

    def user(self, user_id: str) -> dict[str, Any]:
        """The ``users.info`` object of a known user."""
        if user_id not in self.workspace.users:
            raise EmulatorError(f"unknown user {user_id!r}")
        return self.workspace.user_object(user_id)

    def user_change_event(self, user_id: str) -> dict[str, Any]:
        """A ``user_change`` event for the user as it is now (deliver with deliver_event)."""
        now = time.time()
        return {
            "type": "user_change",
            "user": self.user(user_id),
            "cache_ts": int(now),
            "event_ts": f"{now:.6f}",
        }

    # recorded state ------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every Web API call received so far, oldest first (a copy)."""
        with self.workspace.lock:
            return list(self.workspace.calls)

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one method, oldest first."""
        with self.workspace.lock:
            return [call for call in self.workspace.calls if call.method == method]

    def dm_channel(self, user_id: str) -> str:
        """The stable ``D…`` id of the bot's DM with ``user_id`` (created on first use)."""
        return self.workspace.dm_channel(user_id)

    def messages(self, channel_or_user_id: str) -> list[dict[str, Any]]:
        """Copies of the messages in a DM (by user id or ``D…`` id), oldest first.

        Each has ``ts``, ``user``, ``text``, ``blocks``, ``metadata`` (``event_type`` and
        ``event_payload``, or None), ``thread_ts`` and ``edited`` (None when not set), plus
        ``files`` / ``reactions`` / ``reply_count`` when they apply.
        """
        channel = self.workspace.resolve_channel(channel_or_user_id)
        if channel is None:
            return []
        self.tick()
        return self.workspace.messages_copy(channel)

    def bot_messages(self, channel_or_user_id: str) -> list[dict[str, Any]]:
        """Only the bot's messages of a DM, oldest first."""
        return [m for m in self.messages(channel_or_user_id) if m.get("user") == self.bot_user_id]

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """user id → the last Home view published for that user (copies)."""
        with self.workspace.lock:
            return {
                user_id: self.api._show_view(view) for user_id, view in self.workspace.views.items()
            }

    @property
    def opened_views(self) -> list[dict[str, Any]]:
        """Modals opened (or pushed) with views.open / views.push, oldest first (copies)."""
        with self.workspace.lock:
            return [self.api._show_view(view) for view in self.workspace.opened_views]

    def view(self, view_id: str) -> dict[str, Any] | None:
        """The current state of any view by id (home or modal)."""
        with self.workspace.lock:
            view = self.workspace.views_by_id.get(view_id)
            return self.api._show_view(view) if view is not None else None

    @property
    def files(self) -> dict[str, bytes]:
        """file id → uploaded bytes."""
        with self.workspace.lock:
            return dict(self.workspace.files)

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Posts the app made to ``response_url`` s: ``{"response_id", "payload", "at"}``."""
        return self.workspace.snapshot(lambda: self.workspace.responses)

    @property
    def refusals(self) -> list[dict[str, Any]]:
        """Payloads refused as invalid (blocks, views, texts, ``response_url`` posts), oldest
        first: ``{"method", "error", "errors"}``. Scripted faults are not refusals."""
        return self.workspace.snapshot(lambda: self.workspace.refusals)

    @property
    def reactions(self) -> list[dict[str, Any]]:
        """Reactions added with reactions.add, oldest first: ``{"channel", "ts", "name",
        "user"}``."""
        return self.workspace.snapshot(lambda: self.workspace.reactions)

    @property
    def scopes(self) -> set[str]:
        """The scopes the bot token holds (by default those of Heedful's manifest)."""
        with self.workspace.lock:
            return set(self.workspace.scopes)

    def revoke_scope(self, scope: str) -> None:
        """Take a scope away from the bot token, as an install made before the app asked
        for it lacks it: methods that need it answer ``missing_scope``."""
        with self.workspace.lock:
            self.workspace.scopes.discard(scope)

    def grant_scope(self, scope: str) -> None:
        with self.workspace.lock:
            self.workspace.scopes.add(scope)

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        """Messages sent with chat.postEphemeral."""
        return self.workspace.snapshot(lambda: self.workspace.ephemerals)

    @property
    def scheduled(self) -> list[dict[str, Any]]:
        """Messages scheduled with chat.scheduleMessage and not yet due (after a :meth:`tick`)."""
        self.tick()
        return self.workspace.snapshot(lambda: self.workspace.scheduled)

    @property
    def scheduled_log(self) -> list[dict[str, Any]]:
        """What became of each scheduled message, in order: ``{"id", "channel", "post_at",
        "outcome", "reason", "at", "ts"}``. ``outcome`` is ``"posted"`` (``ts`` is the
        message's), ``"deleted"`` (chat.deleteScheduledMessage) or ``"dropped"`` (never
        posted; ``reason`` ``"metadata"``: Slack does not post a message scheduled with
        ``metadata``). ``at`` is the emulator's time (epoch seconds) when it happened."""
        self.tick()
        return self.workspace.snapshot(lambda: self.workspace.scheduled_log)

    @property
    def rate_limited(self) -> dict[str, int]:
        """method → how many requests were answered 429: beyond the rate limits, or by a
        scripted fault with status 429."""
        return self.workspace.snapshot(lambda: self.workspace.rate_limited)

    @property
    def inbound(self) -> list[InboundResult]:
        """Every answer the app gave to a request the emulator sent it, oldest first."""
        with self._inbound_lock:
            return list(self._inbound)

    def release_scheduled(self, until: float | None = None) -> list[str]:
        """Post scheduled messages whose ``post_at`` ≤ ``until`` (default: the emulator's
        time) at once, even before the clock gets there; their ts. One scheduled with
        ``metadata`` is dropped, not posted (see :attr:`scheduled_log`)."""
        return self.api.deliver_due(until)

    # faults --------------------------------------------------------------------------------

    def fault(
        self,
        method: str,
        status: int = 200,
        error: str | None = None,
        retry_after: str | float | int | None = None,
        delay: float = 0.0,
        drop_after_store: bool = False,
        drop_before_store: bool = False,
        answer_after: threading.Event | None = None,
        times: int = 1,
    ) -> Fault:
        """Script a fault for the next ``times`` calls of ``method`` (``"*"``: any method).

        Faults for one method apply in the order they were added. See :class:`Fault`.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        if drop_after_store and drop_before_store:
            raise ValueError("choose drop_after_store or drop_before_store, not both")
        fault = Fault(
            method=method,
            status=status,
            error=error,
            retry_after=retry_after,
            delay=delay,
            drop_after_store=drop_after_store,
            drop_before_store=drop_before_store,
            answer_after=answer_after,
            times=times,
        )
        self.workspace.add_fault(fault)
        return fault

    def clear_faults(self) -> None:
        """Forget every scripted fault."""
        with self.workspace.lock:
            self.workspace.faults.clear()

    def reset(self) -> None:
        """Clear calls, messages, faults, views, files, responses, scheduled messages, 429
        counts, rate-limit buckets and inbound results.

        Users and their DM channel ids are kept.
        """
        self.workspace.reset()
        with self._inbound_lock:
            self._inbound.clear()

    # Socket Mode ---------------------------------------------------------------------------

    def _new_socket_url(self) -> str | None:
        return self._socket.new_url() if self._socket is not None else None

    @property
    def socket_connected(self) -> bool:
        """True while a Socket Mode client is connected."""
        return self._socket is not None and self._socket.connected

    def wait_for_socket(self, timeout: float = 10.0) -> None:
        """Block until a Socket Mode client is connected.

        Raises:
            TimeoutError: nobody connected within ``timeout`` seconds.
        """
        if self._socket is None or not self._socket.wait_connected(timeout):
            raise TimeoutError(f"no Socket Mode client connected within {timeout} s")

    def disconnect_sockets(self, reason: str = "refresh_requested", *, notify: bool = True) -> None:
        """Close every Socket Mode connection.

        With ``notify`` (Slack's way before a refresh), a ``disconnect`` message goes first;
        slack_sdk's clients answer it by reconnecting even when auto-reconnect is off.
        Without it, only the WebSocket close frame is sent.
        """
        if self._socket is not None:
            self._socket.disconnect_all(reason, notify=notify)

    # inbound: building blocks ---------------------------------------------------------------

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Slack's signature headers for ``body`` (timestamp defaults to now)."""
        return inbound.sign(body, self.config.signing_secret, timestamp)

    def event_envelope(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        """An Events API ``event_callback`` body around ``event`` (unique ``Ev…`` id)."""
        return inbound.event_envelope(self.config, event, event_id)

    def _resolve_via(self, app_url: str | None, via: Via) -> str:
        if via == "auto":
            return "http" if app_url else "socket"
        if via == "http" and not app_url:
            raise ValueError("via='http' needs an app_url")
        if via not in {"http", "socket"}:
            raise ValueError(f"unknown via {via!r}")
        return via

    def _remember(self, result: InboundResult) -> InboundResult:
        with self._inbound_lock:
            self._inbound.append(result)
        return result

    def _send_http(
        self,
        app_url: str,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None,
        signing_secret: str | None,
        extra_headers: dict[str, str] | None = None,
        timeout: float,
        request: Any,
    ) -> InboundResult:
        secret = self.config.signing_secret if signing_secret is None else signing_secret
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **inbound.sign(body, secret, timestamp),
            **(extra_headers or {}),
        }
        return inbound.post(app_url, body, headers, timeout=timeout, request=request)

    def _send_socket(
        self,
        envelope_type: str,
        payload: Any,
        *,
        accepts_response_payload: bool,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float,
    ) -> InboundResult:
        if self._socket is None:
            raise ConnectionError("Socket Mode is not running")
        envelope_id, ack = self._socket.send_envelope(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            timeout=timeout,
        )
        answer = ack.get("payload")
        return InboundResult(
            status=200,
            body=json.dumps(answer) if answer is not None else "",
            json=answer,
            via="socket",
            envelope_id=envelope_id,
            request=payload,
        )

    # inbound: deliveries --------------------------------------------------------------------

    def deliver_event(
        self,
        app_url: str | None,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        via: Via = "auto",
        timeout: float = 10.0,
    ) -> InboundResult:
        """Send an Events API envelope around ``event`` to the app.

        Over HTTP: signed JSON POST to ``app_url``; ``retry_num``/``retry_reason`` become
        ``X-Slack-Retry-Num``/``X-Slack-Retry-Reason``. Over Socket Mode (``via="socket"``, or
        ``"auto"`` without an ``app_url``): an ``events_api`` envelope, waiting for the ack.
        """
        envelope = self.event_envelope(event, event_id)
        return self.deliver_envelope(
            app_url,
            envelope,
            retry_num=retry_num,
            retry_reason=retry_reason,
            timestamp=timestamp,
            signing_secret=signing_secret,
            via=via,
            timeout=timeout,
        )

    def deliver_envelope(
        self,
        app_url: str | None,
        envelope: dict[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        via: Via = "auto",
        timeout: float = 10.0,
    ) -> InboundResult:
        """Send an already built Events API body (e.g. to redeliver the same ``event_id``)."""
        mode = self._resolve_via(app_url, via)
        logger.debug("delivering event %s via %s", envelope.get("event_id"), mode)
        if mode == "socket":
            result = self._send_socket(
                EVENTS_API,
                envelope,
                accepts_response_payload=False,
                retry_attempt=retry_num or 0,
                retry_reason=retry_reason or "",
                timeout=timeout,
            )
        else:
            extra = {}
            if retry_num is not None:
                extra["X-Slack-Retry-Num"] = str(retry_num)
                extra["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
            result = self._send_http(
                str(app_url),
                json.dumps(envelope).encode(),
                "application/json",
                timestamp=timestamp,
                signing_secret=signing_secret,
                extra_headers=extra,
                timeout=timeout,
                request=envelope,
            )
        return self._remember(result)

    def send_command(
        self,
        app_url: str | None,
        command: str = "/heedful",
        text: str = "",
        *,
        user_id: str,
        channel_id: str | None = None,
        trigger_id: str | None = None,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        via: Via = "auto",
        timeout: float = 10.0,
    ) -> InboundResult:
        """Invoke a slash command as ``user_id`` in their DM with the bot.

        ``response_url`` points back at the emulator; posts to it land in :attr:`responses`.
        """
        mode = self._resolve_via(app_url, via)
        form = inbound.command_form(
            self.config,
            command=command,
            text=text,
            user_id=user_id,
            user_name=self._user_name(user_id),
            channel_id=channel_id or self.dm_channel(user_id),
            response_url=self._response_url(),
            trigger_id=trigger_id or inbound.new_trigger_id(),
        )
        logger.debug("sending command %s via %s", command, mode)
        if mode == "socket":
            result = self._send_socket(
                SLASH_COMMANDS, form, accepts_response_payload=True, timeout=timeout
            )
        else:
            result = self._send_http(
                str(app_url),
                inbound.encode_form(form),
                "application/x-www-form-urlencoded",
                timestamp=timestamp,
                signing_secret=signing_secret,
                timeout=timeout,
                request=form,
            )
        return self._remember(result)

    def send_interaction(
        self,
        app_url: str | None,
        payload: dict[str, Any],
        *,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        via: Via = "auto",
        timeout: float = 10.0,
    ) -> InboundResult:
        """Send an interactivity payload (``payload=<json>`` form over HTTP)."""
        mode = self._resolve_via(app_url, via)
        logger.debug("sending interaction %s via %s", payload.get("type"), mode)
        if mode == "socket":
            accepts = payload.get("type") in {"view_submission", "block_suggestion"}
            result = self._send_socket(
                INTERACTIVE, payload, accepts_response_payload=accepts, timeout=timeout
            )
        else:
            result = self._send_http(
                str(app_url),
                inbound.encode_payload_form(payload),
                "application/x-www-form-urlencoded",
                timestamp=timestamp,
                signing_secret=signing_secret,
                timeout=timeout,
                request=payload,
            )
        if payload.get("type") == "view_submission":
            answer = result.json if result.body.strip() else None
            problems = validate_view_response(payload.get("view"), answer)
            if problems:
                self.workspace.record_refusal("view_submission response", "invalid", problems)
        return self._remember(result)

    def click_button(
        self,
        app_url: str | None,
        user_id: str,
        action_id: str,
        value: str | None = None,
        message: dict[str, Any] | None = None,
        block_id: str | None = None,
        *,
        via: Via = "auto",
        timeout: float = 10.0,
    ) -> InboundResult:
        """Click an interactive element as ``user_id`` and send the ``block_actions`` payload.

        Without ``message``, the element is looked up in the user's published Home view,
        then in the bot's messages of the DM (newest first). ``value`` defaults to the
        element's own value; for selects it picks the option with that value (or the first).
        """
        payload = self.block_actions_payload(user_id, action_id, value, message, block_id)
        return self.send_interaction(app_url, payload, via=via, timeout=timeout)

    def block_actions_payload(
        self,
        user_id: str,
        action_id: str,
        value: str | None = None,
        message: dict[str, Any] | None = None,
        block_id: str | None = None,
    ) -> dict[str, Any]:
        """The ``block_actions`` payload :meth:`click_button` sends."""
        channel = self.dm_channel(user_id)
        view = None
        if message is None:
            home = self.views.get(user_id)
            if home is not None and inbound.find_action_element(home["blocks"], action_id)[1]:
                view = home
            else:
                for candidate in reversed(self.bot_messages(user_id)):
                    if inbound.find_action_element(candidate.get("blocks", []), action_id)[1]:
                        message = candidate
                        break
        blocks = (view or message or {}).get("blocks") or []
        block, element = inbound.find_action_element(blocks, action_id)
        element = element or {"type": "button"}
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or (block or {}).get("block_id") or inbound.random_id("", 5),
            "type": element.get("type", "button"),
            "action_ts": f"{time.time():.6f}",
        }
        if action["type"] == "button":
            action["text"] = element.get("text") or {"type": "plain_text", "text": action_id}
            chosen = value if value is not None else element.get("value")
            if chosen is not None:
                action["value"] = chosen
            if element.get("style"):
                action["style"] = element["style"]
        elif action["type"] in {"static_select", "overflow", "radio_buttons"}:
            options = element.get("options") or []
            picked = next((o for o in options if o.get("value") == value), None)
            if picked is None:
                picked = options[0] if options else {"value": value}
            action["selected_option"] = picked
        elif value is not None:
            action["value"] = value
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": inbound.user_ref(self.config, user_id, self._user_name(user_id)),
            "api_app_id": self.config.app_id,
            "token": self.config.verification_token,
            "trigger_id": inbound.new_trigger_id(),
            "team": inbound.team_ref(self.config),
            "enterprise": None,
            "is_enterprise_install": False,
            "state": {"values": {}},
            "actions": [action],
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view["id"]}
            payload["view"] = view
        else:
            shown = public_message(message or {}, include_metadata=True)
            payload["container"] = {
                "type": "message",
                "message_ts": shown.get("ts"),
                "channel_id": channel,
                "is_ephemeral": False,
            }
            payload["channel"] = {"id": channel, "name": "directmessage"}
            payload["message"] = shown
            payload["response_url"] = self._response_url()
        return payload

    def submit_view(
        self,
        app_url: str | None,
        user_id: str,
        view: dict[str, Any],
        values: dict[str, Any],
        *,
        via: Via = "auto",
        timeout: float = 10.0,
    ) -> InboundResult:
        """Submit a modal as ``user_id`` with the given input ``values``.

        ``view`` is usually one of :attr:`opened_views`; ``values`` is Slack's
        ``state.values`` shape or the shorthand ``{block_id: {action_id: "text"}}``.
        """
        payload = self.view_submission_payload(user_id, view, values)
        return self.send_interaction(app_url, payload, via=via, timeout=timeout)

    def view_submission_payload(
        self, user_id: str, view: dict[str, Any], values: dict[str, Any]
    ) -> dict[str, Any]:
        """The ``view_submission`` payload :meth:`submit_view` sends."""
        submitted = copy.deepcopy(view)
        submitted.setdefault("id", self.workspace.next_id("V"))
        submitted.setdefault("type", "modal")
        submitted.setdefault("team_id", self.config.team_id)
        submitted.setdefault("private_metadata", "")
        submitted.setdefault("callback_id", "")
        submitted.setdefault("hash", f"{int(time.time())}.{uuid.uuid4().hex[:8]}")
        submitted.setdefault("root_view_id", submitted["id"])
        submitted.setdefault("previous_view_id", None)
        submitted.setdefault("app_id", self.config.app_id)
        submitted.setdefault("bot_id", self.config.bot_id)
        submitted["state"] = {"values": inbound.normalize_state_values(values)}
        problems = validate_submission(submitted, submitted["state"]["values"])
        if problems:  # a test asking for what no Slack client sends
            raise EmulatorError("Slack's client would not submit this: " + "; ".join(problems))
        return {
            "type": "view_submission",
            "team": inbound.team_ref(self.config),
            "user": inbound.user_ref(self.config, user_id, self._user_name(user_id)),
            "api_app_id": self.config.app_id,
            "token": self.config.verification_token,
            "trigger_id": inbound.new_trigger_id(),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def open_home(
        self, app_url: str | None, user_id: str, *, via: Via = "auto", timeout: float = 10.0
    ) -> InboundResult:
        """Deliver ``app_home_opened`` (tab ``home``) for ``user_id``."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.dm_channel(user_id),
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        home = self.views.get(user_id)
        if home is not None:
            event["view"] = home
        return self.deliver_event(app_url, event, via=via, timeout=timeout)

    def user_says(
        self,
        app_url: str | None,
        user_id: str,
        text: str,
        thread_ts: str | None = None,
        *,
        via: Via = "auto",
        timeout: float = 10.0,
    ) -> str:
        """Store a message from ``user_id`` in their DM and deliver the ``message`` event.

        ``text`` is what the person typed; like Slack, the message's ``text`` carries it with
        ``&``, ``<`` and ``>`` escaped (``&amp;`` …) and its rich_text block as typed.
        The event goes to ``app_url`` when given, else over Socket Mode when a client is
        connected (``via="auto"``); otherwise the message is only stored. Returns its ts;
        the app's answer is in :attr:`inbound`.
        """
        if user_id not in self.workspace.users:
            raise EmulatorError(f"unknown user {user_id!r}")
        channel = self.dm_channel(user_id)
        client_msg_id = str(uuid.uuid4())
        blocks = [_rich_text(text)]
        stored = self.workspace.add_message(
            channel,
            {
                "type": "message",
                "user": user_id,
                "text": escape(text),
                "blocks": blocks,
                "metadata": None,
                "thread_ts": thread_ts,
                "edited": None,
                "team": self.config.team_id,
                "client_msg_id": client_msg_id,
            },
        )
        ts = stored["ts"]
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": user_id,
            "text": escape(text),
            "ts": ts,
            "event_ts": ts,
            "channel_type": "im",
            "team": self.config.team_id,
            "client_msg_id": client_msg_id,
            "blocks": copy.deepcopy(blocks),
        }
        if stored.get("thread_ts"):
            event["thread_ts"] = stored["thread_ts"]
            root = self.workspace.find_message(channel, stored["thread_ts"])
            if root is not None:
                event["parent_user_id"] = root.get("user")
        self._deliver_user_event(app_url, event, via=via, timeout=timeout)
        return ts

    def user_edits(
        self,
        app_url: str | None,
        user_id: str,
        ts: str,
        new_text: str,
        *,
        via: Via = "auto",
        timeout: float = 10.0,
    ) -> InboundResult | None:
        """Edit a message ``user_id`` sent and deliver ``message_changed``; the app's answer.
        ``new_text`` is what the person typed (escaped in ``text``, as in :meth:`user_says`)."""
        channel = self.dm_channel(user_id)
        edit_ts = self.workspace.next_ts()
        with self.workspace.lock:
            message = self._own_message(user_id, channel, ts, "edit")
            previous = copy.deepcopy(message)
            message["text"] = escape(new_text)
            message["blocks"] = [_rich_text(new_text)]
            message["edited"] = {"user": user_id, "ts": edit_ts}
            current = copy.deepcopy(message)
        shown_keys = ("type", "user", "text", "ts", "team", "client_msg_id", "blocks")
        event_message = _shown(current, shown_keys)
        event_message["edited"] = current["edited"]
        previous_message = _shown(previous, shown_keys)
        if current.get("thread_ts"):
            event_message["thread_ts"] = current["thread_ts"]
            previous_message["thread_ts"] = current["thread_ts"]
        event = {
            "type": "message",
            "subtype": "message_changed",
            "message": event_message,
            "previous_message": previous_message,
            "channel": channel,
            "hidden": True,
            "ts": edit_ts,
            "event_ts": edit_ts,
            "channel_type": "im",
        }
        return self._deliver_user_event(app_url, event, via=via, timeout=timeout)

    def user_deletes(
        self,
        app_url: str | None,
        user_id: str,
        ts: str,
        *,
        with_previous: bool = True,
        via: Via = "auto",
        timeout: float = 10.0,
    ) -> InboundResult | None:
        """Delete a message ``user_id`` sent and deliver ``message_deleted``; the app's
        answer. With ``previous_message`` (what Slack sends for a DM), or, when
        ``with_previous`` is False, only ``channel`` and ``deleted_ts`` (the shape in
        Slack's reference)."""
        channel = self.dm_channel(user_id)
        event_ts = self.workspace.next_ts()
        with self.workspace.lock:
            previous = copy.deepcopy(self._own_message(user_id, channel, ts, "delete"))
            self.workspace.delete_message(channel, ts)
        event: dict[str, Any] = {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": channel,
            "ts": event_ts,
            "deleted_ts": ts,
            "event_ts": event_ts,
            "channel_type": "im",
        }
        if with_previous:
            shown_keys = ("type", "user", "text", "ts", "team", "client_msg_id", "thread_ts")
            event["previous_message"] = _shown(previous, shown_keys)
        else:
            del event["channel_type"]
        return self._deliver_user_event(app_url, event, via=via, timeout=timeout)

    def _own_message(self, user_id: str, channel: str, ts: str, doing: str) -> dict[str, Any]:
        """The stored message ``ts`` that ``user_id`` sent in ``channel``, for ``doing`` (an
        edit, a delete) to it; hold the workspace lock."""
        message = self.workspace.find_message(channel, ts)
        if message is None or message.get("user") != user_id:
            raise EmulatorError(f"{user_id} has no message {ts} to {doing}")
        return message

    def _deliver_user_event(
        self, app_url: str | None, event: dict[str, Any], *, via: Via, timeout: float
    ) -> InboundResult | None:
        if via == "auto" and not app_url and not self.socket_connected:
            return None
        return self.deliver_event(app_url, event, via=via, timeout=timeout)

    # helpers -------------------------------------------------------------------------------

    def _user_name(self, user_id: str) -> str:
        if user_id in self.workspace.users:
            return str(self.workspace.user_object(user_id)["name"])
        return user_id.lower()

    def _response_url(self) -> str:
        return f"{self.base_url}{RESPONSE_PREFIX}{self.config.team_id}/{uuid.uuid4().hex}"


def _shown(message: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The fields among ``keys`` that ``message`` has set, as a ``message`` event shows it."""
    return {k: message[k] for k in keys if message.get(k) is not None}


def _rich_text(text: str) -> dict[str, Any]:
    return {
        "type": "rich_text",
        "block_id": inbound.random_id("", 5),
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
    }

"""The services container: what every part of Heedful is handed instead of globals.

Built by :func:`build_services` from the settings, at the entry point (or by a test).
Listeners name it as a parameter, ``services`` (``bot.listener.with_services``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from slack_bolt.authorization import AuthorizeResult
from sqlalchemy.engine import Engine

from bot.clock import Clock, SystemClock
from bot.config import ConfigError, Settings
from bot.crypto import Cipher
from bot.http_clients import HttpClients
from bot.logging_setup import protect_private_logs
from bot.slack import SlackClients
from bot.slow_work import SlowWork
from bot.storage import installations
from bot.storage.db import make_engine, read_only

logger = logging.getLogger(__name__)

AUTHORIZE_TTL_SECONDS = 60.0


@dataclass
class Services:
    settings: Settings
    clock: Clock
    engine: Engine
    clients: SlackClients
    cipher: Cipher = field(default_factory=Cipher)
    worker_id: str = field(default_factory=lambda: default_worker_id())
    # Set by the running app: bring the outbox job forward (a reply is due now).
    wake_outbox: Callable[[], None] = field(default=lambda: None, repr=False)
    # Set by the running app: bring the inbox job forward (something was stored for it).
    wake_inbox: Callable[[], None] = field(default=lambda: None, repr=False)
    # Slow work people start from Slack (connecting a calendar), off Bolt's listener
    # pool; the app shuts it down when it stops.
    slow_work: SlowWork = field(default_factory=SlowWork, repr=False)
    # HTTP clients to calendar APIs (Graph), made on first use; the app closes them.
    http: HttpClients = field(default_factory=HttpClients, repr=False)
    _authorized: dict[str, tuple[float, AuthorizeResult | None]] = field(
        default_factory=dict, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def bolt_authorize(self) -> Callable[..., AuthorizeResult | None]:
        """Bolt's ``authorize`` function (Bolt calls it with the arguments it names)."""

        def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
            return self.authorize(enterprise_id=enterprise_id, team_id=team_id)

        return authorize

    def authorize(
        self, *, enterprise_id: str | None, team_id: str | None
    ) -> AuthorizeResult | None:
        """The workspace's bot token and bot ids from our installation table.

        Cached per workspace for ``AUTHORIZE_TTL`` (every inbound request asks); an
        install or uninstall in this process clears the entry at once.
        """
        if team_id is None:
            return None
        now = time.monotonic()
        with self._lock:
            cached = self._authorized.get(team_id)
        if cached is not None and now - cached[0] < AUTHORIZE_TTL_SECONDS:
            return cached[1]
        with read_only(self.engine) as conn:
            row = installations.installed(conn=conn, team_id=team_id)
        result = None
        if row is not None and row.bot_token and row.uninstalled_at is None:
            result = AuthorizeResult(
                enterprise_id=row.enterprise_id or enterprise_id,
                team_id=team_id,
                bot_token=self.cipher.decrypt(row.bot_token),
                bot_user_id=row.bot_user_id,
                bot_id=row.bot_id,
            )
        with self._lock:
            self._authorized[team_id] = (now, result)
        return result

    def forget_authorization(self, team_id: str) -> None:
        with self._lock:
            self._authorized.pop(team_id, None)

    def install_from_token(self, token: str) -> str:
        """Single-workspace install: ask Slack who the token belongs to and record it.
        Returns the workspace's team id."""
        info = self.clients.for_token(token).auth_test()
        team_id = str(info["team_id"])
        with self.engine.begin() as conn:
            installations.upsert_installation(
                conn=conn,
                team_id=team_id,
                now=self.clock.now(),
                enterprise_id=info.get("enterprise_id") or None,
                team_name=info.get("team"),
                bot_user_id=info.get("user_id"),
                bot_id=info.get("bot_id"),
                bot_token=self.cipher.encrypt(token),
            )
        self.forget_authorization(team_id)
        logger.info("installed for workspace %s", team_id)
        return team_id


def default_worker_id() -> str:
    """Unique per process: host, pid and a random suffix (leases name their claimer)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def build_services(
    settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None
) -> Services:
    protect_private_logs()
    try:
        cipher = Cipher(settings.encryption_keys)
    except ValueError as exc:
        raise ConfigError(f"heedful: {exc}") from None
    return Services(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine or make_engine(settings.database_url),
        clients=SlackClients(base_url=settings.slack_api_url),
        cipher=cipher,
    )

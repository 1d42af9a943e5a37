"""HTTP clients that live as long as the app: one :class:`HttpClients` per ``Services``.

A client that keeps connections (``httpx.Client``) is worth keeping between requests,
but not longer than the app that made it. A client made once per *process* is made
from the process's environment at that moment (httpx reads ``SSL_CERT_FILE`` and
``SSL_CERT_DIR`` when a client is made, ``trust_env``), so a process whose trust store
changes (a test that starts a new fake with a new certificate, and a new app for it)
would keep trusting the old one; keying such a cache on ``os.environ`` reads the
environment outside the entry point. Keeping the clients with the services instead
needs neither: each app gets clients made when it first calls out, from the trust store
of its time, and closes them when it stops (``Heedful.stop``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class HttpClients:
    """Clients by name, each made by its ``make`` on first use (thread-safe)."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, name: str, make: Callable[[], Any]) -> Any:
        """The client called ``name``, made now with ``make()`` if it is the first call."""
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._clients[name] = make()
            return client

    def close(self) -> None:
        """Close every client (its connections); a later :meth:`get` makes a new one."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            try:
                client.close()
            except Exception:
                logger.exception("closing an HTTP client failed")

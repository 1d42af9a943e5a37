"""The fake Google's push notifications: channels from ``events.watch`` and their messages.

Follows the Calendar API guide "Push notifications": a watch request needs an ``id`` (at most
64 characters of ``[A-Za-z0-9-_+/=]``), ``type: web_hook`` and an ``https://`` ``address``;
the answer carries the ``resourceId`` (one per watched resource, the same for every channel on
it), ``resourceUri`` and ``expiration`` (milliseconds since the epoch, as a string). Each
message is a POST with no body and the headers ``X-Goog-Channel-ID``,
``X-Goog-Channel-Token`` (only if the channel has one), ``X-Goog-Channel-Expiration``
(RFC 1123), ``X-Goog-Resource-ID``, ``X-Goog-Resource-URI``, ``X-Goog-Resource-State``
(``sync`` first, then ``exists``) and ``X-Goog-Message-Number`` (increasing per channel).

Google delivers to a public https address; the app under test listens on loopback HTTP, so
:class:`Pusher` rewrites a routed public base to a local one
(:class:`bot.emulator.fake_http.Routes`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import queue
import re
import threading
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from bot.emulator.fake_http import Routes, post
from bot.emulator.google_calendar import CalendarApiError

logger = logging.getLogger(__name__)

DEFAULT_CHANNEL_TTL = timedelta(days=7)
_CHANNEL_ID = re.compile(r"^[A-Za-z0-9\-_+/=]{1,64}$")


@dataclass(frozen=True)
class Delivery:
    """One push notification attempted, after it was answered (or could not be sent).

    Attributes:
        channel_id: the channel the message belongs to.
        address: the channel's public ``https://`` address.
        url: where it was sent after routing; None when no route matched.
        headers: the ``X-Goog-*`` headers sent.
        status: the receiver's HTTP status; None when undeliverable or the connection failed.
        error: why it could not be delivered, if it was not.
    """

    channel_id: str
    address: str
    url: str | None
    headers: dict[str, str]
    status: int | None
    error: str | None = None

    @property
    def state(self) -> str:
        """``sync`` or ``exists``."""
        return self.headers["X-Goog-Resource-State"]

    @property
    def message_number(self) -> int:
        return int(self.headers["X-Goog-Message-Number"])


@dataclass
class Channel:
    """A notification channel opened by ``events.watch``."""

    id: str
    resource_id: str
    resource_uri: str
    email: str
    address: str
    token: str | None
    expiration: datetime
    messages: int = 0
    stopped: bool = False

    def live(self, now: datetime) -> bool:
        return not self.stopped and now < self.expiration

    def answer(self) -> dict[str, Any]:
        """The ``api#channel`` resource ``events.watch`` answers with."""
        shown = {
            "kind": "api#channel",
            "id": self.id,
            "resourceId": self.resource_id,
            "resourceUri": self.resource_uri,
            "expiration": str(int(self.expiration.timestamp() * 1000)),
        }
        if self.token is not None:
            shown["token"] = self.token
        return shown


def open_channel(
    request: dict[str, Any],
    *,
    email: str,
    calendar_id: str,
    api_url: str,
    now: datetime,
    taken: Container[str],
) -> Channel:
    """A channel from a watch request body, or the 400 Google answers for it."""
    channel_id = request.get("id")
    address = request.get("address")
    if not channel_id:
        raise CalendarApiError(400, "required", "Required", locationType="other", location="id")
    if not isinstance(channel_id, str) or not _CHANNEL_ID.match(channel_id):
        raise CalendarApiError(400, "invalid", f"Invalid channel id: {channel_id!r}")
    if request.get("type") not in ("web_hook", "webhook"):
        raise CalendarApiError(400, "invalid", f"Invalid channel type: {request.get('type')!r}")
    if not address:
        raise CalendarApiError(
            400, "required", "Required", locationType="other", location="address"
        )
    if not str(address).startswith("https://"):
        raise CalendarApiError(
            400, "push.webhookUrlNotHttps", f"WebHook callback must be HTTPS: {address}"
        )
    if channel_id in taken:
        raise CalendarApiError(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
    expiration = now + DEFAULT_CHANNEL_TTL
    ttl = (request.get("params") or {}).get("ttl")
    if ttl is not None:
        try:
            expiration = now + timedelta(seconds=int(ttl))
        except ValueError:
            raise CalendarApiError(400, "invalid", f"Invalid ttl: {ttl!r}") from None
    if request.get("expiration"):
        expiration = datetime.fromtimestamp(int(request["expiration"]) / 1000, UTC)
    digest = hashlib.sha256(f"events:{email}".encode()).digest()
    return Channel(
        id=channel_id,
        resource_id=base64.urlsafe_b64encode(digest[:18]).decode(),
        resource_uri=f"{api_url}calendars/{quote(calendar_id, safe='')}/events?alt=json",
        email=email,
        address=str(address),
        token=request.get("token"),
        expiration=expiration,
    )


Message = tuple[Channel, dict[str, str]]


class Pusher:
    """Numbers messages, routes them and sends them, in order, from one background thread."""

    def __init__(self) -> None:
        self._routes = Routes()
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue[tuple[Message, threading.Event | None] | None] = (
            queue.SimpleQueue()
        )
        self._deliveries: list[Delivery] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="fake-google-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._outbox.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def route(self, public_base: str, local_base: str) -> None:
        self._routes.add(public_base, local_base)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    @staticmethod
    def message(channel: Channel, state: str) -> Message:
        """The next numbered message of a channel (call with the fake's lock held)."""
        channel.messages += 1
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": format_datetime(channel.expiration, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.messages),
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        return channel, headers

    def enqueue(self, message: Message, *, after: threading.Event | None = None) -> None:
        """Send later, after every message queued before it (and once ``after`` is set)."""
        self._outbox.put((message, after))

    def deliver(self, message: Message) -> Delivery:
        """Send now and record the outcome."""
        channel, headers = message
        url = self._routes.resolve(channel.address)
        status: int | None = None
        error: str | None = None
        if url is None:
            error = "no route to this address"
        else:
            try:
                status = post(url, b"", headers, timeout=10).status
            except OSError as exc:
                error = repr(exc)
        delivery = Delivery(channel.id, channel.address, url, headers, status, error)
        with self._lock:
            self._deliveries.append(delivery)
        return delivery

    def _work(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            message, after = item
            if after is not None:
                after.wait(timeout=10)
            self.deliver(message)

"""The fake Graph's change notifications: subscriptions, validation, notifications, lifecycle.

Follows "Receive change notifications through webhooks"
(https://learn.microsoft.com/graph/change-notifications-delivery-webhooks), the
``subscription`` resource (https://learn.microsoft.com/graph/api/resources/subscription) and
"Reduce missing subscriptions and change notifications"
(https://learn.microsoft.com/graph/change-notifications-lifecycle-events):

* Creating a subscription first validates each URL: a POST to
  ``notificationUrl?validationToken=<url-encoded token>`` with ``Content-Type: text/plain``
  and no body. The endpoint must answer **200** with ``text/plain`` and the *decoded* token as
  its whole body within **10 s**, else the create is refused with 400 ``ValidationError``.
  Graph's tokens are sentences with spaces and colons, so an endpoint that echoes the raw
  query string fails; so does one that answers with HTML.
* ``notificationUrl`` and ``lifecycleNotificationUrl`` must be ``https://``; ``clientState``
  at most 128 characters; ``expirationDateTime`` in the future and at most 10080 minutes
  (7 days) ahead for Outlook events; ``changeType`` a comma-separated subset of ``created``,
  ``updated``, ``deleted``.
* A notification is a POST of ``{"value": [items…]}``; Graph wants a 2xx within 3 s (202 is
  what the docs show). Each :class:`Delivery` records the status and the seconds it took; the
  fake never retries (Graph does, for up to 4 hours: an app must not rely on that).
* Lifecycle notifications go to ``lifecycleNotificationUrl``: ``reauthorizationRequired``,
  ``subscriptionRemoved`` (the subscription is gone first), ``missed``.
* A subscription past its ``expirationDateTime`` is gone: no notifications, and PATCH,
  DELETE or reauthorize answer 404.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from bot.emulator.fake_http import Routes, post
from bot.emulator.microsoft_graph import GraphError, graph_time, parse_time

logger = logging.getLogger(__name__)

MAX_EXPIRATION = timedelta(minutes=10080)
MAX_CLIENT_STATE = 128
CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
VALIDATION_TIMEOUT = 10.0
NOTIFICATION_DEADLINE = 3.0


@dataclass
class Subscription:
    """A subscription on one mailbox's events, owned by the app and account that made it."""

    id: str
    email: str
    oid: str
    tenant_id: str
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    expiration: datetime
    client_state: str | None
    application_id: str
    reauthorization_required: bool = False
    queued: list[dict[str, Any]] = field(default_factory=list)

    def live(self, now: datetime) -> bool:
        return now < self.expiration

    def answer(self, graph_url: str) -> dict[str, Any]:
        """The subscription as Graph shows it."""
        return {
            "@odata.context": f"{graph_url}/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": graph_time(self.expiration),
            "creatorId": self.oid,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }

    def item(self, change_type: str, event_id: str, etag: str) -> dict[str, Any]:
        """One change notification for an event of this subscription."""
        path = f"Users/{self.oid}/Events/{event_id}"
        return {
            "subscriptionId": self.id,
            "subscriptionExpirationDateTime": graph_time(self.expiration),
            "changeType": change_type,
            "resource": path,
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Event",
                "@odata.id": path,
                "@odata.etag": etag,
                "id": event_id,
            },
            "clientState": self.client_state,
            "tenantId": self.tenant_id,
        }

    def lifecycle_item(self, event: str) -> dict[str, Any]:
        return {
            "lifecycleEvent": event,
            "subscriptionId": self.id,
            "subscriptionExpirationDateTime": graph_time(self.expiration),
            "clientState": self.client_state,
            "tenantId": self.tenant_id,
        }


@dataclass(frozen=True)
class Delivery:
    """One POST from the fake to the app, after it was answered (or could not be sent).

    Attributes:
        kind: ``validation``, ``notification`` or ``lifecycle``.
        address: the public ``https://`` URL (for a validation, with its query).
        url: where it went after routing; None when no route matched.
        status: the receiver's HTTP status; None when it could not be reached or timed out.
        seconds: real seconds until the answer was read (None when there was none).
        body: the JSON posted (None for a validation, which has no body).
        error: why it failed: unreachable, too slow, or a wrong validation answer.
    """

    kind: str
    address: str
    url: str | None
    status: int | None
    seconds: float | None
    body: dict[str, Any] | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Answered as Graph requires (2xx within 3 s; for a validation, see ``error``)."""
        if self.error is not None or self.status is None:
            return False
        if self.kind == "validation":
            return True
        return 200 <= self.status < 300 and (self.seconds or 0) <= NOTIFICATION_DEADLINE


def check_subscription_request(
    request: dict[str, Any], now: datetime
) -> tuple[str, tuple[str, ...], str, str | None, datetime, str | None]:
    """The fields of a create request, or the 400 Graph answers for it."""
    for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
        if not isinstance(request.get(name), str) or not request[name]:
            raise GraphError(400, "InvalidRequest", f"The {name} property is required.")
    change_types = tuple(part.strip() for part in request["changeType"].split(","))
    if not change_types or any(part not in CHANGE_TYPES for part in change_types):
        raise GraphError(
            400,
            "InvalidRequest",
            f"changeType '{request['changeType']}' is not a subset of created,updated,deleted.",
        )
    resource = request["resource"]
    if resource.strip("/").lower() != "me/events":
        raise GraphError(
            400, "InvalidRequest", f"Resource '{resource}' is not supported (me/events)."
        )
    notification_url = check_https(request["notificationUrl"], "Notification")
    lifecycle_url = request.get("lifecycleNotificationUrl")
    if lifecycle_url is not None:
        lifecycle_url = check_https(str(lifecycle_url), "Lifecycle notification")
    client_state = request.get("clientState")
    if client_state is not None and (
        not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE
    ):
        raise GraphError(
            400,
            "InvalidRequest",
            f"clientState must be a string of at most {MAX_CLIENT_STATE} characters.",
        )
    expiration = check_expiration(request["expirationDateTime"], now)
    return resource, change_types, notification_url, lifecycle_url, expiration, client_state


def check_https(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise GraphError(400, "ValidationError", f"{what} URL must be an absolute HTTPS URL.")
    return url


def check_expiration(value: Any, now: datetime) -> datetime:
    """``expirationDateTime`` in the future and at most 10080 minutes ahead; 400 otherwise."""
    if not isinstance(value, str):
        raise GraphError(400, "InvalidRequest", "ExpirationDateTime is required.")
    expiration = parse_time(value, "expirationDateTime")
    if expiration <= now:
        raise GraphError(400, "InvalidRequest", "ExpirationDateTime must be in the future.")
    if expiration > now + MAX_EXPIRATION:
        raise GraphError(
            400,
            "InvalidRequest",
            "ExpirationDateTime can only be 10080 minutes in the future for events.",
        )
    return expiration


def validation_token() -> str:
    """A token like Graph's: a sentence with spaces and colons (so it must be URL-decoded)."""
    return (
        "Validation: Testing client application reachability for subscription "
        f"Request-Id: {uuid.uuid4()}"
    )


class Notifier:
    """Routes and sends the fake's POSTs to the app, and records every one.

    Notifications queued with :meth:`enqueue` go out in order from one background thread;
    :meth:`send` and :meth:`validate` send from the caller's thread.
    """

    def __init__(self, *, validation_timeout: float = VALIDATION_TIMEOUT) -> None:
        self.routes = Routes()
        self.validation_timeout = validation_timeout
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._outbox: queue.SimpleQueue[tuple[str, str, dict[str, Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._work, name="fake-microsoft-notify", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._outbox.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def _record(self, delivery: Delivery) -> Delivery:
        with self._lock:
            self._deliveries.append(delivery)
        return delivery

    def validate(self, address: str, token: str) -> Delivery:
        """Graph's validation request; the delivery's ``error`` says what was wrong, if any."""
        separator = "&" if "?" in address else "?"
        public = f"{address}{separator}validationToken={quote(token, safe='')}"
        url = self.routes.resolve(public)
        if url is None:
            return self._record(
                Delivery("validation", public, None, None, None, None, "no route to this address")
            )
        try:
            answer = post(
                url,
                b"",
                {"Content-Type": "text/plain; charset=utf-8"},
                timeout=self.validation_timeout,
            )
        except TimeoutError:
            error = f"no answer within {self.validation_timeout:g} s"
            return self._record(Delivery("validation", public, url, None, None, None, error))
        except OSError as exc:
            return self._record(Delivery("validation", public, url, None, None, None, repr(exc)))
        kind = answer.headers.get("content-type", "").split(";")[0].strip().lower()
        error = None
        if answer.status != 200:
            error = f"status {answer.status}, not 200"
        elif kind != "text/plain":
            error = f"Content-Type {kind or 'missing'}, not text/plain"
        elif answer.body != token.encode("utf-8"):
            error = "the body is not the decoded validation token"
        elif answer.seconds > self.validation_timeout:
            error = f"answered after {answer.seconds:.1f} s, over {self.validation_timeout:g} s"
        return self._record(
            Delivery("validation", public, url, answer.status, answer.seconds, None, error)
        )

    def send(self, kind: str, address: str, payload: dict[str, Any]) -> Delivery:
        """POST a notification or lifecycle batch now; returns what happened."""
        url = self.routes.resolve(address)
        if url is None:
            return self._record(
                Delivery(kind, address, None, None, None, payload, "no route to this address")
            )
        body = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            # Graph gives up after a few seconds more than its 3 s deadline; so does the fake.
            answer = post(url, body, headers, timeout=NOTIFICATION_DEADLINE + 7)
        except OSError as exc:
            return self._record(Delivery(kind, address, url, None, None, payload, repr(exc)))
        error = None
        if not 200 <= answer.status < 300:
            error = f"status {answer.status}"
        elif answer.seconds > NOTIFICATION_DEADLINE:
            error = f"answered after {answer.seconds:.1f} s, over {NOTIFICATION_DEADLINE:g} s"
        return self._record(
            Delivery(kind, address, url, answer.status, answer.seconds, payload, error)
        )

    def enqueue(self, kind: str, address: str, payload: dict[str, Any]) -> None:
        """Send later, after everything queued before it."""
        self._outbox.put((kind, address, payload))

    def _work(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            try:
                self.send(*item)
            except Exception:
                logger.exception("fake Microsoft: a notification could not be sent")

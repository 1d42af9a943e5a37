"""A strict fake Microsoft on loopback HTTPS: identity platform v2.0, Graph v1.0, webhooks.

MSAL for Python and any HTTP client talk to it over real TLS; nothing starts at import time::

    from bot.emulator import FakeMicrosoft

    with FakeMicrosoft(clock=clock) as fake:
        fake.route("https://heedful.test", "http://127.0.0.1:8080")
        fake.add_client("cid", "secret", ["https://heedful.test/oauth/microsoft/callback"])
        fake.add_account("ana@contoso.com", time_zone="W. Europe Standard Time")
        fake.add_event("ana@contoso.com", subject="1:1", start=..., end=...)
        # REQUESTS_CA_BUNDLE and SSL_CERT_FILE = fake.ca_file for the clients

What the app puts in its environment, Microsoft's default first, then the fake's property:

* ``MICROSOFT_AUTHORITY_URL``: ``https://login.microsoftonline.com``; :attr:`authority_url`,
  ``https://127.0.0.1:<port>``. MSAL's authority is ``f"{url}/{tenant}"`` (``common``).
* ``MICROSOFT_GRAPH_URL``: ``https://graph.microsoft.com/v1.0``; :attr:`graph_url`,
  ``https://127.0.0.1:<port>/v1.0``.

The certificate is self-signed, made at :meth:`start` (:attr:`ca_file`, valid on the real
clock); everything else follows the fake's clock (:meth:`now`, :meth:`advance`).

Quirks of MSAL Python (1.31-1.39), pinned by ``tests/emulator/test_fake_microsoft.py``:

* The authority must be ``https://host/<tenant>`` (``msal.authority.canonicalize``), hence TLS.
  For a host that is not Microsoft's, pass ``instance_discovery=False``, or MSAL asks
  ``https://login.microsoftonline.com/common/discovery/instance`` about it first. MSAL reads
  ``{authority}/v2.0/.well-known/openid-configuration`` when the application is *constructed*
  (so the fake must be running by then) and caches GETs for 24 h per application object.
* ``openid``, ``profile`` and ``offline_access`` are reserved: passing any of them to
  ``initiate_auth_code_flow`` or ``acquire_token_*`` raises ``ValueError``; MSAL adds all
  three to every request itself. It always sends PKCE (``S256``), a ``state``, a ``nonce``
  (the SHA-256 hex of the one it keeps in the flow) and ``client_info=1``.
* ``acquire_token_by_auth_code_flow`` raises ``ValueError`` on a ``state`` mismatch, and
  returns ``{"error": ...}`` dicts (never raises) for OAuth errors, including a redirect with
  ``error=access_denied``. It checks the id_token's ``nonce`` against its hash (``RuntimeError``
  otherwise) and nothing else: since 1.38 it decodes the id_token *without* validating
  signature, ``iss``, ``aud`` or times (``id_token_claims`` in the result).
* ``initiate_auth_code_flow`` without ``response_mode="form_post"`` emits a ``UserWarning``
  (form_post recommended, RFC 9700); the fake serves both: a 302 with the answer in the query,
  or a 200 page whose form POSTs it to the redirect URI.
* The client secret goes in HTTP Basic (form-encoded id and secret), not in the form.
* The cache keys an account on ``client_info`` (``home_account_id`` = ``"<uid>.<utid>"``),
  ``environment`` = the authority's host *without port* (``127.0.0.1``) and ``realm`` = the
  tenant segment of the token endpoint (``common``); ``username`` is the id_token's
  ``preferred_username``. Access tokens are cached with ``expires_in`` counted on the *real*
  clock: after :meth:`expire_access_tokens` ``acquire_token_silent`` still answers the cached,
  now refused token (``token_source: cache``); the app must call it again with
  ``force_refresh=True`` after a 401 from Graph.
* MSAL caches an HTTP 400 from the token endpoint for 60 s per identical request, and a
  429/5xx (or any answer with ``Retry-After``) for ``Retry-After`` seconds, per application
  object; a 5xx from the token endpoint is raised (``requests.HTTPError``), not returned.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.emulator.fake_http import (
    Answer,
    FakeCall,
    RunsInWith,
    basic_auth,
    json_answer,
    self_signed_tls,
    start_server,
)
from bot.emulator.microsoft_graph import (
    GraphError,
    Mailbox,
    apply_fields,
    build_event,
    request_id,
    set_response,
    weekly_series,
)
from bot.emulator.microsoft_identity import (
    Account,
    AuthorizeError,
    Client,
    Grant,
    IdentityServer,
    TokenError,
    valid_redirect_uri,
)
from bot.emulator.microsoft_push import (
    LIFECYCLE_EVENTS,
    VALIDATION_TIMEOUT,
    Delivery,
    Notifier,
    Subscription,
    check_expiration,
    check_subscription_request,
    validation_token,
)

__all__ = ["Delivery", "FakeMicrosoft", "MicrosoftCall", "Subscription"]

logger = logging.getLogger(__name__)

GRAPH_PREFIX = "/v1.0"
_SECRET_KEYS = frozenset(
    {
        "code",
        "code_verifier",
        "code_challenge",
        "state",
        "nonce",
        "client_secret",
        "refresh_token",
        "access_token",
        "validationToken",
        "$deltatoken",
        "$skiptoken",
        "client_info",
        "session_state",
    }
)
_FAULT_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "ResourceNotFound",
    410: "SyncStateNotFound",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


MicrosoftCall = FakeCall  # one request the fake answered; secrets and state tokens as *


@dataclass
class _Fault:
    prefix: str
    status: int
    times: int
    retry_after: str | None
    code: str | None
    after: int = 0  # matching requests still let through before this fault fails any


class FakeMicrosoft(RunsInWith):
    """Microsoft's sign-in and Graph for one tenant of accounts, on a loopback HTTPS port."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        auto_notify: bool = True,
        validation_timeout: float = VALIDATION_TIMEOUT,
        latency: float = 0.0,
        route: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the fake; nothing binds until :meth:`start`.

        Args:
            clock: returns the fake's time as an aware UTC datetime (default: real time);
                :meth:`advance` moves it further.
            auto_notify: every event change notifies the subscriptions at once (from a
                background thread); with False changes queue until :meth:`notify`.
            validation_timeout: real seconds a validation request may take (Graph: 10);
                tests lower it to see a slow endpoint refused without waiting 10 s.
            latency: seconds each Graph request (``/v1.0/…``) waits before it is answered, in
                its handler thread and holding no lock (real time, not the fake's clock; sign-in
                and token requests, notifications and validations are not delayed). Loopback
                answers in about a millisecond where Graph takes 100-300 ms; benchmarks set
                this (or the attribute) to see the app's overhead against a realistic trip.
            route: public ``https://`` base -> local base, as :meth:`route`.
            host: interface to bind (keep loopback).
            port: 0 lets the OS choose.
        """
        self._clock = clock or (lambda: datetime.now(UTC))
        self._offset = timedelta()
        self.auto_notify = auto_notify
        self.latency = latency
        self.host = host
        self.requested_port = port
        self.tenant_id = str(uuid.uuid4())
        self._lock = threading.RLock()
        self._identity = IdentityServer(self.tenant_id)
        self._mailboxes: dict[str, Mailbox] = {}
        self._names: dict[str, str] = {}
        self._next_account: str | None = None
        self._deny_next = False
        self._next_validation_token: str | None = None
        self._subscriptions: dict[str, Subscription] = {}
        self._faults: list[_Fault] = []
        self._calls: list[MicrosoftCall] = []
        self._notifier = Notifier(validation_timeout=validation_timeout)
        for public, local in (route or {}).items():
            self.route(public, local)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._directory: str | None = None
        self._ca_file: str | None = None

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeMicrosoft:
        """Make the certificate, bind, and start serving and notifying in daemon threads."""
        if self._server is not None:
            return self
        self._directory = tempfile.mkdtemp(prefix="fake-microsoft-")
        tls, self._ca_file = self_signed_tls(self._directory, host=self.host)
        self._server, self._thread = start_server(
            self.host,
            self.requested_port,
            self.handle,
            label="fake Microsoft",
            methods=("GET", "POST", "PATCH", "DELETE"),
            tls=tls,
        )
        self._notifier.start()
        logger.info("fake Microsoft listening on %s", self.authority_url)
        return self

    def stop(self) -> None:
        """Stop serving and notifying, and remove the certificate. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            self._notifier.stop()
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    @property
    def authority_url(self) -> str:
        """``https://127.0.0.1:<port>`` (``MICROSOFT_AUTHORITY_URL``; no tenant, no slash)."""
        if self._server is None:
            raise RuntimeError("the fake Microsoft is not started")
        return f"https://{self.host}:{self._server.server_address[1]}"

    @property
    def graph_url(self) -> str:
        """``https://127.0.0.1:<port>/v1.0`` (``MICROSOFT_GRAPH_URL``)."""
        return f"{self.authority_url}{GRAPH_PREFIX}"

    @property
    def ca_file(self) -> str:
        """The PEM of the self-signed certificate, for ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE``."""
        if self._ca_file is None or self._server is None:
            raise RuntimeError("the fake Microsoft is not started")
        return self._ca_file

    # clock ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The fake's time: the clock plus every :meth:`advance`."""
        return self._clock() + self._offset

    def advance(self, by: timedelta | float) -> None:
        """Move the fake's time forward by a timedelta or seconds."""
        with self._lock:
            self._offset += by if isinstance(by, timedelta) else timedelta(seconds=by)

    # clients and accounts ------------------------------------------------------------------

    def add_client(self, client_id: str, secret: str, redirect_uris: Iterable[str]) -> Client:
        """Register an app with one client secret and its exact web redirect URIs.

        Like Entra ID, refuses a redirect URI that is not ``https://`` (``http://`` only on
        ``localhost``/``127.0.0.1``) or that carries a fragment.
        """
        uris = tuple(redirect_uris)
        for uri in uris:
            if not valid_redirect_uri(uri):
                raise ValueError(f"Entra ID refuses this redirect URI: {uri}")
        client = Client(client_id, secret, uris)
        with self._lock:
            self._identity.clients[client_id] = client
        return client

    def add_account(
        self, email: str, *, time_zone: str = "W. Europe Standard Time", name: str | None = None
    ) -> Account:
        """A work account in the fake's tenant with an empty calendar; ``time_zone`` is the
        mailbox's (a Windows name, as Exchange stores it, or an IANA name)."""
        with self._lock:
            account = Account(
                email=email,
                oid=str(uuid.uuid4()),
                tid=self.tenant_id,
                name=name or email.split("@")[0].title(),
                time_zone=time_zone,
            )
            self._identity.accounts[email] = account
            self._mailboxes[email] = Mailbox(account=account)
            self._names[email] = account.name
            return account

    def account(self, email: str) -> Account:
        with self._lock:
            return self._mailbox(email).account

    def select_account(self, email: str) -> None:
        """The account the next sign-ins use (default: the only account)."""
        with self._lock:
            self._mailbox(email)
            self._next_account = email

    def deny_next_consent(self) -> None:
        """The next authorize redirects back with ``error=access_denied``."""
        with self._lock:
            self._deny_next = True

    def revoke_grant(self, email: str) -> None:
        """The person removes the app's access (My Apps / admin): refreshes fail, access
        tokens stop working."""
        with self._lock:
            self._identity.revoke_account(email)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now; refresh tokens stay valid."""
        with self._lock:
            self._identity.expire_access_tokens(self.now())

    def expire_delta_tokens(self, email: str) -> None:
        """Every ``$deltatoken``/``$skiptoken`` of this mailbox answers 410 from now on."""
        with self._lock:
            self._mailbox(email).expire_tokens()

    def set_next_validation_token(self, token: str) -> None:
        """The next validation request carries ``token`` (e.g. one with ``<script>``)."""
        with self._lock:
            self._next_validation_token = token

    # events --------------------------------------------------------------------------------

    def add_event(
        self,
        email: str,
        *,
        subject: str,
        start: datetime | date,
        end: datetime | date,
        series: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Create an event; returns it as Graph shows it (times in UTC).

        ``start``/``end`` are aware datetimes, or dates with ``is_all_day=True``. Other keywords:
        ``attendees`` (emails or ``{"email", "type", "response"}``), ``organizer`` (an email;
        default the mailbox owner, then ``isOrganizer`` and response ``organizer``),
        ``is_all_day``, ``show_as``, ``response`` (the owner's), ``is_cancelled``,
        ``join_url``, ``ical_uid``, ``body_preview``, ``location``.

        ``series={"count": n}`` makes a weekly ``seriesMaster`` (returned; never in a calendar
        view) and ``n`` occurrences (see :meth:`instances`); ``"interval": k`` makes it every
        ``k`` weeks, ``"days": ["monday", …]`` on those days (Graph's ``daysOfWeek``).
        """
        with self._lock:
            mailbox = self._mailbox(email)
            now = self.now()
            event = build_event(
                mailbox, self._names, now, subject=subject, start=start, end=end, **fields
            )
            created = [event]
            if series is not None:
                created += weekly_series(
                    event,
                    int(series["count"]),
                    mailbox.zone,
                    interval=int(series.get("interval", 1)),
                    days=series.get("days"),
                )
            for item in created:
                mailbox.touch(item, now)
            self._changed(mailbox, "created", created)
            return mailbox.render(event)

    def instances(self, email: str, series_master_id: str) -> list[dict[str, Any]]:
        """The occurrences and exceptions of a series, by start."""
        with self._lock:
            mailbox = self._mailbox(email)
            found = sorted(mailbox.instances(series_master_id), key=lambda e: e["_start"])
            return [mailbox.render(event) for event in found]

    def update_event(self, email: str, event_id: str, **fields: Any) -> dict[str, Any]:
        """Change an event with :meth:`add_event`'s keywords. An occurrence becomes an
        ``exception``; a series master passes its changes (but times) to its occurrences."""
        with self._lock:
            mailbox = self._mailbox(email)
            event = mailbox.stored(event_id)
            now = self.now()
            apply_fields(mailbox, event, self._names, now, fields)
            changed = [event]
            if event.get("type") == "occurrence":
                event["type"] = "exception"
            if event.get("type") == "seriesMaster":
                shared = {k: v for k, v in fields.items() if k not in ("start", "end")}
                for instance in mailbox.instances(event_id):
                    if instance["type"] == "occurrence":
                        apply_fields(mailbox, instance, self._names, now, shared)
                        changed.append(instance)
            for item in changed:
                mailbox.touch(item, now)
            self._changed(mailbox, "updated", changed)
            return mailbox.render(event)

    def move_event(
        self, email: str, event_id: str, start: datetime | date, end: datetime | date | None = None
    ) -> dict[str, Any]:
        """Move an event to ``start``, keeping its length unless ``end`` is given."""
        with self._lock:
            event = self._mailbox(email).stored(event_id)
            if end is None:
                length = event["_end"] - event["_start"]
                end = (
                    start + length
                    if isinstance(start, datetime)
                    else start + timedelta(days=max(1, length.days))
                )
            return self.update_event(email, event_id, start=start, end=end)

    def cancel_event(self, email: str, event_id: str) -> dict[str, Any]:
        """The organizer cancels: ``isCancelled`` true; it stays in the attendee's calendar
        (and calendar view) until :meth:`delete_event`."""
        return self.update_event(email, event_id, is_cancelled=True)

    def delete_event(self, email: str, event_id: str) -> None:
        """Delete an event (a series master takes its instances along)."""
        with self._lock:
            mailbox = self._mailbox(email)
            event = mailbox.stored(event_id)
            now = self.now()
            gone = [event, *mailbox.instances(event_id)]
            for item in gone:
                item["_deleted"] = True
                mailbox.touch(item, now)
            self._changed(mailbox, "deleted", gone)

    def set_response(self, email: str, event_id: str, response: str) -> dict[str, Any]:
        """The mailbox owner answers (``accepted``, ``declined``, ``tentativelyAccepted``…)."""
        with self._lock:
            mailbox = self._mailbox(email)
            event = mailbox.stored(event_id)
            now = self.now()
            set_response(mailbox, event, response, now)
            mailbox.touch(event, now)
            self._changed(mailbox, "updated", [event])
            return mailbox.render(event)

    def event(self, email: str, event_id: str) -> dict[str, Any]:
        """One stored event as Graph shows it (times in UTC)."""
        with self._lock:
            mailbox = self._mailbox(email)
            return mailbox.render(mailbox.stored(event_id))

    def _mailbox(self, email: str) -> Mailbox:
        try:
            return self._mailboxes[email]
        except KeyError:
            raise KeyError(f"no Microsoft account {email}; add_account() first") from None

    # notifications -------------------------------------------------------------------------

    def route(self, public_base: str, local_base: str) -> None:
        """Deliver POSTs for addresses under ``public_base`` to ``local_base`` instead."""
        self._notifier.routes.add(public_base, local_base)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every validation, notification and lifecycle POST so far, in the order answered."""
        return self._notifier.deliveries

    def subscriptions(self, email: str | None = None) -> list[Subscription]:
        """Copies of the live subscriptions (of one mailbox, or all)."""
        with self._lock:
            now = self.now()
            return [
                copy.deepcopy(subscription)
                for subscription in self._subscriptions.values()
                if subscription.live(now) and (email is None or subscription.email == email)
            ]

    def notify(self, email: str) -> list[Delivery]:
        """Send every queued change of this mailbox now: one POST per subscription."""
        with self._lock:
            batches = self._drain(email)
        return [
            self._notifier.send("notification", address, payload) for address, payload in batches
        ]

    def notification_item(
        self, subscription_id: str, event_id: str, change_type: str = "updated"
    ) -> dict[str, Any]:
        """A notification item as Graph would send it, for tests that craft a batch."""
        with self._lock:
            subscription = self._subscriptions[subscription_id]
            event = self._mailbox(subscription.email).events[event_id]
            return subscription.item(change_type, event_id, event["@odata.etag"])

    def send_notifications(self, items: list[dict[str, Any]], url: str | None = None) -> Delivery:
        """POST ``{"value": items}`` now, to ``url`` or to the notificationUrl of the first
        item's subscription."""
        if url is None:
            with self._lock:
                for item in items:
                    subscription = self._subscriptions.get(item.get("subscriptionId", ""))
                    if subscription is not None:
                        url = subscription.notification_url
                        break
        if url is None:
            raise ValueError("no item names a known subscription; pass url=")
        return self._notifier.send("notification", url, {"value": list(items)})

    def lifecycle(self, email: str, event: str, *, subscription_id: str | None = None) -> Delivery:
        """Send a lifecycle notification to the mailbox's (only, or given) subscription.

        ``reauthorizationRequired`` marks it until reauthorized or renewed;
        ``subscriptionRemoved`` deletes it first; ``missed`` drops its queued notifications.
        """
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"lifecycle event must be one of {LIFECYCLE_EVENTS}")
        with self._lock:
            now = self.now()
            live = [
                s
                for s in self._subscriptions.values()
                if s.email == email
                and s.live(now)
                and (subscription_id is None or s.id == subscription_id)
            ]
            if len(live) != 1:
                raise ValueError(f"{len(live)} subscriptions match; pass subscription_id=")
            subscription = live[0]
            if subscription.lifecycle_url is None:
                raise ValueError("the subscription has no lifecycleNotificationUrl")
            if event == "reauthorizationRequired":
                subscription.reauthorization_required = True
            elif event == "subscriptionRemoved":
                del self._subscriptions[subscription.id]
            else:
                subscription.queued.clear()
            payload = {"value": [subscription.lifecycle_item(event)]}
            address = subscription.lifecycle_url
        return self._notifier.send("lifecycle", address, payload)

    def _changed(self, mailbox: Mailbox, change_type: str, events: list[dict[str, Any]]) -> None:
        """Queue notifications for a change (lock held); send them if auto_notify."""
        now = self.now()
        for subscription in self._subscriptions.values():
            if subscription.email != mailbox.account.email or not subscription.live(now):
                continue
            if change_type not in subscription.change_types:
                continue
            for event in events:
                if event.get("type") == "seriesMaster" and change_type != "deleted":
                    continue
                subscription.queued.append(
                    subscription.item(change_type, event["id"], event["@odata.etag"])
                )
        if self.auto_notify and self._server is not None:
            for address, payload in self._drain(mailbox.account.email):
                self._notifier.enqueue("notification", address, payload)

    def _drain(self, email: str) -> list[tuple[str, dict[str, Any]]]:
        batches = []
        now = self.now()
        for subscription in self._subscriptions.values():
            if subscription.email == email and subscription.queued and subscription.live(now):
                batches.append((subscription.notification_url, {"value": subscription.queued}))
                subscription.queued = []
        return batches

    # faults and records --------------------------------------------------------------------

    def fail_next(
        self,
        path_prefix: str,
        status: int = 429,
        *,
        retry_after: float | str | None = None,
        times: int = 1,
        code: str | None = None,
        after: int = 0,
    ) -> None:
        """The next ``times`` requests whose path starts with ``path_prefix`` (either the full
        path, ``/v1.0/me/calendarView/delta``, or the Graph part, ``/me/calendarView/delta``)
        fail with ``status``, once ``after`` such requests have been answered as usual (so
        ``after=1`` fails the second page of a round: a 410 mid-paging). A 429 always
        carries ``Retry-After`` (1 s unless given); ``code`` overrides the error code
        (e.g. ``resyncRequired`` or ``SyncStateNotFound`` with 410)."""
        if retry_after is None and status == 429:
            retry_after = 1
        with self._lock:
            self._faults.append(
                _Fault(
                    path_prefix,
                    status,
                    times,
                    None if retry_after is None else str(retry_after),
                    code,
                    after,
                )
            )

    @property
    def calls(self) -> list[MicrosoftCall]:
        """Every request answered so far, oldest first."""
        with self._lock:
            return list(self._calls)

    # HTTP ----------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> Answer:
        """Answer one HTTP request (called by the server's handler threads)."""
        url = urlsplit(target)
        path = url.path
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if self.latency > 0 and (path == GRAPH_PREFIX or path.startswith(GRAPH_PREFIX + "/")):
            time.sleep(self.latency)  # in the handler thread, holding no lock
        try:
            answer = self._fault(path) or self._dispatch(method, path, query, headers, body)
        except GraphError as exc:
            answer = self._graph_error(exc)
        except Exception:
            logger.exception("fake Microsoft failed on %s %s", method, path)
            answer = self._graph_error(GraphError(500, "InternalServerError", "Internal error"))
        with self._lock:
            shown = {key: ("*" if key in _SECRET_KEYS else value) for key, value in query.items()}
            self._calls.append(MicrosoftCall(method, path, shown, answer.status, self.now()))
        return answer

    def _graph_error(self, exc: GraphError) -> Answer:
        inner = {
            "date": self.now().strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id(),
            "client-request-id": request_id(),
        }
        payload = {"error": {"code": exc.code, "message": exc.message, "innerError": inner}}
        answer = json_answer(exc.status, payload, dict(exc.headers))
        if exc.status == 401:
            answer.headers.setdefault(
                "WWW-Authenticate",
                'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
            )
        return answer

    def _fault(self, path: str) -> Answer | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and (
                    path.startswith(fault.prefix) or path.startswith(GRAPH_PREFIX + fault.prefix)
                ):
                    if fault.after > 0:
                        fault.after -= 1  # let this one through; a later fault may take it
                        continue
                    fault.times -= 1
                    break
            else:
                return None
            self._faults = [item for item in self._faults if item.times > 0]
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if not path.startswith(GRAPH_PREFIX + "/"):
            error = "temporarily_unavailable" if fault.status >= 500 else "invalid_request"
            return json_answer(
                fault.status, {"error": error, "error_description": "AADSTS50196"}, headers
            )
        code = fault.code or _FAULT_CODES.get(fault.status, HTTPStatus(fault.status).phrase)
        return self._graph_error(
            GraphError(fault.status, code, HTTPStatus(fault.status).phrase, headers=headers)
        )

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> Answer:
        if path == GRAPH_PREFIX or path.startswith(GRAPH_PREFIX + "/"):
            return self._graph(method, path[len(GRAPH_PREFIX) :], query, headers, body)
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and self._identity.known_tenant(parts[0]):
            tenant, rest = parts[0], "/".join(parts[1:])
            if method == "GET" and rest == "v2.0/.well-known/openid-configuration":
                with self._lock:
                    return json_answer(200, self._identity.metadata(self.authority_url, tenant))
            if method == "GET" and rest == "discovery/v2.0/keys":
                with self._lock:
                    return json_answer(200, self._identity.jwks())
            if method == "GET" and rest == "oauth2/v2.0/authorize":
                return self._authorize(query)
            if method == "POST" and rest == "oauth2/v2.0/token":
                return self._token(headers, body)
        elif len(parts) >= 2:
            return json_answer(
                400,
                {
                    "error": "invalid_tenant",
                    "error_description": f"AADSTS90002: Tenant '{parts[0]}' not found.",
                    "error_codes": [90002],
                },
            )
        return json_answer(404, {"error": "not_found", "error_description": "Not Found"})

    def _authorize(self, query: dict[str, str]) -> Answer:
        with self._lock:
            email = self._next_account
            if email is None and len(self._mailboxes) == 1:
                email = next(iter(self._mailboxes))
            account = self._identity.accounts.get(email) if email else None
            deny, self._deny_next = self._deny_next, False
            try:
                location = self._identity.authorize(query, account, deny, self.now())
            except AuthorizeError as exc:
                self._deny_next = self._deny_next or deny
                page = (
                    f"Sign in\n\nSorry, but we're having trouble signing you in.\n\n{exc.message}\n"
                )
                return Answer(exc.status, page.encode(), "text/plain; charset=utf-8")
            if deny and "error=access_denied" not in location:
                self._deny_next = True  # a refusal for another reason keeps the denial armed
        if query.get("response_mode") == "form_post":
            return _form_post(location)
        return Answer(302, b"", "text/html; charset=utf-8", {"Location": location})

    def _token(self, headers: Any, body: bytes) -> Answer:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        basic = basic_auth(headers.get("Authorization", ""))
        with self._lock:
            now = self.now()
            try:
                answer = self._identity.token(form, basic, self.authority_url, now)
            except TokenError as exc:
                return json_answer(exc.status, exc.body(now))
        return json_answer(
            200, answer, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        )

    # Graph ---------------------------------------------------------------------------------

    def _graph(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> Answer:
        grant = self._authorised(headers.get("Authorization", ""))
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if parts[0] == "subscriptions":
            return self._subscriptions_api(method, parts[1:], grant, body)
        with self._lock:
            mailbox = self._mailbox(grant.account.email)
            account = mailbox.account
            if method == "GET" and parts == ["me"]:
                _needs(grant, "user.read", "user.readbasic.all", "user.read.all")
                return json_answer(
                    200,
                    {
                        "@odata.context": f"{self.graph_url}/$metadata#users/$entity",
                        "id": account.oid,
                        "displayName": account.name,
                        "mail": account.email,
                        "userPrincipalName": account.email,
                    },
                )
            if method == "GET" and parts == ["me", "mailboxSettings"]:
                _needs(grant, "mailboxsettings.read", "mailboxsettings.readwrite")
                return json_answer(200, self._mailbox_settings(account))
            if method == "GET" and [p.lower() for p in parts] == ["me", "calendarview", "delta"]:
                prefer = _prefer(headers.get_all("Prefer") or [])
                page_size = _page_size(prefer.get("odata.maxpagesize"))
                zone_name = prefer.get("outlook.timezone", "UTC")
                page = mailbox.delta(
                    query, page_size=page_size, zone_name=zone_name, graph_url=self.graph_url
                )
                applied = (
                    [f"odata.maxpagesize={page_size}"] if "odata.maxpagesize" in prefer else []
                )
                if "outlook.timezone" in prefer:
                    applied.append(f'outlook.timezone="{zone_name}"')
                extra = {"Preference-Applied": ", ".join(applied)} if applied else {}
                return json_answer(200, page, extra)
            if method == "GET" and parts[:2] == ["me", "events"] and len(parts) == 3:
                try:
                    return json_answer(200, mailbox.render(mailbox.stored(parts[2])))
                except KeyError:
                    raise GraphError(
                        404, "ErrorItemNotFound", "The specified object was not found in the store."
                    ) from None
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{parts[-1]}'.")

    def _mailbox_settings(self, account: Account) -> dict[str, Any]:
        return {
            "@odata.context": f"{self.graph_url}/$metadata#users('{account.oid}')/mailboxSettings",
            "archiveFolder": "AAMkAGI2AAEuAAAAAAA=",
            "timeZone": account.time_zone,
            "automaticRepliesSetting": {"status": "disabled"},
            "dateFormat": "dd.MM.yyyy",
            "timeFormat": "HH:mm",
            "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
            "language": {"locale": "en-US", "displayName": "English (United States)"},
            "workingHours": {
                "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                "startTime": "08:00:00.0000000",
                "endTime": "17:00:00.0000000",
                "timeZone": {"name": account.time_zone},
            },
            "userPurpose": "user",
        }

    def _authorised(self, authorization: str) -> Grant:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            grant = (
                self._identity.bearer(token.strip(), self.now())
                if scheme.lower() == "bearer"
                else None
            )
        if grant is None:
            message = (
                "Access token is empty."
                if not token
                else "Access token has expired or is not yet valid."
            )
            raise GraphError(401, "InvalidAuthenticationToken", message)
        if "calendars.read" not in grant.scopes:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials.")
        return grant

    # subscriptions -------------------------------------------------------------------------

    def _subscriptions_api(
        self, method: str, parts: list[str], grant: Grant, body: bytes
    ) -> Answer:
        if method == "POST" and not parts:
            return self._create_subscription(grant, _json_object(body))
        if method == "GET" and not parts:
            with self._lock:
                mine = [s for s in self._subscriptions.values() if self._owned(s, grant)]
                return json_answer(
                    200,
                    {
                        "@odata.context": f"{self.graph_url}/$metadata#subscriptions",
                        "value": [s.answer(self.graph_url) for s in mine],
                    },
                )
        with self._lock:
            subscription = self._subscriptions.get(parts[0]) if parts else None
            if subscription is None or not self._owned(subscription, grant):
                raise GraphError(
                    404,
                    "ResourceNotFound",
                    f"The object was not found. Subscription '{parts[0] if parts else ''}'.",
                )
            if method == "GET" and len(parts) == 1:
                return json_answer(200, subscription.answer(self.graph_url))
            if method == "PATCH" and len(parts) == 1:
                request = _json_object(body)
                subscription.expiration = check_expiration(
                    request.get("expirationDateTime"), self.now()
                )
                subscription.reauthorization_required = False
                return json_answer(200, subscription.answer(self.graph_url))
            if method == "DELETE" and len(parts) == 1:
                del self._subscriptions[subscription.id]
                return Answer(204)
            if method == "POST" and parts[1:] == ["reauthorize"]:
                subscription.reauthorization_required = False
                return Answer(204)
        raise GraphError(400, "BadRequest", "Unsupported subscription request.")

    def _owned(self, subscription: Subscription, grant: Grant) -> bool:
        return (
            subscription.live(self.now())
            and subscription.email == grant.account.email
            and subscription.application_id == grant.client_id
        )

    def _create_subscription(self, grant: Grant, request: dict[str, Any]) -> Answer:
        with self._lock:
            resource, change_types, url, lifecycle_url, expiration, client_state = (
                check_subscription_request(request, self.now())
            )
            token, self._next_validation_token = (
                self._next_validation_token or validation_token(),
                None,
            )
        # Validation happens before the answer, holding no lock: the app may call Graph
        # from its validation handler.
        for address in filter(None, (url, lifecycle_url)):
            delivery = self._notifier.validate(address, token)
            if delivery.error is not None:
                timed_out = delivery.status is None and "within" in delivery.error
                message = (
                    "Subscription validation request failed. Notification endpoint must "
                    "respond with 200 OK to validation request."
                    if not timed_out
                    else "Subscription validation request timed out."
                )
                raise GraphError(400, "ValidationError", message)
        with self._lock:
            account = grant.account
            subscription = Subscription(
                id=str(uuid.uuid4()),
                email=account.email,
                oid=account.oid,
                tenant_id=account.tid,
                resource=resource,
                change_types=change_types,
                notification_url=url,
                lifecycle_url=lifecycle_url,
                expiration=expiration,
                client_state=client_state,
                application_id=grant.client_id,
            )
            self._subscriptions[subscription.id] = subscription
            shown = subscription.answer(self.graph_url)
        return json_answer(
            201, shown, {"Location": f"{self.graph_url}/subscriptions/{subscription.id}"}
        )


def _form_post(location: str) -> Answer:
    """``response_mode=form_post``: a page whose form POSTs the answer to the redirect URI
    (OAuth 2.0 Form Post Response Mode), as Microsoft's sign-in page does."""
    target, _, query = location.partition("?")
    fields = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}"/>'
        for name, value in parse_qsl(query, keep_blank_values=True)
    )
    page = (
        "<html><head><title>Working...</title></head><body>"
        f'<form method="POST" name="hiddenform" action="{escape(target)}">{fields}'
        "<noscript><p>Script is disabled. Click Submit to continue.</p>"
        '<input type="submit" value="Submit"/></noscript></form>'
        "<script>document.forms[0].submit();</script></body></html>"
    )
    return Answer(200, page.encode(), "text/html; charset=utf-8")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(body or b"{}")
    except ValueError:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(decoded, dict):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.")
    return decoded


def _prefer(values: list[str]) -> dict[str, str]:
    """``Prefer`` preferences (RFC 7240), across headers and commas; quotes removed."""
    found: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            name, _, setting = part.strip().partition("=")
            if name:
                found[name.strip().lower()] = setting.strip().strip('"')
    return found


def _page_size(value: str | None) -> int:
    if value is None:
        return 10
    try:
        size = int(value)
    except ValueError:
        raise GraphError(
            400, "ErrorInvalidParameter", "odata.maxpagesize must be a number."
        ) from None
    if size < 1:
        raise GraphError(400, "ErrorInvalidParameter", "odata.maxpagesize must be positive.")
    return size


def _needs(grant: Grant, *scopes: str) -> None:
    """Graph's 403 for a call whose permission (any of ``scopes``) was not granted:
    ``GET /me`` needs ``User.Read``, ``GET /me/mailboxSettings`` ``MailboxSettings.Read``
    (the permissions sections of their reference pages); ``Calendars.Read`` alone reads
    the calendar and nothing else."""
    if not any(scope in grant.scopes for scope in scopes):
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials.")

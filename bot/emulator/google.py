"""A strict fake Google on loopback: OAuth 2.0 consent and tokens, Calendar API v3, push.

Google's own client libraries talk to it over real HTTP; nothing starts at import time::

    from bot.emulator import FakeGoogle

    with FakeGoogle(route={"https://heedful.test": "http://127.0.0.1:8080"}) as fake:
        fake.add_client("cid", "secret", ["https://heedful.test/oauth/google/callback"])
        fake.add_account("ana@example.com", time_zone="Europe/Berlin")
        fake.add_event("ana@example.com", summary="1:1", start=..., end=...)

What the app puts in its environment, Google's default first, then the fake's property:

* ``GOOGLE_AUTH_URI``: ``https://accounts.google.com/o/oauth2/auth`` (what a downloaded
  client-secrets JSON says; the web-server guide's ``https://accounts.google.com/o/oauth2/v2/auth``
  is the same consent screen); :attr:`FakeGoogle.auth_uri`, ``http://127.0.0.1:<port>/o/oauth2/v2/auth``
  (``/o/oauth2/auth`` is served too).
* ``GOOGLE_TOKEN_URI``: ``https://oauth2.googleapis.com/token``; :attr:`FakeGoogle.token_uri`,
  ``http://127.0.0.1:<port>/token``.
* ``GOOGLE_CALENDAR_API_URL``: ``https://www.googleapis.com/calendar/v3/``;
  :attr:`FakeGoogle.calendar_api_url`, ``http://127.0.0.1:<port>/calendar/v3/``.

The revoke endpoint is derived, not configured: the token URI with its last path segment
replaced by ``revoke`` (``https://oauth2.googleapis.com/revoke``; :attr:`revoke_uri` here), and
takes ``token`` as a form field.

``GOOGLE_CALENDAR_API_URL`` is what goes to ``googleapiclient.discovery.build(...,
client_options={"api_endpoint": url})``: the client library replaces the whole base URL
(``rootUrl`` + ``servicePath`` of the static discovery document,
``https://www.googleapis.com/`` + ``calendar/v3/``) with ``api_endpoint`` and joins method paths
such as ``calendars/{calendarId}/events`` and ``channels/stop`` onto it, so the value must end in
``/calendar/v3/`` (a bare host would send ``/calendars/...`` to the root).

Quirks of the client libraries, pinned by ``tests/emulator/test_fake_google.py``:

* ``oauthlib`` refuses an ``http://`` authorization or token URL (``InsecureTransportError``,
  from ``Flow.authorization_url`` and ``Flow.fetch_token``) unless ``OAUTHLIB_INSECURE_TRANSPORT``
  is set; the fake is plain HTTP on loopback, so tests (and a demo against the fake) set it, and
  the app must never set it in production. It does not check the ``redirect_uri``; Google does,
  at registration: ``https://`` only, except ``http://localhost``/``127.0.0.1``, and so does
  :meth:`FakeGoogle.add_client`. ``google.oauth2.credentials.Credentials.refresh`` posts to an
  ``http://`` token URI without complaint.
* ``Flow.from_client_config`` generates a PKCE verifier by default
  (``autogenerate_code_verifier=True``) and sends ``code_challenge_method=S256`` and
  ``access_type=offline``; a *new* ``Flow`` for the callback must be given the same
  ``code_verifier=`` or the exchange fails with ``invalid_grant``.
* ``google_auth_httplib2.AuthorizedHttp`` (what ``build(credentials=...)`` uses) refreshes and
  retries once on a 401, so an expired access token is invisible to callers; a revoked grant
  surfaces as ``google.auth.exceptions.RefreshError`` (``invalid_grant``), not ``HttpError``.
* ``googleapiclient`` does not retry 429 unless ``execute(num_retries=...)``; the
  ``Retry-After`` header is in ``HttpError.resp``.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.emulator.fake_http import Answer, RunsInWith, basic_auth, json_answer, start_server
from bot.emulator.google_calendar import (
    Calendar,
    CalendarApiError,
    apply_fields,
    build_event,
    when,
)
from bot.emulator.google_http import GoogleCall, google_error, json_body
from bot.emulator.google_oauth import Client, ConsentError, OAuthServer, TokenError
from bot.emulator.google_push import Channel, Delivery, Message, Pusher, open_channel

__all__ = ["Channel", "Delivery", "FakeGoogle", "GoogleCall"]

logger = logging.getLogger(__name__)

CALENDAR_PREFIX = "/calendar/v3/"
AUTH_PATHS = ("/o/oauth2/auth", "/o/oauth2/v2/auth")
_SECRET_KEYS = frozenset(
    {"access_token", "code", "code_verifier", "state", "token", "refresh_token", "client_secret"}
)
_FAULT_REASONS = {
    403: ("usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    429: ("usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
    500: ("global", "backendError", "Backend Error"),
    503: ("global", "backendError", "Backend Error"),
}


@dataclass
class _Fault:
    path: str
    status: int
    times: int
    retry_after: str | None


class FakeGoogle(RunsInWith):
    """Google's OAuth server and Calendar API for one set of accounts, on a loopback port."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        route: dict[str, str] | None = None,
        requests_per_second: float | None = None,
        latency: float = 0.0,
        sync_before_response: bool = False,
        auto_push: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the fake; nothing binds until :meth:`start`.

        Args:
            clock: returns the fake's time as an aware UTC datetime (default: real time);
                :meth:`advance` moves it further.
            route: public ``https://`` base -> local base for push deliveries.
            requests_per_second: per-account Calendar API rate beyond which it answers 429.
            latency: seconds each Calendar API request waits before it is answered (real
                time, not the fake's clock; OAuth and push are not delayed). Loopback
                answers in about a millisecond where Google takes 100-300 ms; benchmarks
                set this to see the app's overhead against a realistic round trip.
            sync_before_response: deliver a new channel's ``sync`` message before answering
                ``events.watch`` (Google does not promise either order).
            auto_push: announce every event change to the calendar's live channels.
            host: interface to bind (keep loopback).
            port: 0 lets the OS choose.
        """
        self._clock = clock or (lambda: datetime.now(UTC))
        self._offset = timedelta()
        self._pusher = Pusher()
        for public, local in (route or {}).items():
            self.route(public, local)
        self.requests_per_second = requests_per_second
        self.latency = latency
        self.sync_before_response = sync_before_response
        self.auto_push = auto_push
        self.host = host
        self.requested_port = port
        self._lock = threading.RLock()
        self._oauth = OAuthServer()
        self._calendars: dict[str, Calendar] = {}
        self._names: dict[str, str] = {}
        self._next_account: str | None = None
        self._deny_next = False
        self._channels: dict[str, Channel] = {}
        self._faults: list[_Fault] = []
        self._recent: dict[str, deque[datetime]] = {}
        self._calls: list[GoogleCall] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeGoogle:
        """Bind the HTTP server and start it and the push sender in daemon threads."""
        if self._server is not None:
            return self
        self._server, self._thread = start_server(self.host, self.requested_port, self.handle)
        self._pusher.start()
        logger.info("fake Google listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and sending. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            self._pusher.stop()
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the fake Google is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def auth_uri(self) -> str:
        """The consent screen (``GOOGLE_AUTH_URI``)."""
        return f"{self.base_url}/o/oauth2/v2/auth"

    @property
    def token_uri(self) -> str:
        """The token endpoint (``GOOGLE_TOKEN_URI``)."""
        return f"{self.base_url}/token"

    @property
    def revoke_uri(self) -> str:
        """The revocation endpoint: :attr:`token_uri` with ``revoke`` for ``token``."""
        return f"{self.base_url}/revoke"

    @property
    def calendar_api_url(self) -> str:
        """The Calendar API base for ``api_endpoint`` (``GOOGLE_CALENDAR_API_URL``)."""
        return f"{self.base_url}{CALENDAR_PREFIX}"

    # clock ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The fake's time: the clock plus every :meth:`advance`."""
        return self._clock() + self._offset

    def advance(self, by: timedelta | float) -> None:
        """Move the fake's time forward by a timedelta or seconds."""
        with self._lock:
            self._offset += by if isinstance(by, timedelta) else timedelta(seconds=by)

    # accounts and clients ------------------------------------------------------------------

    def add_client(
        self, client_id: str, client_secret: str, redirect_uris: Iterable[str]
    ) -> Client:
        """Register an OAuth client with its exact redirect URIs.

        Like the Google Cloud console, refuses a redirect URI that is not ``https://`` (plain
        ``http://`` only on ``localhost`` or ``127.0.0.1``) or that carries a fragment.
        """
        uris = tuple(redirect_uris)
        for uri in uris:
            parts = urlsplit(uri)
            local = parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1")
            if not (parts.scheme == "https" or local) or parts.fragment or not parts.hostname:
                raise ValueError(f"Google refuses this redirect URI: {uri}")
        client = Client(client_id, client_secret, uris)
        with self._lock:
            self._oauth.clients[client_id] = client
        return client

    def client_config(self, client_id: str) -> dict[str, Any]:
        """The client in Google's client-secrets format, pointing at this fake."""
        with self._lock:
            client = self._oauth.clients[client_id]
        return {
            "web": {
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "redirect_uris": list(client.redirect_uris),
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
            }
        }

    def add_account(self, email: str, *, time_zone: str = "UTC", name: str | None = None) -> None:
        """A Google account with an empty primary calendar in ``time_zone``."""
        with self._lock:
            self._calendars[email] = Calendar(email=email, time_zone=time_zone)
            self._names[email] = name or email.split("@")[0].title()

    def select_account(self, email: str) -> None:
        """The account the next consents sign in as (default: the only account)."""
        with self._lock:
            self._calendar(email)
            self._next_account = email

    def deny_next_consent(self) -> None:
        """The next consent redirects back with ``error=access_denied``."""
        with self._lock:
            self._deny_next = True

    def revoke_grant(self, email: str) -> None:
        """The person removes the app's access (Google account settings)."""
        with self._lock:
            self._oauth.revoke_account(email)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now; refresh tokens stay valid."""
        with self._lock:
            self._oauth.expire_access_tokens(self.now())

    def expire_sync_tokens(self, email: str) -> None:
        """The next incremental sync of this calendar answers 410 ``fullSyncRequired``."""
        with self._lock:
            self._calendar(email).expire_sync_tokens()

    # events --------------------------------------------------------------------------------

    def add_event(self, email: str, **fields: Any) -> dict[str, Any]:
        """Create an event; returns it as the API shows it.

        ``fields`` are Calendar API event fields; ``start``/``end`` may also be aware
        datetimes (timed, written in ``time_zone``, default the calendar's) or dates
        (all-day), ``attendees`` may list bare emails, ``organizer``/``creator`` an email.
        """
        with self._lock:
            calendar = self._calendar(email)
            event = build_event(calendar, fields, self.now(), self._person)
            calendar.touch(event, self.now())
            shown = copy.deepcopy(event)
        self._changed(email)
        return shown

    def update_event(self, email: str, event_id: str, **fields: Any) -> dict[str, Any]:
        """Change fields of an event, a series or one instance (``<seriesId>_<start>``)."""
        with self._lock:
            calendar = self._calendar(email)
            event = self._stored(calendar, event_id)
            zone = fields.pop("time_zone", None) or event["start"].get(
                "timeZone", calendar.time_zone
            )
            apply_fields(calendar, event, fields, zone, self._person)
            event["sequence"] = event.get("sequence", 0) + 1
            calendar.touch(event, self.now())
            shown = copy.deepcopy(event)
        self._changed(email)
        return shown

    def move_event(
        self, email: str, event_id: str, start: Any, end: Any | None = None
    ) -> dict[str, Any]:
        """Move an event or instance to ``start``, keeping its length unless ``end`` is given."""
        with self._lock:
            calendar = self._calendar(email)
            event = self._stored(calendar, event_id)
            if end is None:
                zone = event["start"].get("timeZone", calendar.time_zone)
                length = calendar._instant(event["end"]) - calendar._instant(event["start"])
                new_start = when(start, zone)
                moved = calendar._instant(new_start) + length
                end = moved.date() if "date" in new_start else moved
        return self.update_event(email, event_id, start=start, end=end)

    def cancel_event(self, email: str, event_id: str) -> None:
        """``status: cancelled``; it leaves listings and shows up in the next sync."""
        self.update_event(email, event_id, status="cancelled")

    def delete_event(self, email: str, event_id: str) -> None:
        """Delete: only a cancelled tombstone with the event's identity remains."""
        with self._lock:
            calendar = self._calendar(email)
            event = self._stored(calendar, event_id)
            tombstone = {"kind": "calendar#event", "id": event["id"], "status": "cancelled"}
            for name in ("recurringEventId", "originalStartTime"):
                if name in event:
                    tombstone[name] = event[name]
            calendar.touch(tombstone, self.now())
        self._changed(email)

    def set_response(
        self, email: str, event_id: str, attendee_email: str, response_status: str
    ) -> dict[str, Any]:
        """An attendee answers (``accepted``, ``declined``, ``tentative``, ``needsAction``)."""
        with self._lock:
            calendar = self._calendar(email)
            event = self._stored(calendar, event_id)
            attendees = copy.deepcopy(event.get("attendees", []))
            for attendee in attendees:
                if attendee["email"] == attendee_email:
                    attendee["responseStatus"] = response_status
                    break
            else:
                raise KeyError(f"{attendee_email} is not invited to {event_id}")
            event["attendees"] = attendees
            calendar.touch(event, self.now())
            shown = copy.deepcopy(event)
        self._changed(email)
        return shown

    def event(self, email: str, event_id: str) -> dict[str, Any]:
        """One stored event (or instance) as the API shows it."""
        with self._lock:
            calendar = self._calendar(email)
            return calendar._public(calendar.get(event_id, self.now()))

    def _stored(self, calendar: Calendar, event_id: str) -> dict[str, Any]:
        try:
            event = calendar.get(event_id, self.now())
        except KeyError:
            raise KeyError(f"no event {event_id} in {calendar.email}'s calendar") from None
        if "start" not in event:
            raise KeyError(f"event {event_id} was deleted")
        return event

    def _calendar(self, email: str) -> Calendar:
        try:
            return self._calendars[email]
        except KeyError:
            raise KeyError(f"no Google account {email}; add_account() first") from None

    def _person(self, email: str) -> dict[str, Any]:
        person: dict[str, Any] = {"email": email}
        if email in self._names:
            person["displayName"] = self._names[email]
        return person

    # faults, load and records --------------------------------------------------------------

    def fail_next(
        self,
        path_substring: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | str | None = None,
    ) -> None:
        """The next ``times`` requests whose path contains ``path_substring`` fail."""
        with self._lock:
            self._faults.append(
                _Fault(
                    path_substring, status, times, None if retry_after is None else str(retry_after)
                )
            )

    @property
    def calls(self) -> list[GoogleCall]:
        """Every request answered so far, oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every push notification attempted so far, in the order they were answered."""
        return self._pusher.deliveries

    def channels(self, email: str | None = None) -> list[Channel]:
        """Copies of the channels opened (for one calendar, or all)."""
        with self._lock:
            return [
                copy.copy(channel)
                for channel in self._channels.values()
                if email is None or channel.email == email
            ]

    # push ----------------------------------------------------------------------------------

    def route(self, public_base: str, local_base: str) -> None:
        """Deliver pushes for addresses under ``public_base`` to ``local_base`` instead."""
        self._pusher.route(public_base, local_base)

    def notify(self, email: str) -> None:
        """Queue an ``exists`` message to every live channel on this calendar.

        Queued messages go out in the order of their numbers, one at a time.
        """
        with self._lock:  # numbered and queued together, so numbers leave in order
            for message in self._messages(email):
                self._pusher.enqueue(message)

    def push(self, email: str) -> list[Delivery]:
        """Send an ``exists`` message to every live channel now; returns the deliveries.

        Sent from the calling thread without waiting for queued messages, so it can overtake
        them (Google does not promise order either; the app drops stale message numbers).
        """
        return [self._pusher.deliver(message) for message in self._messages(email)]

    def _changed(self, email: str) -> None:
        if self.auto_push and self._server is not None:
            self.notify(email)

    def _messages(self, email: str) -> list[Message]:
        with self._lock:
            now = self.now()
            return [
                self._pusher.message(channel, "exists")
                for channel in self._channels.values()
                if channel.email == email and channel.live(now)
            ]

    # HTTP ----------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> Answer:
        """Answer one HTTP request (called by the server's handler threads)."""
        url = urlsplit(target)
        path = url.path
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if self.latency > 0 and path.startswith(CALENDAR_PREFIX):
            time.sleep(self.latency)  # in the handler thread, holding no lock
        try:
            answer = self._fault(path) or self._dispatch(method, path, query, headers, body)
        except Exception:
            logger.exception("fake Google failed on %s %s", method, path)
            answer = json_answer(500, google_error(500, "backendError", "Backend Error"))
        with self._lock:
            shown = {key: value for key, value in query.items() if key not in _SECRET_KEYS}
            self._calls.append(GoogleCall(method, path, shown, answer.status, self.now()))
        return answer

    def _fault(self, path: str) -> Answer | None:
        with self._lock:
            for fault in self._faults:
                if fault.path in path and fault.times > 0:
                    fault.times -= 1
                    break
            else:
                return None
            self._faults = [item for item in self._faults if item.times > 0]
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if path in ("/token", "/revoke"):
            return json_answer(fault.status, {"error": "internal_failure"}, headers)
        domain, reason, message = _FAULT_REASONS.get(
            fault.status, ("global", "backendError", HTTPStatus(fault.status).phrase)
        )
        return json_answer(
            fault.status, google_error(fault.status, reason, message, domain=domain), headers
        )

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> Answer:
        if method == "GET" and path in AUTH_PATHS:
            return self._consent(query)
        if method == "POST" and path == "/token":
            return self._token(headers, body)
        if method == "POST" and path == "/revoke":
            return self._revoke(query, body)
        if path.startswith(CALENDAR_PREFIX):
            try:
                return self._calendar_api(
                    method, path[len(CALENDAR_PREFIX) :], query, headers, body
                )
            except CalendarApiError as exc:
                payload = google_error(exc.status, exc.reason, exc.message, **exc.extra)
                answer = json_answer(exc.status, payload, dict(exc.headers))
                if exc.status == 401:
                    answer.headers["WWW-Authenticate"] = (
                        'Bearer realm="https://accounts.google.com/", error="invalid_token"'
                    )
                return answer
        return json_answer(404, google_error(404, "notFound", "Not Found"))

    def _consent(self, query: dict[str, str]) -> Answer:
        with self._lock:
            email = self._next_account
            if email is None and len(self._calendars) == 1:
                email = next(iter(self._calendars))
            deny, self._deny_next = self._deny_next, False
            try:
                location = self._oauth.consent(query, email, deny, self.now())
            except ConsentError as exc:
                self._deny_next = self._deny_next or deny
                page = (
                    "<!doctype html><title>Error</title><h1>Access blocked: authorization "
                    f"error</h1><p>Error {exc.status}: {escape(exc.error)}</p>"
                    f"<p>{escape(exc.detail)}</p>"
                )
                return Answer(exc.status, page.encode(), "text/html; charset=utf-8")
        return Answer(302, b"", "text/html; charset=utf-8", {"Location": location})

    def _token(self, headers: Any, body: bytes) -> Answer:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        basic = basic_auth(headers.get("Authorization", ""))
        try:
            with self._lock:
                answer = self._oauth.token(form, basic, self.now())
        except TokenError as exc:
            return json_answer(
                exc.status, {"error": exc.error, "error_description": exc.description}
            )
        return json_answer(
            200, answer, {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"}
        )

    def _revoke(self, query: dict[str, str], body: bytes) -> Answer:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            with self._lock:
                self._oauth.revoke(form.get("token") or query.get("token", ""))
        except TokenError as exc:
            return json_answer(
                exc.status, {"error": exc.error, "error_description": exc.description}
            )
        return json_answer(200, {})

    def _calendar_api(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> Answer:
        email = self._authorised(headers.get("Authorization", ""))
        self._throttle(email)
        parts = [unquote(part) for part in path.split("/")]
        with self._lock:
            now = self.now()
            if method == "GET" and parts == ["users", "me", "calendarList"]:
                return json_answer(200, self._calendars[email].list_entry())
            if method == "GET" and parts[:3] == ["users", "me", "calendarList"] and len(parts) == 4:
                calendar = self._own_calendar(email, parts[3])  # "primary" or the address
                return json_answer(200, calendar.list_entry()["items"][0])
            if len(parts) >= 3 and parts[0] == "calendars" and parts[2] == "events":
                calendar = self._own_calendar(email, parts[1])
                if method == "GET" and len(parts) == 3:
                    return json_answer(200, calendar.list_events(query, now))
                if method == "GET" and len(parts) == 4:
                    try:
                        return json_answer(200, calendar._public(calendar.get(parts[3], now)))
                    except KeyError:
                        raise CalendarApiError(404, "notFound", "Not Found") from None
                if method == "POST" and parts[3:] == ["watch"]:
                    return self._watch(email, parts[1], json_body(body))
            if method == "POST" and parts == ["channels", "stop"]:
                return self._stop(email, json_body(body))
        raise CalendarApiError(404, "notFound", "Not Found")

    def _authorised(self, authorization: str) -> str:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            grant = self._oauth.bearer(token, self.now()) if scheme.lower() == "bearer" else None
        if grant is None:
            raise CalendarApiError(
                401,
                "authError",
                "Invalid Credentials",
                location="Authorization",
                locationType="header",
            )
        return grant.email

    def _throttle(self, email: str) -> None:
        limit = self.requests_per_second
        if not limit:
            return
        with self._lock:
            now = self.now()
            recent = self._recent.setdefault(email, deque())
            while recent and recent[0] <= now - timedelta(seconds=1):
                recent.popleft()
            if len(recent) >= limit:
                wait = (recent[0] + timedelta(seconds=1) - now).total_seconds()
                raise CalendarApiError(
                    429,
                    "rateLimitExceeded",
                    "Rate Limit Exceeded",
                    domain="usageLimits",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            recent.append(now)

    def _own_calendar(self, email: str, calendar_id: str) -> Calendar:
        if calendar_id not in ("primary", email):
            raise CalendarApiError(404, "notFound", "Not Found")
        return self._calendars[email]

    def _watch(self, email: str, calendar_id: str, request: dict[str, Any]) -> Answer:
        channel = open_channel(
            request,
            email=email,
            calendar_id=calendar_id,
            api_url=self.calendar_api_url,
            now=self.now(),
            taken=self._channels,
        )
        self._channels[channel.id] = channel
        sync = self._pusher.message(channel, "sync")
        answer = json_answer(200, channel.answer())
        if self.sync_before_response:
            answer.before = lambda: self._pusher.deliver(sync)
        else:
            # Queued now, so later changes queue behind it; sent once the answer is written.
            answered = threading.Event()
            self._pusher.enqueue(sync, after=answered)
            answer.after = answered.set
        return answer

    def _stop(self, email: str, request: dict[str, Any]) -> Answer:
        channel = self._channels.get(str(request.get("id")))
        if (
            channel is None
            or channel.resource_id != request.get("resourceId")
            or channel.email != email
            or channel.stopped
        ):
            raise CalendarApiError(
                404, "notFound", f"Channel '{request.get('id')}' not found for project"
            )
        channel.stopped = True
        return Answer(204)

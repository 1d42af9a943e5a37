"""Google Calendar: connect with Google sign-in, sync incrementally, follow push.

**Connect.** :func:`connect_link` makes a single-use ``state`` (random, kept only as its
SHA-256, bound to the person's team and user, valid :data:`STATE_TTL`) and the link
``{HEEDFUL_PUBLIC_URL}/oauth/google/start?state=…``. :func:`start` (the browser opens
the link) makes a PKCE verifier, keeps it encrypted with the state, and redirects to
Google's consent screen (read-only calendar scope, offline access, S256 challenge) through
``google_auth_oauthlib.flow.Flow``. :func:`finish` (Google redirects back to
``/oauth/google/callback``) takes the state once and only before it expires, exchanges the
code with the verifier, keeps the grant encrypted (``google_calendar.tokens``), opts the
person in and queues the first sync in the inbox; the worker then reads the calendar,
opens the push channel and DMs "Connected …". A reused, expired, unknown or refused
state stores nothing and gets a page that says what to do.

**Sync** (:func:`sync`), the primary calendar with ``singleEvents=true``:

* the first time, after Google answers ``410 Gone``, and once the window read in full
  has moved on by :data:`REREAD_AFTER` (so that the instances of a series that no one
  changes still come into view as the days pass): a full read of the window
  [now − 1 day, now + 14 days), applied as a complete snapshot of it (what is missing is
  removed), and its ``nextSyncToken`` kept. ``calendar_source.expanded_until`` is the
  end of the window last read in full, as for feeds;
* after that, incremental reads with the token: changed events are upserted, cancelled or
  deleted ones (``status: cancelled``) cancel what is stored (withdrawing pending
  nudges). Events that start beyond the window are left for a later read;
* ``eventType`` focusTime, outOfOffice and workingLocation, the person's own
  ``responseStatus: declined``, all-day and free events are kept with their skip reason,
  as for feeds (:mod:`bot.calendars.google`).

The grant is used through ``google.oauth2.credentials.Credentials``: its access token is
refreshed before it expires (and on a 401), and a refreshed token is kept. A revoked
grant (``invalid_grant``) marks the calendar *broken* and tells the person once, with a
button to connect again.

**Push.** :func:`open_channel` calls ``events.watch`` with a new channel id (a UUID), a
random channel token and ``{HEEDFUL_PUBLIC_URL}/hooks/google``. The id and token are
stored *before* the call, because Google's ``sync`` message (number 1) may arrive before
the call returns. :func:`receive` checks a notification (headers only) in constant
time against the stored channel id, token and resource id; a message number at or
below the last one seen on that channel is dropped; an ``exists`` message is stored in
the inbox (key ``<channel id>:<number>``) before the 200, and the worker then runs an
incremental sync. Pushes that queue up are folded into one sync: a stored push whose
number the last sync had seen when it began is done already.

**Renew.** A channel expiring within :data:`RENEW_BEFORE` is replaced: the new one is
opened first (the old one keeps being accepted until it is stopped, so there is no
gap), then the old one is stopped. The periodic job (:func:`refresh_due`) renews and
runs an incremental sync every poll interval anyway: push is a hint, not a guarantee.

**Disconnect, erase, uninstall** (:func:`release`): stop the channels, revoke the grant
at Google, delete what was stored. Failures there are logged and do not keep data.

What Google shares with Microsoft (the sign-in state, keeping the grant, the periodic
job, a broken grant, releasing) is :mod:`bot.sync.oauth`; this module keeps Google's own.

Nothing here logs a token, an event's text or a request body.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import operator
import os
import secrets
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from bot.calendars import google as convert
from bot.config import Settings, is_loopback_http
from bot.crypto import CipherError
from bot.messages.prompts import load_prompts
from bot.occurrences import cancelled_instances
from bot.services import Services
from bot.storage import calendar_sources, google_calendars, inbox
from bot.storage.db import read_only
from bot.storage.inbox import ClaimedInboxItem
from bot.storage.oauth_states import TakenState
from bot.sync import oauth
from bot.sync.feeds import CalendarPerson
from bot.sync.oauth import BROKEN, GrantRevoked, Page, Synced

logger = logging.getLogger(__name__)

KIND = "google"
PROVIDER = "google"
INBOX_SOURCE = "google-push"
SCOPES = ("https://www.googleapis.com/auth/calendar.readonly",)
STATE_TTL = oauth.STATE_TTL
CHANNEL_TTL = timedelta(days=7)
RENEW_BEFORE = timedelta(days=1)
BATCH = oauth.BATCH
HTTP_TIMEOUT_SECONDS = 20

NotConfigured = oauth.NotConfigured  # callers catch it as google.NotConfigured


class GoogleUnavailable(Exception):
    """Google answered with an error a later try may not meet (429, 5xx, a timeout).
    The message is the status only: an API error's text quotes the request."""


class _SyncGone(Exception):
    """Google answered 410 Gone: the sync token is no longer valid."""


def _transport_error() -> type[Exception]:
    import httplib2

    return httplib2.HttpLib2Error


def _kind(exc: BaseException) -> str:
    """An exception's type and status, never its message (it may quote a token)."""
    status = getattr(getattr(exc, "resp", None), "status", None)
    return f"{type(exc).__name__}{f' {status}' if status else ''}"


GOOGLE = oauth.Provider(
    name=PROVIDER,
    store=google_calendars.SHARED,
    inbox_source=INBOX_SOURCE,
    enabled=operator.attrgetter("google_enabled"),
    source_name=convert.source_name,
    describe=_kind,
)


# --------------------------------------------------------------------------- config


# Google's client libraries log request URLs (with sync and page tokens) at INFO and
# token responses at DEBUG: they are kept to warnings, whatever the root level.
_CHATTY = (
    "googleapiclient",
    "google_auth_httplib2",
    "google.auth",
    "oauthlib",
    "requests_oauthlib",
)


@functools.cache
def _quiet_libraries() -> None:
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)


def _config(settings: Settings) -> dict[str, Any]:
    """The OAuth client as ``google_auth_oauthlib`` reads it."""
    if not settings.google_enabled:
        raise NotConfigured
    _quiet_libraries()
    if is_loopback_http(settings.google_auth_uri) or is_loopback_http(settings.google_token_uri):
        # oauthlib refuses http:// endpoints unless this is set. Settings allow http only
        # on loopback (a local fake Google: the tests, the demo), never for a real one.
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
    return {
        "web": {
            "client_id": settings.google_client_id,
            "client_secret": settings.google_client_secret,
            "auth_uri": settings.google_auth_uri,
            "token_uri": settings.google_token_uri,
            "redirect_uris": [callback_url(settings)],
        }
    }


def callback_url(settings: Settings) -> str:
    return f"{settings.public_url}/oauth/google/callback"


def hook_url(settings: Settings) -> str:
    return f"{settings.public_url}/hooks/google"


def revoke_url(settings: Settings) -> str:
    """Google's revoke endpoint beside its token endpoint (``…/token`` → ``…/revoke``)."""
    base = settings.google_token_uri.rsplit("/", 1)[0]
    return f"{base}/revoke"


def _flow(settings: Settings, *, verifier: str | None) -> Any:
    from google_auth_oauthlib.flow import Flow

    return Flow.from_client_config(
        _config(settings),
        scopes=list(SCOPES),
        redirect_uri=callback_url(settings),
        code_verifier=verifier,
        autogenerate_code_verifier=verifier is None,
    )


# --------------------------------------------------------------------------- connecting


def connect_link(services: Services, *, team_id: str, user_id: str) -> str:
    """A new single-use sign-in link for this person. Raises :class:`NotConfigured`."""
    return oauth.connect_link(services, GOOGLE, team_id=team_id, user_id=user_id)


def start(services: Services, *, state: str | None) -> Page:
    """``GET /oauth/google/start``: redirect to Google's consent screen with PKCE."""

    def authorize(state: str) -> tuple[str, str]:
        flow = _flow(services.settings, verifier=None)
        url, _ = flow.authorization_url(
            state=state, access_type="offline", prompt="consent", include_granted_scopes="false"
        )
        return url, flow.code_verifier

    return oauth.start(services, GOOGLE, state=state, authorize=authorize)


def finish(services: Services, *, query: Mapping[str, Sequence[str]]) -> Page:
    """``GET /oauth/google/callback``: take the state once, exchange the code, keep the
    grant, queue the first sync. Stores nothing unless all of that works."""

    def redeem(taken: TakenState) -> int | Page:
        flow = _flow(services.settings, verifier=services.cipher.decrypt(taken.verifier))
        try:
            flow.fetch_token(code=oauth.one(query, "code"))
        except Exception as exc:  # oauthlib and requests raise many kinds; none is the user's
            logger.warning(
                "google sign-in for %s: the code exchange failed (%s)", taken.user_id, _kind(exc)
            )
            return oauth.render_page(502, load_prompts(), "google.page.failed")
        credentials = flow.credentials
        if not credentials.refresh_token:
            logger.warning("google sign-in for %s: Google gave no refresh token", taken.user_id)
            return oauth.render_page(502, load_prompts(), "google.page.failed")
        return _keep(
            services, team_id=taken.team_id, user_id=taken.user_id, credentials=credentials
        )

    return oauth.finish(services, GOOGLE, query=query, redeem=redeem)


def _keep(services: Services, *, team_id: str, user_id: str, credentials: Any) -> int:
    """Store the grant: a person has one Google calendar; connecting again replaces the
    grant of the one they have (and starts its sync afresh)."""
    tokens = services.cipher.encrypt(_tokens_json(credentials))
    return oauth.keep_source(
        services,
        GOOGLE,
        team_id=team_id,
        user_id=user_id,
        again={"tokens": tokens, "sync_token": None},
        first={"tokens": tokens, "last_message": 0, "old_last_message": 0, "synced_message": 0},
    )


# --------------------------------------------------------------------------- the API


def _tokens_json(credentials: Any) -> str:
    expiry = credentials.expiry
    return json.dumps(
        {
            "token": credentials.token,
            "refresh_token": credentials.refresh_token,
            "expiry": expiry.replace(tzinfo=UTC).isoformat() if expiry else None,
        }
    )


class _NoHttp:
    """The shared client's own transport, never used: each request is executed with its
    calendar's authorised transport (``execute(http=…)``), so a request that came without
    one fails here instead of going out unauthenticated or with another person's grant."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a Calendar API request must be executed with its calendar's http")

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class _Calendar:
    """The Calendar API v3 resources Heedful calls, built once per process and endpoint.

    Building the client from the static discovery document, and each ``events()``
    resource from it, cost ~2 and ~5 ms a sync (bench/sync.py), more than the bare
    ``events.list`` call on loopback. The resources only make requests; the credentials
    travel with each one (googleapiclient's "Thread Safety" page: one service,
    ``execute(http=…)`` with an ``httplib2.Http`` per thread)."""

    events: Any
    calendar_list: Any
    channels: Any


@functools.lru_cache(maxsize=4)
def _calendar_api(api_url: str) -> _Calendar:
    from googleapiclient.discovery import build

    service = build(
        "calendar",
        "v3",
        http=_NoHttp(),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": api_url},
    )
    return _Calendar(service.events(), service.calendarList(), service.channels())


class _Api:
    """One calendar's grant and an authorised transport for it; keeps a refreshed token."""

    def __init__(self, services: Services, row: google_calendars.Calendar) -> None:
        from google.oauth2.credentials import Credentials

        self.services = services
        self.row = row
        settings = services.settings
        _config(settings)
        data = json.loads(services.cipher.decrypt(row.tokens))
        expiry = data.get("expiry")
        self._stored = data.get("token")
        self.credentials = Credentials(
            token=data.get("token"),
            refresh_token=data.get("refresh_token"),
            token_uri=settings.google_token_uri,
            client_id=settings.google_client_id,
            client_secret=settings.google_client_secret,
            scopes=list(SCOPES),
            # google-auth compares naive UTC times
            expiry=datetime.fromisoformat(expiry).replace(tzinfo=None) if expiry else None,
        )
        self._http: Any = None

    @property
    def calendar(self) -> _Calendar:
        return _calendar_api(self.services.settings.google_calendar_api_url)

    def call(self, request: Any) -> Any:
        """Execute one API request with this calendar's grant; a revoked grant raises
        :class:`GrantRevoked`."""
        import google_auth_httplib2
        import httplib2
        from google.auth.exceptions import RefreshError
        from googleapiclient.errors import HttpError

        if self._http is None:
            self._http = google_auth_httplib2.AuthorizedHttp(
                self.credentials, http=httplib2.Http(timeout=HTTP_TIMEOUT_SECONDS)
            )
        try:
            return request.execute(http=self._http)
        except RefreshError:
            raise GrantRevoked("invalid_grant") from None
        except HttpError as exc:
            if exc.resp.status == 410:
                raise _SyncGone from None
            raise GoogleUnavailable(f"Google answered {exc.resp.status}") from None
        except (OSError, _transport_error()) as exc:
            raise GoogleUnavailable(type(exc).__name__) from None
        finally:
            self._keep_token()

    def _keep_token(self) -> None:
        if self.credentials.token and self.credentials.token != self._stored:
            self._stored = self.credentials.token
            tokens = self.services.cipher.encrypt(_tokens_json(self.credentials))
            with self.services.engine.begin() as conn:
                google_calendars.update_calendar(
                    conn=conn, source_id=self.row.source_id, tokens=tokens
                )


def _pages(api: _Api, **params: Any) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = api.call(
            api.calendar.events.list(
                calendarId="primary",
                singleEvents=True,
                maxResults=2500,
                pageToken=token,
                **params,
            )
        )
        yield page
        token = page.get("nextPageToken")
        if not token:
            return


# --------------------------------------------------------------------------- syncing


def _row(services: Services, source_id: int) -> google_calendars.CalendarWithSource | None:
    return oauth.calendar_row(services, GOOGLE, source_id)


def sync(services: Services, source_id: int, *, api: _Api | None = None) -> Synced | None:
    """Bring one calendar's occurrences up to date (module docstring). None when the
    calendar is gone or broken. Raises :class:`GrantRevoked` after marking it broken."""

    def read(row: Any, person: CalendarPerson) -> Synced:
        began = services.clock.now()
        client = api or _Api(services, row)
        if not row.account:
            row = _read_account(services, client, row)
        return _read(services, client, row, person.emails, began)

    return oauth.sync(services, GOOGLE, source_id, read=read)


def _read_account(services: Services, api: _Api, row: Any) -> Any:
    """The primary calendar's id (the account's address) and zone, read once."""
    entry = api.call(api.calendar.calendar_list.get(calendarId="primary"))
    with services.engine.begin() as conn:
        google_calendars.update_calendar(
            conn=conn,
            source_id=row.source_id,
            account=str(entry.get("id", ""))[:320],
            zone=str(entry.get("timeZone") or "UTC")[:64],
        )
        calendar_sources.update_source(
            conn=conn, source_id=row.source_id, label=str(entry.get("id", ""))[:255]
        )
    return _row(services, row.source_id)


def _read(
    services: Services, api: _Api, row: Any, emails: Sequence[str], began: datetime
) -> Synced:
    source = convert.source_name(row.source_id)
    own = [*emails, row.account]
    window = oauth.window(began)
    full = oauth.needs_full_read(row.sync_token, row, window)
    items: list[dict[str, Any]] = []
    next_token = None
    if not full:
        try:
            for page in _pages(api, syncToken=row.sync_token):
                items += page.get("items", [])
                next_token = page.get("nextSyncToken") or next_token
        except _SyncGone:
            logger.info(
                "google calendar %s: sync token expired (410); reading it in full", row.source_id
            )
            full, items = True, []
    if full:
        for page in _pages(
            api,
            timeMin=window[0].isoformat().replace("+00:00", "Z"),
            timeMax=window[1].isoformat().replace("+00:00", "Z"),
        ):
            items += page.get("items", [])
            next_token = page.get("nextSyncToken") or next_token
    occurrences = []
    cancelled = []
    skipped = 0
    for item in items:
        try:
            if convert.is_cancelled(item):
                found = convert.cancellation(item)
                cancelled.append((found.uid, found.recurrence_id))
                continue
            occ = convert.event_occurrence(item, source=source, own=own, zone=row.zone or "UTC")
        except convert.UnreadableEvent as exc:
            skipped += 1
            logger.info("google calendar %s: skipped an event: %s", row.source_id, exc)
            continue
        if full or (occ.start < window[1] and occ.end > window[0]):
            occurrences.append(occ)
    if cancelled:
        occurrences += cancelled_instances(
            services, team_id=row.team_id, user_id=row.user_id, source=source, refs=cancelled
        )
    changed = oauth.apply_read(
        services, row, source=source, occurrences=occurrences, span=window, full=full
    )
    return oauth.record_read(
        services,
        GOOGLE,
        row,
        began=began,
        span=window,
        full=full,
        mine={
            "sync_token": next_token,
            "synced_channel": row.channel_id,
            "synced_message": row.last_message,
        },
        items=len(items),
        changed=changed,
        occurrences=occurrences,
    )


# --------------------------------------------------------------------------- channels


def open_channel(services: Services, source_id: int, *, api: _Api | None = None) -> None:
    """Watch the primary calendar (a new channel); the current one, if any, becomes the
    old one and is stopped once the new one is open."""
    row = oauth.live_row(services, GOOGLE, source_id)
    if row is None:
        return
    channel_id = str(uuid.uuid4())
    token = secrets.token_urlsafe(32)
    with services.engine.begin() as conn:
        google_calendars.update_calendar(
            conn=conn,
            source_id=source_id,
            old_channel_id=row.channel_id,
            old_channel_token=row.channel_token,
            old_resource_id=row.resource_id,
            old_last_message=row.last_message,
            channel_id=channel_id,
            channel_token=services.cipher.encrypt(token),
            resource_id=None,
            channel_expires_at=None,
            last_message=0,
        )
    api = api or _Api(services, row)
    body = {
        "id": channel_id,
        "type": "web_hook",
        "address": hook_url(services.settings),
        "token": token,
        "params": {"ttl": str(int(CHANNEL_TTL.total_seconds()))},
    }
    try:
        answer = api.call(api.calendar.events.watch(calendarId="primary", body=body))
    except GrantRevoked:
        oauth.mark_broken(services, GOOGLE, row)
        raise
    expires = None
    if str(answer.get("expiration", "")).isdigit():
        expires = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
    with services.engine.begin() as conn:
        google_calendars.note_channel_opened(
            conn=conn,
            source_id=source_id,
            channel_id=channel_id,
            resource_id=str(answer.get("resourceId", ""))[:255],
            expires_at=expires,
        )
    if row.channel_id and row.resource_id:
        _stop(api, row.channel_id, row.resource_id)
    with services.engine.begin() as conn:
        google_calendars.forget_old_channel(
            conn=conn, source_id=source_id, channel_id=row.channel_id
        )
    logger.info("google calendar %s: push channel opened", source_id)


def _stop(api: _Api, channel_id: str, resource_id: str) -> None:
    try:
        api.call(api.calendar.channels.stop(body={"id": channel_id, "resourceId": resource_id}))
    except Exception as exc:  # a channel Google no longer knows is stopped already
        logger.info("google: stopping a channel failed (%s); it expires by itself", _kind(exc))


# --------------------------------------------------------------------------- push


@dataclass(frozen=True)
class Notified:
    status: int
    stored: bool = False


def receive(services: Services, *, headers: Mapping[str, str]) -> Notified:
    """Check one push notification (module docstring) and store it in the inbox.

    ``headers`` with lower-case names. 404 for a channel Heedful does not know, 401 when
    its token or resource does not match, 200 otherwise (a stale or ``sync`` message is
    answered and dropped)."""
    channel_id = headers.get("x-goog-channel-id", "")
    number = headers.get("x-goog-message-number", "")
    state = headers.get("x-goog-resource-state", "")
    if not channel_id or len(channel_id) > 64 or not number.isdigit() or len(number) > 18:
        return Notified(400)
    with read_only(services.engine) as conn:
        row = google_calendars.by_channel(conn=conn, channel_id=channel_id)
    if row is None:
        logger.info("google push for an unknown channel refused")
        return Notified(404)
    current = row.channel_id == channel_id
    stored_token = row.channel_token if current else row.old_channel_token
    stored_resource = row.resource_id if current else row.old_resource_id
    try:
        token = services.cipher.decrypt(stored_token or "")
    except CipherError:
        token = ""
    given_token = headers.get("x-goog-channel-token", "")
    given_resource = headers.get("x-goog-resource-id", "")
    token_ok = bool(token) and hmac.compare_digest(given_token.encode(), token.encode())
    # The resource id is known once events.watch has returned; "sync" may come first.
    resource_ok = (
        hmac.compare_digest(given_resource.encode(), stored_resource.encode())
        if stored_resource
        else state == "sync"
    )
    if not (token_ok and resource_ok):
        logger.info("google push refused: channel token or resource does not match")
        return Notified(401)
    if state == "sync":
        return Notified(200)
    n = int(number)
    with services.engine.begin() as conn:
        moved = google_calendars.advance_message(
            conn=conn, source_id=row.source_id, channel_id=channel_id, current=current, number=n
        )
    if not moved:
        logger.info("google push %s on calendar %s is stale; dropped", n, row.source_id)
        return Notified(200)
    new = inbox.store_inbox(
        engine=services.engine,
        source=INBOX_SOURCE,
        external_id=f"{channel_id}:{n}",
        body=json.dumps({"source_id": row.source_id, "channel": channel_id, "n": n}),
        now=services.clock.now(),
        team_id=row.team_id,
        user_id=row.user_id,
        kind="push",
    )
    return Notified(200, stored=new)


def dispatcher(services: Services) -> Any:
    """The inbox dispatcher for ``google-push`` rows (a push, or the first sync)."""

    def dispatch(row: ClaimedInboxItem) -> None:
        process_stored(services, row)

    return dispatch


def process_stored(services: Services, row: ClaimedInboxItem) -> None:
    """A stored push: an incremental sync, unless one has started since it arrived. The
    first sync after connecting also opens the channel and tells the person.

    Pushes are folded: each sync notes the channel's last message number when it began,
    and a stored push at or below it is done already (several pushes that queued up
    while the worker was busy cost one sync)."""
    data = json.loads(row.body)
    source_id = int(data["source_id"])
    found = _row(services, source_id)
    if found is None or found.status == BROKEN:
        return
    connecting = bool(data.get("connect"))
    if (
        not connecting
        and data.get("channel") == found.synced_channel
        and int(data.get("n", 0)) <= found.synced_message
    ):
        return  # a sync that started after this push arrived has read its change
    api = _Api(services, found)
    try:
        synced = sync(services, source_id, api=api)
        if synced is not None and (connecting or not found.channel_id):
            open_channel(services, source_id, api=api)
    except GrantRevoked:
        return
    if connecting and synced is not None:
        connected_row = _row(services, source_id)
        oauth.tell(services, GOOGLE, connected_row, "google.connected", upcoming=synced.upcoming)


# --------------------------------------------------------------------------- periodic


def refresh_due(services: Services, *, limit: int = BATCH) -> int:
    """The scheduler step: an incremental sync, then renew a channel near its end."""

    def refresh(row: Any) -> None:
        api = _Api(services, row)
        sync(services, row.source_id, api=api)
        expires = row.channel_expires_at
        if expires is None or expires - services.clock.now() < RENEW_BEFORE:
            open_channel(services, row.source_id, api=api)

    return oauth.refresh_due(services, GOOGLE, refresh=refresh, limit=limit)


# --------------------------------------------------------------------------- release


def release(
    services: Services,
    *,
    team_id: str,
    user_id: str | None = None,
    source_id: int | None = None,
) -> int:
    """Stop the push channels and revoke the grants of a person's (or, without
    ``user_id``, a workspace's) Google calendars, or of the one ``source_id``, then
    delete them and what they brought. Returns how many went. Google's failures are
    logged, never kept."""
    return oauth.release(
        services,
        GOOGLE,
        team_id=team_id,
        user_id=user_id,
        source_id=source_id,
        let_go=functools.partial(_let_go, services),
    )


def disconnect(
    services: Services, *, team_id: str, user_id: str, source_id: int | None = None
) -> bool:
    """The person disconnects their Google calendar (Home's *Remove*). False when they
    had none (or not that one)."""
    return release(services, team_id=team_id, user_id=user_id, source_id=source_id) > 0


def _let_go(services: Services, row: google_calendars.Calendar) -> None:
    """Stop the channels (a failure leaves them to expire), then revoke the grant."""
    try:
        api = _Api(services, row)
    except Exception as exc:
        logger.info("google calendar %s: its grant cannot be read (%s)", row.source_id, _kind(exc))
        return
    for channel_id, resource_id in (
        (row.channel_id, row.resource_id),
        (row.old_channel_id, row.old_resource_id),
    ):
        if channel_id and resource_id:
            _stop(api, channel_id, resource_id)
    token = api.credentials.refresh_token or api.credentials.token
    if not token:
        return
    import httplib2

    try:
        response, _ = httplib2.Http(timeout=HTTP_TIMEOUT_SECONDS).request(
            revoke_url(services.settings),
            "POST",
            body=urlencode({"token": token}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if response.status != 200:
            logger.info("google calendar %s: revoke answered %s", row.source_id, response.status)
    except Exception as exc:
        logger.info("google calendar %s: revoke failed (%s)", row.source_id, _kind(exc))


def connected(services: Services, *, team_id: str, user_id: str) -> oauth.CalendarInfo | None:
    """The person's Google calendar, if they connected one."""
    return oauth.connected(services, GOOGLE, team_id=team_id, user_id=user_id)

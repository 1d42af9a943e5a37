"""Microsoft 365 calendars: connect with Microsoft sign-in, delta sync, change notifications.

**Connect.** :func:`connect_link` makes a single-use ``state`` (random, kept only as its
SHA-256, bound to the person's team and user, valid :data:`STATE_TTL`, provider
``microsoft`` in ``oauth_state``) and the link ``{HEEDFUL_PUBLIC_URL}/oauth/microsoft/start
?state=…``. :func:`start` asks MSAL for an auth-code flow
(``initiate_auth_code_flow``: PKCE S256 verifier, nonce, our state), keeps the whole flow
encrypted with the state, and redirects to Microsoft's sign-in. :func:`finish`
(``/oauth/microsoft/callback``) takes the state once and only before it expires, and
redeems the code with ``acquire_token_by_auth_code_flow`` into a token cache of this one
connection (``msal.SerializableTokenCache``), which is stored encrypted
(``microsoft_calendar.token_cache``). The scope asked is ``Calendars.Read``; MSAL adds
``offline_access``, ``openid`` and ``profile`` itself (they are reserved: passing them
raises). The first sync is queued in the inbox; the worker reads the week, subscribes to
changes and DMs "Connected …".

**MSAL, once per process.** MSAL's web-app samples (Azure-Samples/ms-identity-python-webapp,
``_build_msal_app(cache=…)``) build a ``ConfidentialClientApplication`` around each
user's own token cache; the token cache is bound into the application when it is made, so
one shared application would mix everyone's tokens. What is costly to build (the
authority's OpenID discovery, an HTTP round trip) is kept once per process and settings
in MSAL's ``http_cache`` (:func:`_http_cache`), so each connection's application is made
from memory. ``instance_discovery=False`` for an authority that is not one of Microsoft's
hosts (``msal.authority.WELL_KNOWN_AUTHORITY_HOSTS``): MSAL would otherwise ask
``login.microsoftonline.com`` about a fake. Before each Graph call,
``acquire_token_silent_with_error`` hands out the cached access token or refreshes it
(Microsoft rotates refresh tokens); a changed cache is stored again. ``invalid_grant``
(the person or an admin withdrew consent, a password reset) marks the calendar *broken*
and tells the person once, with a button to connect again.

**Graph over httpx, not msgraph-sdk.** Measured on this 2-core machine (Python 3.11,
msgraph-sdk 1.65, msal 1.39, httpx 0.29): msgraph-sdk installs 392 MB (16,741 .py files,
472 MB with kiota, azure-core and azure-identity), against 0.7 MB for httpx (already a
dependency) plus 1 MB for msal; importing ``GraphServiceClient`` and building the
calendarView-delta and subscriptions request builders takes 0.19 s, against 0.15 s for
``import httpx, msal`` (warm caches; the SDK's 16k files cost more when cold), and the SDK
is asynchronous where Heedful's workers are threads. Heedful calls five Graph endpoints
with JSON it reads itself (:mod:`bot.calendars.microsoft`), so a thin :class:`_Graph`
over the app's ``httpx.Client`` (:mod:`bot.http_clients`) does it.

**Sync** (:func:`sync`), ``GET /me/calendarView/delta`` (Graph "Get incremental changes
to events in a calendar view"):

* the first time, after ``410 Gone`` / ``SyncStateNotFound`` / ``resyncRequired``, and
  once the window read in full has moved on by :data:`REREAD_AFTER` (so that the days
  coming into view are read): a full read of [now − 1 day, now + 14 days) following each
  ``@odata.nextLink`` to the ``@odata.deltaLink``, applied as a complete snapshot of the
  window (what is missing is removed); the delta link is kept. A 410 in the middle of a
  full read starts it again once; a 410 in an incremental round drops the link and reads
  in full, so a resync happens once and the snapshot never adds a second nudge (the
  outbox's keys are the occurrences' identities, which do not change);
* after that, incremental rounds from the delta link: changed events are upserted;
  ``@removed`` entries (found by their Graph id, kept in ``occurrence.event_id``) and
  ``isCancelled`` events cancel what is stored, withdrawing pending nudges;
* skip reasons as for every calendar (:mod:`bot.calendars.microsoft`).

A next or delta link is followed only when it points at ``MICROSOFT_GRAPH_URL`` (it
carries the person's bearer token).

**Change notifications** (Graph "Set up notifications for changes in resource data").
:func:`open_subscription` subscribes to ``me/events`` (created, updated, deleted) with
``{HEEDFUL_PUBLIC_URL}/hooks/microsoft``, the lifecycle URL
``{HEEDFUL_PUBLIC_URL}/hooks/microsoft/lifecycle`` and a random ``clientState``, stored
(encrypted) *before* the call; Graph validates both URLs during the call, and
:func:`validation` answers that without touching the database. :func:`receive` reads a
POST of notifications (several items), checks each item's ``subscriptionId`` and
``clientState`` (``hmac.compare_digest``), drops the others with a log line that names no
value, stores the valid ones of each calendar as one inbox row (keyed by the digest of
the items: Graph's retry of the same POST is a no-op) and answers 202. The worker then
runs an incremental sync; notifications that queued up are folded into one sync (each
stored batch carries the calendar's ``notified`` count, and a sync records the count it
began after). Lifecycle notifications (:func:`receive_lifecycle`, the same checks):
``reauthorizationRequired`` → ``POST /subscriptions/{id}/reauthorize`` (a new
subscription if Graph no longer knows it); ``subscriptionRemoved`` → a new subscription,
then a sync; ``missed`` → a sync.

**Renew.** Outlook event subscriptions last at most 10,080 minutes; Heedful asks for
:data:`SUBSCRIPTION_TTL` and renews (``PATCH expirationDateTime``) within
:data:`RENEW_BEFORE` of the end. The periodic job (:func:`refresh_due`, scheduled only
when Microsoft is configured) renews and runs a delta sync every poll interval anyway:
notifications are a hint, not a guarantee.

**Disconnect, erase, uninstall** (:func:`release`): delete the subscription at Graph,
then every stored token (the row with its MSAL cache and client state), the occurrences
and the pending sign-ins. Microsoft has no endpoint that revokes one app's delegated
refresh token; once deleted here it is never used again, and the person can remove the
app's consent at https://myapps.microsoft.com.

What Microsoft shares with Google (the sign-in state, keeping the grant, the periodic job,
a broken grant, releasing) is :mod:`bot.sync.oauth`; this module keeps Microsoft's own.

Nothing here logs a token, a client state, a delta link, an event's text or a body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import operator
import re
import secrets
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from bot.calendars import microsoft as convert
from bot.crypto import CipherError
from bot.messages.prompts import load_prompts
from bot.occurrences import cancelled_instances, keep_event_ids, removed_events
from bot.services import Services
from bot.storage import inbox, microsoft_calendars
from bot.storage.db import read_only
from bot.storage.inbox import ClaimedInboxItem
from bot.storage.oauth_states import TakenState
from bot.sync import oauth
from bot.sync.feeds import CalendarPerson
from bot.sync.oauth import BROKEN, GrantRevoked, Page, Synced

logger = logging.getLogger(__name__)

KIND = "microsoft"
PROVIDER = "microsoft"
INBOX_SOURCE = "microsoft-push"
SCOPES = ("Calendars.Read",)  # MSAL adds offline_access, openid and profile
STATE_TTL = oauth.STATE_TTL
SUBSCRIPTION_TTL = timedelta(days=6)  # Graph's limit for Outlook events: 10,080 minutes
RENEW_BEFORE = timedelta(days=1)
PAGE_SIZE = 50  # Prefer: odata.maxpagesize (Graph's default for calendarView delta is 10)
BATCH = oauth.BATCH
HTTP_TIMEOUT_SECONDS = 20
MAX_ITEMS = 1000  # notification items read from one POST
CHANGE_TYPES = "created,updated,deleted"
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
# Graph's error codes that mean "the delta token is no longer valid: sync in full again".
_RESYNC_CODES = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}


NotConfigured = oauth.NotConfigured  # callers catch it as microsoft.NotConfigured


class GraphUnavailable(Exception):
    """Graph or the identity platform answered with an error a later try may not meet
    (429, 5xx, a timeout). The message is the status and code only."""


class _SyncGone(Exception):
    """410 Gone / SyncStateNotFound / resyncRequired: the delta link is no longer valid."""


class _NotFound(Exception):
    """404: Graph does not know the subscription (any more)."""


def _kind(exc: BaseException) -> str:
    """An exception's type (and our own exceptions' status line), never a library's
    message (it may quote a token)."""
    if isinstance(exc, (GraphUnavailable, GrantRevoked)):
        return f"{type(exc).__name__} {exc}"[:120]
    return type(exc).__name__


MICROSOFT = oauth.Provider(
    name=PROVIDER,
    store=microsoft_calendars.SHARED,
    inbox_source=INBOX_SOURCE,
    enabled=operator.attrgetter("microsoft_enabled"),
    source_name=convert.source_name,
    describe=_kind,
)


# --------------------------------------------------------------------------- config


def _require(settings: Any) -> None:
    if not settings.microsoft_enabled:
        raise NotConfigured


def callback_url(settings: Any) -> str:
    return f"{settings.public_url}/oauth/microsoft/callback"


def hook_url(settings: Any) -> str:
    return f"{settings.public_url}/hooks/microsoft"


def lifecycle_url(settings: Any) -> str:
    return f"{settings.public_url}/hooks/microsoft/lifecycle"


def authority(settings: Any) -> str:
    return f"{settings.microsoft_authority_url}/{settings.microsoft_tenant}"


_caches: dict[tuple[str, str], dict[Any, Any]] = {}
_caches_lock = threading.Lock()


def _http_cache(settings: Any) -> dict[Any, Any]:
    """MSAL's HTTP cache (OpenID discovery; never tokens), one per process and authority."""
    key = (authority(settings), settings.microsoft_client_id or "")
    with _caches_lock:
        return _caches.setdefault(key, {})


def _msal_app(settings: Any, cache: Any) -> Any:
    """An MSAL application for one connection's token ``cache`` (module docstring)."""
    import msal
    from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

    _require(settings)
    logging.getLogger("msal").setLevel(logging.WARNING)  # it logs request details at DEBUG
    host = urlsplit(settings.microsoft_authority_url).hostname or ""
    return msal.ConfidentialClientApplication(
        settings.microsoft_client_id,
        client_credential=settings.microsoft_client_secret,
        authority=authority(settings),
        token_cache=cache,
        http_cache=_http_cache(settings),
        instance_discovery=None if host in WELL_KNOWN_AUTHORITY_HOSTS else False,
        timeout=HTTP_TIMEOUT_SECONDS,
    )


def _http(services: Services) -> Any:
    """The app's ``httpx.Client`` for Graph (thread-safe, keeps connections), made on
    first use and closed with the app (:mod:`bot.http_clients`: it trusts the
    certificates the process trusted when the app first called Graph)."""

    def make() -> Any:
        import httpx

        return httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, trust_env=True)

    return services.http.get("microsoft-graph", make)


# --------------------------------------------------------------------------- connecting


def connect_link(services: Services, *, team_id: str, user_id: str) -> str:
    """A new single-use sign-in link for this person. Raises :class:`NotConfigured`."""
    return oauth.connect_link(services, MICROSOFT, team_id=team_id, user_id=user_id)


def start(services: Services, *, state: str | None) -> Page:
    """``GET /oauth/microsoft/start``: keep MSAL's auth-code flow, redirect to sign-in."""

    def authorize(state: str) -> tuple[str, str] | Page:
        try:
            with warnings.catch_warnings():
                # MSAL recommends response_mode=form_post (RFC 9700 4.3.1: the code stays
                # out of the URL). The callback is a GET by Heedful's contract; its page
                # sends no Referer and is not cached, and the code is single-use and bound
                # to PKCE.
                warnings.filterwarnings("ignore", "response_mode", UserWarning)
                flow = _msal_app(services.settings, None).initiate_auth_code_flow(
                    list(SCOPES), redirect_uri=callback_url(services.settings), state=state
                )
        except Exception as exc:  # discovery failed: Microsoft (or the network) is down
            logger.warning("microsoft sign-in: the authority could not be read (%s)", _kind(exc))
            return oauth.render_page(502, load_prompts(), "microsoft.page.failed")
        return str(flow["auth_uri"]), json.dumps(flow)

    return oauth.start(services, MICROSOFT, state=state, authorize=authorize)


def finish(services: Services, *, query: Mapping[str, Sequence[str]]) -> Page:
    """``GET /oauth/microsoft/callback``: take the state once, redeem the code, keep the
    token cache, queue the first sync. Stores nothing unless all of that works."""

    def redeem(taken: TakenState) -> int | Page:
        import msal

        cache = msal.SerializableTokenCache()
        answer = {k: v[0] for k, v in query.items() if len(v) == 1}
        try:
            flow = json.loads(services.cipher.decrypt(taken.verifier))
            result = _msal_app(services.settings, cache).acquire_token_by_auth_code_flow(
                flow, answer, scopes=list(SCOPES)
            )
        except Exception as exc:  # MSAL raises ValueError on a mismatch, requests on transport
            logger.warning(
                "microsoft sign-in for %s: the code exchange failed (%s)",
                taken.user_id,
                _kind(exc),
            )
            return oauth.render_page(502, load_prompts(), "microsoft.page.failed")
        refresh_tokens = list(cache.search(cache.CredentialType.REFRESH_TOKEN))
        if "access_token" not in result or not refresh_tokens:
            logger.warning(
                "microsoft sign-in for %s: no tokens (%s)",
                taken.user_id,
                str(result.get("error") or "no refresh token")[:64],
            )
            return oauth.render_page(502, load_prompts(), "microsoft.page.failed")
        claims = result.get("id_token_claims") or {}
        account = str(claims.get("preferred_username") or "")[:320]
        return _keep(
            services,
            team_id=taken.team_id,
            user_id=taken.user_id,
            cache=cache.serialize(),
            account=account,
        )

    return oauth.finish(services, MICROSOFT, query=query, redeem=redeem)


def _keep(services: Services, *, team_id: str, user_id: str, cache: str, account: str) -> int:
    """Store the token cache: a person has one Microsoft calendar; connecting again
    replaces the cache of the one they have (its subscription is replaced at the first
    sync, and its delta link dropped so the sync is a full one)."""
    sealed = services.cipher.encrypt(cache)
    return oauth.keep_source(
        services,
        MICROSOFT,
        team_id=team_id,
        user_id=user_id,
        label=account[:255] or None,
        # an account Microsoft did not name this time keeps the one stored
        again={
            "token_cache": sealed,
            "delta_link": None,
            **({"account": account} if account else {}),
        },
        first={"account": account, "token_cache": sealed, "notified": 0, "synced_notified": 0},
    )


# --------------------------------------------------------------------------- Graph


class _Graph:
    """One calendar's token cache and Graph calls made with it."""

    def __init__(self, services: Services, row: microsoft_calendars.Calendar) -> None:
        import msal

        self.services = services
        self.row = row
        self.cache = msal.SerializableTokenCache()
        self.cache.deserialize(services.cipher.decrypt(row.token_cache))
        self.app = _msal_app(services.settings, self.cache)
        self.base = services.settings.microsoft_graph_url
        self._token: str | None = None

    def _access_token(self, *, force: bool = False) -> str:
        if self._token and not force:
            return self._token
        try:
            accounts = self.app.get_accounts()
            result = (
                self.app.acquire_token_silent_with_error(
                    list(SCOPES), account=accounts[0], force_refresh=force
                )
                if accounts
                else None
            )
        except Exception as exc:  # requests' transport errors
            raise GraphUnavailable(_kind(exc)) from None
        finally:
            self._keep_cache()
        if not result:
            raise GrantRevoked("no refresh token")
        if "access_token" in result:
            self._token = str(result["access_token"])
            return self._token
        error = str(result.get("error") or "")
        if error in ("invalid_grant", "interaction_required", "invalid_client"):
            raise GrantRevoked(error)
        raise GraphUnavailable(f"token endpoint: {error[:64]}")

    def _keep_cache(self) -> None:
        if self.cache.has_state_changed:
            sealed = self.services.cipher.encrypt(self.cache.serialize())
            with self.services.engine.begin() as conn:
                microsoft_calendars.update_calendar(
                    conn=conn, source_id=self.row.source_id, token_cache=sealed
                )

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def call(
        self,
        method: str,
        url: str,
        *,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One Graph request with this calendar's token (refreshed once on a 401). The
        answer's JSON, or ``{}`` for 204."""
        if not _same_origin(url, self.base):
            raise GraphUnavailable("a Graph link points elsewhere")
        client = _http(self.services)
        for attempt in (0, 1):
            token = self._access_token(force=attempt == 1)
            try:
                answer = client.request(
                    method,
                    url,
                    json=body,
                    headers={"Authorization": f"Bearer {token}", **(headers or {})},
                )
            except Exception as exc:  # httpx's transport errors and timeouts
                raise GraphUnavailable(type(exc).__name__) from None
            if answer.status_code == 401 and attempt == 0:
                continue
            break
        status = answer.status_code
        if status == 204 or (200 <= status < 300 and not answer.content):
            return {}
        code = ""
        try:
            data = answer.json()
        except ValueError:
            data = {}
        if isinstance(data, dict) and status >= 400:
            error = data.get("error")
            code = str(error.get("code", "")) if isinstance(error, dict) else ""
        if status == 410 or code.lower() in _RESYNC_CODES:
            raise _SyncGone
        if status == 404:
            raise _NotFound
        if status >= 300 or not isinstance(data, dict):
            raise GraphUnavailable(f"Graph answered {status} {code[:64]}".strip())
        return data


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _pages(graph: _Graph, url: str) -> Iterator[dict[str, Any]]:
    """Pages of a delta round: follow ``@odata.nextLink`` until ``@odata.deltaLink``."""
    headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
    for _ in range(10_000):
        page = graph.call("GET", url, headers=headers)
        yield page
        link = page.get("@odata.nextLink")
        if not isinstance(link, str) or not link:
            return
        url = link
    raise GraphUnavailable("too many pages")


# --------------------------------------------------------------------------- syncing


def _row(services: Services, source_id: int) -> microsoft_calendars.CalendarWithSource | None:
    return oauth.calendar_row(services, MICROSOFT, source_id)


def sync(services: Services, source_id: int, *, graph: _Graph | None = None) -> Synced | None:
    """Bring one calendar's occurrences up to date (module docstring). None when the
    calendar is gone or broken. Raises :class:`GrantRevoked` after marking it broken."""

    def read(row: Any, person: CalendarPerson) -> Synced:
        return _read(services, graph or _Graph(services, row), row, person, services.clock.now())

    return oauth.sync(services, MICROSOFT, source_id, read=read)


def _full_url(graph: _Graph, window: tuple[datetime, datetime]) -> str:
    query = urlencode(
        {
            "startDateTime": window[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": window[1].strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    return graph.url(f"me/calendarView/delta?{query}")


def _round(graph: _Graph, url: str) -> tuple[list[dict[str, Any]], str | None]:
    items: list[dict[str, Any]] = []
    delta = None
    for page in _pages(graph, url):
        found = page.get("value")
        items += [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []
        link = page.get("@odata.deltaLink")
        delta = link if isinstance(link, str) and link else delta
    return items, delta


def _read(
    services: Services, graph: _Graph, row: Any, person: CalendarPerson, began: datetime
) -> Synced:
    source = convert.source_name(row.source_id)
    own = [*person.emails, row.account]
    window = oauth.window(began)
    full = oauth.needs_full_read(row.delta_link, row, window)
    items: list[dict[str, Any]] = []
    delta: str | None = None
    if not full:
        try:
            items, delta = _round(graph, row.delta_link)
        except _SyncGone:
            logger.info(
                "microsoft calendar %s: the delta link expired; reading it in full", row.source_id
            )
            full = True
    if full:
        try:
            items, delta = _round(graph, _full_url(graph, window))
        except _SyncGone:  # expired in the middle of the read: start once more
            logger.info("microsoft calendar %s: a full read expired; again", row.source_id)
            try:
                items, delta = _round(graph, _full_url(graph, window))
            except _SyncGone:
                raise GraphUnavailable("Graph answered 410 twice") from None
    occurrences = []
    event_ids: list[tuple[Any, str]] = []
    cancelled: list[tuple[str, str | None]] = []
    removed: list[str] = []
    skipped = 0
    for item in items:
        try:
            if convert.is_removed(item) or convert.is_cancelled(item):
                gone = convert.withdrawal(item)
                if isinstance(gone, convert.Removal):
                    removed.append(gone.event_id)
                else:
                    cancelled.append((gone.uid, gone.recurrence_id))
                continue
            occ = convert.event_occurrence(item, source=source, own=own, zone=person.zone)
        except convert.UnreadableEvent as exc:
            skipped += 1
            logger.info("microsoft calendar %s: skipped an event: %s", row.source_id, exc)
            continue
        if full or (occ.start < window[1] and occ.end > window[0]):
            occurrences.append(occ)
            event_ids.append((occ, convert.event_id(item)))
    if cancelled:
        occurrences += cancelled_instances(
            services, team_id=row.team_id, user_id=row.user_id, source=source, refs=cancelled
        )
    if removed and not full:
        occurrences += removed_events(
            services, team_id=row.team_id, user_id=row.user_id, source=source, event_ids=removed
        )
    changed = oauth.apply_read(
        services, row, source=source, occurrences=occurrences, span=window, full=full
    )
    keep_event_ids(services, team_id=row.team_id, user_id=row.user_id, pairs=event_ids)
    return oauth.record_read(
        services,
        MICROSOFT,
        row,
        began=began,
        span=window,
        full=full,
        mine={"delta_link": delta, "synced_notified": row.notified},
        items=len(items),
        changed=changed,
        occurrences=occurrences,
    )


# --------------------------------------------------------------------------- subscriptions


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(
            re.sub(r"(\.\d{1,6})\d*", r"\1", value.replace("Z", "+00:00"))
        )
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def open_subscription(services: Services, source_id: int, *, graph: _Graph | None = None) -> None:
    """Subscribe to the mailbox's event changes (a new subscription): the client state
    is stored before the call (Graph validates the URLs during it); a subscription the
    row still names is deleted first."""
    row = oauth.live_row(services, MICROSOFT, source_id)
    if row is None:
        return
    graph = graph or _Graph(services, row)
    if row.subscription_id:
        _delete_subscription(graph, row.subscription_id)
    client_state = secrets.token_urlsafe(48)  # 64 characters; Graph allows 128
    with services.engine.begin() as conn:
        microsoft_calendars.update_calendar(
            conn=conn,
            source_id=source_id,
            subscription_id=None,
            subscription_expires_at=None,
            client_state=services.cipher.encrypt(client_state),
        )
    settings = services.settings
    body = {
        "changeType": CHANGE_TYPES,
        "notificationUrl": hook_url(settings),
        "lifecycleNotificationUrl": lifecycle_url(settings),
        "resource": "me/events",
        "expirationDateTime": _graph_time(services.clock.now() + SUBSCRIPTION_TTL),
        "clientState": client_state,
    }
    try:
        answer = graph.call("POST", graph.url("subscriptions"), body=body)
    except GrantRevoked:
        oauth.mark_broken(services, MICROSOFT, row)
        raise
    subscription_id = str(answer.get("id") or "")[:64]
    with services.engine.begin() as conn:
        microsoft_calendars.update_calendar(
            conn=conn,
            source_id=source_id,
            subscription_id=subscription_id or None,
            subscription_expires_at=_parse_time(answer.get("expirationDateTime")),
        )
    logger.info("microsoft calendar %s: subscribed to changes", source_id)


def renew_subscription(services: Services, source_id: int, *, graph: _Graph | None = None) -> None:
    """Move the subscription's end :data:`SUBSCRIPTION_TTL` ahead (``PATCH``); a new one
    when there is none or Graph no longer knows it."""

    def renew(graph: _Graph, subscription_id: str) -> None:
        body = {"expirationDateTime": _graph_time(services.clock.now() + SUBSCRIPTION_TTL)}
        answer = graph.call("PATCH", graph.url(f"subscriptions/{subscription_id}"), body=body)
        with services.engine.begin() as conn:
            microsoft_calendars.note_subscription_end(
                conn=conn,
                source_id=source_id,
                subscription_id=subscription_id,
                expires_at=_parse_time(answer.get("expirationDateTime")),
            )
        logger.info("microsoft calendar %s: subscription renewed", source_id)

    _keep_subscription(services, source_id, graph, renew)


def reauthorize(services: Services, source_id: int, *, graph: _Graph | None = None) -> None:
    """``reauthorizationRequired``: ``POST /subscriptions/{id}/reauthorize``; a new
    subscription when there is none or Graph no longer knows this one."""

    def again(graph: _Graph, subscription_id: str) -> None:
        graph.call("POST", graph.url(f"subscriptions/{subscription_id}/reauthorize"))
        logger.info("microsoft calendar %s: subscription reauthorized", source_id)

    _keep_subscription(services, source_id, graph, again)


def _keep_subscription(
    services: Services,
    source_id: int,
    graph: _Graph | None,
    act: Callable[[_Graph, str], None],
) -> None:
    """``act(graph, subscription_id)`` on the calendar's subscription; a new subscription
    when it has none or Graph answers 404 (it no longer knows it)."""
    row = oauth.live_row(services, MICROSOFT, source_id)
    if row is None:
        return
    graph = graph or _Graph(services, row)
    try:
        if not row.subscription_id:
            raise _NotFound
        act(graph, row.subscription_id)
    except _NotFound:
        open_subscription(services, source_id, graph=graph)


def _delete_subscription(graph: _Graph, subscription_id: str) -> None:
    try:
        graph.call("DELETE", graph.url(f"subscriptions/{subscription_id}"))
    except _NotFound:
        pass  # gone already
    except (GraphUnavailable, _SyncGone) as exc:
        logger.info("microsoft: deleting a subscription failed (%s); it expires by itself", exc)


# --------------------------------------------------------------------------- hooks


# A validation token reflected in a text/plain answer is harmless; one a browser could
# read as markup is not. Graph's tokens are opaque printable text ("Validation: Testing
# client application reachability for subscription Request-Id: …"): printable ASCII
# without the characters that open HTML (< > & " ' `), up to 1024 characters.
_TOKEN = re.compile(r"^[\x20-\x7e]{1,1024}$")
_MARKUP = re.compile(r"[<>&\"'`]")


@dataclass(frozen=True)
class Answer:
    """What a hook route answers: a status, and for a validation the token as text."""

    status: int
    text: str | None = None
    stored: bool = False


def validation(token: str | None, *, accept: str) -> Answer:
    """Graph's validation request (``?validationToken=…``, already URL-decoded): 200 with
    the token as the whole ``text/plain`` body, at once and without the database.

    Refused when the answer would need to be reflected as HTML: 406 when the caller's
    ``Accept`` names media types and none of them admits ``text/plain`` (``text/html``
    only, say: Heedful never answers a token as a page); 400 when the token is not a
    plausible opaque token (control characters, markup characters ``< > & " ' ```, over
    1024 characters), which only a forged request would send."""
    if not _accepts_text(accept):
        return Answer(406)
    if token is None or not _TOKEN.match(token) or _MARKUP.search(token):
        return Answer(400)
    return Answer(200, token)


def _accepts_text(accept: str) -> bool:
    if not accept.strip():
        return True
    for part in accept.split(","):
        kind, _, params = part.strip().partition(";")
        kind = kind.strip().lower()
        quality = re.search(r"q\s*=\s*([0-9.]+)", params)
        if quality and _float(quality.group(1)) <= 0:
            continue
        if kind in ("text/plain", "text/*", "*/*"):
            return True
    return False


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _items(body: bytes) -> list[dict[str, Any]] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    values = data.get("value") if isinstance(data, dict) else None
    if not isinstance(values, list):
        return None
    return [v for v in values[:MAX_ITEMS] if isinstance(v, dict)]


def _checked(
    services: Services, items: list[dict[str, Any]], what: str
) -> dict[int, tuple[Any, list[dict[str, Any]]]]:
    """The items whose ``subscriptionId`` Heedful knows and whose ``clientState`` is that
    subscription's (constant time), by calendar; the others are dropped with a count."""
    ids = {str(i.get("subscriptionId") or "")[:64] for i in items} - {""}
    rows: dict[str, microsoft_calendars.Calendar] = {}
    if ids:
        with read_only(services.engine) as conn:
            rows = microsoft_calendars.by_subscriptions(conn=conn, subscription_ids=ids)
    states: dict[str, str] = {}
    valid: dict[int, tuple[Any, list[dict[str, Any]]]] = {}
    dropped = 0
    for item in items:
        row = rows.get(str(item.get("subscriptionId") or ""))
        given = item.get("clientState")
        if row is None or not isinstance(given, str):
            dropped += 1
            continue
        if row.subscription_id not in states:
            try:
                states[row.subscription_id] = services.cipher.decrypt(row.client_state or "")
            except CipherError:
                states[row.subscription_id] = ""
        expected = states[row.subscription_id]
        if not expected or not hmac.compare_digest(
            given.encode("utf-8", "surrogatepass"), expected.encode()
        ):
            dropped += 1
            continue
        valid.setdefault(row.source_id, (row, []))[1].append(item)
    if dropped:
        logger.info(
            "microsoft %s: %d item(s) dropped (unknown subscription or wrong clientState)",
            what,
            dropped,
        )
    return valid


def _digest(items: Sequence[Mapping[str, Any]]) -> str:
    canonical = json.dumps(list(items), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def receive(services: Services, *, body: bytes) -> Answer:
    """``POST /hooks/microsoft`` (module docstring): 202 once the valid items are stored
    (400 for a body that is not a notification collection)."""
    items = _items(body)
    if items is None:
        return Answer(400)
    now = services.clock.now()
    stored = False
    for source_id, (row, valid) in _checked(services, items, "notification").items():
        with services.engine.begin() as conn:
            n = microsoft_calendars.count_notified(conn=conn, source_id=source_id)
        if n is None:
            continue
        stored |= inbox.store_inbox(
            engine=services.engine,
            source=INBOX_SOURCE,
            external_id=f"n:{row.subscription_id}:{_digest(valid)}",
            body=json.dumps({"source_id": source_id, "n": n, "items": len(valid)}),
            now=now,
            team_id=row.team_id,
            user_id=row.user_id,
            kind="notification",
        )
    return Answer(202, stored=stored)


def receive_lifecycle(services: Services, *, body: bytes) -> Answer:
    """``POST /hooks/microsoft/lifecycle``: each valid lifecycle event is stored for the
    worker (keyed by the item's digest, so a retry is a no-op); 202."""
    items = _items(body)
    if items is None:
        return Answer(400)
    now = services.clock.now()
    stored = False
    for source_id, (row, valid) in _checked(services, items, "lifecycle notification").items():
        for item in valid:
            event = str(item.get("lifecycleEvent") or "")
            if event not in LIFECYCLE_EVENTS:
                logger.info("microsoft lifecycle: an unknown event was dropped")
                continue
            stored |= inbox.store_inbox(
                engine=services.engine,
                source=INBOX_SOURCE,
                external_id=f"l:{row.subscription_id}:{_digest([item])}",
                body=json.dumps({"source_id": source_id, "lifecycle": event}),
                now=now,
                team_id=row.team_id,
                user_id=row.user_id,
                kind=f"lifecycle:{event}",
            )
    return Answer(202, stored=stored)


def dispatcher(services: Services) -> Callable[[ClaimedInboxItem], None]:
    """The inbox dispatcher for ``microsoft-push`` rows."""

    def dispatch(row: ClaimedInboxItem) -> None:
        process_stored(services, row)

    return dispatch


def process_stored(services: Services, row: ClaimedInboxItem) -> None:
    """A stored connection, notification batch or lifecycle event (module docstring)."""
    data = json.loads(row.body)
    source_id = int(data["source_id"])
    found = _row(services, source_id)
    if found is None or found.status == BROKEN:
        return
    connecting = bool(data.get("connect"))
    event = data.get("lifecycle")
    if not connecting and event is None and int(data.get("n", 0)) <= found.synced_notified:
        return  # a sync that began after this batch arrived has read its changes
    try:
        graph = _Graph(services, found)
        if event == "reauthorizationRequired":
            reauthorize(services, source_id, graph=graph)
            return
        if event == "subscriptionRemoved":
            open_subscription(services, source_id, graph=graph)
        synced = sync(services, source_id, graph=graph)
        if connecting and synced is not None:
            open_subscription(services, source_id, graph=graph)
    except GrantRevoked:
        oauth.mark_broken(services, MICROSOFT, found)
        return
    if connecting and synced is not None:
        connected_row = _row(services, source_id)
        oauth.tell(
            services, MICROSOFT, connected_row, "microsoft.connected", upcoming=synced.upcoming
        )


# --------------------------------------------------------------------------- periodic


def refresh_due(services: Services, *, limit: int = BATCH) -> int:
    """The scheduler step: a delta sync, then renew a subscription near its end."""

    def refresh(row: Any) -> None:
        graph = _Graph(services, row)
        sync(services, row.source_id, graph=graph)
        expires = row.subscription_expires_at
        if expires is None or expires - services.clock.now() < RENEW_BEFORE:
            renew_subscription(services, row.source_id, graph=graph)

    return oauth.refresh_due(services, MICROSOFT, refresh=refresh, limit=limit)


# --------------------------------------------------------------------------- release


def release(
    services: Services,
    *,
    team_id: str,
    user_id: str | None = None,
    source_id: int | None = None,
) -> int:
    """Delete the subscriptions of a person's (or, without ``user_id``, a workspace's)
    Microsoft calendars, or of the one ``source_id``, then everything stored for them:
    token cache, client state, delta link, occurrences. Returns how many went. Graph's
    failures are logged, never kept."""

    def let_go(row: Any) -> None:
        if row.subscription_id:
            _delete_subscription(_Graph(services, row), row.subscription_id)

    return oauth.release(
        services, MICROSOFT, team_id=team_id, user_id=user_id, source_id=source_id, let_go=let_go
    )


def disconnect(
    services: Services, *, team_id: str, user_id: str, source_id: int | None = None
) -> bool:
    """The person disconnects their Microsoft calendar (Home's *Remove*). False when
    they had none (or not that one)."""
    return release(services, team_id=team_id, user_id=user_id, source_id=source_id) > 0


def connected(services: Services, *, team_id: str, user_id: str) -> oauth.CalendarInfo | None:
    """The person's Microsoft calendar, if they connected one."""
    return oauth.connected(services, MICROSOFT, team_id=team_id, user_id=user_id)

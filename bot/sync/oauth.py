"""What every calendar connected by sign-in shares (Google, Microsoft 365).

A *connected* calendar is one the person signs in to at a provider; Heedful keeps the
grant and reads the calendar through the provider's API. :mod:`bot.sync.google` and
:mod:`bot.sync.microsoft` keep only what is their own (Google's ``Flow``, credentials
and push channels; MSAL, Graph and subscriptions); the steps they take alike live here,
as plain functions that take the provider's :class:`Provider` and, where a step needs
the provider's own work, a callback:

* **Sign-in state.** :func:`connect_link` makes a single-use ``state`` (random, kept
  only as its SHA-256, bound to the person's team and user and to the provider, valid
  :data:`STATE_TTL`) in ``oauth_state``. :func:`start` keeps what the provider needs at
  the callback (a PKCE verifier, MSAL's auth-code flow) encrypted with the state and
  redirects; :func:`finish` takes the state once, only before it expires, lets the
  provider redeem the code, then queues the first sync in the inbox. A reused, expired,
  unknown or refused state stores nothing and gets a :class:`Page` that says what to do.
* **The grant's rows.** :func:`keep_source`: a person has one calendar per provider;
  connecting again replaces the grant of the one they have and starts it afresh.
* **Reading.** :func:`sync` (the calendar and its person, or nothing), :func:`window`
  and :func:`needs_full_read` (the rolling window read in full, and when to read it
  again), :func:`apply_read` and :func:`record_read` (store what was read, then note it).
* **The periodic job.** :func:`claim_due` takes the calendars due a sync, each by one
  process only (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's writer lock
  elsewhere), and moves each one's next sync to its own slot (``bot.sync.polling``);
  :func:`refresh_due` runs the provider's step on each and keeps a failure on the
  calendar's row without stopping the others; :func:`poll_tick` runs as many rounds as
  the tick's share of the provider's calendars needs.
* **A revoked grant.** :func:`mark_broken` marks the calendar broken and DMs the person
  once (:func:`build_connection_notice`, with a button to connect again).
* **Letting go.** :func:`release` lets the provider stop what it opened (a push channel,
  a subscription, the grant), then deletes everything stored, whatever the provider
  answered.

Nothing here logs a token, a state, an event's text or a body.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape as html_escape
from typing import Any
from urllib.parse import urlencode

from bot.calendars.occurrence import Occurrence
from bot.config import Settings
from bot.messages import Message
from bot.messages.mrkdwn import clip, escape
from bot.messages.prompts import Prompts, load_prompts
from bot.occurrences import apply_occurrences, opt_in, remove_source
from bot.services import Services
from bot.storage import calendar_sources, inbox, oauth_states
from bot.storage.db import read_only
from bot.storage.oauth_states import TakenState
from bot.storage.provider_calendars import ProviderCalendars
from bot.sync import polling
from bot.sync.feeds import CalendarPerson, calendar_person, count_upcoming, queue_notice

logger = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=15)
MAX_STATE = 200  # characters: ours are 43; a longer one is not ours
PAST = timedelta(days=1)
HORIZON = timedelta(days=14)
REREAD_AFTER = timedelta(days=1)  # read the window in full again once it is this stale
BATCH = 25
OK, BROKEN = "ok", "broken"


class NotConfigured(Exception):
    """The provider is not set up on this Heedful (its client id and secret, or
    HEEDFUL_PUBLIC_URL)."""


class GrantRevoked(Exception):
    """The provider refused the grant (``invalid_grant``): the person must connect again."""


@dataclass(frozen=True)
class Provider:
    """What tells one provider apart in the steps the providers share.

    ``name`` is at once the ``oauth_state.provider``, the ``calendar_source.kind``, the
    path segment of its routes (``/oauth/<name>/start``) and the prefix of its prompts
    (``<name>.page.bad_state``). ``store`` holds the SQL of the provider's own row
    beside ``calendar_source`` (``bot.storage.provider_calendars``)."""

    name: str
    store: ProviderCalendars[Any, Any]
    inbox_source: str
    enabled: Callable[[Settings], bool]
    source_name: Callable[[int], str]  # the ``Occurrence.source`` of a calendar
    describe: Callable[[BaseException], str]  # an error for a log line: never its message


@dataclass(frozen=True)
class Page:
    """What a browser gets: a redirect (``location``) or a small HTML page."""

    status: int
    html: str = ""
    location: str | None = None


# Every provider's sign-in ends on the same words (the issue's "Connected — you can close
# this tab"); the body says which calendar.
CONNECTED_TITLE = "calendar.page.connected.title"


def render_page(status: int, prompts: Prompts, words: str, *, title: str | None = None) -> Page:
    """A small page with the title and body of the prompts ``words`` (``title``: another
    prompt for the title)."""
    title = html_escape(prompts.text(title or f"{words}.title"))
    body = html_escape(prompts.text(f"{words}.body"))
    html = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width">'
        f"<title>{title}</title><h1>{title}</h1><p>{body}</p></html>"
    )
    return Page(status, html)


def one(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    """The value of a query parameter given exactly once, else None."""
    values = query.get(name) or []
    return values[0] if len(values) == 1 else None


def poll(services: Services) -> timedelta:
    return polling.poll_interval(services.settings)


# --------------------------------------------------------------------------- sign-in


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


def connect_link(services: Services, provider: Provider, *, team_id: str, user_id: str) -> str:
    """A new single-use sign-in link for this person. Raises :class:`NotConfigured`."""
    settings = services.settings
    if not provider.enabled(settings):
        raise NotConfigured
    state = secrets.token_urlsafe(32)
    now = services.clock.now()
    with services.engine.begin() as conn:
        oauth_states.add_state(
            conn=conn,
            state_hash=_hash(state),
            provider=provider.name,
            team_id=team_id,
            user_id=user_id,
            now=now,
            expires_at=now + STATE_TTL,
        )
    return f"{settings.public_url}/oauth/{provider.name}/start?{urlencode({'state': state})}"


def start(
    services: Services,
    provider: Provider,
    *,
    state: str | None,
    authorize: Callable[[str], tuple[str, str] | Page],
) -> Page:
    """``GET /oauth/<name>/start``: for an open state, ``authorize(state)`` gives the
    provider's sign-in URL and the secret to keep until the callback (kept encrypted
    with the state), or the page to show instead; the browser is redirected. The state
    is looked up before ``authorize`` runs (it may cost a round trip)."""
    prompts = load_prompts()
    if not provider.enabled(services.settings):
        return render_page(404, prompts, f"{provider.name}.page.not_configured")
    if not state or len(state) > MAX_STATE:
        return render_page(400, prompts, f"{provider.name}.page.bad_state")
    now = services.clock.now()
    with read_only(services.engine) as conn:
        known = oauth_states.is_open(
            conn=conn, provider=provider.name, state_hash=_hash(state), now=now
        )
    if not known:
        return render_page(400, prompts, f"{provider.name}.page.bad_state")
    authorized = authorize(state)
    if isinstance(authorized, Page):
        return authorized
    url, secret = authorized
    with services.engine.begin() as conn:
        found = oauth_states.keep_verifier(
            conn=conn,
            provider=provider.name,
            state_hash=_hash(state),
            now=now,
            verifier=services.cipher.encrypt(secret),
        )
    if not found:
        return render_page(400, prompts, f"{provider.name}.page.bad_state")
    return Page(302, location=url)


def finish(
    services: Services,
    provider: Provider,
    *,
    query: Mapping[str, Sequence[str]],
    redeem: Callable[[TakenState], int | Page],
) -> Page:
    """``GET /oauth/<name>/callback``: take the state once; with the person's consent,
    ``redeem(taken)`` (``taken``: the state's ``team_id``, ``user_id`` and encrypted
    ``verifier``) exchanges the code and keeps the grant, giving the calendar's source
    id (or the page to show instead); then the first sync is queued. Stores nothing
    unless all of that works."""
    prompts = load_prompts()
    name = provider.name
    if not provider.enabled(services.settings):
        return render_page(404, prompts, f"{name}.page.not_configured")
    state = one(query, "state")
    now = services.clock.now()
    if not state or len(state) > MAX_STATE:
        return render_page(400, prompts, f"{name}.page.bad_state")
    with services.engine.begin() as conn:
        taken = oauth_states.take_state(conn=conn, provider=name, state_hash=_hash(state), now=now)
    if taken is None:
        logger.info("%s sign-in: a reused, expired or unknown state was refused", name)
        return render_page(400, prompts, f"{name}.page.bad_state")
    if one(query, "error") or not one(query, "code"):
        logger.info("%s sign-in for %s ended without consent", name, taken.user_id)
        return render_page(400, prompts, f"{name}.page.declined")
    source_id = redeem(taken)
    if isinstance(source_id, Page):
        return source_id
    inbox.store_inbox(
        engine=services.engine,
        source=provider.inbox_source,
        external_id=f"connect:{source_id}:{uuid.uuid4().hex}",
        body=json.dumps({"source_id": source_id, "connect": True}),
        now=now,
        team_id=taken.team_id,
        user_id=taken.user_id,
        kind="connect",
    )
    services.wake_inbox()
    logger.info("%s calendar %s connected for %s", name, source_id, taken.user_id)
    return render_page(200, prompts, f"{name}.page.connected", title=CONNECTED_TITLE)


def keep_source(
    services: Services,
    provider: Provider,
    *,
    team_id: str,
    user_id: str,
    again: Mapping[str, Any],
    first: Mapping[str, Any],
    label: str | None = None,
) -> int:
    """Store a grant: a person has one calendar of each provider. Connecting again sets
    ``again`` on the provider's row of the one they have (and makes it due a sync at
    once); the first time makes the ``calendar_source`` (with ``label``) and the
    provider's row with ``first``. Returns the source id."""
    now = services.clock.now()
    opt_in(services, team_id=team_id, user_id=user_id)
    with services.engine.begin() as conn:
        mine = calendar_sources.sources(
            conn=conn, team_id=team_id, user_id=user_id, kind=provider.name
        )
        existing = mine[0].id if mine else None
        if existing is not None:
            calendar_sources.update_source(
                conn=conn,
                source_id=existing,
                status=OK,
                error=None,
                broken_notified_at=None,
                next_check_at=now,
            )
            provider.store.update_calendar(conn=conn, source_id=existing, **again)
            return int(existing)
        source_id = calendar_sources.add_source(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kind=provider.name,
            url="",
            now=now,
            label=label,
            status=OK,
            next_check_at=now + poll(services),
        )
        provider.store.add_calendar(
            conn=conn, source_id=source_id, team_id=team_id, user_id=user_id, now=now, **first
        )
    return int(source_id)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Synced:
    full: bool
    changed: int
    upcoming: int


def calendar_row(services: Services, provider: Provider, source_id: int) -> Any:
    """The provider's row of one calendar with its source's status, or None."""
    with read_only(services.engine) as conn:
        return provider.store.calendar(conn=conn, source_id=source_id)


def live_row(services: Services, provider: Provider, source_id: int) -> Any:
    """:func:`calendar_row`, or None when the calendar is gone or broken."""
    row = calendar_row(services, provider, source_id)
    return None if row is None or row.status == BROKEN else row


def sync(
    services: Services,
    provider: Provider,
    source_id: int,
    *,
    read: Callable[[Any, CalendarPerson], Synced],
) -> Synced | None:
    """Bring one calendar up to date with ``read(row, person)``. None when the calendar
    (or its person) is gone or it is broken. A revoked grant marks it broken, then
    :class:`GrantRevoked` is raised on."""
    row = live_row(services, provider, source_id)
    if row is None:
        return None
    person = calendar_person(services, team_id=row.team_id, user_id=row.user_id, create=False)
    if person is None:
        return None
    try:
        return read(row, person)
    except GrantRevoked:
        mark_broken(services, provider, row)
        raise


def window(began: datetime) -> tuple[datetime, datetime]:
    """The rolling window a full read covers: [now − :data:`PAST`, now + :data:`HORIZON`)."""
    return began - PAST, began + HORIZON


def needs_full_read(link: str | None, row: Any, span: tuple[datetime, datetime]) -> bool:
    """A full read: the first time (no sync or delta ``link``), or once the window read in
    full has moved on by :data:`REREAD_AFTER`, so that the days coming into view (and the
    instances of a series that no one changes) are read."""
    return link is None or row.expanded_until is None or row.expanded_until < span[1] - REREAD_AFTER


def apply_read(
    services: Services,
    row: Any,
    *,
    source: str,
    occurrences: list[Occurrence],
    span: tuple[datetime, datetime],
    full: bool,
) -> int:
    """Store what a read found: a full read is a complete snapshot of ``span`` (what is
    missing is removed); an incremental one upserts what changed. How many changed."""
    if not (full or occurrences):
        return 0
    result = apply_occurrences(
        services,
        team_id=row.team_id,
        user_id=row.user_id,
        source=source,
        occurrences=occurrences,
        window=span if full else None,
    )
    return result.added + result.updated + result.removed


def record_read(
    services: Services,
    provider: Provider,
    row: Any,
    *,
    began: datetime,
    span: tuple[datetime, datetime],
    full: bool,
    mine: Mapping[str, Any],
    items: int,
    changed: int,
    occurrences: Sequence[Occurrence],
) -> Synced:
    """Note a read: ``mine`` on the provider's row (its sync token or delta link …), the
    source healthy and, after a full read, read up to the window's end."""
    with services.engine.begin() as conn:
        provider.store.update_calendar(conn=conn, source_id=row.source_id, synced_at=began, **mine)
        calendar_sources.update_source(
            conn=conn,
            source_id=row.source_id,
            status=OK,
            error=None,
            last_checked_at=began,
            failures=0,
            **({"expanded_until": span[1]} if full else {}),
        )
    logger.info(
        "%s calendar %s for %s: %s sync, %d items, %d changed",
        provider.name,
        row.source_id,
        row.user_id,
        "full" if full else "incremental",
        items,
        changed,
    )
    return Synced(full=full, changed=changed, upcoming=count_upcoming(occurrences, now=began))


# --------------------------------------------------------------------------- periodic


def claim_due(services: Services, provider: Provider, *, limit: int = BATCH) -> list[int]:
    """Take the provider's calendars due a periodic sync, each by one process only; each
    one's next sync moves to its own slot at most one poll interval ahead, spread by its
    id (``bot.sync.polling``), in the same transaction."""
    now = services.clock.now()
    interval = poll(services)
    with services.engine.begin() as conn:
        claimed = calendar_sources.claim_due(
            conn=conn,
            kind=provider.name,
            status=OK,
            now=now,
            next_check_at=now + interval,
            limit=limit,
        )
        due = {s.id: polling.next_check(s.id, now=now, interval=interval) for s in claimed}
        calendar_sources.set_next_checks(conn=conn, due=due)
    return [source.id for source in claimed]


def poll_tick(
    services: Services, provider: Provider, *, step: Callable[[int], int], round_size: int = BATCH
) -> int:
    """The provider's scheduler job: rounds of ``step(limit)`` (its ``refresh_due``) until
    the tick's share of its calendars is synced (``bot.sync.polling.run_tick``). How many."""
    tick = polling.run_tick(services, kind=provider.name, step=step, round_size=round_size)
    return tick.took


def refresh_due(
    services: Services,
    provider: Provider,
    *,
    refresh: Callable[[Any], None],
    limit: int = BATCH,
) -> int:
    """The scheduler step: ``refresh(row)`` on each calendar due. A revoked grant is
    marked where it is found; any other failure is logged and counted on the calendar,
    and the next one still runs. Returns how many were due."""
    ids = claim_due(services, provider, limit=limit)
    for source_id in ids:
        try:
            row = calendar_row(services, provider, source_id)
            if row is None:
                continue
            refresh(row)
        except GrantRevoked:
            continue
        except Exception as exc:
            logger.warning(
                "%s calendar %s: periodic sync failed (%s)",
                provider.name,
                source_id,
                provider.describe(exc),
            )
            failed(services, provider, source_id, exc)
    return len(ids)


def failed(services: Services, provider: Provider, source_id: int, exc: BaseException) -> None:
    with services.engine.begin() as conn:
        calendar_sources.count_failure(
            conn=conn, source_id=source_id, error=provider.describe(exc)[:255]
        )


# --------------------------------------------------------------------------- broken, release


def mark_broken(services: Services, provider: Provider, row: Any) -> None:
    """A revoked grant: mark the calendar broken and, the first time, tell the person."""
    now = services.clock.now()
    with services.engine.begin() as conn:
        calendar_sources.update_source(
            conn=conn, source_id=row.source_id, status=BROKEN, error="invalid_grant"
        )
        first = calendar_sources.mark_broken_notified(conn=conn, source_id=row.source_id, now=now)
    if first:
        ref = f"{provider.name}-broken:{row.source_id}:{now.isoformat()}"
        tell(services, provider, row, f"{provider.name}.broken", ref=ref)
        logger.warning(
            "%s calendar %s: the grant was revoked; %s is told",
            provider.name,
            row.source_id,
            row.user_id,
        )


def release(
    services: Services,
    provider: Provider,
    *,
    team_id: str,
    user_id: str | None = None,
    source_id: int | None = None,
    let_go: Callable[[Any], None],
) -> int:
    """``let_go(row)`` (the provider stops what it opened) for a person's (or, without
    ``user_id``, a workspace's) calendars of this provider, or the one ``source_id``,
    then delete them and what they brought. Returns how many went. What the provider
    answers is logged, never kept: the data goes in any case."""
    with read_only(services.engine) as conn:
        rows = provider.store.calendars(
            conn=conn, team_id=team_id, user_id=user_id, source_id=source_id
        )
    for row in rows:
        try:
            let_go(row)
        except Exception as exc:
            logger.info(
                "%s calendar %s: letting go at %s failed (%s)",
                provider.name,
                row.source_id,
                provider.name,
                provider.describe(exc),
            )
        with services.engine.begin() as conn:
            provider.store.delete_calendar(conn=conn, source_id=row.source_id)
            calendar_sources.delete_source(conn=conn, source_id=row.source_id)
        remove_source(
            services,
            team_id=row.team_id,
            user_id=row.user_id,
            source=provider.source_name(row.source_id),
        )
    if rows:
        logger.info("%s: released %d calendar(s) of team %s", provider.name, len(rows), team_id)
    return len(rows)


@dataclass(frozen=True)
class CalendarInfo:
    """A person's connected calendar as Home shows it."""

    source_id: int
    account: str
    status: str


def connected(
    services: Services, provider: Provider, *, team_id: str, user_id: str
) -> CalendarInfo | None:
    """The person's calendar of this provider, if they connected one."""
    with read_only(services.engine) as conn:
        mine = calendar_sources.sources(
            conn=conn, team_id=team_id, user_id=user_id, kind=provider.name
        )
    row = mine[0] if mine else None
    return None if row is None else CalendarInfo(row.id, row.label or "", row.status)


# --------------------------------------------------------------------------- words


def build_connection_notice(
    prompts: Prompts, words: str, *, account: str, upcoming: int = 0, link: str | None = None
) -> Message:
    """The DM that a calendar is connected (``<name>.connected``) or that its grant was
    revoked (``<name>.broken``, with a button to connect again: ``<name>_reconnect``).
    ``words`` names the provider by its first part. Pure."""
    name, _, what = words.partition(".")
    shown = escape(clip(account, 320)) if account else prompts.text(f"{name}.account_unknown")
    count = "none" if upcoming == 0 else "one" if upcoming == 1 else "many"
    text = prompts.text(
        f"{words}.{count}" if what == "connected" else f"{words}.summary",
        name=shown,
        count=upcoming,
    )
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if link is not None:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"{name}_reconnect",
                        "text": {"type": "plain_text", "text": prompts.text(f"{name}.reconnect")},
                        "url": link,
                    }
                ],
            }
        )
    return Message(text=text, blocks=blocks)


def tell(
    services: Services,
    provider: Provider,
    row: Any,
    words: str,
    *,
    upcoming: int = 0,
    ref: str | None = None,
) -> None:
    """Queue the DM ``words`` about the calendar of ``row`` (nothing for None); a broken
    one carries a new sign-in link."""
    if row is None:
        return
    link = None
    if words == f"{provider.name}.broken":
        link = connect_link(services, provider, team_id=row.team_id, user_id=row.user_id)
    message = build_connection_notice(
        load_prompts(), words, account=row.account, upcoming=upcoming, link=link
    )
    now = services.clock.now()
    with services.engine.begin() as conn:
        queue_notice(
            services,
            conn,
            team_id=row.team_id,
            user_id=row.user_id,
            ref=ref or f"{words}:{row.source_id}:{now.isoformat()}",
            message=message,
        )
    services.wake_outbox()

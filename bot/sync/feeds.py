"""ICS calendar feeds a user connects, and the poll that keeps them in sync.

A feed URL is a secret (Google's "secret address in iCal format" is a password): it is
encrypted at rest with ``services.cipher`` and never logged; logs name the source id
and at most the host.

**Connecting** (:func:`connect_feed`) checks the feed on the spot: fetch, parse,
"N meetings in the next 7 days". Anything wrong raises :class:`FeedConnectError`,
whose message is one line for the person (from ``prompts/calendar.toml``).

**Polling** (:func:`poll_tick`, the scheduler's "calendars" job, runs rounds of
:func:`refresh_due_sources` until the tick's share of all feeds is read) claims the
feeds whose ``next_check_at`` has come, exactly once across processes (one
``UPDATE … WHERE id IN (SELECT … [FOR UPDATE SKIP LOCKED]) RETURNING``, like the outbox
claim, and in the same transaction each feed's ``next_check_at`` moves to its next slot:
at most one poll interval ahead, spread by the feed's id, stretched up to 4× (30 minutes
at most) for a feed unchanged for a day or more; :mod:`bot.sync.polling` says how and
how many a tick takes), then for each:

* a conditional GET with the stored ETag / Last-Modified. A 304, or a body whose SHA-256
  without its ``DTSTAMP`` lines equals the stored one (``content_digest``: a feed that only
  restamped its events), costs nothing more: no parse, no write to the meetings.
* a changed body is fingerprinted without being parsed (``bot.calendars.fingerprint``):
  one digest for the calendar's frame (its properties and time zones), one per series
  (a UID with its overrides), ``DTSTAMP`` left out. Only the series whose digest changed,
  appeared or disappeared are parsed (the frame and their events alone) over the window
  [now − 1 day, now + 14 days) and handed to ``bot.occurrences.apply_occurrences`` as
  the complete snapshot of those series in that window (moved, cancelled and new
  meetings move, withdraw and add pending nudges); every other series keeps its rows
  untouched. A feed whose only difference is a fresh ``DTSTAMP`` writes nothing but its
  new validators. The whole feed is read when there is no stored fingerprint yet, when
  the frame changed, when events without a UID changed, and at the daily re-read below.
  A broken event is logged (uid and title, never the URL) and skipped; the rest of the
  feed is read.
* the window moves with time while the feed may not change: once the last expanded
  window ends less than 13 days ahead (about once a day), the feed is fetched without
  the conditional headers and expanded again, so recurring meetings keep appearing.
* 404/410/401/403 (``FeedError.permanent``): the feed is marked ``broken`` and the user
  is told once, by a ``notice`` delivery (ref ``feed-broken:<id>``); a broken feed is
  looked at again once a day and recovers by itself if the address comes back. The
  notice is sent at most once per feed, ever.
* anything else (timeouts, 5xx, a login page instead of a calendar): status
  ``failing``, retried with exponential backoff (twice the poll interval, doubling,
  at most 6 hours), and no message.

**A feed that lists no attendees** (Outlook's published calendars leave every
``ATTENDEE`` out): whether it lists any is decided from the whole body at each read that
parses it (one scan, :func:`bot.calendars.ics.lists_no_attendees`, as a part may be
parsed alone) and kept on the source (``attendees_unknown``); when it changes, the whole
feed is read. Its meetings' attendance is unknown, so none is called solo, and the first
time one of them is to be nudged its owner is told once, ever, by a ``notice`` (ref
``feed-no-attendees:<id>``, recorded in ``no_attendees_notified_at``: the outbox's
settled rows do not last) that solo blocks may be nudged too and how to keep them quiet;
the Home tab says it beside the feed for as long as it is so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from bot.calendars.fingerprint import (
    NO_UID,
    FeedPrint,
    content_digest,
    fingerprint,
    only_series,
)
from bot.calendars.ics import CalendarError, lists_no_attendees, parse_ics
from bot.calendars.occurrence import Occurrence
from bot.crypto import CipherError
from bot.messages import Message
from bot.messages.mrkdwn import clip, escape
from bot.messages.prompts import Prompts, load_prompts
from bot.occurrences import apply_occurrences, opt_in, remove_source
from bot.prefs import Prefs
from bot.services import Services
from bot.storage import calendar_sources, deliveries, users
from bot.storage.calendar_sources import Source
from bot.storage.db import read_only, session_scope
from bot.storage.models import DeliveryKind
from bot.sync import polling
from bot.sync.fetch import FeedError, fetch_feed, normalize_url

logger = logging.getLogger(__name__)

TICK_SECONDS = polling.TICK_SECONDS  # how often the scheduler looks for due feeds
BATCH = 50  # feeds claimed (and then fetched) per round; a tick runs as many as it needs
WORKERS = 8  # feeds fetched at once by one process
PAST = timedelta(days=1)
HORIZON = timedelta(days=14)
REEXPAND_AFTER = timedelta(days=1)  # re-read an unchanged feed once its window is this stale
UPCOMING = timedelta(days=7)
MAX_BACKOFF = timedelta(hours=6)
BROKEN_RECHECK = timedelta(hours=24)
FAILING_NOTICE_AFTER = 9  # failures in a row: about a day with the default backoff
MAX_URL = 2000
MAX_NAME_SHOWN = 200  # characters of a feed's name in the notice that it broke

KIND = "ics"
OK, FAILING, BROKEN = "ok", "failing", "broken"


class FeedConnectError(Exception):
    """A feed could not be connected; the message is one line for the person."""


@dataclass(frozen=True)
class Connected:
    source_id: int
    upcoming: int  # eligible meetings in the next 7 days
    attendees_unknown: bool = False  # the feed lists no attendees: solo blocks count too


@dataclass(frozen=True)
class SourceInfo:
    id: int
    label: str | None
    host: str
    status: str
    last_checked_at: datetime | None
    attendees_unknown: bool = False  # no event of the feed lists an attendee

    @property
    def name(self) -> str:
        return self.label or self.host


def source_name(source_id: int) -> str:
    """The ``Occurrence.source`` of meetings read from a feed."""
    return f"{KIND}:{source_id}"


def normalise_feed_url(url: str) -> str:
    """An http(s) URL for a feed (``webcal://`` becomes ``https://``), or FeedConnectError."""
    prompts = load_prompts()
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        raise FeedConnectError(prompts.text("calendar.connect.bad_url")) from None
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        scheme = "https"
    if scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        raise FeedConnectError(prompts.text("calendar.connect.bad_url"))
    if any(c.isspace() for c in url):
        raise FeedConnectError(prompts.text("calendar.connect.bad_url"))
    normal = urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))
    try:
        normalize_url(normal)  # what the fetch would refuse (http://0177.0.0.1/)
    except FeedError:
        raise FeedConnectError(prompts.text("calendar.connect.bad_url")) from None
    return normal


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


@dataclass(frozen=True)
class CalendarPerson:
    emails: tuple[str, ...]
    zone: str


def calendar_person(
    services: Services, *, team_id: str, user_id: str, create: bool = True
) -> CalendarPerson | None:
    """The user's e-mail addresses (Slack's and any they added) and IANA zone.

    ``create=False`` (a background refresh) returns None for someone Heedful no longer
    knows, e.g. who erased their data while their feed was being read.
    """
    with session_scope(services.engine) as session:
        if create:
            now = services.clock.now()
            user = users.ensure_user(session=session, team_id=team_id, user_id=user_id, now=now)
        else:
            user = users.get_user(session=session, team_id=team_id, user_id=user_id)
            if user is None:
                return None
        emails = [user.email, *Prefs.from_json(user.prefs).emails]
        zone = user.tz or "UTC"
    return CalendarPerson(tuple(dict.fromkeys(e.lower() for e in emails if e)), zone)


def _window(now: datetime) -> tuple[datetime, datetime]:
    return now - PAST, now + HORIZON


# --------------------------------------------------------------------------- connect


def connect_feed(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    url: str,
    label: str | None = None,
) -> Connected:
    """Check a feed on the spot, keep it (URL encrypted), opt the user in and store
    its meetings. Connecting an address the user already has refreshes that source."""
    prompts = load_prompts()
    url = normalise_feed_url(url)
    label = (label or "").strip()[:255] or None
    host = _host(url)
    try:
        fetched = fetch_feed(url, allow_private=services.settings.allow_private_feeds)
    except FeedError as exc:
        reason = exc.reason.replace(url, "…")
        logger.info("feed on %s could not be fetched: %s", host, reason)
        message = prompts.text("calendar.connect.unreachable", reason=reason)
        raise FeedConnectError(message) from None
    body = fetched.body or b""
    person = calendar_person(services, team_id=team_id, user_id=user_id)
    assert person is not None  # created when missing
    now = services.clock.now()
    window = _window(now)
    unknown = lists_no_attendees(body)
    try:
        parsed = parse_ics(
            body,
            source=source_name(0),
            start=window[0],
            end=window[1],
            user_emails=person.emails,
            default_tz=person.zone,
            attendees_unknown=unknown,
        )
    except CalendarError:
        logger.info("feed on %s is not a calendar", host)
        raise FeedConnectError(prompts.text("calendar.connect.not_calendar")) from None

    values = {
        "label": label,
        "etag": fetched.etag,
        "last_modified": fetched.last_modified,
        "content_hash": content_digest(body),
        "feed_print": _print_values(fingerprint(body)),
        "attendees_unknown": unknown,
        "status": OK,
        "error": None,
        "failures": 0,
        "last_checked_at": now,
        "expanded_until": window[1],
        "last_changed_at": now,
        "next_check_at": now + _poll(services),
    }
    existing = _find_source(services, team_id=team_id, user_id=user_id, url=url)
    with services.engine.begin() as conn:
        if existing is not None:
            if label is None:
                del values["label"]
            calendar_sources.update_source(conn=conn, source_id=existing, **values)
            source_id = existing
        else:
            source_id = calendar_sources.add_source(
                conn=conn,
                team_id=team_id,
                user_id=user_id,
                kind=KIND,
                url=services.cipher.encrypt(url),
                now=now,
                **values,
            )
    source = source_name(source_id)
    occurrences = [replace(o, source=source) for o in parsed.occurrences]
    _log_problems(source_id, parsed.problems)
    opt_in(services, team_id=team_id, user_id=user_id)
    apply_occurrences(
        services,
        team_id=team_id,
        user_id=user_id,
        source=source,
        occurrences=occurrences,
        window=window,
    )
    _tell_no_attendees(
        services,
        source_id=source_id,
        team_id=team_id,
        user_id=user_id,
        name=label or host,
        occurrences=occurrences,
    )
    upcoming = count_upcoming(occurrences, now=now)
    logger.info(
        "feed %s on %s connected for %s: %d meetings in the next 7 days",
        source_id,
        host,
        user_id,
        upcoming,
    )
    return Connected(source_id=int(source_id), upcoming=upcoming, attendees_unknown=unknown)


def count_upcoming(occurrences: Sequence[Occurrence], *, now: datetime) -> int:
    """Eligible meetings starting in the next 7 days."""
    return sum(1 for o in occurrences if o.eligible and now <= o.start < now + UPCOMING)


def connected_text(
    prompts: Prompts, *, name: str, upcoming: int, attendees_unknown: bool = False
) -> str:
    """What to tell the person once a feed is connected (a feed that lists no attendees
    counts its solo blocks too, and says so). Pure."""
    name = escape(name)
    words = "calendar.connected_unknown" if attendees_unknown else "calendar.connected"
    if upcoming == 0:
        return prompts.text(f"{words}.none", name=name)
    if upcoming == 1:
        return prompts.text(f"{words}.one", name=name)
    return prompts.text(f"{words}.many", name=name, count=upcoming)


def _find_source(services: Services, *, team_id: str, user_id: str, url: str) -> int | None:
    """The user's feed with this address (URLs are encrypted: compare in Python)."""
    with read_only(services.engine) as conn:
        rows = calendar_sources.sources(conn=conn, team_id=team_id, user_id=user_id, kind=KIND)
    for row in rows:
        try:
            if services.cipher.decrypt(row.url) == url:
                return int(row.id)
        except CipherError:
            continue
    return None


def disconnect_source(services: Services, *, team_id: str, user_id: str, source_id: int) -> bool:
    """Forget a feed and the meetings (and pending nudges) it brought. False if unknown."""
    with services.engine.begin() as conn:
        gone = calendar_sources.delete_source(
            conn=conn, team_id=team_id, user_id=user_id, kind=KIND, source_id=source_id
        )
    if not gone:
        return False
    remove_source(services, team_id=team_id, user_id=user_id, source=source_name(source_id))
    logger.info("feed %s disconnected for %s", source_id, user_id)
    return True


def list_sources(services: Services, *, team_id: str, user_id: str) -> list[SourceInfo]:
    """The user's feeds: label and host only, never the address."""
    with read_only(services.engine) as conn:
        rows = calendar_sources.sources(conn=conn, team_id=team_id, user_id=user_id, kind=KIND)
    found = []
    for row in rows:
        try:
            host = _host(services.cipher.decrypt(row.url))
        except CipherError:
            host = "?"
        found.append(
            SourceInfo(
                row.id, row.label, host, row.status, row.last_checked_at, row.attendees_unknown
            )
        )
    return found


# --------------------------------------------------------------------------- polling


def _poll(services: Services) -> timedelta:
    return polling.poll_interval(services.settings)


def claim_due_sources(services: Services, *, limit: int = BATCH) -> list[Source]:
    """Take the feeds due for a check, each by one process only: in the same transaction
    each one's ``next_check_at`` moves to its next slot (``bot.sync.polling``: spread by
    id, one interval ahead at most, stretched for a feed quiet for a day), which is also
    when a check that crashed is tried again."""
    now = services.clock.now()
    base = _poll(services)
    with services.engine.begin() as conn:
        rows = calendar_sources.claim_due(
            conn=conn, kind=KIND, now=now, next_check_at=now + base, limit=limit
        )
        due = {
            row.id: polling.next_check(
                row.id,
                now=now,
                interval=polling.feed_interval(base, last_changed_at=row.last_changed_at, now=now),
            )
            for row in rows
        }
        calendar_sources.set_next_checks(conn=conn, due=due)
    return [replace(row, next_check_at=due[row.id]) for row in rows]


def poll_tick(services: Services) -> int:
    """The scheduler's "calendars" job: rounds of :func:`refresh_due_sources` until the
    tick's share of the feeds is read (``bot.sync.polling.run_tick``). How many."""
    tick = polling.run_tick(
        services,
        kind=KIND,
        step=lambda limit: refresh_due_sources(services, limit=limit),
        round_size=BATCH,
    )
    return tick.took


def refresh_due_sources(services: Services, *, limit: int = BATCH) -> int:
    """One round: check the feeds that are due, up to ``limit``. How many were claimed.

    The checks that found nothing to change (a 304, the same bytes, only new stamps) are
    recorded together after the round, in one transaction: one write per feed was most
    of such a check's cost after the fetch (``bench/refresh.py``)."""
    rows = claim_due_sources(services, limit=limit)
    unchanged: list[tuple[int, dict[str, Any]]] = []
    if len(rows) <= 1:
        for row in rows:
            _refresh_guarded(services, row, unchanged)
    else:
        with ThreadPoolExecutor(
            max_workers=min(WORKERS, len(rows)), thread_name_prefix="feeds"
        ) as pool:
            list(pool.map(lambda r: _refresh_guarded(services, r, unchanged), rows))
    if unchanged:
        with services.engine.begin() as conn:
            calendar_sources.record_checks(conn=conn, checks=unchanged)
    return len(rows)


def _refresh_guarded(
    services: Services, row: Source, unchanged: list[tuple[int, dict[str, Any]]]
) -> str:
    try:
        return refresh_source(services, row, unchanged=unchanged)
    except Exception:
        logger.exception("feed %s: refresh failed; will retry", row.id)
        _record_failure(services, row, "internal error")
        return FAILING


def refresh_source(
    services: Services,
    row: Source,
    *,
    unchanged: list[tuple[int, dict[str, Any]]] | None = None,
) -> str:
    """Check one claimed feed. Returns "unchanged", "changed", FAILING or BROKEN. With
    ``unchanged``, a check that changes nothing but the source's own bookkeeping appends
    ``(id, values)`` there for the caller to record with others, instead of writing."""
    try:
        url = services.cipher.decrypt(row.url)
    except CipherError:
        logger.error("feed %s: its address cannot be decrypted with the configured keys", row.id)
        _record_failure(services, row, "address cannot be decrypted")
        return FAILING
    now = services.clock.now()
    window = _window(now)
    stale = row.expanded_until is None or row.expanded_until < window[1] - REEXPAND_AFTER
    conditional = {} if stale else {"etag": row.etag, "last_modified": row.last_modified}
    try:
        fetched = fetch_feed(
            url, allow_private=services.settings.allow_private_feeds, **conditional
        )
    except FeedError as exc:
        reason = exc.reason.replace(url, "…")
        if exc.permanent:
            _mark_broken(services, row, reason)
            return BROKEN
        logger.info("feed %s: %s; will retry", row.id, reason)
        _record_failure(services, row, reason)
        return FAILING
    body = fetched.body or b""
    digest = content_digest(body) if fetched.changed else row.content_hash
    etag, last_modified = fetched.etag, fetched.last_modified
    if not fetched.changed:  # a 304 may leave the validators out: keep ours
        etag, last_modified = etag or row.etag, last_modified or row.last_modified
    if not fetched.changed or (digest == row.content_hash and not stale):
        _record_unchanged(services, row, etag, last_modified, digest, unchanged)
        logger.debug("feed %s unchanged", row.id)
        return "unchanged"
    printed = fingerprint(body)
    series = None if stale else _changed_series(row, printed)
    if series is not None and not series:  # only volatile lines (DTSTAMP) moved
        _record_unchanged(services, row, etag, last_modified, digest, unchanged)
        logger.debug("feed %s: no meeting changed", row.id)
        return "unchanged"
    unknown = lists_no_attendees(body)  # of the whole feed, also when a part is parsed
    if unknown != row.attendees_unknown:
        series = None  # every series' meetings change their attendance: read them all
    text = body if series is None else only_series(body, series)
    if text is None:
        text, series = body, None

    person = calendar_person(services, team_id=row.team_id, user_id=row.user_id, create=False)
    if person is None:
        logger.info("feed %s: its owner is gone; not applying it", row.id)
        return "gone"
    source = source_name(row.id)
    try:
        parsed = parse_ics(
            text,
            source=source,
            start=window[0],
            end=window[1],
            user_emails=person.emails,
            default_tz=person.zone,
            attendees_unknown=unknown,
        )
    except CalendarError:
        logger.warning("feed %s: the answer is not a calendar; will retry", row.id)
        _record_failure(services, row, "not a calendar")
        return FAILING
    _log_problems(row.id, parsed.problems)
    result = apply_occurrences(
        services,
        team_id=row.team_id,
        user_id=row.user_id,
        source=source,
        occurrences=parsed.occurrences,
        window=window,
        series=series,
    )
    recorded: dict[str, Any] = {
        "content_hash": digest,
        "feed_print": _print_values(printed),
        "attendees_unknown": unknown,
    }
    if series is None:
        recorded["expanded_until"] = window[1]
    kept = _record_ok(services, row, etag, last_modified, recorded)
    if not kept:  # disconnected while we were reading it: drop what we just stored
        remove_source(services, team_id=row.team_id, user_id=row.user_id, source=source)
        return "unchanged"
    if unknown and row.no_attendees_notified_at is None:
        _tell_no_attendees(
            services,
            source_id=row.id,
            team_id=row.team_id,
            user_id=row.user_id,
            name=row.label or _host(url),
            occurrences=parsed.occurrences,
        )
    logger.info(
        "feed %s: %d added, %d changed, %d removed",
        row.id,
        result.added,
        result.updated,
        result.removed,
    )
    return "changed"


def _print_values(printed: FeedPrint) -> dict[str, Any]:
    return {"frame": printed.frame, "series": printed.series}


def _changed_series(row: Source, printed: FeedPrint) -> set[str] | None:
    """The series (UIDs) to read again since the last read; None: read it all (no
    fingerprints yet, the calendar's frame changed, or events without a UID changed,
    whose made-up identities cannot be scoped)."""
    stored = row.feed_print or {}
    if stored.get("frame") != printed.frame or not isinstance(stored.get("series"), dict):
        return None
    changed = printed.changed_series(stored["series"])
    return None if NO_UID in changed else changed


def _log_problems(source_id: int, problems: Sequence[Any]) -> None:
    for problem in problems:
        logger.warning(
            "feed %s: skipped event %s (%r): %s",
            source_id,
            problem.uid,
            (problem.summary or "")[:80],
            problem.reason,
        )


def _record_ok(
    services: Services,
    row: Source,
    etag: str | None,
    last_modified: str | None,
    extra: dict[str, Any],
) -> bool:
    """Record a successful check. False when the feed has been disconnected meanwhile.

    A check that stores a new ``feed_print`` found a change in the meetings (a fresh
    ``DTSTAMP`` is none): the feed is polled at the configured interval again from now
    (``bot.sync.polling``)."""
    now = services.clock.now()
    changed = "feed_print" in extra and extra["feed_print"] != row.feed_print
    if changed:
        next_check = polling.next_check(row.id, now=now, interval=_poll(services))
        extra = {**extra, "last_changed_at": now, "next_check_at": next_check}
    values: dict[str, Any] = {
        "status": OK,
        "error": None,
        "failures": 0,
        "last_checked_at": now,
        "etag": (etag or None) and etag[:255],
        "last_modified": (last_modified or None) and last_modified[:64],
        **extra,
    }
    if row.status != OK:
        logger.info("feed %s works again", row.id)
    with services.engine.begin() as conn:
        return calendar_sources.update_source(conn=conn, source_id=row.id, **values)


def _record_unchanged(
    services: Services,
    row: Source,
    etag: str | None,
    last_modified: str | None,
    digest: str | None,
    later: list[tuple[int, dict[str, Any]]] | None,
) -> None:
    """A check that found no change in the meetings: recorded now, or appended to
    ``later`` for the round to record with the others (the same columns for all)."""
    if later is None:
        _record_ok(services, row, etag, last_modified, {"content_hash": digest})
        return
    if row.status != OK:
        logger.info("feed %s works again", row.id)
    later.append(
        (
            row.id,
            {
                "status": OK,
                "error": None,
                "failures": 0,
                "last_checked_at": services.clock.now(),
                "etag": (etag or None) and etag[:255],
                "last_modified": (last_modified or None) and last_modified[:64],
                "content_hash": digest,
            },
        )
    )


def _record_failure(services: Services, row: Source, reason: str) -> None:
    """A transient failure: back off (2×, 4×, … the poll interval, at most 6 hours).

    After ``FAILING_NOTICE_AFTER`` failures in a row (about a day at the default poll
    interval) the owner is told once that their meetings may be out of date.
    """
    now = services.clock.now()
    failures = row.failures + 1
    delay = min(_poll(services) * 2 ** min(failures, 16), MAX_BACKOFF)
    status = BROKEN if row.status == BROKEN else FAILING
    with services.engine.begin() as conn:
        calendar_sources.update_source(
            conn=conn,
            source_id=row.id,
            status=status,
            error=reason[:255],
            failures=failures,
            last_checked_at=now,
            next_check_at=now + (BROKEN_RECHECK if status == BROKEN else delay),
        )
        if status == FAILING and failures == FAILING_NOTICE_AFTER:
            _tell_owner(services, conn, row, "calendar.failing", ref=f"feed-failing:{row.id}")
            logger.warning("feed %s has failed %d times in a row (%s)", row.id, failures, reason)


def _mark_broken(services: Services, row: Source, reason: str) -> None:
    """404/410/401/403: mark the feed broken and, the first time only, tell its owner."""
    now = services.clock.now()
    with services.engine.begin() as conn:
        calendar_sources.update_source(
            conn=conn,
            source_id=row.id,
            status=BROKEN,
            error=reason[:255],
            last_checked_at=now,
            next_check_at=now + BROKEN_RECHECK,
        )
        first = calendar_sources.mark_broken_notified(conn=conn, source_id=row.id, now=now)
        if first:
            _tell_owner(services, conn, row, "calendar.broken", ref=f"feed-broken:{row.id}")
    if first:
        logger.warning("feed %s is broken (%s); its owner %s is told", row.id, reason, row.user_id)
    else:
        logger.info("feed %s is still broken (%s)", row.id, reason)


def _tell_no_attendees(
    services: Services,
    *,
    source_id: int,
    team_id: str,
    user_id: str,
    name: str,
    occurrences: Sequence[Occurrence],
) -> None:
    """Tell the owner of a feed that lists no attendees, once ever, why blocks they keep
    for themselves may be nudged too: when one of its meetings just read is to be nudged
    (a feed of all-day entries only is no news)."""
    if not any(o.attendees_unknown and o.eligible for o in occurrences):
        return
    now = services.clock.now()
    with services.engine.begin() as conn:
        first = calendar_sources.mark_no_attendees_notified(conn=conn, source_id=source_id, now=now)
        if first:
            message = build_feed_broken_notice(
                load_prompts(), name=name, words="calendar.no_attendees"
            )
            queue_notice(
                services,
                conn,
                team_id=team_id,
                user_id=user_id,
                ref=f"feed-no-attendees:{source_id}",
                message=message,
            )
    if first:
        logger.info("feed %s lists no attendees; its owner %s is told", source_id, user_id)


# --------------------------------------------------------------------------- words


def build_feed_broken_notice(
    prompts: Prompts, *, name: str, words: str = "calendar.broken"
) -> Message:
    """The one DM that tells a person their feed stopped working (``calendar.broken``),
    has been failing for a day (``calendar.failing``) or lists no attendees, so its solo
    blocks may be nudged too (``calendar.no_attendees``). Pure. The feed's name is the
    person's own text: clipped, then escaped, so a cut never splits an entity."""
    safe = escape(clip(name, MAX_NAME_SHOWN))
    return Message(
        text=prompts.text(f"{words}.summary", name=safe),
        blocks=[
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": prompts.text(f"{words}.body", name=safe)},
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": prompts.text(f"{words}.hint")}],
            },
        ],
    )


def _tell_owner(
    services: Services, conn: sa.Connection, row: Source, words: str, *, ref: str
) -> None:
    """Queue one notice about a feed for its owner (the outbox key keeps it to one)."""
    try:
        host = _host(services.cipher.decrypt(row.url))
    except CipherError:
        host = "?"
    message = build_feed_broken_notice(load_prompts(), name=row.label or host, words=words)
    queue_notice(services, conn, team_id=row.team_id, user_id=row.user_id, ref=ref, message=message)


def queue_notice(
    services: Services,
    conn: sa.Connection,
    *,
    team_id: str,
    user_id: str,
    ref: str,
    message: Message,
) -> None:
    """Queue one DM about a calendar for its owner, due now (the outbox key ``ref`` keeps
    it to one). Feeds and Google tell their owners this way."""
    now = services.clock.now()
    deliveries.enqueue_now(
        conn=conn,
        team_id=team_id,
        user_id=user_id,
        kind=DeliveryKind.NOTICE,
        ref=ref,
        payload={"text": message.text, "blocks": message.blocks},
        now=now,
    )


def read_again(services: Services, *, team_id: str, user_id: str) -> int:
    """Read every calendar the person connected (feeds and Google) in full at its next
    check, changed or not: something now needs more of what they hold (``bot.feedback``
    keeps an opted-in series' invitees as its meetings are stored, and neither an
    unchanged feed nor an incremental Google sync stores them). Returns how many
    calendars will be read again."""
    with services.engine.begin() as conn:
        return calendar_sources.read_again(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            now=services.clock.now(),
            broken=BROKEN,
        )

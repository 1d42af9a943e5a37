"""ICS feeds end to end: a local HTTP server serves calendars written here, the real
fetch and parse read them, meetings and nudges follow, and a broken feed is told once
through the Slack emulator. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from bot.app import Heedful
from bot.calendars import ics
from bot.calendars.fingerprint import content_digest
from bot.clock import VirtualClock
from bot.config import Settings
from bot.crypto import Cipher
from bot.emulator import SlackEmulator
from bot.home import home_view
from bot.messages import Message
from bot.messages.prompts import load_prompts
from bot.services import Services, build_services
from bot.storage import repository as repo
from bot.storage.db import make_engine, session_scope
from bot.storage.models import CalendarSource, Delivery, OccurrenceRow
from bot.sync import feeds, polling
from bot.sync.feeds import (
    FeedConnectError,
    build_feed_broken_notice,
    claim_due_sources,
    connect_feed,
    connected_text,
    disconnect_source,
    list_sources,
    refresh_due_sources,
)

TEAM, USER = "T0001", "U1"
SECRET_PATH = "/calendar/ical/ana%40example.com/private-5ecret70ken/basic.ics"
POLL = timedelta(minutes=5)


# --------------------------------------------------------------------------- a feed server


class FeedServer:
    """Serves one calendar on loopback with ETag support; faults are scripted."""

    def __init__(self) -> None:
        self.body = b""
        self.etag = True  # answer with an ETag and honour If-None-Match
        self.status: int | None = None  # force this status instead of the calendar
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append({k.lower(): v for k, v in self.headers.items()})
                    body, status, use_etag = server.body, server.status, server.etag
                if status is not None:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if use_etag and self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                if use_etag:
                    self.send_header("ETag", tag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{SECRET_PATH}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def served(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self.requests)


@pytest.fixture(name="feed")
def fixture_feed() -> Iterator[FeedServer]:
    server = FeedServer()
    server.body = calendar()
    server.start()
    yield server
    server.stop()


# --------------------------------------------------------------------------- calendars


def vevent(
    uid: str,
    start: str,
    minutes: int = 30,
    *,
    summary: str = "1:1 with Ben",
    people: tuple[str, ...] = ("ana@example.com", "ben@example.com"),
    extra: tuple[str, ...] = (),
) -> str:
    begin = datetime.strptime(start, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    end = (begin + timedelta(minutes=minutes)).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260301T000000Z",
        f"DTSTART:{start}",
        f"DTEND:{end}",
        f"SUMMARY:{summary}",
        *(["ORGANIZER:mailto:ben@example.com"] if people else []),
        *(f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{p}" for p in people),
        *extra,
        "END:VEVENT",
    ]
    return "\r\n".join(lines) + "\r\n"


def calendar(*, changed: bool = False) -> bytes:
    """Ana's week from Monday 2 March 2026 (the tests start Monday 09:00 UTC).

    Eligible in the next 7 days: a daily stand-up at 12:00 UTC (7) and Tuesday's review
    (1): 8. Not eligible: a focus block, an all-day offsite, a cancelled lunch.
    ``changed``: Monday's stand-up moves to 12:30, Tuesday's is cancelled, the review
    moves an hour later, the focus block is gone and a retro appears on Wednesday.
    """
    events = [
        vevent("standup", "20260302T120000Z", 15, summary="Stand-up", extra=("RRULE:FREQ=DAILY",)),
        vevent(
            "review",
            "20260303T150000Z" if changed else "20260303T140000Z",
            summary="Design review",
            people=("ana@example.com", "ben@example.com", "cy@example.com"),
        ),
        vevent("lunch", "20260306T110000Z", summary="Lunch", extra=("STATUS:CANCELLED",)),
        "BEGIN:VEVENT\r\nUID:offsite\r\nDTSTAMP:20260301T000000Z\r\nDTSTART;VALUE=DATE:20260305"
        "\r\nDTEND;VALUE=DATE:20260306\r\nSUMMARY:Offsite\r\nEND:VEVENT\r\n",
    ]
    if changed:
        events += [
            vevent(
                "standup",
                "20260302T123000Z",
                15,
                summary="Stand-up",
                extra=("RECURRENCE-ID:20260302T120000Z",),
            ),
            vevent(
                "standup",
                "20260303T120000Z",
                15,
                summary="Stand-up",
                extra=("RECURRENCE-ID:20260303T120000Z", "STATUS:CANCELLED"),
            ),
            vevent("retro", "20260304T150000Z", summary="Retro"),
        ]
    else:
        events.append(vevent("focus", "20260304T080000Z", 120, summary="Deep work", people=()))
    body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Heedful tests//EN\r\n"
    return (body + "".join(events) + "END:VCALENDAR\r\n").encode()


# --------------------------------------------------------------------------- helpers


@pytest.fixture(name="ana")
def fixture_ana(services: Services) -> str:
    """U1 as Heedful knows her from Slack: Berlin, ana@example.com, not yet opted in."""
    with session_scope(services.engine) as session:
        user = repo.ensure_user(
            session=session, team_id=TEAM, user_id=USER, now=services.clock.now()
        )
        user.tz, user.email = "Europe/Berlin", "ana@example.com"
        session.add(user)
    return USER


@pytest.fixture(name="parses")
def fixture_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts calls of the real parser (each entry is the source parsed)."""
    calls: list[str] = []
    real = ics.parse_ics

    def counting(data: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["source"])
        return real(data, **kwargs)

    monkeypatch.setattr(feeds, "parse_ics", counting)  # the name the feed poller calls
    return calls


def connect(services: Services, feed: FeedServer, **kw: Any) -> feeds.Connected:
    return connect_feed(services, team_id=TEAM, user_id=USER, url=feed.url, **kw)


def table(services: Services, model: Any) -> list[Any]:
    with services.engine.connect() as conn:
        return list(conn.execute(sa.select(model.__table__)))


def source_row(services: Services, source_id: int) -> Any:
    (row,) = [r for r in table(services, CalendarSource) if r.id == source_id]
    return row


def occurrences(services: Services) -> dict[tuple[str, str | None], Any]:
    return {(r.uid, r.recurrence_id): r for r in table(services, OccurrenceRow)}


def nudges(services: Services) -> dict[tuple[str, str, str], Any]:
    """(kind, uid, recurrence id) → delivery row, for reminders and reflections."""
    found = {}
    for row in table(services, Delivery):
        if row.kind in ("reminder", "reflection", "transition"):
            _, uid, rid = row.ref.split("|")
            found[(row.kind, uid, rid)] = row
    return found


def notices(emulator: SlackEmulator) -> list[dict[str, Any]]:
    return [
        m
        for m in emulator.messages(USER)
        if m.get("metadata", {}).get("event_payload", {}).get("kind") == "notice"
    ]


# --------------------------------------------------------------------------- connect


def test_connecting_checks_the_feed_counts_the_week_and_keeps_the_address_secret(
    services: Services, feed: FeedServer, ana: str, caplog: pytest.LogCaptureFixture
) -> None:
    services.cipher = Cipher([Fernet.generate_key().decode()])
    caplog.set_level(logging.DEBUG)
    connected = connect(services, feed, label="Work")
    assert connected.upcoming == 8

    row = source_row(services, connected.source_id)
    assert row.url.startswith("fernet:") and "5ecret70ken" not in row.url
    assert (row.kind, row.status, row.label) == ("ics", "ok", "Work")
    assert row.etag and row.content_hash == content_digest(feed.body)
    assert row.next_check_at == services.clock.now() + POLL
    assert "5ecret70ken" not in caplog.text and SECRET_PATH not in caplog.text

    (info,) = list_sources(services, team_id=TEAM, user_id=USER)
    assert (info.id, info.label, info.host, info.status) == (
        connected.source_id,
        "Work",
        "127.0.0.1",
        "ok",
    )
    assert "5ecret70ken" not in repr(info)

    stored = occurrences(services)
    assert stored[("standup", "2026-03-02T12:00:00Z")].source == f"ics:{connected.source_id}"
    assert stored[("offsite", None)].skip_reason == "all-day"
    assert stored[("lunch", None)].skip_reason == "cancelled"
    assert stored[("focus", None)].skip_reason == "solo"
    with session_scope(services.engine) as session:  # connecting opts the user in
        assert repo.get_user(session=session, team_id=TEAM, user_id=USER).opted_in_at is not None
    assert nudges(services)[("reminder", "review", "")].state == "pending"


def test_connecting_the_same_address_again_refreshes_the_same_source(
    services: Services, feed: FeedServer, ana: str
) -> None:
    first = connect(services, feed)
    again = connect(services, feed, label="Renamed")
    assert again.source_id == first.source_id
    assert [s.label for s in list_sources(services, team_id=TEAM, user_id=USER)] == ["Renamed"]


@pytest.mark.parametrize(
    ("setup", "prompt"),
    [
        ("ftp", "calendar.connect.bad_url"),
        ("not a url", "calendar.connect.bad_url"),
        ("404", "calendar.connect.unreachable"),
        ("html", "calendar.connect.unreachable"),
        ("text", "calendar.connect.not_calendar"),
    ],
)
def test_a_feed_that_cannot_be_read_is_one_line_for_the_person_and_nothing_is_kept(
    services: Services, feed: FeedServer, ana: str, setup: str, prompt: str
) -> None:
    url = feed.url
    if setup == "ftp":
        url = "ftp://example.com/cal.ics"
    elif setup == "not a url":
        url = "my calendar"
    elif setup == "404":
        feed.status = 404
    elif setup == "html":
        feed.body = b"<!DOCTYPE html><html><body>Sign in</body></html>"
    else:
        feed.body = b"hello, this is not a calendar"
    with pytest.raises(FeedConnectError) as info:
        connect_feed(services, team_id=TEAM, user_id=USER, url=url)
    message = str(info.value)
    assert "\n" not in message and "5ecret70ken" not in message
    template = load_prompts()[prompt].variants[0]
    assert message.startswith(template.split("{")[0])
    assert table(services, CalendarSource) == [] and table(services, OccurrenceRow) == []
    with session_scope(services.engine) as session:
        assert repo.get_user(session=session, team_id=TEAM, user_id=USER).opted_in_at is None


def test_webcal_links_become_https_and_other_schemes_are_refused() -> None:
    assert feeds.normalise_feed_url(" webcal://example.com/a.ics ") == "https://example.com/a.ics"
    with pytest.raises(FeedConnectError):
        feeds.normalise_feed_url("javascript:alert(1)")


# --------------------------------------------------------------------------- polling


def test_an_unchanged_feed_costs_a_conditional_get_and_no_parse(
    services: Services, feed: FeedServer, ana: str, clock: VirtualClock, parses: list[str]
) -> None:
    source_id = connect(services, feed).source_id
    assert len(parses) == 1
    before = occurrences(services)

    assert refresh_due_sources(services) == 0  # not due yet: no request at all
    assert len(feed.served()) == 1

    clock.advance(POLL)
    assert refresh_due_sources(services) == 1
    last = feed.served()[-1]
    assert last["if-none-match"] == source_row(services, source_id).etag
    assert len(parses) == 1  # a 304: nothing parsed
    row = source_row(services, source_id)
    assert (row.status, row.last_checked_at, row.next_check_at) == (
        "ok",
        clock.now(),
        polling.next_check(source_id, now=clock.now(), interval=POLL),  # its own slot
    )
    assert clock.now() < row.next_check_at <= clock.now() + POLL
    assert {k: r.updated_at for k, r in occurrences(services).items()} == {
        k: r.updated_at for k, r in before.items()
    }


def test_a_server_without_validators_is_compared_by_hash(
    services: Services, feed: FeedServer, ana: str, clock: VirtualClock, parses: list[str]
) -> None:
    feed.etag = False
    connect(services, feed)
    clock.advance(POLL)
    assert refresh_due_sources(services) == 1
    assert "if-none-match" not in feed.served()[-1]
    assert len(parses) == 1  # the same bytes again: not parsed

    feed.body = calendar(changed=True)
    clock.advance(POLL)
    refresh_due_sources(services)
    assert len(parses) == 2


def test_a_changed_feed_moves_cancels_and_adds_meetings_and_their_pending_nudges(
    heedful: Heedful,
    services: Services,
    feed: FeedServer,
    ana: str,
    clock: VirtualClock,
    emulator: SlackEmulator,
) -> None:
    # The nudge words come with their own issue; a plain composer stands in for them.
    heedful.sender.composers.setdefault("reminder", lambda row: Message(text=f"soon {row.ref}"))
    connect(services, feed)
    monday = ("reminder", "standup", "2026-03-02T12:00:00Z")
    tuesday = ("reminder", "standup", "2026-03-03T12:00:00Z")
    review = ("reminder", "review", "")
    before = nudges(services)
    assert before[monday].due_at == datetime(2026, 3, 2, 11, 55, tzinfo=UTC)

    clock.set(before[monday].due_at)  # Monday's stand-up reminder goes out
    assert heedful.send_due() == 1
    assert len(emulator.messages(USER)) == 1

    feed.body = calendar(changed=True)
    assert refresh_due_sources(services) == 1

    stored = occurrences(services)
    assert stored[("standup", "2026-03-02T12:00:00Z")].start_at == datetime(
        2026, 3, 2, 12, 30, tzinfo=UTC
    )
    assert stored[("standup", "2026-03-03T12:00:00Z")].status == "cancelled"
    assert stored[("review", None)].start_at == datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
    assert ("focus", None) not in stored and ("retro", None) in stored

    after = nudges(services)
    assert (after[monday].state, after[monday].due_at) == ("sent", before[monday].due_at)
    assert after[monday].sent_at == before[monday].due_at
    assert after[tuesday].state == "skipped"
    assert after[review].state == "pending"
    assert after[review].due_at == before[review].due_at + timedelta(hours=1)
    assert after[("reminder", "retro", "")].state == "pending"

    clock.set(datetime(2026, 3, 2, 12, 26, tzinfo=UTC))  # the moved stand-up's reminder time
    heedful.send_due()
    assert len(emulator.messages(USER)) == 1  # what was sent is not sent again


def test_an_unchanged_feed_is_still_expanded_as_the_days_go_by(
    services: Services, feed: FeedServer, ana: str, clock: VirtualClock, parses: list[str]
) -> None:
    connect(services, feed)
    last_day = max(r.start_at for r in table(services, OccurrenceRow) if r.uid == "standup")
    assert last_day == datetime(2026, 3, 15, 12, 0, tzinfo=UTC)

    clock.advance(timedelta(days=1, minutes=5))
    refresh_due_sources(services)
    assert "if-none-match" not in feed.served()[-1]  # a full read, once a day
    assert len(parses) == 2
    last_day = max(r.start_at for r in table(services, OccurrenceRow) if r.uid == "standup")
    assert last_day == datetime(2026, 3, 16, 12, 0, tzinfo=UTC)

    clock.advance(POLL)
    refresh_due_sources(services)
    assert "if-none-match" in feed.served()[-1] and len(parses) == 2


def _written(services: Services) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """When each meeting and each nudge row was last written (nothing else counts)."""
    meetings = {k: r.updated_at for k, r in occurrences(services).items()}
    planned = {
        (r.id, r.ref, r.kind): (r.updated_at, r.due_at, r.state) for r in table(services, Delivery)
    }
    return meetings, planned


def test_a_feed_whose_only_difference_is_a_fresh_dtstamp_writes_and_replans_nothing(
    services: Services, feed: FeedServer, ana: str, clock: VirtualClock, parses: list[str]
) -> None:
    """Issue 13: generators that stamp every VEVENT at download time change the bytes of
    every fetch; no meeting changed, so nothing is parsed, stored or planned again."""
    feed.etag = False
    source_id = connect(services, feed).source_id
    before = _written(services)
    assert before[1]  # nudges are planned

    for stamp in ("20260302T090500Z", "20260302T091000Z"):
        feed.body = calendar().replace(b"DTSTAMP:20260301T000000Z", f"DTSTAMP:{stamp}".encode())
        clock.advance(POLL)
        assert refresh_due_sources(services) == 1
        assert source_row(services, source_id).content_hash == content_digest(feed.body)

    assert len(parses) == 1  # the connect's only
    assert _written(services) == before


def test_a_moved_instance_replans_its_series_only(
    services: Services,
    feed: FeedServer,
    ana: str,
    clock: VirtualClock,
    parses: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Wednesday's stand-up moves: its series alone is parsed again and its reminder
    moves; the review's meeting and nudges keep their rows as they were written."""
    texts: list[bytes] = []
    counting = feeds.parse_ics

    def keeping(data: Any, **kwargs: Any) -> Any:
        texts.append(bytes(data))
        return counting(data, **kwargs)

    monkeypatch.setattr(feeds, "parse_ics", keeping)
    connect(services, feed)
    meetings, planned = _written(services)
    moved = vevent(
        "standup",
        "20260304T123000Z",
        15,
        summary="Stand-up",
        extra=("RECURRENCE-ID:20260304T120000Z",),
    ).encode()
    feed.body = calendar().replace(b"END:VCALENDAR", moved + b"END:VCALENDAR")
    clock.advance(POLL)
    assert refresh_due_sources(services) == 1
    assert len(parses) == 2
    assert b"UID:standup" in texts[-1]
    assert b"UID:review" not in texts[-1] and b"UID:lunch" not in texts[-1]

    after_meetings, after_planned = _written(services)
    wednesday = ("standup", "2026-03-04T12:00:00Z")
    assert occurrences(services)[wednesday].start_at == datetime(2026, 3, 4, 12, 30, tzinfo=UTC)
    assert {k: v for k, v in after_meetings.items() if k != wednesday} == {
        k: v for k, v in meetings.items() if k != wednesday
    }
    moved_ref = "|standup|2026-03-04T12:00:00Z"
    unchanged = {k: v for k, v in planned.items() if not k[1].endswith(moved_ref)}
    assert {k: v for k, v in after_planned.items() if k in unchanged} == unchanged
    (reminder,) = [
        v for k, v in after_planned.items() if k[1].endswith(moved_ref) and k[2] == "reminder"
    ]
    assert reminder[1:] == (datetime(2026, 3, 4, 12, 25, tzinfo=UTC), "pending")


def test_an_added_and_a_removed_series_are_planned_and_withdrawn(
    services: Services, feed: FeedServer, ana: str, clock: VirtualClock, parses: list[str]
) -> None:
    connect(services, feed)
    meetings, _ = _written(services)
    review = next(v for v in calendar().split(b"BEGIN:VEVENT") if b"UID:review" in v)
    retro = vevent("retro", "20260304T150000Z", summary="Retro").encode()
    body = calendar().replace(b"BEGIN:VEVENT" + review, b"")
    feed.body = body.replace(b"END:VCALENDAR", retro + b"END:VCALENDAR")
    clock.advance(POLL)
    assert refresh_due_sources(services) == 1

    stored = occurrences(services)
    assert ("review", None) not in stored and ("retro", None) in stored
    planned = nudges(services)
    assert planned[("reminder", "retro", "")].state == "pending"
    assert planned.get(("reminder", "review", ""), None) is None or (
        planned[("reminder", "review", "")].state != "pending"
    )
    standups = {k: v for k, v in meetings.items() if k[0] == "standup"}
    assert {k: v for k, v in _written(services)[0].items() if k[0] == "standup"} == standups


def test_a_feed_quiet_for_a_day_is_polled_half_as_often_until_it_changes(
    services: Services, feed: FeedServer, ana: str, clock: VirtualClock, parses: list[str]
) -> None:
    source_id = connect(services, feed).source_id
    assert source_row(services, source_id).last_changed_at == clock.now()
    changed_at = clock.now()

    clock.advance(POLL)  # unchanged (a 304), changed less than a day ago: every 5 minutes
    assert refresh_due_sources(services) == 1
    row = source_row(services, source_id)
    assert row.last_changed_at == changed_at
    assert row.next_check_at == polling.next_check(source_id, now=clock.now(), interval=POLL)

    clock.advance(timedelta(days=1, minutes=5))  # a day later, the full re-read: same bytes
    assert refresh_due_sources(services) == 1
    assert len(parses) == 2  # read again in full, and found unchanged
    row = source_row(services, source_id)
    assert row.last_changed_at == changed_at
    quiet = 2 * POLL  # quiet for a day: every 10 minutes
    assert row.next_check_at == polling.next_check(source_id, now=clock.now(), interval=quiet)
    assert clock.now() < row.next_check_at <= clock.now() + quiet

    feed.body = calendar().replace(b"DTSTAMP:20260301T000000Z", b"DTSTAMP:20260303T091000Z")
    clock.set(row.next_check_at)  # new bytes, the same meetings: still quiet
    assert refresh_due_sources(services) == 1
    row = source_row(services, source_id)
    assert row.last_changed_at == changed_at
    assert row.next_check_at == polling.next_check(source_id, now=clock.now(), interval=quiet)

    feed.body = calendar(changed=True)
    clock.set(row.next_check_at)
    assert refresh_due_sources(services) == 1
    assert len(parses) == 3
    row = source_row(services, source_id)
    assert row.last_changed_at == clock.now()  # changed: every 5 minutes again, from now
    assert row.next_check_at == polling.next_check(source_id, now=clock.now(), interval=POLL)


@pytest.mark.parametrize("count", [2, 12])
def test_the_unchanged_checks_of_a_round_are_recorded_in_one_statement(
    services: Services, feed: FeedServer, ana: str, clock: VirtualClock, count: int
) -> None:
    """Issue 13: a 304 (or the same bytes, or new stamps only) is recorded with the other
    unchanged checks of its round, not in a transaction of its own."""
    row = source_row(services, connect(services, feed).source_id)
    copy = {k: v for k, v in row._mapping.items() if k != "id"}
    with services.engine.begin() as conn:
        conn.execute(sa.insert(CalendarSource.__table__), [copy] * (count - 1))
    clock.advance(timedelta(hours=1))
    writes: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("UPDATE CALENDAR_SOURCE"):
            writes.append(statement)

    sa.event.listen(services.engine, "before_cursor_execute", seen)
    try:
        assert refresh_due_sources(services, limit=50) == count
    finally:
        sa.event.remove(services.engine, "before_cursor_execute", seen)
    checked = [r for r in table(services, CalendarSource)]
    assert {r.last_checked_at for r in checked} == {clock.now()}
    assert len(writes) <= 3, writes  # the claim, its slots, the checks: not one per feed


def test_a_feed_that_is_gone_is_marked_broken_and_the_person_is_told_once(
    heedful: Heedful,
    services: Services,
    feed: FeedServer,
    ana: str,
    clock: VirtualClock,
    emulator: SlackEmulator,
) -> None:
    source_id = connect(services, feed, label="Work <calendar>").source_id
    feed.status = 404
    for _ in range(4):
        clock.advance(timedelta(hours=25))
        assert refresh_due_sources(services) == 1
        heedful.send_due()
    assert len(feed.served()) == 5  # rechecked once a day while broken
    row = source_row(services, source_id)
    assert row.status == "broken" and "404" in (row.error or "")
    assert row.broken_notified_at is not None

    (notice,) = notices(emulator)
    expected = build_feed_broken_notice(load_prompts(), name="Work <calendar>")
    assert notice["text"] == expected.text
    assert "Work &lt;calendar&gt;" in notice["text"]
    (delivery,) = [d for d in table(services, Delivery) if d.kind == "notice"]
    assert (delivery.ref, delivery.state) == (f"feed-broken:{source_id}", "sent")

    feed.status = 410  # still gone, differently: still no second message
    clock.advance(timedelta(hours=25))
    refresh_due_sources(services)
    heedful.send_due()
    assert len(notices(emulator)) == 1

    feed.status = None  # the address works again
    clock.advance(timedelta(hours=25))
    refresh_due_sources(services)
    assert source_row(services, source_id).status == "ok"


def test_a_transient_failure_backs_off_and_never_messages(
    heedful: Heedful,
    services: Services,
    feed: FeedServer,
    ana: str,
    clock: VirtualClock,
    emulator: SlackEmulator,
) -> None:
    source_id = connect(services, feed).source_id
    before = occurrences(services)
    feed.status = 500
    clock.advance(POLL)
    assert refresh_due_sources(services) == 1
    row = source_row(services, source_id)
    assert (row.status, row.failures) == ("failing", 1)
    assert row.next_check_at == clock.now() + 2 * POLL

    clock.advance(POLL)
    assert refresh_due_sources(services) == 0  # backing off
    clock.advance(POLL)
    assert refresh_due_sources(services) == 1
    row = source_row(services, source_id)
    assert row.failures == 2 and row.next_check_at == clock.now() + 4 * POLL

    heedful.send_due()
    assert notices(emulator) == []
    assert not any(d.kind == "notice" for d in table(services, Delivery))
    assert occurrences(services).keys() == before.keys()  # what we knew is kept

    feed.status = None
    clock.advance(4 * POLL)
    assert refresh_due_sources(services) == 1
    row = source_row(services, source_id)
    assert (row.status, row.failures, row.error) == ("ok", 0, None)


def test_a_feed_failing_for_about_a_day_is_reported_once(
    heedful: Heedful,
    services: Services,
    feed: FeedServer,
    ana: str,
    clock: VirtualClock,
    emulator: SlackEmulator,
) -> None:
    connect(services, feed)
    feed.status = 503
    started = clock.now()
    for _ in range(feeds.FAILING_NOTICE_AFTER + 3):  # every retry as soon as it is due
        clock.advance(feeds.MAX_BACKOFF)
        assert refresh_due_sources(services) == 1
        heedful.send_due()
    (notice,) = notices(emulator)
    assert notice["text"].startswith("Heedful has not been able to read your calendar")
    assert clock.now() - started >= timedelta(hours=24)
    kinds = [d.ref for d in table(services, Delivery) if d.kind == "notice"]
    assert kinds == [f"feed-failing:{table(services, CalendarSource)[0].id}"]


def test_disconnecting_forgets_the_feed_its_meetings_and_their_pending_nudges(
    services: Services, feed: FeedServer, ana: str, clock: VirtualClock
) -> None:
    source_id = connect(services, feed).source_id
    assert nudges(services)
    assert not disconnect_source(services, team_id=TEAM, user_id="U2", source_id=source_id)
    assert disconnect_source(services, team_id=TEAM, user_id=USER, source_id=source_id)
    assert table(services, CalendarSource) == [] and table(services, OccurrenceRow) == []
    assert {d.state for d in nudges(services).values()} == {"skipped"}
    clock.advance(POLL)
    assert refresh_due_sources(services) == 0


# --------------------------------------------------------------------------- many processes


def _add_sources(services: Services, url: str, n: int) -> None:
    now = services.clock.now()
    rows = [
        {
            "team_id": TEAM,
            "user_id": f"U{100 + i}",
            "kind": "ics",
            "url": services.cipher.encrypt(url),
            "status": "ok",
            "failures": 0,
            "next_check_at": now - timedelta(seconds=i),
            "created_at": now,
        }
        for i in range(n)
    ]
    with services.engine.begin() as conn:
        conn.execute(sa.insert(CalendarSource.__table__), rows)
    with session_scope(services.engine) as session:  # a feed always has a known owner
        for row in rows:
            repo.ensure_user(session=session, team_id=TEAM, user_id=row["user_id"], now=now)


def _process(settings: Settings, clock: VirtualClock, db_url: str) -> Services:
    """Another Heedful process: its own engine (connection pool) on the same database."""
    return build_services(settings, clock=clock, engine=make_engine(db_url))


def test_two_processes_claim_each_due_feed_once(
    services: Services, settings: Settings, clock: VirtualClock, db_url: str, ana: str
) -> None:
    _add_sources(services, "http://127.0.0.1:9/none.ics", 60)
    processes = [_process(settings, clock, db_url) for _ in range(2)]
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        barrier.wait()
        while rows := claim_due_sources(processes[i], limit=7):
            claimed[i].extend(r.id for r in rows)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for p in processes:
        p.engine.dispose()
    everything = claimed[0] + claimed[1]
    assert len(everything) == 60 and len(set(everything)) == 60
    assert all(
        r.next_check_at == polling.next_check(r.id, now=clock.now(), interval=POLL)
        for r in table(services, CalendarSource)
    )


def test_two_processes_refreshing_at_once_fetch_each_feed_once(
    services: Services,
    settings: Settings,
    clock: VirtualClock,
    db_url: str,
    ana: str,
    feed: FeedServer,
    parses: list[str],
) -> None:
    _add_sources(services, feed.url, 12)
    processes = [_process(settings, clock, db_url) for _ in range(2)]
    done = [0, 0]
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        barrier.wait()
        done[i] = refresh_due_sources(processes[i], limit=5)
        done[i] += refresh_due_sources(processes[i], limit=5)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for p in processes:
        p.engine.dispose()
    assert sum(done) == 12
    assert len(feed.served()) == 12 and len(parses) == 12
    assert {r.status for r in table(services, CalendarSource)} == {"ok"}


# --------------------------------------------------------------------------- hostile fields

HOSTILE = Path(__file__).parent / "fixtures" / "hostile_fields.ics"


def _column(name: str) -> int:
    return int(OccurrenceRow.__table__.c[name].type.length)  # type: ignore[attr-defined]


def test_fields_an_invitation_controls_are_fitted_and_the_rest_of_the_feed_is_kept(
    services: Services, feed: FeedServer, ana: str, clock: VirtualClock
) -> None:
    """An organizer over 320 characters, a join link over 1,000, two 300-character UIDs
    that differ only at the end, a NUL in a title, a 600-character title and links that
    would break Slack's markup, beside good events: every event is stored (each field
    as honestly as its column allows), and the feed stays "ok"."""
    feed.etag = False
    feed.body = HOSTILE.read_bytes()
    connected = connect(services, feed)
    assert source_row(services, connected.source_id).status == "ok"

    stored = {r.title: r for r in table(services, OccurrenceRow)}
    assert len(stored) == 10
    for row in stored.values():
        for name in ("key", "series_key", "uid", "title", "organizer", "conference_url"):
            value = getattr(row, name)
            assert value is None or len(value) <= _column(name), name
    assert stored["Good before"].conference_url == "https://meet.google.com/abc-defg-hij"
    assert stored["Good before"].organizer == "ben@example.com"
    assert stored["Long organizer"].organizer is None  # a cut address is a wrong one
    for title in ("Long conference link", "Broadcast link", "Pipe link"):
        assert stored[title].conference_url is None, title
    assert stored["Stand-up"].uid == "nul-title"  # the NUL is gone, nothing else
    long_title = next(t for t in stored if t.startswith("TTT"))
    assert len(long_title) == _column("title") and long_title.endswith("…")

    one, two = stored["Long UID one"], stored["Long UID two"]
    assert one.uid != two.uid and one.key != two.key  # still unique
    assert one.uid.startswith("series-xxx") and "~" in one.uid
    refs = {r.ref for r in table(services, Delivery) if r.kind == "reminder"}
    assert {one.key, two.key, stored["Stand-up"].key} <= refs

    # The next full read finds the very same rows: the keys are stable.
    feed.body = HOSTILE.read_bytes().replace(b"X-COMMENT:Each", b"X-COMMENT:each")
    clock.advance(POLL)
    assert refresh_due_sources(services) == 1
    assert source_row(services, connected.source_id).status == "ok"
    again = {r.title: r for r in table(services, OccurrenceRow)}
    assert {t: (r.id, r.key, r.updated_at) for t, r in again.items()} == {
        t: (r.id, r.key, r.updated_at) for t, r in stored.items()
    }


# --------------------------------------------------------------------------- words


def test_the_broken_feed_notice_is_plain_words_with_blocks_within_limits() -> None:
    prompts = load_prompts()
    message = build_feed_broken_notice(prompts, name="Team & <Ops>")
    assert isinstance(message, Message) and message.text.strip()
    assert "Team &amp; &lt;Ops&gt;" in message.text and "<Ops>" not in message.text
    assert [b["type"] for b in message.blocks] == ["section", "context"]
    assert "Team &amp; &lt;Ops&gt;" in message.blocks[0]["text"]["text"]
    assert message.blocks[1]["elements"][0]["text"] == prompts.text("calendar.broken.hint")


def test_a_long_feed_name_is_clipped_before_it_is_escaped() -> None:
    """Cut after escaping, "x…x&" would end in half an entity ("&am")."""
    prompts = load_prompts()
    name = "x" * 198 + "&<>" + "y" * 100
    message = build_feed_broken_notice(prompts, name=name)
    shown = "x" * 198 + "&amp;…"
    assert message.text == prompts.text("calendar.broken.summary", name=shown)
    assert message.blocks[0]["text"]["text"] == prompts.text("calendar.broken.body", name=shown)


def test_the_connected_line_fits_the_count() -> None:
    prompts = load_prompts()
    assert connected_text(prompts, name="Work", upcoming=0) == prompts.text(
        "calendar.connected.none", name="Work"
    )
    assert "1 meeting " in connected_text(prompts, name="Work", upcoming=1)
    assert "12 meetings" in connected_text(prompts, name="W<rk", upcoming=12)
    assert "W&lt;rk" in connected_text(prompts, name="W<rk", upcoming=12)


# --------------------------------------------------------------------------- no attendees


def unlisted(body: bytes) -> bytes:
    """``body`` as Outlook's published calendars write it: no ORGANIZER, no ATTENDEE."""
    return re.sub(rb"(?:ORGANIZER|ATTENDEE)[^\r\n]*\r\n", b"", body)


def home_text(services: Services) -> str:
    return json.dumps(home_view(services, team_id=TEAM, user_id=USER), ensure_ascii=False)


def no_attendees_line() -> str:
    prompts = load_prompts()
    ok = prompts.text("home.calendar_status.ok")
    return prompts.text("home.calendar_status.attendees_unknown", status=ok)


def test_a_feed_that_lists_no_attendees_is_nudged_and_its_owner_told_once(
    heedful: Heedful,
    services: Services,
    feed: FeedServer,
    ana: str,
    clock: VirtualClock,
    emulator: SlackEmulator,
) -> None:
    feed.body = unlisted(calendar())
    connected = connect(services, feed, label="Outlook")
    assert connected.attendees_unknown and connected.upcoming == 9  # the focus block too
    row = source_row(services, connected.source_id)
    assert row.attendees_unknown and row.no_attendees_notified_at == services.clock.now()

    stored = occurrences(services)
    assert all(r.attendees_unknown for r in stored.values())
    assert stored[("focus", None)].skip_reason is None  # not solo: nobody knows
    assert stored[("offsite", None)].skip_reason == "all-day"
    assert stored[("lunch", None)].skip_reason == "cancelled"
    planned = nudges(services)
    assert planned[("reminder", "focus", "")].state == "pending"
    assert planned[("reminder", "standup", "2026-03-02T12:00:00Z")].state == "pending"

    heedful.send_due()
    (notice,) = notices(emulator)
    expected = build_feed_broken_notice(
        load_prompts(), name="Outlook", words="calendar.no_attendees"
    )
    assert notice["text"] == expected.text
    (delivery,) = [d for d in table(services, Delivery) if d.kind == "notice"]
    assert (delivery.ref, delivery.state) == (f"feed-no-attendees:{connected.source_id}", "sent")
    assert no_attendees_line() in home_text(services)

    # Settled deliveries are purged after a while (bot.privacy): the record on the feed
    # still keeps it to one notice, through changed reads, whole re-reads and reconnecting.
    with services.engine.begin() as conn:
        conn.execute(sa.delete(Delivery.__table__).where(Delivery.__table__.c.kind == "notice"))
    feed.body = unlisted(calendar(changed=True))
    clock.advance(POLL)
    assert refresh_due_sources(services) == 1
    assert occurrences(services)[("retro", None)].skip_reason is None
    clock.advance(timedelta(hours=25))  # the daily read of the whole feed
    assert refresh_due_sources(services) == 1
    connect(services, feed)
    heedful.send_due()
    assert len(notices(emulator)) == 1
    assert not [d for d in table(services, Delivery) if d.kind == "notice"]
    assert no_attendees_line() in home_text(services)


def test_a_feed_of_all_day_entries_without_attendees_is_no_news(
    heedful: Heedful, services: Services, feed: FeedServer, ana: str, emulator: SlackEmulator
) -> None:
    """Nothing of it is nudged, so nothing needs explaining (a holiday calendar)."""
    feed.body = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Heedful tests//EN\r\n"
        b"BEGIN:VEVENT\r\nUID:holiday\r\nDTSTART;VALUE=DATE:20260303\r\n"
        b"SUMMARY:Holiday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    source_id = connect(services, feed).source_id
    heedful.send_due()
    assert notices(emulator) == []
    assert source_row(services, source_id).no_attendees_notified_at is None


def test_a_feed_that_starts_or_stops_listing_attendees_is_read_again_in_full(
    heedful: Heedful,
    services: Services,
    feed: FeedServer,
    ana: str,
    clock: VirtualClock,
    emulator: SlackEmulator,
) -> None:
    """Some events with attendees: today's solo rule. Whether a feed lists attendees is
    the whole feed's fact, so when it changes every series is read again, also those
    whose events did not change (the focus block here)."""
    source_id = connect(services, feed).source_id
    assert occurrences(services)[("focus", None)].skip_reason == "solo"
    assert no_attendees_line() not in home_text(services)

    feed.body = unlisted(calendar())  # the owner swapped in a published calendar
    clock.advance(POLL)
    refresh_due_sources(services)
    stored = occurrences(services)
    assert stored[("focus", None)].skip_reason is None
    assert all(r.attendees_unknown for r in stored.values())
    assert nudges(services)[("reminder", "focus", "")].state == "pending"
    heedful.send_due()
    assert len(notices(emulator)) == 1
    assert f"feed-no-attendees:{source_id}" in {
        d.ref for d in table(services, Delivery) if d.kind == "notice"
    }
    assert no_attendees_line() in home_text(services)

    # One series lists its attendees again: the focus block, unchanged, is solo again.
    body = calendar().replace(b"ATTENDEE", b"X-NOBODY").replace(b"ORGANIZER", b"X-NOBODY")
    feed.body = body.replace(b"X-NOBODY", b"ATTENDEE", 1)  # the stand-up's organizer line
    clock.advance(POLL)
    refresh_due_sources(services)
    stored = occurrences(services)
    assert not any(r.attendees_unknown for r in stored.values())
    assert stored[("focus", None)].skip_reason == "solo"
    assert nudges(services)[("reminder", "focus", "")].state == "skipped"
    assert not source_row(services, source_id).attendees_unknown
    assert no_attendees_line() not in home_text(services)


def test_the_connected_line_of_a_feed_without_attendees_says_solo_blocks_count() -> None:
    prompts = load_prompts()
    unknown = connected_text(prompts, name="W<rk", upcoming=12, attendees_unknown=True)
    assert unknown == prompts.text("calendar.connected_unknown.many", name="W&lt;rk", count=12)
    assert connected_text(prompts, name="W", upcoming=0, attendees_unknown=True) == (
        prompts.text("calendar.connected_unknown.none", name="W")
    )


def test_addresses_on_private_networks_are_refused_by_default(services: Services) -> None:
    """A pasted address must not make Heedful fetch from inside its own network."""
    import dataclasses

    services.settings = dataclasses.replace(services.settings, allow_private_feeds=False)
    for url in ("http://127.0.0.1:9/calendar.ics", "http://169.254.169.254/latest/meta-data"):
        with pytest.raises(feeds.FeedConnectError) as info:
            feeds.connect_feed(services, team_id="T0001", user_id="U1", url=url)
        assert load_prompts().text("feed.error.private_address") in str(info.value)
    assert feeds.list_sources(services, team_id="T0001", user_id="U1") == []

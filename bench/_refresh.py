"""What ``bench/refresh.py`` needs besides the measuring: the people's feeds (a realistic
week each, written from a few templates), the loopback feed server (its own OS process),
and the first state (seeded the way a refresh that reads a whole feed would leave it).

Nothing here is imported by Heedful.
"""

from __future__ import annotations

import ctypes
import hashlib
import http.server
import multiprocessing
import random
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from ics import VTIMEZONES

TEAM = "T0REFRESH"
DOMAIN = "corp.example"
TEMPLATES = 12  # distinct weeks; person i has template i % TEMPLATES
HISTORY_WEEKS = 2  # one-off meetings kept in the feed before the window (series: 8 weeks)
ONE_OFFS_A_DAY = (4, 5)  # one-off meetings a working day (a random pick of these)

# How each feed answers a fetch, by person: i % 4.
KINDS = ("dtstamp", "dtstamp", "etag", "same")
KIND_TEXT = {
    "dtstamp": "a fresh DTSTAMP on every VEVENT at every fetch, no ETag",
    "etag": "an ETag, 304 to a matching If-None-Match",
    "same": "no ETag, the same bytes at every fetch",
}
CHANGES = ("move", "add", "remove", "override")  # a real change, by person: i % 4

ME = b"@" * 20  # stands for the owner's address in a template (p000042@corp.example)
STAMP = b"#" * 16  # stands for the DTSTAMP value (20260302T060000Z)
STAND_IN = "p999999@corp.example"  # the owner while a template is parsed once (seeding)
FIXED_STAMP = b"20260301T000000Z"  # what feeds that do not re-stamp write
_HOLE = re.compile(rb"(@{20}|#{16})")


def email_of(person: int) -> str:
    return f"p{person:06d}@{DOMAIN}"  # 20 characters for every person: see ME


def user_of(person: int) -> str:
    return f"U{person:07d}"


def kind_of(person: int) -> str:
    return KINDS[person % len(KINDS)]


def template_of(person: int) -> int:
    return person % TEMPLATES


# --------------------------------------------------------------------------- the feeds


def _fold(line: str) -> str:
    out = [line[:75]]
    rest = line[75:]
    while rest:
        out.append(" " + rest[:74])
        rest = rest[74:]
    return "\r\n".join(out) + "\r\n"


def _local(dt: datetime) -> str:
    return dt.strftime("%Y%m%dT%H%M%S")


@dataclass
class _Event:
    uid: str
    start: datetime  # local, naive, in the template's zone
    minutes: int
    title: str
    others: list[str]
    extra: list[str]
    organizer_me: bool = False
    declined: bool = False
    all_day: bool = False
    transparent: bool = False

    def lines(self, zone: str) -> list[str]:
        me = ME.decode()
        if self.all_day:
            day = self.start.date()
            when = [
                f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
                f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}",
            ]
        else:
            end = self.start + timedelta(minutes=self.minutes)
            when = [f"DTSTART;TZID={zone}:{_local(self.start)}", f"DTEND;TZID={zone}:{_local(end)}"]
        people: list[str] = []
        if self.others:
            organizer = me if self.organizer_me else self.others[0]
            people.append(f"ORGANIZER;CN={organizer}:mailto:{organizer}")
            answer = "DECLINED" if self.declined else "ACCEPTED"
            people.append(f"ATTENDEE;CN=Me;PARTSTAT={answer}:mailto:{me}")  # never folded
            people += [
                "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;"
                f"CN={other};X-NUM-GUESTS=0:mailto:{other}"
                for other in self.others
            ]
        link = f"https://meet.google.com/{hashlib.sha1(self.uid.encode()).hexdigest()[:10]}"
        return [
            "BEGIN:VEVENT",
            *when,
            *self.extra,
            f"DTSTAMP:{STAMP.decode()}",
            f"UID:{self.uid}",
            *people,
            "CREATED:20260101T100000Z",
            f"DESCRIPTION:{self.title}: agenda in the doc\\, notes after. Join: {link}",
            "LAST-MODIFIED:20260215T100000Z",
            "LOCATION:",
            "SEQUENCE:0",
            "STATUS:CONFIRMED",
            f"SUMMARY:{self.title}",
            f"TRANSP:{'TRANSPARENT' if self.transparent else 'OPAQUE'}",
            "END:VEVENT",
        ]


def _colleagues(rng: random.Random, n: int, *, outside: bool = False) -> list[str]:
    found = [f"c{rng.randrange(5000):05d}@{DOMAIN}" for _ in range(n)]
    if outside:
        found[-1] = f"buyer{rng.randrange(100)}@customer.example"
    return found


def _week_events(template: int, now: datetime, zone: str) -> list[_Event]:
    """A realistic week, around ``now``: series started eight weeks before (a daily
    stand-up, five weekly 1:1s, a team meeting, a leadership sync, a fortnightly planning,
    two free focus blocks a week), one-off meetings on every working day from
    ``HISTORY_WEEKS`` before ``now`` to 16 days after it (some with another company, some
    declined), and an all-day out-of-office day a week."""
    rng = random.Random(template)
    local_now = now.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    monday = (local_now - timedelta(days=local_now.weekday())).replace(hour=0, minute=0)
    first = monday - timedelta(weeks=8)
    shift = timedelta(minutes=30 * (template % 3))

    def at(day: date | datetime, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute) + shift

    events: list[_Event] = []
    team = _colleagues(rng, 5)
    standup = _Event(
        f"standup-{template}@google.com",
        at(first, 9, 30),
        15,
        "Stand-up",
        team,
        ["RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"],
    )
    events.append(standup)
    # The stand-up's overrides: one moved last week, one moved and one cancelled ahead.
    for days, moved, cancelled in ((-5, True, False), (3, True, False), (8, False, True)):
        day = monday + timedelta(days=days)
        if day.weekday() >= 5:
            day += timedelta(days=2)
        original = at(day, 9, 30)
        override = _Event(
            standup.uid,
            original + timedelta(minutes=45 if moved else 0),
            15,
            "Stand-up",
            team,
            [f"RECURRENCE-ID;TZID={zone}:{_local(original)}"],
        )
        if cancelled:
            override.extra.append("STATUS:CANCELLED")
        events.append(override)
    for k in range(5):
        day = first + timedelta(days=k)
        one = _Event(
            f"one-on-one-{template}-{k}@google.com",
            at(day, 10 + k % 3),
            30,
            f"1:1 with report {k}",
            _colleagues(rng, 1),
            [f"RRULE:FREQ=WEEKLY;BYDAY={('MO', 'TU', 'WE', 'TH', 'FR')[k]}"],
            organizer_me=True,
        )
        events.append(one)
        if k < 3:  # an instance moved next week, and (k == 0) one declined this week
            original = one.start + timedelta(weeks=9)
            events.append(
                _Event(
                    one.uid,
                    original + timedelta(hours=2),
                    30,
                    one.title,
                    one.others,
                    [f"RECURRENCE-ID;TZID={zone}:{_local(original)}"],
                    organizer_me=True,
                )
            )
        if k == 0:
            original = one.start + timedelta(weeks=8)
            events.append(
                _Event(
                    one.uid,
                    original,
                    30,
                    one.title,
                    one.others,
                    [f"RECURRENCE-ID;TZID={zone}:{_local(original)}"],
                    organizer_me=True,
                    declined=True,
                )
            )
    for title, day_no, hour, size, rule in (
        ("Team meeting", 1, 14, 8, "FREQ=WEEKLY;BYDAY=TU"),
        ("Leadership sync", 3, 16, 7, "FREQ=WEEKLY;BYDAY=TH"),
        ("Sprint planning", 0, 13, 10, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"),
    ):
        events.append(
            _Event(
                f"{title.lower().replace(' ', '-')}-{template}@google.com",
                at(first + timedelta(days=day_no), hour),
                60,
                title,
                _colleagues(rng, size - 1),
                [f"RRULE:{rule}"],
            )
        )
    events.append(
        _Event(
            f"focus-{template}@google.com",
            at(first + timedelta(days=1), 8),
            90,
            "Focus time",
            [],
            ["RRULE:FREQ=WEEKLY;BYDAY=TU,TH"],
            transparent=True,
        )
    )
    n = 0
    day = monday - timedelta(weeks=HISTORY_WEEKS)
    while day < monday + timedelta(days=16):
        if day.weekday() < 5:
            hours = rng.sample((8, 11, 12, 13, 15, 17), rng.choice(ONE_OFFS_A_DAY))
            for hour in hours:
                size = rng.choice((1, 1, 2, 3, 4, 6))
                outside = rng.random() < 0.15
                events.append(
                    _Event(
                        f"meeting-{template}-{n}@google.com",
                        at(day, hour, rng.choice((0, 30))),
                        rng.choice((30, 30, 45, 60)),
                        f"{'Customer call' if outside else 'Meeting'} {n}",
                        _colleagues(rng, size, outside=outside),
                        [],
                        organizer_me=rng.random() < 0.3,
                        declined=rng.random() < 0.08,
                    )
                )
                n += 1
            if day.weekday() == template % 5:
                events.append(
                    _Event(
                        f"ooo-{template}-{n}@google.com",
                        day,
                        0,
                        "Out of office",
                        [],
                        [],
                        all_day=True,
                        transparent=True,
                    )
                )
        day += timedelta(days=1)
    return events


def _changed(events: list[_Event], change: str, template: int, now: datetime, zone: str) -> None:
    """One real change to a week, in the planning window: a one-off meeting moved by an
    hour, one added, one removed, or one stand-up instance moved (a new override)."""
    local_now = now.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    ahead = [
        i
        for i, e in enumerate(events)
        if e.uid.startswith("meeting-")
        and not e.declined
        and local_now + timedelta(days=1) <= e.start < local_now + timedelta(days=6)
    ]
    target = ahead[len(ahead) // 2]
    if change == "move":
        events[target] = replace(events[target], start=events[target].start + timedelta(hours=1))
    elif change == "remove":
        del events[target]
    elif change == "add":
        model = events[target]
        events.append(replace(model, uid=f"added-{template}@google.com", title="New meeting"))
        events[-1].start = model.start.replace(hour=18, minute=0)
    else:
        standup = events[0]
        day = local_now + timedelta(days=2)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        original = datetime.combine(day.date(), standup.start.time())
        events.append(
            replace(
                standup,
                start=original + timedelta(minutes=15),
                extra=[f"RECURRENCE-ID;TZID={zone}:{_local(original)}"],
            )
        )


def zone_of(template: int) -> str:
    zones = tuple(VTIMEZONES)
    return zones[template % len(zones)]


def template_body(template: int, now: datetime, change: str | None = None) -> bytes:
    """A template's feed with the holes for the owner's address (``ME``) and the DTSTAMP
    (``STAMP``), folded; ``change``: with that real change (:data:`CHANGES`)."""
    zone = zone_of(template)
    events = _week_events(template, now, zone)
    if change is not None:
        _changed(events, change, template, now, zone)
    head = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ME.decode()}",
        f"X-WR-TIMEZONE:{zone}",
    ]
    text = "".join(_fold(line) for line in head) + VTIMEZONES[zone]
    text += "".join(_fold(line) for e in events for line in e.lines(zone))
    return (text + "END:VCALENDAR\r\n").encode()


class Feeds:
    """Every person's feed, written on demand from the templates (a body is a join of
    a template's pieces with the owner's address and a DTSTAMP): nothing per person is
    kept but a version (0 as seeded, 1 with that person's real change, 2 back, …)."""

    def __init__(self, now: datetime) -> None:
        variants = (None, *CHANGES)
        self.pieces = {
            (t, v): _HOLE.split(template_body(t, now, v))
            for t in range(TEMPLATES)
            for v in variants
        }

    def body(self, person: int, version: int, stamp: bytes) -> bytes:
        change = CHANGES[person % len(CHANGES)] if version % 2 else None
        me = email_of(person).encode()
        return b"".join(
            me if piece == ME else stamp if piece == STAMP else piece
            for piece in self.pieces[(template_of(person), change)]
        )

    @staticmethod
    def etag(person: int, version: int) -> str:
        return f'"{person}-{version}"'


# --------------------------------------------------------------------------- the server


class FeedServer:
    """Serves ``/feed/<person>/<secret>.ics`` on loopback from a threaded HTTP server in
    its own OS process, so writing the feeds does not take the measured process's CPU
    (the machine's other core does it). ``versions`` (shared memory) says which version
    each person's feed is at; the benchmark bumps it to make a real change."""

    def __init__(self, people: int, now: datetime) -> None:
        ctx = multiprocessing.get_context("fork")
        self.versions = ctx.Array(ctypes.c_int, people, lock=False)
        self._port = ctx.Value(ctypes.c_int, 0)
        self._ready = ctx.Event()
        self._process = ctx.Process(
            target=_serve,
            args=(now, self.versions, self._port, self._ready),
            name="feed-server",
            daemon=True,
        )

    def __enter__(self) -> FeedServer:
        self._process.start()
        if not self._ready.wait(60):
            raise RuntimeError("the feed server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.join(10)

    def url(self, person: int) -> str:
        secret = hashlib.sha256(f"secret-{person}".encode()).hexdigest()[:24]
        return f"http://127.0.0.1:{self._port.value}/feed/{person}/{secret}.ics"


def _serve(now: datetime, versions: Any, port: Any, ready: Any) -> None:
    feeds = Feeds(now)
    counter = iter(range(1, 1 << 62))
    lock = threading.Lock()
    base = datetime(2026, 3, 1, tzinfo=UTC)

    def fresh_stamp() -> bytes:
        with lock:
            n = next(counter)
        return (base + timedelta(seconds=n)).strftime("%Y%m%dT%H%M%SZ").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.split("/")
            person = int(parts[2])
            version = versions[person]
            kind = kind_of(person)
            if kind == "etag":
                tag = Feeds.etag(person, version)
                if self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self.end_headers()
                    return
            stamp = fresh_stamp() if kind == "dtstamp" else FIXED_STAMP
            body = feeds.body(person, version, stamp)
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if kind == "etag":
                self.send_header("ETag", Feeds.etag(person, version))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    port.value = server.server_address[1]
    ready.set()
    server.serve_forever()


# --------------------------------------------------------------------------- seeding


def seed_people(engine: Any, people: int, now: datetime) -> None:
    """The people, opted in, each in their template's zone: one Core insert."""
    from bot.storage.models import SlackUser

    table = SlackUser.__table__  # type: ignore[attr-defined]
    rows = [
        {
            "team_id": TEAM,
            "slack_user_id": user_of(i),
            "tz": zone_of(template_of(i)),
            "tz_checked_at": now,
            "email": email_of(i),
            "prefs": {},
            "opted_in_at": now,
            "created_at": now,
        }
        for i in range(people)
    ]
    with engine.begin() as conn:
        for start in range(0, people, 2000):
            conn.execute(sa.insert(table), rows[start : start + 2000])


def parsed_templates(feeds: Feeds, now: datetime) -> dict[int, list[Any]]:
    """Each template's occurrences over the refresh's window, parsed once with a
    stand-in owner (``STAND_IN``)."""
    from bot.calendars.ics import parse_ics
    from bot.sync.feeds import _window

    window = _window(now)
    out = {}
    for t in range(TEMPLATES):
        body = b"".join(
            STAND_IN.encode() if p == ME else FIXED_STAMP if p == STAMP else p
            for p in feeds.pieces[(t, None)]
        )
        parsed = parse_ics(
            body,
            source="ics:0",
            start=window[0],
            end=window[1],
            user_emails=(STAND_IN,),
            default_tz=zone_of(t),
        )
        if parsed.problems:
            raise RuntimeError(f"template {t}: {parsed.problems[:2]}")
        out[t] = parsed.occurrences
    return out


def owned(occurrences: Sequence[Any], person: int, source: str) -> list[Any]:
    """A template's occurrences as they are for ``person`` from ``source``: what
    ``parse_ics`` gives for that person's own feed (checked by :func:`check_seed`)."""
    me = email_of(person)
    return [
        replace(o, source=source, organizer=me if o.organizer == STAND_IN else o.organizer)
        for o in occurrences
    ]


def check_seed(feeds: Feeds, templates: dict[int, list[Any]], now: datetime, people: int) -> None:
    """The shortcut of the seed gives, for a person of every template,
    exactly what parsing their own feed gives (one person of each template: the feed's
    kind changes only its DTSTAMP)."""
    from bot.calendars.ics import parse_ics
    from bot.sync.feeds import _window

    window = _window(now)
    for person in range(min(people, TEMPLATES)):
        body = feeds.body(person, 0, FIXED_STAMP)
        real = parse_ics(
            body,
            source="ics:7",
            start=window[0],
            end=window[1],
            user_emails=(email_of(person),),
            default_tz=zone_of(template_of(person)),
        ).occurrences
        if real != owned(templates[template_of(person)], person, "ics:7"):
            raise RuntimeError(f"the seed's shortcut differs from a parse for person {person}")


def seed_sources(
    services: Any,
    server: FeedServer,
    feeds: Feeds,
    templates: dict[int, list[Any]],
    people: Iterator[int] | range,
) -> None:
    """Each person's feed as ``connect_feed`` leaves it: the source row (address
    encrypted, validators, content hash and fingerprints of the bytes served at connect
    time, the window expanded, the next check one interval ahead), then the
    occurrences through ``apply_occurrences`` (stored, planned, nudges in the outbox).
    Only the parse is shortcut: one per template (:func:`owned`)."""
    from bot.calendars.fingerprint import content_digest, fingerprint
    from bot.occurrences import apply_occurrences
    from bot.storage import calendar_sources
    from bot.sync.feeds import KIND, OK, _poll, _print_values, _window, source_name

    now = services.clock.now()
    window = _window(now)
    for person in people:
        body = feeds.body(person, 0, FIXED_STAMP)
        values = {
            "etag": Feeds.etag(person, 0) if kind_of(person) == "etag" else None,
            "last_modified": None,
            "content_hash": content_digest(body),
            "feed_print": _print_values(fingerprint(body)),
            "status": OK,
            "error": None,
            "failures": 0,
            "last_checked_at": now,
            "expanded_until": window[1],
            "next_check_at": now + _poll(services),
        }
        with services.engine.begin() as conn:
            source_id = calendar_sources.add_source(
                conn=conn,
                team_id=TEAM,
                user_id=user_of(person),
                kind=KIND,
                url=services.cipher.encrypt(server.url(person)),
                now=now,
                **values,
            )
        source = source_name(source_id)
        apply_occurrences(
            services,
            team_id=TEAM,
            user_id=user_of(person),
            source=source,
            occurrences=owned(templates[template_of(person)], person, source),
            window=window,
        )

"""ICS benchmark: parse + expand a 500-event feed, and refreshing a feed that did not change.

    python bench/ics.py
    python bench/ics.py --quick

The feed is generated: 100 weekly series (each with a moved instance, a cancelled
instance and an EXDATE) and 400 single events, in Europe/Berlin, America/New_York and
Asia/Kolkata (with their VTIMEZONEs), attendees and descriptions as Google writes them.

1. Parse + expand 14 days. Heedful: ``bot.calendars.ics.parse_ics`` (bytes → sorted
   ``Occurrence`` list, with per-UID error isolation, time-zone checks and the
   eligibility fields). Baseline: bare ``icalendar.Calendar.from_ical`` +
   ``recurring_ical_events.of(calendar).between(...)`` on the same bytes.
   Goal: Heedful <= 1.2x the baseline.
2. Refreshing an unchanged feed: what the refresh pays when the feed has not changed —
   ``fetch_feed`` with the stored ETag against a local server that answers 304, and
   sha256 of the body compared with the stored ``content_hash`` (a server without
   ETag support sends the bytes again; the refresh skips parsing when the hash matches).
   Goal: each <= 0.05x of one Heedful parse.

Medians of several runs, both sides measured alternately in the same process.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from _common import header, median, quiet_logging, verdict

from bot.calendars.ics import parse_ics
from bot.sync.fetch import fetch_feed

PARSE_GOAL = 1.2
REFRESH_GOAL = 0.05
WINDOW_START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
WINDOW = timedelta(days=14)
USER = "dana@example.com"

VTIMEZONES = {
    "Europe/Berlin": (
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nX-LIC-LOCATION:Europe/Berlin\r\n"
        "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
        "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
        "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
        "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
        "END:VTIMEZONE\r\n"
    ),
    "America/New_York": (
        "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nX-LIC-LOCATION:America/New_York\r\n"
        "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\n"
        "DTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\n"
        "BEGIN:STANDARD\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\n"
        "DTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\n"
        "END:VTIMEZONE\r\n"
    ),
    "Asia/Kolkata": (
        "BEGIN:VTIMEZONE\r\nTZID:Asia/Kolkata\r\nX-LIC-LOCATION:Asia/Kolkata\r\n"
        "BEGIN:STANDARD\r\nTZOFFSETFROM:+0530\r\nTZOFFSETTO:+0530\r\nTZNAME:IST\r\n"
        "DTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    ),
}
ZONES = tuple(VTIMEZONES)
DAYS = ("MO", "TU", "WE", "TH", "FR")


def _fold(line: str) -> str:
    """RFC 5545 folding at 75 octets (ASCII here)."""
    out = [line[:75]]
    rest = line[75:]
    while rest:
        out.append(" " + rest[:74])
        rest = rest[74:]
    return "\r\n".join(out) + "\r\n"


def _local(dt: datetime) -> str:
    return dt.strftime("%Y%m%dT%H%M%S")


def _people(rng: random.Random, i: int) -> list[str]:
    guests = [f"person{(i * 7 + k) % 97}@example.com" for k in range(rng.randint(1, 6))]
    if rng.random() < 0.3:
        guests.append(f"partner{i % 13}@partner.org")
    lines = [f"ORGANIZER;CN=Organizer {i}:mailto:{guests[0]}"]
    for guest in [USER, *guests]:
        lines.append(
            f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;"
            f"CN={guest};X-NUM-GUESTS=0:mailto:{guest}"
        )
    return lines


def _event(
    rng: random.Random, i: int, uid: str, zone: str, start: datetime, minutes: int, extra=()
) -> list[str]:
    end = start + timedelta(minutes=minutes)
    lines = [
        "BEGIN:VEVENT",
        f"DTSTART;TZID={zone}:{_local(start)}",
        f"DTEND;TZID={zone}:{_local(end)}",
        *extra,
        "DTSTAMP:20260220T120000Z",
        f"UID:{uid}",
        *_people(rng, i),
        "CREATED:20260101T100000Z",
        f"DESCRIPTION:Agenda for meeting {i}: review the open items\\, decide on next "
        f"steps and agree owners. Join: https://meet.google.com/abc-defg-{i:03d}",
        "LAST-MODIFIED:20260215T100000Z",
        "LOCATION:",
        "SEQUENCE:0",
        "STATUS:CONFIRMED",
        f"SUMMARY:Meeting {i}",
        "TRANSP:OPAQUE",
        "END:VEVENT",
    ]
    return lines


def generate_feed(seed: int = 7) -> bytes:
    """The 500-event feed (100 weekly series with exceptions + 400 single events)."""
    rng = random.Random(seed)
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:dana@example.com",
    ]
    text = "".join(_fold(line) for line in lines)
    text += "".join(VTIMEZONES.values())
    body: list[str] = []
    for i in range(100):
        zone = ZONES[i % 3]
        first = datetime(2026, 1, 5, 9 + i % 8, 30 * (i % 2), tzinfo=ZoneInfo(zone))
        first += timedelta(days=i % 5)
        first_local = first.replace(tzinfo=None)
        uid = f"series{i:03d}@google.com"
        weeks = [first_local + timedelta(weeks=w) for w in range(16)]
        moved, cancelled, excluded = weeks[8 + i % 2], weeks[9 + i % 2], weeks[7 + i % 3]
        rule = f"RRULE:FREQ=WEEKLY;BYDAY={DAYS[first.weekday()]}"
        if i % 4 == 0:
            rule += ";UNTIL=20260601T000000Z"
        body += _event(
            rng,
            i,
            uid,
            zone,
            first_local,
            30 + 15 * (i % 3),
            extra=[rule, f"EXDATE;TZID={zone}:{_local(excluded)}"],
        )
        body += _event(
            rng,
            i,
            uid,
            zone,
            moved + timedelta(hours=2),
            30,
            extra=[f"RECURRENCE-ID;TZID={zone}:{_local(moved)}"],
        )
        cancel = _event(
            rng,
            i,
            uid,
            zone,
            cancelled,
            30,
            extra=[f"RECURRENCE-ID;TZID={zone}:{_local(cancelled)}"],
        )
        body += [line if line != "STATUS:CONFIRMED" else "STATUS:CANCELLED" for line in cancel]
    for i in range(400):
        zone = ZONES[i % 3]
        day = datetime(2026, 2, 16) + timedelta(days=rng.randrange(42))
        start = day.replace(hour=rng.randrange(8, 18), minute=rng.choice((0, 15, 30, 45)))
        body += _event(rng, 100 + i, f"single{i:03d}@google.com", zone, start, 30)
    text += "".join(_fold(line) for line in body) + "END:VCALENDAR\r\n"
    return text.encode()


def baseline_parse(data: bytes) -> list:
    import icalendar
    import recurring_ical_events

    calendar = icalendar.Calendar.from_ical(data)
    return list(recurring_ical_events.of(calendar).between(WINDOW_START, WINDOW_START + WINDOW))


def heedful_parse(data: bytes) -> list:
    feed = parse_ics(
        data,
        source="ics:bench",
        start=WINDOW_START,
        end=WINDOW_START + WINDOW,
        user_emails=[USER],
        default_tz="Europe/Berlin",
    )
    if feed.problems:
        raise RuntimeError(f"unexpected problems: {feed.problems[:3]}")
    return feed.occurrences


def _timed(fn: Callable[[], object], inner: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


class _Feed(http.server.BaseHTTPRequestHandler):
    body = b""
    etag = '"bench-1"'

    def do_GET(self) -> None:
        if self.headers.get("If-None-Match") == self.etag:
            self.send_response(304)
            self.send_header("ETag", self.etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar; charset=utf-8")
        self.send_header("ETag", self.etag)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _server(body: bytes) -> Iterator[str]:
    handler = type("Feed", (_Feed,), {"body": body})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/calendar/ical/secret/basic.ics"
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--reps", type=int, help="repetitions (default 9; --quick 3)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Heedful's log lines")
    args = parser.parse_args(argv)
    quiet_logging(args.verbose)
    reps = args.reps or (3 if args.quick else 9)
    header(f"Heedful ICS benchmark ({datetime.now(UTC):%Y-%m-%d})")
    data = generate_feed()

    ours, theirs = heedful_parse(data), baseline_parse(data)  # warm-up, and a sanity check
    same = {(o.uid, o.start) for o in ours} == {
        (str(c["UID"]), c["DTSTART"].dt.astimezone(UTC)) for c in theirs
    }
    if not same:
        raise RuntimeError("Heedful and the baseline found different occurrences")
    print(
        f"-- parse + expand 14 days: {len(data) / 1024:.0f} KiB, 500 VEVENTs + 200 overrides;"
        f" {len(ours)} occurrences, the same (UID, start) set as the baseline; {reps} reps"
    )
    h_times: list[float] = []
    b_times: list[float] = []
    for rep in range(reps):
        pair = [(lambda: heedful_parse(data), h_times), (lambda: baseline_parse(data), b_times)]
        for fn, times in pair if rep % 2 == 0 else pair[::-1]:
            times.append(_timed(fn))
    h, b = median(h_times) * 1e3, median(b_times) * 1e3
    parse_ratio = h / b
    parse_ok = parse_ratio <= PARSE_GOAL
    print(f"   heedful parse_ics                    : {h:7.1f} ms")
    print(f"   bare icalendar + recurring_ical_events: {b:7.1f} ms")
    print(
        f"   parse ratio heedful/bare = {parse_ratio:.2f}x (goal <= {PARSE_GOAL}x)"
        f"  {verdict(parse_ok)}"
    )

    stored_hash = hashlib.sha256(data).hexdigest()
    with _server(data) as url:
        first = fetch_feed(url)
        if not first.changed or first.etag is None:
            raise RuntimeError("the local feed server did not answer 200 with an ETag")

        def conditional_get() -> None:
            result = fetch_feed(url, etag=first.etag)
            if result.changed:
                raise RuntimeError("expected 304 Not Modified")

        def same_hash() -> None:
            if hashlib.sha256(data).hexdigest() != stored_hash:
                raise RuntimeError("hash changed")

        inner = 20
        get_times = [_timed(conditional_get, inner) for _ in range(reps)]
        hash_times = [_timed(same_hash, inner) for _ in range(reps)]
    g, s = median(get_times) * 1e3, median(hash_times) * 1e3
    print("-- refreshing an unchanged feed (vs one heedful parse)")
    for label, value in (("fetch_feed with ETag -> 304", g), ("sha256 of the body = stored", s)):
        ratio = value / h
        print(
            f"   {label:<30}: {value:7.3f} ms = {ratio:.4f}x of a parse"
            f" (goal <= {REFRESH_GOAL}x)  {verdict(ratio <= REFRESH_GOAL)}"
        )
    refresh_ok = g / h <= REFRESH_GOAL and s / h <= REFRESH_GOAL
    met = int(parse_ok) + int(refresh_ok)
    print(f"== ics: {met}/2 goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``fetch_feed`` and ``read_source`` against a local HTTP server started by each test."""

from __future__ import annotations

import gzip
import logging
import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sync.fetch import FeedError, fetch_feed, normalize_url, read_source, url_label

FIXTURES = Path(__file__).parent / "fixtures"
ICS = (FIXTURES / "google_x_wr_timezone.ics").read_bytes()
SECRET_PATH = "/calendar/ical/dana%40acme.example/private-5f3a9c0e1b7d2468/basic.ics"
MIB = 1024 * 1024
# Bounds on wall time here only tell "stopped" from "ran to the end" (a hung fetch, a feed
# dribbled for 10 s), never how fast: a busy shared machine makes tight bounds flaky.
HUNG = 60.0
WHOLE_ANSWER = 5.0


def serve(body: Any, status: int = 200, **headers: str) -> Any:
    def route(_request: Any) -> tuple[int, dict[str, str], Any]:
        return status, {"Content-Type": "text/calendar; charset=UTF-8", **headers}, body

    return route


def test_etag_then_304_costs_no_body(feed_server: Any) -> None:
    def route(request: Any) -> tuple[int, dict[str, str], bytes]:
        if request.headers.get("If-None-Match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"Content-Type": "text/calendar", "ETag": '"v1"'}, ICS

    feed_server.routes[SECRET_PATH] = route
    first = fetch_feed(feed_server.url(SECRET_PATH))
    assert (first.changed, first.body, first.etag) == (True, ICS, '"v1"')
    again = fetch_feed(feed_server.url(SECRET_PATH), etag=first.etag)
    assert (again.changed, again.body, again.etag) == (False, None, '"v1"')
    assert feed_server.requests[-1]["If-None-Match"] == '"v1"'
    assert feed_server.requests[-1]["Accept-Encoding"] == "gzip, deflate"


def test_last_modified_is_sent_back(feed_server: Any) -> None:
    stamp = "Mon, 02 Mar 2026 08:00:00 GMT"

    def route(request: Any) -> tuple[int, dict[str, str], bytes]:
        if request.headers.get("If-Modified-Since") == stamp:
            return 304, {}, b""
        return 200, {"Content-Type": "text/calendar", "Last-Modified": stamp}, ICS

    feed_server.routes["/feed.ics"] = route
    first = fetch_feed(feed_server.url("/feed.ics"))
    assert first.last_modified == stamp and first.etag is None
    again = fetch_feed(feed_server.url("/feed.ics"), last_modified=first.last_modified)
    assert not again.changed and again.last_modified == stamp


@pytest.mark.parametrize("status", [404, 410])
def test_gone_is_permanent(feed_server: Any, status: int) -> None:
    feed_server.routes["/gone.ics"] = serve(b"gone", status=status)
    with pytest.raises(FeedError) as caught:
        fetch_feed(feed_server.url("/gone.ics"))
    assert caught.value.permanent and str(status) in caught.value.reason


@pytest.mark.parametrize("status", [401, 403])
def test_sign_in_needed_is_permanent(feed_server: Any, status: int) -> None:
    feed_server.routes["/private.ics"] = serve(b"no", status=status)
    with pytest.raises(FeedError, match="secret iCal address") as caught:
        fetch_feed(feed_server.url("/private.ics"))
    assert caught.value.permanent


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_are_transient(feed_server: Any, status: int) -> None:
    feed_server.routes["/flaky.ics"] = serve(b"oops", status=status)
    with pytest.raises(FeedError) as caught:
        fetch_feed(feed_server.url("/flaky.ics"))
    assert not caught.value.permanent and str(status) in caught.value.reason


LOGIN_PAGE = (
    b"""

<!DOCTYPE html>
<html lang="en"><head><title>Sign in - Google Accounts</title></head>
<body><form action="/signin">"""
    + b"<input>" * 200
    + b"</form></body></html>"
)


def test_html_login_page_served_with_200(feed_server: Any) -> None:
    feed_server.routes["/login"] = serve(LOGIN_PAGE, **{"Content-Type": "text/html"})
    with pytest.raises(FeedError, match="web page") as caught:
        fetch_feed(feed_server.url("/login"))
    assert not caught.value.permanent
    # The same page with a calendar content type is still a web page.
    feed_server.routes["/disguised"] = serve(LOGIN_PAGE)
    with pytest.raises(FeedError, match="web page"):
        fetch_feed(feed_server.url("/disguised"))
    # A calendar mislabelled as text/html is still a calendar.
    feed_server.routes["/mislabelled"] = serve(ICS, **{"Content-Type": "text/html"})
    assert fetch_feed(feed_server.url("/mislabelled")).body == ICS


def test_oversized_body_stops_at_max_bytes(feed_server: Any) -> None:
    big = b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"x" * (3 * MIB)
    feed_server.routes["/declared"] = serve(big)
    with pytest.raises(FeedError, match="over 1 MiB"):
        fetch_feed(feed_server.url("/declared"), max_bytes=MIB)

    def chunks() -> Iterator[bytes]:  # no Content-Length: only streaming can tell
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    feed_server.routes["/streamed"] = serve(chunks())
    with pytest.raises(FeedError, match="over 1 MiB"):
        fetch_feed(feed_server.url("/streamed"), max_bytes=MIB)


def test_gzip_bomb_fails_fast_with_bounded_memory(feed_server: Any) -> None:
    bomb = gzip.compress(b"\0" * (10 * MIB), compresslevel=9)
    assert len(bomb) < 20 * 1024
    feed_server.routes["/bomb.ics"] = serve(bomb, **{"Content-Encoding": "gzip"})
    tracemalloc.start()
    began = time.monotonic()
    try:
        with pytest.raises(FeedError, match="over 1 MiB uncompressed"):
            fetch_feed(feed_server.url("/bomb.ics"), max_bytes=MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - began < HUNG
    assert peak < 4 * MIB  # the 10 MiB never exist in memory


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib header
    ],
)
def test_compressed_feeds_are_decoded(feed_server: Any, encoding: str, compress: Any) -> None:
    feed_server.routes["/z.ics"] = serve(compress(ICS), **{"Content-Encoding": encoding})
    assert fetch_feed(feed_server.url("/z.ics")).body == ICS


def test_slow_server_times_out_quickly(feed_server: Any) -> None:
    def silent(_request: Any) -> tuple[int, dict[str, str], bytes]:
        time.sleep(3)
        return 200, {"Content-Type": "text/calendar"}, ICS

    def dribble() -> Iterator[bytes]:
        yield b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"x" * 600
        for _ in range(100):  # 10 s in all, each byte well inside the 0.5 s timeout
            time.sleep(0.1)
            yield b"x"

    feed_server.routes["/silent"] = silent
    feed_server.routes["/dribble"] = serve(dribble())
    for path in ("/silent", "/dribble"):
        began = time.monotonic()
        with pytest.raises(FeedError, match=r"no answer within 0\.5 s") as caught:
            fetch_feed(feed_server.url(path), timeout=0.5)
        assert not caught.value.permanent
        assert time.monotonic() - began < WHOLE_ANSWER, path  # not a read timeout per byte


def test_redirects_are_followed_up_to_five(feed_server: Any) -> None:
    for hop in range(1, 7):
        target = f"/hop{hop + 1}" if hop < 6 else "/feed.ics"
        feed_server.routes[f"/hop{hop}"] = serve(b"", status=302, Location=target)
    feed_server.routes["/feed.ics"] = serve(ICS)
    assert fetch_feed(feed_server.url("/hop2")).body == ICS  # 5 redirects
    with pytest.raises(FeedError, match="more than 5 redirects") as caught:
        fetch_feed(feed_server.url("/hop1"))  # 6 redirects
    assert not caught.value.permanent


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FeedError, match="could not connect") as caught:
        fetch_feed(f"http://127.0.0.1:{port}/feed.ics", timeout=2)
    assert not caught.value.permanent


def test_schemes() -> None:
    assert normalize_url("webcal://p01-calendars.icloud.com/published/2/x") == (
        "https://p01-calendars.icloud.com/published/2/x"
    )
    assert normalize_url("WEBCAL://example.com/a.ics") == "https://example.com/a.ics"
    for bad in ("ftp://example.com/a.ics", "file:///etc/passwd", "javascript:alert(1)", "x"):
        with pytest.raises(FeedError) as caught:
            fetch_feed(bad)
        assert caught.value.permanent


def test_the_url_is_never_logged(feed_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    feed_server.routes[SECRET_PATH] = serve(ICS)
    feed_server.routes["/missing"] = serve(b"", status=404)
    caplog.set_level(logging.DEBUG)
    fetch_feed(feed_server.url(SECRET_PATH))
    with pytest.raises(FeedError):
        fetch_feed(feed_server.url("/missing") + "?token=private-5f3a9c0e1b7d2468")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records  # httpx and Heedful did log
    assert "private-5f3a9c0e1b7d2468" not in text
    assert url_label(feed_server.url(SECRET_PATH)) in text


def test_read_source_files_and_urls(tmp_path: Path, feed_server: Any) -> None:
    path = tmp_path / "cal.ics"
    path.write_bytes(ICS)
    assert read_source(str(path)).body == ICS
    assert read_source(path.as_uri()).body == ICS
    with pytest.raises(FeedError, match="no such file"):
        read_source(str(tmp_path / "missing.ics"))
    with pytest.raises(FeedError, match="directory"):
        read_source(str(tmp_path))
    with pytest.raises(FeedError, match="over 1 KiB"):
        read_source(str(path), max_bytes=1024)
    feed_server.routes["/feed.ics"] = serve(ICS)
    assert read_source(feed_server.url("/feed.ics"), timeout=5).body == ICS

"""Feed fingerprints (issue 13): a DTSTAMP-only difference changes nothing, a real change
names its series alone, and the part of a feed holding some series reads exactly as
those series read in the whole feed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.calendars.fingerprint import NO_UID, content_digest, fingerprint, only_series
from bot.calendars.ics import parse_ics

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.ics"))
START, END = datetime(2020, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)


def ics(*events: str, frame: str = "") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Heedful tests//EN", frame, *events]
    return ("\r\n".join([line for line in lines if line] + ["END:VCALENDAR", ""])).encode()


def event(
    uid: str, start: str = "20300304T090000Z", stamp: str = "20300101T000000Z", **more: str
) -> str:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{start}",
        "DURATION:PT30M",
        "SUMMARY:Design review",
        *(f"{k.replace('_', '-')}:{v}" for k, v in more.items()),
        "END:VEVENT",
    ]
    return "\r\n".join(lines)


def parsed(body: bytes) -> list[tuple[str, datetime, str | None, str]]:
    feed = parse_ics(body, source="ics:1", start=START, end=END)
    return sorted((o.uid, o.start, o.recurrence_id, o.title) for o in feed.occurrences)


def test_a_fresh_dtstamp_on_every_event_changes_no_fingerprint() -> None:
    before = ics(event("a"), event("b"))
    after = ics(event("a", stamp="20300402T101010Z"), event("b", stamp="20300402T101011Z"))
    assert before != after
    assert fingerprint(before) == fingerprint(after)


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_real_feeds_keep_their_fingerprints_when_only_dtstamp_moves(path: Path) -> None:
    body = path.read_bytes()
    restamped = re.sub(rb"(?m)^DTSTAMP([;:][^\r\n]*)", b"DTSTAMP:20991231T235959Z", body)
    assert fingerprint(restamped) == fingerprint(body)


def test_folding_and_line_endings_do_not_count() -> None:
    plain = ics(event("a", DESCRIPTION="Agenda: the roadmap"))
    folded = plain.replace(b"Agenda: the", b"Agenda: th\r\n e").replace(b"\r\n", b"\n")
    assert fingerprint(folded) == fingerprint(plain)


def test_a_real_change_names_its_series_only() -> None:
    before = fingerprint(ics(event("a"), event("b"), event("c")))
    moved = fingerprint(ics(event("a"), event("b", start="20300304T100000Z"), event("c")))
    assert moved.frame == before.frame
    assert moved.changed_series(before.series) == {"b"}


def test_an_override_added_to_a_series_changes_that_series() -> None:
    series = event("weekly", RRULE="FREQ=WEEKLY;COUNT=4")
    override = event("weekly", start="20300311T100000Z", RECURRENCE_ID="20300311T090000Z")
    before = fingerprint(ics(series, event("other")))
    after = fingerprint(ics(series, override, event("other")))
    assert after.changed_series(before.series) == {"weekly"}


def test_added_and_removed_series_are_changed_series() -> None:
    before = fingerprint(ics(event("a"), event("b")))
    after = fingerprint(ics(event("b"), event("c")))
    assert after.changed_series(before.series) == {"a", "c"}


def test_an_attendee_s_answer_or_an_alarm_is_a_change() -> None:
    base = fingerprint(ics(event("a", ATTENDEE="mailto:ana@example.com")))
    answered = fingerprint(ics(event("a", ATTENDEE=";PARTSTAT=DECLINED:mailto:ana@example.com")))
    assert answered.series != base.series


def test_the_calendar_s_zone_is_the_frame() -> None:
    before = fingerprint(ics(event("a"), frame="X-WR-TIMEZONE:Europe/Berlin"))
    after = fingerprint(ics(event("a"), frame="X-WR-TIMEZONE:America/New_York"))
    assert after.frame != before.frame
    assert after.series == before.series


def test_events_without_uid_are_one_series() -> None:
    no_uid = "BEGIN:VEVENT\r\nDTSTART:20300304T090000Z\r\nSUMMARY:Lunch\r\nEND:VEVENT"
    assert set(fingerprint(ics(no_uid, event("a"))).series) == {NO_UID, "a"}


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_the_part_holding_some_series_reads_as_they_read_in_the_whole_feed(path: Path) -> None:
    body = path.read_bytes()
    everything = parsed(body)
    uids = sorted(set(fingerprint(body).series) - {NO_UID})
    part = only_series(body, set(uids))
    assert part is not None
    assert parsed(part) == [o for o in everything if o[0] in set(uids)] or not uids
    for uid in uids[:5]:
        one = only_series(body, {uid})
        assert one is not None
        assert parsed(one) == [o for o in everything if o[0] == uid]


def test_a_feed_of_several_calendars_is_read_whole() -> None:
    two = ics(event("a")) + ics(event("b"))
    assert only_series(two, {"a"}) is None


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_the_quick_digest_ignores_stamps_and_sees_everything_else(path: Path) -> None:
    body = path.read_bytes()
    restamped = re.sub(rb"(?m)^DTSTAMP([;:][^\r\n]*)", b"DTSTAMP:20991231T235959Z", body)
    assert content_digest(restamped) == content_digest(body)
    changed = body.replace(b"SUMMARY:", b"SUMMARY:x", 1)
    assert changed == body or content_digest(changed) != content_digest(body)


def test_the_quick_digest_drops_a_folded_stamp_and_only_the_stamp() -> None:
    plain = ics(event("a"))
    folded = plain.replace(b"DTSTAMP:20300101T000000Z", b"DTSTAMP:2030010\r\n 1T000000Z")
    assert folded != plain and content_digest(folded) == content_digest(plain)
    assert content_digest(ics(event("a", start="20300304T100000Z"))) != content_digest(plain)

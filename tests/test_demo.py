"""``heedful demo``, installed and run as a person would run it: a week on a virtual
clock that ends with one digest, whose numbers agree with the DMs it printed and the
answers the simulated user gave. Also with a calendar file of one's own, and against
another Slack API (a second emulator, started as its own process)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.calendars.ics import parse_ics
from bot.demo_week import sample_week

pytestmark = pytest.mark.slow

HEEDFUL = shutil.which("heedful", path=str(Path(sys.executable).parent)) or "heedful"
REPO = Path(__file__).resolve().parents[1]
MONDAY = date(2026, 3, 23)
WELL_UNDER_A_MINUTE = 30.0
NUMBERS = re.compile(
    r"\*(?P<meetings>\d+) meetings with others\*.*\n"
    r"(?P<reminders>\d+) reminders before meetings; you reflected after "
    r"\*(?P<answered>\d+) of (?P<asked>\d+)\*"
)


def _demo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "HEEDFUL_", "DATABASE_URL"))
    }
    started = time.monotonic()
    result = subprocess.run(
        [HEEDFUL, "demo", "--start", MONDAY.isoformat(), "--json", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < WELL_UNDER_A_MINUTE, f"the demo took {elapsed:.1f} s"
    return [json.loads(line) for line in result.stdout.splitlines()]


def _check_the_story(lines: list[dict[str, Any]], *, user: str) -> tuple[dict[str, Any], dict]:
    """Every line is one DM (or answer) as DESIGN.md says; one digest, whose numbers are
    those of the DMs sent and answers given before it. Returns it and its numbers."""
    for line in lines:
        assert set(line) == {"at", "user", "kind", "occurrence", "text", "blocks"}, line
        assert line["user"] == user
        assert datetime.fromisoformat(line["at"].replace("Z", "+00:00")).tzinfo is not None
        assert isinstance(line["text"], str) and line["text"]
    (digest,) = [line for line in lines if line["kind"] == "digest"]
    before = Counter(line["kind"] for line in lines[: lines.index(digest)])
    found = NUMBERS.search(digest["text"])
    assert found, digest["text"]
    numbers = {k: int(v) for k, v in found.groupdict().items()}
    assert numbers["reminders"] == before["reminder"] + before["transition"]
    assert numbers["asked"] == before["reflection"] + before["transition"]
    assert numbers["answered"] == before["answer"]
    assert 0 < numbers["answered"] < numbers["asked"]  # most questions, not all
    return digest, numbers


def _meetings_with_others(ics: bytes, *, email: str, zone: ZoneInfo, until: datetime) -> int:
    """Meetings with others in the calendar from Monday 00:00 until the digest."""
    start = datetime.combine(MONDAY, datetime.min.time(), zone)
    parsed = parse_ics(ics, source="ics:1", start=start, end=until, user_emails=(email,))
    return sum(1 for o in parsed.occurrences if o.eligible and start <= o.start < until)


def test_the_demo_plays_a_week_and_ends_with_its_digest(tmp_path: Path) -> None:
    lines = _demo(cwd=tmp_path)
    digest, numbers = _check_the_story(lines, user="U0DEMOANA")
    berlin = ZoneInfo("Europe/Berlin")
    at = datetime.fromisoformat(digest["at"].replace("Z", "+00:00"))
    assert at.astimezone(berlin) == datetime(2026, 3, 27, 16, 0, tzinfo=berlin)
    week = sample_week(MONDAY, berlin, "ana@example.com").encode()
    assert numbers["meetings"] == _meetings_with_others(
        week, email="ana@example.com", zone=berlin, until=at
    )
    kinds = Counter(line["kind"] for line in lines)
    assert kinds["reminder"] and kinds["reflection"] and kinds["transition"]
    assert digest["blocks"] and digest["blocks"][0]["type"] == "header"


# A week in New York for zoe@acme.test: a daily 1:1, a team review, an all-hands, a call
# with another company, a meeting she declined and a day off.
ZOE = "zoe@acme.test"
NEW_YORK = ZoneInfo("America/New_York")


def _event(uid: str, title: str, day: int, hhmm: str, minutes: int, people: list[str], **kw: str):
    start = datetime.combine(MONDAY + timedelta(days=day), datetime.min.time(), NEW_YORK)
    start += timedelta(hours=int(hhmm[:2]), minutes=int(hhmm[3:]))
    end = start + timedelta(minutes=minutes)
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}@acme.test",
        "DTSTAMP:20260301T120000Z",
        f"SUMMARY:{title}",
        f"DTSTART;TZID=America/New_York:{start:%Y%m%dT%H%M%S}",
        f"DTEND;TZID=America/New_York:{end:%Y%m%dT%H%M%S}",
        f"ORGANIZER:mailto:{people[0]}",
        f"ATTENDEE;PARTSTAT={kw.get('partstat', 'ACCEPTED')}:mailto:{ZOE}",
        *(f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{p}" for p in people),
    ]
    if "rrule" in kw:
        lines.append(f"RRULE:{kw['rrule']}")
    return [*lines, "END:VEVENT"]


def _zoes_week() -> bytes:
    crowd = [f"p{i}@acme.test" for i in range(15)]
    events = [
        *_event(
            "sam", "1:1 with Sam", 0, "10:00", 30, ["sam@acme.test"], rrule="FREQ=DAILY;COUNT=5"
        ),
        *_event("review", "Team review", 1, "14:00", 60, ["kim@acme.test", "lee@acme.test"]),
        *_event("allhands", "All-hands", 2, "11:00", 60, crowd),
        *_event("client", "Call with Northwind", 3, "15:00", 30, ["ola@northwind.test"]),
        *_event("vendor", "Vendor pitch", 3, "12:00", 30, ["x@vendor.test"], partstat="DECLINED"),
        "BEGIN:VEVENT",
        "UID:off@acme.test",
        "DTSTAMP:20260301T120000Z",
        "SUMMARY:Day off",
        "DTSTART;VALUE=DATE:20260327",
        "DTEND;VALUE=DATE:20260328",
        "END:VEVENT",
    ]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Heedful tests//EN", *events]
    return ("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n").encode()


def test_the_demo_reads_a_calendar_file_for_an_address(tmp_path: Path) -> None:
    ics = tmp_path / "zoe.ics"
    ics.write_bytes(_zoes_week())
    lines = _demo("--ics", str(ics), "--user-email", ZOE, "--tz", "America/New_York", cwd=tmp_path)
    digest, numbers = _check_the_story(lines, user="U0DEMOANA")
    assert numbers["meetings"] == 8  # 5 1:1s, the review, the all-hands, the call
    assert "5 one-on-one, 1 small, 1 large, 1 with people from outside" in digest["text"]


@pytest.fixture(name="other_slack")
def fixture_other_slack() -> Iterator[str]:
    """A second emulator, in its own process, with one person in New York."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.emulator", "--user", f"U0ZOE:America/New_York:{ZOE}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"SLACK_API_URL=(\S+)", line)
        assert found, line
        yield found.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        assert "Traceback" not in stderr


def test_the_demo_against_another_slack_api(tmp_path: Path, other_slack: str) -> None:
    ics = tmp_path / "zoe.ics"
    ics.write_bytes(_zoes_week())
    lines = _demo(
        "--ics", str(ics), "--user-email", ZOE, "--slack-api-url", other_slack, cwd=tmp_path
    )
    digest, numbers = _check_the_story(lines, user="U0ZOE")  # the person with that address
    at = datetime.fromisoformat(digest["at"].replace("Z", "+00:00"))
    # Friday 16:00 in New York (her Slack zone), once.
    assert at.astimezone(NEW_YORK).strftime("%A %H:%M") == "Friday 16:00"
    assert at == datetime(2026, 3, 27, 20, 0, tzinfo=UTC)
    assert numbers["meetings"] == _meetings_with_others(
        _zoes_week(), email=ZOE, zone=NEW_YORK, until=at
    )

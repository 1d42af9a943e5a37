"""``heedful calendar preview``, run as a person runs it: the installed command in a
subprocess (human and --json output, broken and missing files, a URL, bad arguments)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.messages.prompts import load_prompts

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
HEEDFUL = shutil.which("heedful", path=str(Path(sys.executable).parent)) or "heedful"
WINDOW = ("--from", "2026-03-02", "--to", "2026-03-13", "--tz", "Europe/Berlin")
USER = ("--user-email", "dana@acme.example")
NO_USER_EMAIL = load_prompts().text("calendar.preview.no_user_email")
KEYS = {
    "source",
    "uid",
    "recurrence_id",
    "title",
    "start",
    "end",
    "all_day",
    "status",
    "attendees",
    "attendees_unknown",
    "self_response",
    "eligible",
    "skip_reason",
}


def preview(*args: str, cwd: Path = FIXTURES, tz: str = "Europe/Berlin") -> Any:
    result = subprocess.run(
        [HEEDFUL, "calendar", "preview", *args],
        cwd=cwd,
        env={**os.environ, "TZ": tz},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_human_output() -> None:
    result = preview("google_x_wr_timezone.ics", *WINDOW, *USER)
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "Mon 2026-03-02 09:00–09:15  Team standup · small · eligible · google_x_wr_timezone.ics"
    )
    assert (
        "Mon 2026-03-09 all day      Berlin office closed · one-on-one · skip: all-day"
        " · google_x_wr_timezone.ics" in lines
    )
    assert any(
        line.startswith("Thu 2026-03-12 14:00–14:30  1:1 Dana / Ben") and "skip: cancelled" in line
        for line in lines
    )
    assert any("Quarterly all-hands" in line and "skip: declined" in line for line in lines)
    assert lines[-1] == "12 occurrences, 5 eligible"


def test_a_feed_that_lists_no_attendees_shows_attendees_unknown_and_calls_nothing_solo() -> None:
    """Outlook's published calendars leave every ATTENDEE out."""
    result = preview("outlook_published.ics", *WINDOW, *USER)
    assert result.returncode == 0
    note = load_prompts().text("calendar.preview.attendees_unknown", source="outlook_published.ics")
    assert result.stderr == note + "\n"
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "Mon 2026-03-02 10:00–10:30  Team meeting · attendees unknown · eligible"
        " · outlook_published.ics",
        "Tue 2026-03-03 14:00–16:00  Write the report · attendees unknown · eligible"
        " · outlook_published.ics",
        "Wed 2026-03-04 09:00–10:00  Dentist · attendees unknown · skip: out-of-office"
        " · outlook_published.ics",
    ]
    assert "Maybe gym · attendees unknown · skip: free" in lines[3]
    assert "Company holiday · attendees unknown · skip: all-day" in lines[4]
    assert lines[-1] == "6 occurrences, 3 eligible"

    result = preview("outlook_published.ics", *WINDOW, *USER, "--json")
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(o["attendees_unknown"] for o in objects)
    assert "solo" not in {o["skip_reason"] for o in objects}
    # A feed that lists attendees says nothing of the kind.
    assert "attendees unknown" not in preview("google_x_wr_timezone.ics", *WINDOW, *USER).stdout


def test_json_output_and_several_sources() -> None:
    result = preview(
        "outlook_windows_zones.ics", "cancelled_instances.ics", *WINDOW, *USER, "--json"
    )
    assert result.returncode == 0 and result.stderr == ""
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(o) == KEYS for o in objects)
    assert [o["start"] for o in objects] == sorted(o["start"] for o in objects)
    first = objects[0]
    assert first == {
        "source": "outlook_windows_zones.ics",
        "uid": first["uid"],
        "recurrence_id": "2026-03-02T15:00:00Z",
        "title": "Product/engineering check-in",
        "start": "2026-03-02T15:00:00Z",
        "end": "2026-03-02T15:30:00Z",
        "all_day": False,
        "status": "confirmed",
        "attendees": 3,
        "attendees_unknown": False,
        "self_response": "accepted",
        "eligible": True,
        "skip_reason": None,
    } | {"source": "cancelled_instances.ics"}
    cancelled = [o for o in objects if o["status"] == "cancelled"]
    assert len(cancelled) == 2 and not any(o["eligible"] for o in cancelled)
    assert {o["skip_reason"] for o in cancelled} == {"cancelled"}
    offsite = next(o for o in objects if o["title"] == "Team offsite")
    assert offsite["all_day"] and offsite["start"] == "2026-03-11T23:00:00Z"
    assert offsite["skip_reason"] == "all-day"


def test_broken_events_go_to_stderr_and_the_rest_is_listed() -> None:
    result = preview("broken_events.ics", *WINDOW, *USER)
    assert result.returncode == 0
    errors = result.stderr.splitlines()
    assert len(errors) == 3
    assert all(
        line.startswith("broken_events.ics: skipped event 040000008200E000") for line in errors
    )
    assert any(line.endswith(": no DTSTART") for line in errors)
    assert any(line.endswith(": unparsable RRULE: FREQ=FORTNIGHTLY;BYDAY=WE") for line in errors)
    assert any(line.endswith(": invalid DTSTART: 20260231T100000Z") for line in errors)
    assert result.stdout.splitlines()[-1] == "4 occurrences, 4 eligible"


def test_missing_and_unreadable_sources(tmp_path: Path) -> None:
    (tmp_path / "login.ics").write_text("<!DOCTYPE html><html><body>Sign in</body></html>")
    shutil.copy(FIXTURES / "dst_weekly.ics", tmp_path / "dst_weekly.ics")
    result = preview("missing.ics", "login.ics", "dst_weekly.ics", *WINDOW, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "missing.ics: no such file",
        "login.ics: this is a web page, not a calendar (a sign-in page?)",
        NO_USER_EMAIL,
    ]
    assert result.stdout.splitlines()[-1] == "2 occurrences, 2 eligible"

    nothing = preview("missing.ics", "login.ics", *WINDOW, cwd=tmp_path)
    assert nothing.returncode == 1 and nothing.stdout == ""
    assert len(nothing.stderr.splitlines()) == 2


def test_without_user_email_stderr_says_once_that_declines_cannot_be_seen() -> None:
    """The fixture has a meeting the user declined: without their address it looks
    eligible, and the person is told why, once, whatever the number of sources."""
    files = ("google_x_wr_timezone.ics", "outlook_windows_zones.ics")
    blind = preview(*files, *WINDOW)
    assert blind.returncode == 0
    assert blind.stderr.splitlines() == [NO_USER_EMAIL]
    assert any(
        "Quarterly all-hands" in line and "· eligible" in line for line in blind.stdout.splitlines()
    )
    as_json = preview(*files, *WINDOW, "--json")
    assert as_json.stderr.splitlines() == [NO_USER_EMAIL]
    seeing = preview(*files, *WINDOW, *USER)
    assert seeing.stderr == ""


def test_a_url_source_is_labelled_by_its_host_only(feed_server: Any) -> None:
    body = (FIXTURES / "apple_icloud.ics").read_bytes()
    secret = "/published/2/MTAxNTY4ODk5MjAxNTY4ONmT3cE-secret"
    feed_server.routes[secret] = lambda _r: (200, {"Content-Type": "text/calendar"}, body)
    result = preview(feed_server.url(secret), *WINDOW, *USER, "--json")
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert {o["source"] for o in objects} == {"http://127.0.0.1/…"}
    assert len(objects) == 3  # 10 March is an EXDATE
    assert "secret" not in result.stdout + result.stderr

    gone = preview(feed_server.url("/gone.ics"), *WINDOW)
    assert gone.returncode == 1
    assert gone.stderr.startswith("http://127.0.0.1/…: the server answered 404")


@pytest.mark.parametrize(
    "args",
    [
        ("--tz", "Mars/Olympus_Mons", "x.ics"),
        ("--from", "2026-02-30", "x.ics"),
        ("--from", "03/02/2026", "x.ics"),
        ("--user-email", "not-an-address", "x.ics"),
        ("--from", "2026-03-10", "--to", "2026-03-02", "all_day.ics"),
        (),
    ],
)
def test_bad_arguments_exit_2(args: tuple[str, ...]) -> None:
    result = preview(*args)
    assert result.returncode == 2
    assert result.stdout == ""


def test_default_window_is_this_week_in_the_machines_zone() -> None:
    result = preview("all_day.ics", tz="Asia/Kolkata")
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1].endswith("eligible")

"""The signed calendar webhook through the real app: real HTTP, Standard Webhooks
signatures made by the ``standardwebhooks`` library, the inbox, and the nudges."""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import posting
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from standardwebhooks import Webhook

from bot.app import Heedful
from bot.calendars import webhook
from bot.calendars.occurrence import Response, Status
from bot.calendars.webhook import InvalidPayload, event_occurrence, parse_payload
from bot.clock import VirtualClock
from bot.crypto import Cipher
from bot.emulator import SlackEmulator
from bot.messages import Message
from bot.occurrences import opt_in
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import Delivery, InboxItem, OccurrenceRow, WebhookSource
from bot.sync import hooks
from bot.sync.hooks import create_webhook_source, delete_webhook_source, list_webhook_sources

TEAM = "T0001"


@dataclass
class Hook:
    """A webhook source and a client that pushes to it over HTTP."""

    heedful: Heedful
    source_id: int
    secret: str

    @property
    def url(self) -> str:
        return f"{self.heedful.url}/hooks/calendar?source={self.source_id}"

    def headers(self, body: str, msg_id: str, *, at: datetime | None = None) -> dict[str, str]:
        at = at or datetime.now(UTC)
        return {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(self.secret).sign(msg_id, at, body),
        }

    def push(
        self, payload: Any, msg_id: str = "msg_1", *, at: datetime | None = None
    ) -> tuple[int, str]:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return post(self.url, body.encode(), self.headers(body, msg_id, at=at))


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    status, answer = posting.post(url, body, headers)
    return status, answer.decode()


@pytest.fixture(name="hook")
def fixture_hook(heedful: Heedful) -> Hook:
    source_id, secret = create_webhook_source(heedful.services, team_id=TEAM, name="zapier")
    return Hook(heedful, source_id, secret)


@pytest.fixture(name="ana")
def fixture_ana(services: Services) -> str:
    """U1 (Berlin, ana@example.com), who connected a calendar: Heedful may nudge her."""
    with session_scope(services.engine) as session:
        user = repo.ensure_user(
            session=session, team_id=TEAM, user_id="U1", now=services.clock.now()
        )
        user.tz, user.email = "Europe/Berlin", "ana@example.com"
        user.prefs = {"emails": ["ana@home.example"]}
        session.add(user)
    opt_in(services, team_id=TEAM, user_id="U1")
    return "U1"


def event(clock: VirtualClock, uid: str = "evt-1", *, hours: float = 3, **fields: Any) -> dict:
    """A 30-minute 1:1 of Ana's with Ben, ``hours`` after now (Monday 10:00 Berlin)."""
    start = clock.now() + timedelta(hours=hours)
    return {
        "uid": uid,
        "title": "1:1 with Ben",
        "start": start.astimezone(UTC).isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "attendees": [
            {"email": "ana@example.com", "response": "accepted"},
            {"email": "ben@example.com", "response": "needsAction"},
        ],
        "organizer": "ben@example.com",
        **fields,
    }


def for_ana(*events: dict, cancel: list[dict] | None = None) -> dict:
    body: dict[str, Any] = {"user": {"slack_id": "U1"}, "events": list(events)}
    if cancel is not None:
        body["cancel"] = cancel
    return body


def rows(services: Services, table: Any) -> list[Any]:
    with services.engine.connect() as conn:
        return list(conn.execute(sa.select(table.__table__)))


def pending_nudges(services: Services) -> dict[tuple[str, str], tuple[str, datetime]]:
    """(kind, uid) → (state, due_at) for every reminder/reflection row."""
    return {
        (r.kind, r.ref.split("|")[1]): (r.state, r.due_at)
        for r in rows(services, Delivery)
        if r.kind in ("reminder", "reflection", "transition")
    }


# --------------------------------------------------------------------------- good


def test_a_signed_push_is_stored_before_the_2xx_then_becomes_a_meeting_with_nudges(
    hook: Hook, ana: str, services: Services, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    services.cipher = Cipher([Fernet.generate_key().decode()])  # encryption at rest on
    caplog.set_level(logging.DEBUG)
    status, answer = hook.push(for_ana(event(clock)), "msg_good")
    assert status == 202, answer
    assert json.loads(answer) == {"ok": True, "duplicate": False}

    (item,) = rows(services, InboxItem)
    assert (item.source, item.external_id, item.state) == (
        "calendar-hook",
        f"{hook.source_id}:msg_good",
        "pending",
    )
    assert item.body.startswith("fernet:") and "1:1 with Ben" not in item.body
    assert rows(services, OccurrenceRow) == []  # nothing applied before the worker runs

    assert hook.heedful.process_inbox() == 1
    (occ,) = rows(services, OccurrenceRow)
    assert occ.source == f"hook:{hook.source_id}" and occ.uid == "evt-1"
    assert occ.start_at == clock.now() + timedelta(hours=3)
    assert (occ.attendees, occ.self_response, occ.external, occ.skip_reason) == (
        2,
        "accepted",
        False,
        None,
    )
    nudges = pending_nudges(services)
    assert nudges[("reminder", "evt-1")][0] == "pending"
    assert nudges[("reflection", "evt-1")][0] == "pending"
    (item,) = rows(services, InboxItem)
    assert item.state == "done" and item.body == ""
    assert "1:1 with Ben" not in caplog.text and hook.secret not in caplog.text


def test_the_documented_example_is_accepted(hook: Hook, ana: str, services: Services) -> None:
    doc = webhook.__doc__ or ""
    block = doc.split("The body (JSON object)::", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line)
    example = json.loads("\n".join(lines))
    parse_payload(example)
    with session_scope(services.engine) as session:
        repo.ensure_user(
            session=session, team_id=TEAM, user_id="U0123ABCD", now=services.clock.now()
        )
    assert hook.push(example, "msg_example")[0] == 202
    hook.heedful.process_inbox()
    (occ,) = rows(services, OccurrenceRow)
    assert occ.recurrence_id == "2026-03-02T09:00:00Z" and occ.recurring
    assert occ.conference_url == "https://meet.example.com/abc-defg-hij"


def test_a_user_named_by_email_is_found_by_slack_or_added_address(
    hook: Hook, ana: str, services: Services, clock: VirtualClock
) -> None:
    for n, email in enumerate(["ANA@example.com", "ana@home.example"]):
        body = {"user": {"email": email}, "events": [event(clock, f"evt-{n}")]}
        assert hook.push(body, f"msg_{n}")[0] == 202
    hook.heedful.process_inbox()
    assert sorted((r.user_id, r.uid) for r in rows(services, OccurrenceRow)) == [
        ("U1", "evt-0"),
        ("U1", "evt-1"),
    ]


# --------------------------------------------------------------------------- refused


def test_forged_tampered_and_unsigned_requests_get_401_and_nothing_is_stored(
    hook: Hook, ana: str, services: Services, clock: VirtualClock
) -> None:
    body = json.dumps(for_ana(event(clock)))
    forger = Hook(hook.heedful, hook.source_id, hooks.new_secret())
    assert forger.push(body)[0] == 401

    headers = hook.headers(body, "msg_1")
    tampered = body.replace("1:1 with Ben", "1:1 with Eve")
    status, reason = post(hook.url, tampered.encode(), headers)
    assert (status, reason) == (401, "no valid signature for this source")

    assert post(hook.url, body.encode(), {"Content-Type": "application/json"})[0] == 401
    for garbage in ("garbage", "v1,!!!notbase64", "v2,abc"):
        assert post(hook.url, body.encode(), {**headers, "webhook-signature": garbage})[0] == 401

    _, other_secret = create_webhook_source(services, team_id=TEAM, name="other")
    misrouted = Hook(hook.heedful, hook.source_id, other_secret)  # signed for another source
    assert misrouted.push(body)[0] == 401

    assert rows(services, InboxItem) == []


@pytest.mark.parametrize(("minutes", "word"), [(-6, "old"), (6, "future")])
def test_a_timestamp_more_than_five_minutes_off_gets_401(
    hook: Hook, ana: str, services: Services, clock: VirtualClock, minutes: int, word: str
) -> None:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    status, reason = hook.push(for_ana(event(clock)), at=at)
    assert status == 401 and word in reason and "5 minutes" in reason
    assert rows(services, InboxItem) == []
    # Four minutes is within the tolerance.
    assert hook.push(for_ana(event(clock)), at=datetime.now(UTC) - timedelta(minutes=4))[0] == 202


def test_unknown_missing_and_deleted_sources_are_refused(
    hook: Hook, ana: str, services: Services, clock: VirtualClock
) -> None:
    body = json.dumps(for_ana(event(clock)))
    headers = hook.headers(body, "msg_1")
    base = f"{hook.heedful.url}/hooks/calendar"
    assert post(f"{base}?source=999999", body.encode(), headers)[0] == 401
    assert post(base, body.encode(), headers)[0] == 400
    assert post(f"{base}?source=abc", body.encode(), headers)[0] == 400

    assert delete_webhook_source(services, team_id=TEAM, source_id=hook.source_id)
    status, reason = post(hook.url, body.encode(), headers)
    assert (status, reason) == (401, "unknown webhook source")
    assert rows(services, InboxItem) == []


def _many(clock: VirtualClock, n: int) -> list[dict]:
    return [event(clock, f"e{i}") for i in range(n)]


MALFORMED: list[tuple[str, Callable[[VirtualClock], Any], str]] = [
    ("not json", lambda c: "{not json", "not JSON"),
    ("a list", lambda c: "[]", "JSON object"),
    ("no user", lambda c: {"events": [event(c)]}, "user"),
    ("two users", lambda c: {"user": {"slack_id": "U1", "email": "a@b.c"}, "events": []}, "one"),
    ("bad slack id", lambda c: {"user": {"slack_id": "bob"}}, "user.slack_id"),
    ("bad email", lambda c: {"user": {"email": "nobody"}}, "user.email"),
    ("unknown top field", lambda c: {**for_ana(event(c)), "evnets": []}, "evnets"),
    ("events not a list", lambda c: {"user": {"slack_id": "U1"}, "events": {}}, "events"),
    ("no start", lambda c: for_ana({k: v for k, v in event(c).items() if k != "start"}), "start"),
    ("no uid", lambda c: for_ana({k: v for k, v in event(c).items() if k != "uid"}), "uid"),
    ("empty uid", lambda c: for_ana(event(c, "")), "events[0].uid"),
    ("naive start", lambda c: for_ana(event(c, start="2026-03-02T12:00:00")), "UTC offset"),
    ("not a date", lambda c: for_ana(event(c, start="next tuesday")), "events[0].start"),
    ("bad month", lambda c: for_ana(event(c, end="2026-13-02T12:00:00Z")), "events[0].end"),
    ("number date", lambda c: for_ana(event(c, start=1772452800)), "events[0].start"),
    (
        "end before start",
        lambda c: for_ana(event(c, end=c.now().isoformat())),
        "events[0].end: must be after start",
    ),
    ("date without all_day", lambda c: for_ana(event(c, start="2026-03-02")), "start"),
    ("typo", lambda c: for_ana(event(c, all_dya=True)), "all_dya"),
    ("all_day string", lambda c: for_ana(event(c, all_day="yes")), "all_day"),
    ("bad status", lambda c: for_ana(event(c, status="maybe")), "status"),
    (
        "bad response",
        lambda c: for_ana(event(c, attendees=[{"email": "a@x.com", "response": "sure"}])),
        "attendees[0].response",
    ),
    ("bad attendee", lambda c: for_ana(event(c, attendees=[42])), "attendees[0]"),
    ("bad link", lambda c: for_ana(event(c, conference_url="javascript:x")), "conference_url"),
    (
        "link that closes Slack's markup",
        lambda c: for_ana(event(c, conference_url="https://x.example/a><!channel>")),
        "events[0].conference_url",
    ),
    (
        "link with a pipe",
        lambda c: for_ana(event(c, conference_url="https://meet.example.com/a|Click")),
        "events[0].conference_url",
    ),
    (
        "link with a space",
        lambda c: for_ana(event(c, conference_url="https://meet.example.com/a b")),
        "events[0].conference_url",
    ),
    ("NUL in a title", lambda c: for_ana(event(c, title="Stand\u0000-up")), "events[0].title"),
    ("lone surrogate", lambda c: for_ana(event(c, title="\ud800 sync")), "events[0].title"),
    ("NUL in a uid", lambda c: for_ana(event(c, "evt\u0000")), "events[0].uid"),
    (
        "surrogate in an address",
        lambda c: for_ana(event(c, organizer="b\udfff@example.com")),
        "events[0].organizer",
    ),
    ("a string", lambda c: '"events"', "JSON object"),
    ("a number", lambda c: "42", "JSON object"),
    ("null", lambda c: "null", "JSON object"),
    ("user a string", lambda c: {"user": "U1"}, "user"),
    ("title a number", lambda c: for_ana(event(c, title=42)), "events[0].title"),
    ("uid a list", lambda c: for_ana(event(c, ["evt-1"])), "events[0].uid"),
    ("attendees an object", lambda c: for_ana(event(c, attendees={})), "attendees"),
    ("recurrence_id a number", lambda c: for_ana(event(c, recurrence_id=7)), "recurrence_id"),
    ("nested 100,000 deep", lambda c: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    (
        "nested in a field",
        lambda c: '{"user": {"slack_id": ' + "[" * 100_000 + "]" * 100_000 + "}}",
        "nested too deeply",
    ),
    ("bad category", lambda c: for_ana(event(c, category="lunch")), "category"),
    ("same uid twice", lambda c: for_ana(event(c), event(c)), "events[1]"),
    ("cancel and upsert", lambda c: for_ana(event(c), cancel=[{"uid": "evt-1"}]), "cancel[0]"),
    ("cancel without uid", lambda c: for_ana(cancel=[{"recurrence_id": "x"}]), "cancel[0].uid"),
    ("too many", lambda c: for_ana(*_many(c, 501)), "at most 500"),
]


@pytest.mark.parametrize(
    ("payload", "reason"), [(p, r) for _, p, r in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
def test_a_malformed_body_gets_400_with_a_one_line_reason_and_nothing_is_stored(
    hook: Hook,
    services: Services,
    clock: VirtualClock,
    payload: Callable[[VirtualClock], Any],
    reason: str,
) -> None:
    status, answer = hook.push(payload(clock))
    assert status == 400
    assert reason in answer and "\n" not in answer.strip()
    assert rows(services, InboxItem) == []


def test_a_refused_body_is_one_log_line_at_most_and_never_a_traceback(
    hook: Hook, services: Services, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _name, payload, _reason in MALFORMED:
        caplog.clear()
        body = payload(clock)
        status, _answer = hook.push(body)
        assert 400 <= status < 500
        ours = [r for r in caplog.records if r.name.startswith(("bot", "handlers"))]
        assert len(ours) <= 1 and not any(r.exc_info for r in caplog.records), _name
        text = body if isinstance(body, str) else json.dumps(body)
        assert not any(text[:40] in r.getMessage() for r in caplog.records)


def test_a_push_that_would_fail_when_stored_is_refused_and_the_fixed_one_keeps_every_event(
    hook: Hook, ana: str, services: Services, clock: VirtualClock
) -> None:
    """The answer is given before the push is applied: one event that the database
    would refuse must not cost the 20 good ones beside it after a 2xx."""
    good = [event(clock, f"evt-{n}", hours=2 + n / 10) for n in range(20)]
    for bad in ("Stand\u0000-up", "\ud800"):
        status, reason = hook.push(for_ana(*good, event(clock, "evt-bad", title=bad)), "msg_b")
        assert (status, reason.split(":")[0]) == (400, "events[20].title")
    assert rows(services, InboxItem) == []

    assert hook.push(for_ana(*good), "msg_b")[0] == 202
    assert hook.heedful.process_inbox() == 1
    assert {r.state for r in rows(services, InboxItem)} == {"done"}
    assert len(rows(services, OccurrenceRow)) == 20


@pytest.mark.parametrize(
    "stamps",
    [["abc"], [""], ["1.7e9"], ["{now}.5"], ["{now}", "{now}"], ["-{now}"]],
    ids=["word", "empty", "exponent", "fraction", "repeated", "negative"],
)
def test_a_timestamp_that_is_not_one_whole_number_of_seconds_gets_401(
    hook: Hook,
    services: Services,
    clock: VirtualClock,
    stamps: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps(for_ana(event(clock)))
    now = datetime.now(UTC)
    headers = [(k, v) for k, v in hook.headers(body, "msg_t", at=now).items()]
    headers = [(k, v) for k, v in headers if k != "webhook-timestamp"]
    headers += [("webhook-timestamp", s.format(now=int(now.timestamp()))) for s in stamps]
    status, answer = post_raw(hook.url, body.encode(), headers)
    assert status == 401 and "\n" not in answer.strip()
    assert rows(services, InboxItem) == []
    assert not any(r.exc_info for r in caplog.records)


def post_raw(url: str, body: bytes, headers: list[tuple[str, str]]) -> tuple[int, str]:
    """POST with headers exactly as given (a name may repeat), over a fresh connection."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("POST", f"{parts.path}?{parts.query}")
        for name, value in [*headers, ("Content-Length", str(len(body)))]:
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_a_webhook_id_that_cannot_be_logged_safely_gets_400(
    hook: Hook, services: Services, clock: VirtualClock
) -> None:
    for msg_id in ("msg\t1", "m" * 201):
        status, reason = hook.push(for_ana(event(clock)), msg_id)
        assert status == 400 and reason.startswith("webhook-id")
    assert rows(services, InboxItem) == []


def test_a_body_that_is_not_utf8_gets_400(hook: Hook, services: Services) -> None:
    body = b'{"user": "\xff\xfe"}'
    headers = hook.headers(body.decode("latin-1"), "msg_1")
    assert post(hook.url, body, headers) == (400, "the body is not UTF-8")
    assert rows(services, InboxItem) == []


# --------------------------------------------------------------------------- at most once


def test_a_replayed_request_has_one_effect(
    hook: Hook, ana: str, services: Services, clock: VirtualClock
) -> None:
    body = json.dumps(for_ana(event(clock)))
    headers = hook.headers(body, "msg_replay")
    assert post(hook.url, body.encode(), headers)[0] == 202
    for _ in range(3):  # the very same bytes, captured and sent again
        status, answer = post(hook.url, body.encode(), headers)
        assert status == 200 and json.loads(answer)["duplicate"] is True
    assert hook.heedful.process_inbox() == 1
    assert post(hook.url, body.encode(), headers)[0] == 200  # also after it was processed
    assert hook.heedful.process_inbox() == 0
    assert len(rows(services, InboxItem)) == 1
    assert len(rows(services, OccurrenceRow)) == 1
    assert len(pending_nudges(services)) == 2


def test_a_retry_with_the_same_webhook_id_is_a_no_op_even_with_a_new_body(
    hook: Hook, ana: str, services: Services, clock: VirtualClock
) -> None:
    assert hook.push(for_ana(event(clock)), "msg_dup")[0] == 202
    hook.heedful.process_inbox()
    # The provider retries: fresh timestamp and signature, same id (and here, a later body).
    moved = event(clock, hours=5)
    assert hook.push(for_ana(moved), "msg_dup")[0] == 200
    hook.heedful.process_inbox()
    (occ,) = rows(services, OccurrenceRow)
    assert occ.start_at == clock.now() + timedelta(hours=3)


def test_the_same_webhook_id_from_two_sources_is_two_pushes(
    hook: Hook, ana: str, services: Services, clock: VirtualClock
) -> None:
    other_id, other_secret = create_webhook_source(services, team_id=TEAM, name="make")
    other = Hook(hook.heedful, other_id, other_secret)
    assert hook.push(for_ana(event(clock)), "msg_1")[0] == 202
    assert other.push(for_ana(event(clock)), "msg_1")[0] == 202
    hook.heedful.process_inbox()
    assert sorted(r.source for r in rows(services, OccurrenceRow)) == sorted(
        [f"hook:{hook.source_id}", f"hook:{other_id}"]
    )


# --------------------------------------------------------------------------- unknown user


def test_an_unknown_user_is_acknowledged_then_skipped_with_a_warning(
    hook: Hook, ana: str, services: Services, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    for n, who in enumerate([{"slack_id": "U404"}, {"email": "stranger@example.com"}]):
        assert hook.push({"user": who, "events": [event(clock)]}, f"msg_who{n}")[0] == 202
    with caplog.at_level(logging.WARNING, logger="bot.sync.hooks"):
        assert hook.heedful.process_inbox() == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("msg_who0" in w and "skipped" in w for w in warnings)
    assert any("msg_who1" in w and "skipped" in w for w in warnings)
    assert not any("stranger@example.com" in w for w in warnings)
    assert {r.state for r in rows(services, InboxItem)} == {"done"}
    assert rows(services, OccurrenceRow) == [] and rows(services, Delivery) == []


# --------------------------------------------------------------------------- keeping nudges in sync


def test_moving_declining_and_cancelling_by_webhook_moves_and_withdraws_pending_nudges(
    hook: Hook, ana: str, services: Services, clock: VirtualClock
) -> None:
    first, second = event(clock, "evt-a", hours=3), event(clock, "evt-b", hours=5)
    hook.push(for_ana(first, second), "msg_1")
    hook.heedful.process_inbox()
    before = pending_nudges(services)
    assert before[("reminder", "evt-a")][0] == "pending"

    moved = event(clock, "evt-a", hours=4)
    hook.push(for_ana(moved), "msg_2")
    hook.heedful.process_inbox()
    after = pending_nudges(services)
    assert after[("reminder", "evt-a")] == (
        "pending",
        before[("reminder", "evt-a")][1] + timedelta(hours=1),
    )

    declined = event(
        clock,
        "evt-a",
        hours=4,
        attendees=[
            {"email": "ana@example.com", "response": "declined"},
            {"email": "ben@example.com"},
        ],
    )
    hook.push(for_ana(declined), "msg_3")
    hook.heedful.process_inbox()
    assert pending_nudges(services)[("reminder", "evt-a")][0] == "skipped"

    hook.push(for_ana(cancel=[{"uid": "evt-b"}, {"uid": "never-seen"}]), "msg_4")
    hook.heedful.process_inbox()
    nudges = pending_nudges(services)
    assert nudges[("reminder", "evt-b")][0] == "skipped"
    assert nudges[("reflection", "evt-b")][0] == "skipped"
    by_uid = {r.uid: r for r in rows(services, OccurrenceRow)}
    assert by_uid["evt-b"].status == "cancelled" and by_uid["evt-b"].skip_reason == "cancelled"
    assert "never-seen" not in by_uid


def test_what_was_sent_is_never_touched_or_sent_again(
    hook: Hook, ana: str, services: Services, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    # The nudge words come with their own issue; a plain composer stands in for them.
    sender = hook.heedful.sender
    sender.composers.setdefault("reminder", lambda row: Message(text=f"soon: {row.ref}"))
    hook.push(for_ana(event(clock, "evt-a", hours=3)), "msg_1")
    hook.heedful.process_inbox()
    reminder_due = pending_nudges(services)[("reminder", "evt-a")][1]
    clock.set(reminder_due)
    assert hook.heedful.send_due() == 1
    assert len(emulator.messages("U1")) == 1

    # The meeting moves by ten minutes, then is cancelled: the sent reminder stays sent.
    hook.push(for_ana(event(clock, "evt-a", hours=0.25)), "msg_2")
    hook.push(for_ana(cancel=[{"uid": "evt-a"}]), "msg_3")
    hook.heedful.process_inbox()
    nudges = pending_nudges(services)
    assert nudges[("reminder", "evt-a")] == ("sent", reminder_due)
    assert nudges[("reflection", "evt-a")][0] == "skipped"
    clock.advance(timedelta(hours=3))
    hook.heedful.send_due()
    assert len(emulator.messages("U1")) == 1


def test_cancelling_one_instance_of_a_series_leaves_the_others(
    hook: Hook, ana: str, services: Services, clock: VirtualClock
) -> None:
    def instance(day: int) -> dict:
        original = clock.now() + timedelta(days=day, hours=3)
        return event(clock, "weekly", hours=24 * day + 3, recurrence_id=original.isoformat())

    hook.push(for_ana(instance(0), instance(1), instance(2)), "msg_1")
    hook.heedful.process_inbox()
    cancelled = instance(1)["recurrence_id"]
    hook.push(for_ana(cancel=[{"uid": "weekly", "recurrence_id": cancelled}]), "msg_2")
    hook.heedful.process_inbox()
    statuses = sorted((r.start_at, r.status) for r in rows(services, OccurrenceRow))
    assert [s for _, s in statuses] == ["confirmed", "cancelled", "confirmed"]

    hook.push(for_ana(cancel=[{"uid": "weekly"}]), "msg_3")  # the whole series
    hook.heedful.process_inbox()
    assert {r.status for r in rows(services, OccurrenceRow)} == {"cancelled"}


# --------------------------------------------------------------------------- sources


def test_webhook_secrets_are_standard_and_encrypted_at_rest(services: Services) -> None:
    services.cipher = Cipher([Fernet.generate_key().decode()])
    source_id, secret = create_webhook_source(services, team_id=TEAM, name="n8n")
    assert secret.startswith("whsec_") and len(Webhook(secret)._whsecret) == 32
    (row,) = rows(services, WebhookSource)
    assert row.secret.startswith("fernet:") and secret not in row.secret
    assert services.cipher.decrypt(row.secret) == secret
    (info,) = list_webhook_sources(services, team_id=TEAM)
    assert (info.id, info.name) == (source_id, "n8n")
    assert secret not in repr(info)
    assert create_webhook_source(services, team_id=TEAM, name="again")[1] != secret


# --------------------------------------------------------------------------- pure conversion


def test_pushed_events_become_occurrences_by_the_feed_rules() -> None:
    payload = parse_payload(
        {
            "user": {"slack_id": "U1"},
            "events": [
                {
                    "uid": "ext",
                    "title": "Pitch",
                    "start": "2026-03-02T10:00:00+01:00",
                    "end": "2026-03-02T11:00:00+01:00",
                    "attendees": ["ana@example.com", {"email": "cy@client.example"}],
                },
                {
                    "uid": "solo",
                    "title": "Focus",
                    "start": "2026-03-02T12:00:00Z",
                    "end": "2026-03-02T13:00:00Z",
                    "category": "focus",
                },
                {
                    "uid": "offsite",
                    "title": "Offsite",
                    "start": "2026-03-03",
                    "end": "2026-03-04",
                    "all_day": True,
                    "status": "Canceled",
                },
                {
                    "uid": "mine",
                    "title": "Review",
                    "start": "2026-03-02T15:00:00Z",
                    "end": "2026-03-02T15:30:00Z",
                    "organizer": "ana@example.com",
                    "attendees": ["ben@example.com"],
                    "transparent": True,
                },
            ],
        }
    )
    ext, solo, offsite, mine = (
        event_occurrence(e, source="hook:1", user_emails=["ana@example.com"], zone="Europe/Berlin")
        for e in payload.events
    )
    assert ext.start == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert (ext.attendees, ext.external, ext.eligible) == (2, True, True)
    assert ext.self_response is Response.NEEDS_ACTION
    assert (solo.attendees, solo.skip_reason) == (0, "focus")
    assert offsite.start == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # midnight in Berlin
    assert (offsite.status, offsite.all_day, offsite.skip_reason) == (
        Status.CANCELLED,
        True,
        "cancelled",
    )
    assert (mine.attendees, mine.self_response, mine.skip_reason) == (
        2,
        Response.ACCEPTED,
        "free",
    )


def test_cancel_without_events_and_an_empty_push_are_valid() -> None:
    assert parse_payload({"user": {"email": "a@b.example"}}).events == ()
    payload = parse_payload({"user": {"slack_id": "U1"}, "cancel": [{"uid": "x"}]})
    assert payload.cancel[0].uid == "x" and payload.cancel[0].recurrence_id is None
    with pytest.raises(InvalidPayload, match="recurrence_id"):
        parse_payload({"user": {"slack_id": "U1"}, "cancel": [{"uid": "x", "recurrence_id": 5}]})


# --------------------------------------------------------------------------- the CLI


def _heedful(*args: str, db_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = shutil.which("heedful", path=str(Path(sys.executable).parent)) or "heedful"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HEEDFUL_"))}
    return subprocess.run(
        [command, *args],
        cwd=cwd,
        env={**env, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_admin_creates_lists_and_deletes_sources_with_the_cli(
    heedful: Heedful, ana: str, services: Services, clock: VirtualClock, db_url: str, tmp_path: Path
) -> None:
    create = ("calendar", "hook", "create", "zapier", "--json")
    created = _heedful(*create, db_url=db_url, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    answer = json.loads(created.stdout)
    assert answer["team"] == TEAM and answer["path"] == f"/hooks/calendar?source={answer['id']}"
    assert answer["secret"] not in created.stderr

    hook = Hook(heedful, answer["id"], answer["secret"])
    assert hook.push(for_ana(event(clock)))[0] == 202

    listed = _heedful("calendar", "hook", "list", "--json", db_url=db_url, cwd=tmp_path)
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["zapier"]
    assert answer["secret"] not in listed.stdout

    gone = _heedful("calendar", "hook", "delete", str(answer["id"]), db_url=db_url, cwd=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert hook.push(for_ana(event(clock)), "msg_2")[0] == 401
    again = _heedful("calendar", "hook", "delete", str(answer["id"]), db_url=db_url, cwd=tmp_path)
    assert again.returncode == 1 and len(again.stderr.strip().splitlines()) == 1


def test_the_cli_asks_for_a_team_when_it_cannot_tell(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = _heedful("calendar", "hook", "create", "zapier", db_url=url, cwd=tmp_path)
    assert result.returncode == 2
    assert "--team" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_people_are_counted_exactly_as_in_a_feed() -> None:
    from bot.calendars.ics import parse_ics

    cases = {  # uid → (organizer, [(attendee, PARTSTAT)])
        "pair": ("ben@example.com", [("ana@example.com", "ACCEPTED"), ("ben@example.com", None)]),
        "organizer-only": ("ben@example.com", []),
        "not-listed": ("ben@example.com", [("cy@example.com", "ACCEPTED")]),
        "mine": ("ana@example.com", [("dee@client.example", "TENTATIVE")]),
        "declined": (None, [("ana@example.com", "DECLINED"), ("ana@home.example", None)]),
        "nobody": (None, []),
    }
    emails = ["ana@example.com", "ana@home.example"]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN"]
    events = []
    for uid, (organizer, attendees) in cases.items():
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20260301T000000Z",
            "DTSTART:20260302T100000Z",
            "DTEND:20260302T103000Z",
            "SUMMARY:x",
        ]
        if organizer:
            lines.append(f"ORGANIZER:mailto:{organizer}")
        for address, partstat in attendees:
            param = f";PARTSTAT={partstat}" if partstat else ""
            lines.append(f"ATTENDEE{param}:mailto:{address}")
        lines.append("END:VEVENT")
        events.append(
            {
                "uid": uid,
                "title": "x",
                "start": "2026-03-02T10:00:00Z",
                "end": "2026-03-02T10:30:00Z",
                "attendees": [
                    {"email": a, **({"response": p.lower()} if p else {})} for a, p in attendees
                ],
                **({"organizer": organizer} if organizer else {}),
            }
        )
    lines.append("END:VCALENDAR")
    feed = parse_ics(
        "\r\n".join(lines),
        source="ics:1",
        start=datetime(2026, 3, 2, tzinfo=UTC),
        end=datetime(2026, 3, 3, tzinfo=UTC),
        user_emails=emails,
    )
    payload = parse_payload({"user": {"slack_id": "U1"}, "events": events})

    def facts(o: Any) -> tuple[Any, ...]:
        return (o.attendees, o.self_response, o.external, o.skip_reason)

    from_feed = {o.uid: facts(o) for o in feed.occurrences}
    pushed = {
        e.uid: facts(event_occurrence(e, source="hook:1", user_emails=emails))
        for e in payload.events
    }
    assert pushed == from_feed and len(pushed) == len(cases)

"""``GET /metrics`` of the real app, against what the emulator and the database hold.

The emulator here enforces Slack's rate limits on the test's virtual clock (one message a
second for the workspace, no burst), so a second DM in the same second meets a real 429
rather than a scripted one.
"""

from __future__ import annotations

import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_until

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import RateLimits, SlackEmulator
from bot.metrics import LATENESS_BUCKETS
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.models import CalendarSource, Delivery, InboxItem

SIGNING_SECRET = "test-signing-secret"  # the settings fixture's (tests/conftest.py)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(name="emulator")
def fixture_limited_emulator(clock: VirtualClock) -> Iterator[SlackEmulator]:
    emu = SlackEmulator(
        signing_secret=SIGNING_SECRET,
        clock=clock.now,
        rate_limits=RateLimits(messages_per_second=1, messages_burst=1),
    )
    emu.start()
    emu.add_user("U1", tz="Europe/Berlin", email="ana@example.com", real_name="Ana")
    emu.add_user("U2", tz="America/New_York", email="ben@example.com", real_name="Ben")
    emu.add_user("U3", tz="Europe/Paris", email="cat@example.com", real_name="Cat")
    yield emu
    emu.stop()


def scrape(app: Heedful) -> tuple[Samples, set[str]]:
    """Every sample of ``/metrics`` (name and sorted labels → value), and the family
    names, parsed as Prometheus parses the text format."""
    with urllib.request.urlopen(f"{app.url}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: Samples = {}
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, names


def series(samples: Samples, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    """The samples of one name, keyed by the values of ``keys``."""
    found = {}
    for (sample, labels), value in samples.items():
        if sample == name:
            by = dict(labels)
            found[tuple(by[k] for k in keys)] = value
    return found


def enqueue(services: Services, user: str, ref: str, kind: str = "notice", **extra: Any) -> int:
    row = {
        "team_id": "T0001",
        "user_id": user,
        "kind": kind,
        "ref": ref,
        "due_at": extra.pop("due_at", services.clock.now()),
        "payload": {"text": "Take a breath before the 1:1."},
        **extra,
    }
    t = Delivery.__table__.c  # type: ignore[attr-defined]
    with services.engine.begin() as conn:
        repo.enqueue_deliveries(conn=conn, rows=[row], now=services.clock.now())
        return conn.execute(sa.select(t.id).where(t.ref == ref, t.user_id == user)).scalar_one()


def test_slack_calls_match_what_the_emulator_recorded_429s_and_errors_included(
    heedful: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    # Two DMs in one second: the second meets the workspace's limit (a real 429).
    enqueue(services, "U1", "a")
    enqueue(services, "U2", "b")
    heedful.send_due()
    clock.advance(timedelta(minutes=1))
    heedful.send_due()
    # Cat's DM: Slack says her channel is gone. Ana's next: the connection drops.
    emulator.fault("chat.postMessage", error="channel_not_found")
    enqueue(services, "U3", "c")
    heedful.send_due()
    emulator.fault("chat.postMessage", drop_before_store=True)
    enqueue(services, "U1", "d")
    heedful.send_due()
    clock.advance(timedelta(minutes=5))  # its retry is due
    heedful.send_due()
    posted = {user: len(emulator.bot_messages(user)) for user in ("U1", "U2", "U3")}
    assert posted == {"U1": 2, "U2": 1, "U3": 0}

    samples, _ = scrape(heedful)
    calls = series(samples, "heedful_slack_calls_total", "method", "outcome")
    by_method: Counter[str] = Counter()
    for (method, _outcome), n in calls.items():
        by_method[method] += int(n)
    assert by_method == Counter(call.method for call in emulator.calls)
    limited = {m: int(n) for (m, outcome), n in calls.items() if outcome == "ratelimited"}
    assert limited == emulator.rate_limited
    assert emulator.rate_limited.get("chat.postMessage", 0) >= 1
    assert calls[("chat.postMessage", "channel_not_found")] == 1
    assert calls[("chat.postMessage", "error")] == 1
    assert calls[("chat.postMessage", "ok")] == sum(posted.values())
    assert calls[("auth.test", "ok")] >= 1  # the install, before the app was built


def test_deliveries_by_kind_and_state_match_the_outbox_rows_whatever_the_state(
    heedful: Heedful, services: Services, clock: VirtualClock
) -> None:
    enqueue(services, "U1", "a")
    enqueue(services, "U2", "b", kind="digest_test", due_at=clock.now() + timedelta(hours=1))
    withdrawn = enqueue(services, "U3", "c")
    t = Delivery.__table__.c  # type: ignore[attr-defined]
    with services.engine.begin() as conn:  # a state this code has never heard of
        conn.execute(sa.update(Delivery.__table__).where(t.id == withdrawn).values(state="expired"))
    heedful.send_due()

    samples, _ = scrape(heedful)

    with services.engine.connect() as conn:
        rows = conn.execute(sa.select(t.kind, t.state, sa.func.count()).group_by(t.kind, t.state))
        expected = {(kind, state): float(n) for kind, state, n in rows}
    assert series(samples, "heedful_deliveries_by_state", "kind", "state") == expected
    assert expected[("notice", "expired")] == 1.0 and expected[("notice", "sent")] == 1.0


def test_the_lateness_histogram_counts_what_was_sent_and_how_late(
    heedful: Heedful, services: Services, clock: VirtualClock
) -> None:
    now = clock.now()
    enqueue(services, "U1", "on-time")
    enqueue(services, "U2", "late", due_at=now - timedelta(seconds=90))
    enqueue(services, "U3", "later", due_at=now - timedelta(minutes=20))
    enqueue(services, "U1", "not-yet", due_at=now + timedelta(hours=1))
    heedful.send_due()
    for _ in range(10):  # one a second for the workspace: the rest wait their turn
        clock.advance(timedelta(seconds=2))
        heedful.send_due()

    samples, _ = scrape(heedful)

    t = Delivery.__table__.c  # type: ignore[attr-defined]
    with services.engine.connect() as conn:
        sent = conn.execute(sa.select(t.due_at, t.sent_at).where(t.state == "sent")).all()
    late = [(row.sent_at - row.due_at).total_seconds() for row in sent]
    assert len(late) == 3 and min(late) < 60 and max(late) >= 1200
    kind = (("kind", "notice"),)
    assert samples[("heedful_delivery_lateness_seconds_count", kind)] == 3
    assert samples[("heedful_delivery_lateness_seconds_sum", kind)] == sum(late)
    buckets = series(samples, "heedful_delivery_lateness_seconds_bucket", "kind", "le")
    assert len(buckets) == len(LATENESS_BUCKETS) + 1  # and +Inf
    for (_, le), count in buckets.items():
        assert count == sum(1 for x in late if x <= float(le)), le


def test_the_inbox_backlog_is_what_is_stored_and_not_processed(
    heedful: Heedful, services: Services, emulator: SlackEmulator
) -> None:
    for user in ("U1", "U2"):
        home = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"}
        assert emulator.deliver_event(f"{heedful.url}/slack/events", home).status == 200

    before, _ = scrape(heedful)
    heedful.process_inbox()
    after, names = scrape(heedful)

    assert series(before, "heedful_inbox_backlog", "source") == {("slack",): 2.0}
    t = InboxItem.__table__.c  # type: ignore[attr-defined]
    with services.engine.connect() as conn:
        left = conn.execute(
            sa.select(sa.func.count()).where(t.state.in_(("pending", "claimed")))
        ).scalar_one()
    assert left == 0
    assert series(after, "heedful_inbox_backlog", "source") == {}
    assert "heedful_inbox_backlog" in names


def test_calendar_sync_lag_is_the_most_overdue_calendar_that_is_not_broken(
    heedful: Heedful, services: Services, clock: VirtualClock
) -> None:
    now = clock.now()
    rows = [
        ("U1", "ics", "ok", now - timedelta(minutes=10)),
        ("U2", "ics", "failing", now - timedelta(minutes=3)),
        ("U3", "ics", "broken", now - timedelta(days=2)),  # waits for its owner
        ("U1", "google", "ok", now + timedelta(minutes=4)),  # not due yet
    ]
    with services.engine.begin() as conn:
        conn.execute(
            sa.insert(CalendarSource.__table__),
            [
                {"team_id": "T0001", "user_id": u, "kind": k, "status": s, "next_check_at": at}
                for u, k, s, at in rows
            ],
        )

    samples, _ = scrape(heedful)
    clock.advance(timedelta(minutes=1))
    later, _ = scrape(heedful)

    lag = series(samples, "heedful_calendar_sync_lag_seconds", "kind")
    assert lag == {("ics",): 600.0, ("google",): 0.0}
    assert series(later, "heedful_calendar_sync_lag_seconds", "kind")[("ics",)] == 660.0


def test_scheduled_messages_are_exposed_even_before_pre_scheduling(heedful: Heedful) -> None:
    samples, _ = scrape(heedful)
    assert samples[("heedful_scheduled_messages", ())] == 0.0


def test_no_label_carries_a_user_or_team_id(
    heedful: Heedful, services: Services, emulator: SlackEmulator
) -> None:
    enqueue(services, "U1", "a")
    heedful.send_due()
    wait_until(lambda: emulator.bot_messages("U1"), what="the DM")
    samples, _ = scrape(heedful)
    values = {value for _, labels in samples for _, value in labels}
    assert not values & {"U1", "T0001", emulator.bot_token, emulator.dm_channel("U1")}

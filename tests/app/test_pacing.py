"""Pacing and expiry (issue 12, items 1 and 2): the shared rate budget against the
emulator with Slack's rate limits on, on a virtual clock; every figure is what the
emulator recorded or a row's state."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from slack_sdk import WebClient

from bot.app import Heedful
from bot.budget import Budget
from bot.clock import VirtualClock
from bot.config import Settings
from bot.emulator import RateLimits, SlackEmulator
from bot.sender import POST_METHOD, REACT_METHOD
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.models import Delivery

PER_SECOND = 2  # the emulator's workspace limit, and the budget's pace
TEAM, OTHER_TEAM = "T0001", "T0002"
USERS = [f"U{i:03d}" for i in range(12)]


@pytest.fixture(name="emulator")
def fixture_emulator(clock: VirtualClock) -> Iterator[SlackEmulator]:
    """Slack with its limits on: two messages a second for the workspace (a burst of
    two), measured on the test's virtual clock."""
    emu = SlackEmulator(
        socket_mode=False,
        rate_limits=RateLimits(messages_per_second=PER_SECOND),
        clock=clock.now,
    )
    emu.start()
    for user in USERS:
        emu.add_user(user)
    yield emu
    emu.stop()


@pytest.fixture(name="settings")
def fixture_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, slack_messages_per_minute=60.0 * PER_SECOND)


@pytest.fixture(name="app")
def fixture_app(services: Services) -> Iterator[Heedful]:
    app = Heedful(services, serve_http=False, run_workers=False)
    yield app
    app.stop()


def enqueue(services: Services, user: str, ref: str, **extra: Any) -> int:
    row = {
        "team_id": TEAM,
        "user_id": user,
        "kind": "notice",
        "ref": ref,
        "due_at": services.clock.now(),
        "payload": {"text": f"Hello {user}"},
        **extra,
    }
    with services.engine.begin() as conn:
        repo.enqueue_deliveries(conn=conn, rows=[row], now=services.clock.now())
        t = Delivery.__table__.c
        return conn.execute(
            sa.select(t.id).where(t.ref == ref, t.user_id == user, t.team_id == row["team_id"])
        ).scalar_one()


def state(services: Services, delivery_id: int) -> str:
    t = Delivery.__table__.c
    with services.engine.connect() as conn:
        return conn.execute(sa.select(t.state).where(t.id == delivery_id)).scalar_one()


def posted_ids(emulator: SlackEmulator) -> Counter[int]:
    """Delivery ids Slack accepted (a 429'd request stores nothing)."""
    return Counter(
        m["metadata"]["event_payload"]["delivery_id"]
        for user in USERS
        for m in emulator.messages(user)
        if m.get("metadata")
    )


def sample(app: Heedful, outcome: str, kind: str = "notice") -> float:
    value = app.metrics.registry.get_sample_value(
        "heedful_deliveries_total", {"kind": kind, "outcome": outcome}
    )
    return value or 0.0


def install_other_team(services: Services, emulator: SlackEmulator) -> None:
    """A second workspace (its token reaches the same emulator: the pause is decided by
    the delivery's team, which is what is under test)."""
    with services.engine.begin() as conn:
        repo.upsert_installation(
            conn=conn,
            team_id=OTHER_TEAM,
            now=services.clock.now(),
            bot_token=services.cipher.encrypt(emulator.bot_token),
        )


def run_until_sent(
    apps: list[Heedful], services: Services, ids: list[int], clock: VirtualClock
) -> None:
    """Run each app's sender in turn, the first one changing every step, half a virtual
    second apart, until every delivery in ``ids`` left the outbox."""
    for step in range(1000):
        turn = apps[step % len(apps) :] + apps[: step % len(apps)]
        for app in turn:
            app.sender.run_once()
        if all(state(services, i) not in ("pending", "claimed") for i in ids):
            return
        clock.advance(timedelta(milliseconds=500))
    raise AssertionError("the deliveries were never all sent")


# --------------------------------------------------------------------------- pace


def test_the_sender_keeps_to_the_budget_and_meets_no_429(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    ids = [enqueue(services, user, "burst") for user in USERS]
    app.sender.run_once()
    assert len(posted_ids(emulator)) == PER_SECOND  # one second's burst, the rest paced
    assert sample(app, "paced") == len(USERS) - PER_SECOND

    run_until_sent([app], services, ids, clock)
    assert emulator.rate_limited == {}
    assert posted_ids(emulator) == Counter({i: 1 for i in ids})


def test_two_senders_on_one_database_share_the_budget_and_send_once(
    services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    apps = [Heedful(services, serve_http=False, run_workers=False) for _ in range(2)]
    try:
        apps[1].sender.worker_id = "second-worker"
        ids = [enqueue(services, user, "pair") for user in USERS]
        run_until_sent(apps, services, ids, clock)
    finally:
        for app in apps:
            app.stop()
    assert emulator.rate_limited == {}  # together never faster than Slack's limit
    assert posted_ids(emulator) == Counter({i: 1 for i in ids})
    t = Delivery.__table__.c
    with services.engine.connect() as conn:
        claimers = set(conn.execute(sa.select(t.claimed_by).where(t.id.in_(ids))).scalars())
    assert len(claimers) == 2, f"one sender did all the work: {claimers}"


def test_a_429_pauses_only_its_workspace_and_method_for_every_sender(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    install_other_team(services, emulator)
    client = WebClient(base_url=emulator.api_url, token=emulator.bot_token, retry_handlers=[])
    said = client.chat_postMessage(channel=USERS[5], text="Done it.")
    first = enqueue(services, USERS[0], "a")
    emulator.fault(POST_METHOD, status=429, retry_after="30")
    app.sender.run_once()
    assert state(services, first) == "pending"

    budget = Budget(services.engine, per_minute=60.0 * PER_SECOND)
    pace = budget.read(TEAM, POST_METHOD)
    assert pace is not None and pace.per_minute == 60.0  # halved
    assert pace.paused_until == clock.now() + timedelta(seconds=30)

    # Another sender (a process that never met the 429) learns it from the database.
    other = Heedful(services, serve_http=False, run_workers=False)
    try:
        same = enqueue(services, USERS[1], "b")
        elsewhere = enqueue(services, USERS[2], "c", team_id=OTHER_TEAM)
        react = {"channel": said["channel"], "timestamp": said["ts"], "name": "thumbsup"}
        reaction = enqueue(services, USERS[5], "d", payload={"text": "Noted.", "react": react})
        clock.advance(timedelta(seconds=10))
        other.sender.run_once()
        assert state(services, same) == "pending"  # its workspace and method wait
        assert state(services, elsewhere) == "sent"  # another workspace goes on
        assert state(services, reaction) == "sent"  # another method goes on
        assert len(emulator.calls_to(REACT_METHOD)) == 1

        clock.advance(timedelta(seconds=20))
        run_until_sent([other], services, [first, same], clock)  # at half the pace now
    finally:
        other.stop()
    assert emulator.rate_limited == {POST_METHOD: 1}
    assert set(posted_ids(emulator).values()) == {1}


def test_the_pace_falls_after_a_429_and_climbs_back_with_successes(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    budget = Budget(services.engine, per_minute=60.0 * PER_SECOND)
    first = enqueue(services, USERS[0], "a")
    emulator.fault(POST_METHOD, status=429, retry_after="2")
    app.sender.run_once()
    falls = budget.read(TEAM, POST_METHOD)
    assert falls is not None and falls.per_minute == 60.0
    # A 429 to a post already on its way while the pause runs says nothing new.
    until = clock.now() + timedelta(seconds=2)
    assert budget.throttled(TEAM, POST_METHOD, until=until, now=clock.now()) == 60.0

    clock.advance(timedelta(seconds=2))
    ids = [first] + [enqueue(services, user, "more") for user in USERS[1:6]]
    run_until_sent([app], services, ids, clock)
    climbs = budget.read(TEAM, POST_METHOD)
    assert climbs is not None
    # Each accepted post adds a hundredth of the ceiling (120 a minute): 6 posts, 7.2.
    assert climbs.per_minute == pytest.approx(60.0 + 6 * 1.2)
    assert emulator.rate_limited == {POST_METHOD: 1}


# --------------------------------------------------------------------------- order


def test_due_deliveries_go_nearest_meeting_first(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    now = clock.now()
    later = enqueue(  # due first, for the later meeting
        services,
        USERS[0],
        "late-meeting",
        kind="reminder",
        due_at=now - timedelta(minutes=10),
        meeting_start=now + timedelta(minutes=30),
        expires_at=now + timedelta(minutes=30),
    )
    sooner = enqueue(
        services,
        USERS[1],
        "soon-meeting",
        kind="reminder",
        due_at=now - timedelta(minutes=2),
        meeting_start=now + timedelta(minutes=3),
        expires_at=now + timedelta(minutes=3),
    )
    notice = enqueue(services, USERS[2], "no-meeting", due_at=now - timedelta(minutes=1))

    rows = repo.claim_deliveries(
        engine=services.engine, now=now, worker="w", limit=10, lease=timedelta(minutes=2)
    )
    assert [r.id for r in rows] == [notice, sooner, later]


# --------------------------------------------------------------------------- expiry


def test_a_reminder_due_after_its_meeting_started_is_expired_and_counted(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock, caplog: Any
) -> None:
    start = clock.now() - timedelta(seconds=1)
    late = enqueue(
        services,
        USERS[0],
        "started",
        due_at=start - timedelta(minutes=5),
        meeting_start=start,
        expires_at=start,
    )
    caplog.set_level("INFO", logger="bot.sender")
    app.send_due()
    assert state(services, late) == "expired"
    assert emulator.calls_to(POST_METHOD) == []
    assert sample(app, "expired") == 1
    assert any("expired" in r.getMessage() and str(late) in r.getMessage() for r in caplog.records)


def test_a_reminder_whose_slot_comes_after_its_meeting_start_is_expired_not_sent(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    meeting = clock.now() + timedelta(seconds=20)
    first = enqueue(services, USERS[0], "a")
    emulator.fault(POST_METHOD, status=429, retry_after="60")  # paused past the meeting
    app.sender.run_once()
    reminder = enqueue(services, USERS[1], "r", meeting_start=meeting, expires_at=meeting)
    app.sender.run_once()
    assert state(services, reminder) == "expired"
    assert state(services, first) == "pending"  # no deadline: it waits its turn
    assert len(emulator.calls_to(POST_METHOD)) == 1  # only the refused attempt


def test_a_reminder_that_could_only_leave_in_its_meetings_last_second_is_expired(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    """A post takes time to reach Slack: posted half a second before the start, it would
    arrive after it (bench/burst.py saw one do so)."""
    meeting = clock.now() + timedelta(milliseconds=500)
    soon = enqueue(services, USERS[0], "soon", meeting_start=meeting, expires_at=meeting)
    later = meeting + timedelta(seconds=5)
    in_time = enqueue(services, USERS[1], "in-time", meeting_start=later, expires_at=later)
    app.sender.run_once()
    assert (state(services, soon), state(services, in_time)) == ("expired", "sent")
    assert len(emulator.calls_to(POST_METHOD)) == 1

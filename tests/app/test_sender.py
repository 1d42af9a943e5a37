"""The sender against the emulator: every class of Slack answer lands in its state."""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from waiting import wait_until

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.sender import (
    MAX_ROUNDS_PER_BATCH,
    MAX_TRANSIENT_ATTEMPTS,
    METADATA_EVENT_TYPE,
    compose_notice,
)
from bot.services import Services
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import Delivery, Installation


@pytest.fixture(name="app")
def fixture_app(services: Services) -> Iterator[Heedful]:
    app = Heedful(services, serve_http=False, run_workers=False)
    yield app
    app.stop()


def enqueue(services: Services, user: str = "U1", *, ref: str = "r1", **extra: Any) -> int:
    row = {
        "team_id": extra.pop("team_id", "T0001"),
        "user_id": user,
        "kind": "notice",
        "ref": ref,
        "due_at": services.clock.now(),
        "payload": extra.pop(
            "payload",
            {
                "text": "Take a breath before the 1:1.",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Breathe."}}],
            },
        ),
        **extra,
    }
    with services.engine.begin() as conn:
        repo.enqueue_deliveries(conn=conn, rows=[row], now=services.clock.now())
        t = Delivery.__table__.c
        return conn.execute(sa.select(t.id).where(t.ref == ref, t.user_id == user)).scalar_one()


def delivery(services: Services, delivery_id: int) -> Any:
    with services.engine.connect() as conn:
        return conn.execute(
            sa.select(Delivery.__table__).where(Delivery.__table__.c.id == delivery_id)
        ).one()


def posts(emulator: SlackEmulator) -> list[Any]:
    return emulator.calls_to("chat.postMessage")


def test_a_dm_goes_to_the_user_id_with_its_metadata(
    app: Heedful, services: Services, emulator: SlackEmulator
) -> None:
    delivery_id = enqueue(services)
    assert app.send_due() == 1

    row = delivery(services, delivery_id)
    assert row.state == "sent" and row.sent_at == services.clock.now()
    (message,) = emulator.messages("U1")
    assert message["ts"] == row.message_ts and row.channel == emulator.dm_channel("U1")
    assert message["text"] == "Take a breath before the 1:1."
    assert message["metadata"]["event_type"] == METADATA_EVENT_TYPE
    payload = message["metadata"]["event_payload"]
    assert payload["delivery_id"] == delivery_id and payload["kind"] == "notice"
    assert payload["due_at"] == services.clock.now().isoformat()
    assert emulator.calls_to("conversations.open") == []  # posted to the user id
    assert app.send_due() == 0  # nothing is sent twice


def test_retry_after_of_one_and_a_half_seconds_is_honoured_per_workspace(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    first = enqueue(services, "U1", ref="a")
    emulator.fault("chat.postMessage", status=429, error="ratelimited", retry_after="1.5")
    app.sender.run_once()

    row = delivery(services, first)
    assert row.state == "pending" and row.error == "ratelimited"
    assert row.available_at == clock.now() + timedelta(seconds=1.5)

    second = enqueue(services, "U2", ref="b")  # same workspace, same method: waits too
    clock.advance(timedelta(seconds=1.4))
    app.sender.run_once()
    assert len(posts(emulator)) == 1  # only the refused attempt
    assert delivery(services, second).state == "pending"

    clock.advance(timedelta(seconds=0.2))
    app.send_due()
    assert delivery(services, first).state == "sent"
    assert delivery(services, second).state == "sent"
    assert len(emulator.messages("U1")) == 1 and len(emulator.messages("U2")) == 1


@pytest.mark.parametrize("error", ["account_inactive", "user_not_found", "cannot_dm_bot"])
def test_a_recipient_error_fails_the_delivery_and_marks_the_user(
    app: Heedful, services: Services, emulator: SlackEmulator, error: str
) -> None:
    with session_scope(services.engine) as session:
        repo.ensure_user(session=session, team_id="T0001", user_id="U1", now=services.clock.now())
    first = enqueue(services, "U1", ref="a")
    emulator.fault("chat.postMessage", error=error)
    app.send_due()
    assert delivery(services, first).state == "failed"
    assert delivery(services, first).error == f"recipient:{error}"

    later = enqueue(services, "U1", ref="b")
    app.send_due()
    assert delivery(services, later).state == "skipped"
    assert len(posts(emulator)) == 1


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "team_access_not_granted"])
def test_installation_errors_pause_the_workspace_and_keep_the_dm(
    app: Heedful, services: Services, emulator: SlackEmulator, error: str
) -> None:
    first = enqueue(services, "U1", ref="a")
    emulator.fault("chat.postMessage", error=error)
    app.send_due()
    row = delivery(services, first)
    assert row.state == "pending" and row.error == f"installation:{error}"
    with session_scope(services.engine) as session:
        inst = session.get(Installation, "T0001")
        assert inst.paused_at is not None and inst.pause_reason == error

    enqueue(services, "U2", ref="b")
    assert app.send_due() == 0  # nothing is claimed for a paused workspace
    assert len(posts(emulator)) == 1

    services.install_from_token(emulator.bot_token)  # reinstalled
    assert app.send_due() == 2
    assert delivery(services, first).state == "sent"


@pytest.mark.parametrize("error", ["invalid_blocks", "msg_too_long"])
def test_a_refused_payload_is_resent_once_as_plain_text(
    app: Heedful, services: Services, emulator: SlackEmulator, error: str
) -> None:
    first = enqueue(services)
    emulator.fault("chat.postMessage", error=error)
    app.send_due()
    assert delivery(services, first).state == "sent"
    refused, plain = posts(emulator)
    assert refused.params.get("blocks") and not plain.params.get("blocks")
    assert emulator.messages("U1")[0]["text"] == "Take a breath before the 1:1."


def test_a_payload_refused_twice_fails(
    app: Heedful, services: Services, emulator: SlackEmulator
) -> None:
    first = enqueue(services)
    emulator.fault("chat.postMessage", error="invalid_blocks")
    emulator.fault("chat.postMessage", error="msg_too_long")
    app.send_due()
    assert delivery(services, first).state == "failed"
    assert len(posts(emulator)) == 2


@pytest.mark.parametrize(
    "fault",
    [{"status": 500, "error": "internal_error"}, {"status": 503}, {"error": "internal_error"}],
)
def test_transient_errors_retry_with_backoff(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock, fault: dict
) -> None:
    first = enqueue(services)
    emulator.fault("chat.postMessage", **fault)
    app.send_due()
    row = delivery(services, first)
    assert row.state == "pending" and row.available_at > clock.now()
    app.send_due()
    assert len(posts(emulator)) == 1  # not before the backoff

    clock.set(row.available_at)
    app.send_due()
    assert delivery(services, first).state == "sent"
    assert len(emulator.messages("U1")) == 1  # the 5xx was checked for, not duplicated


def test_a_connection_dropped_after_slack_stored_the_message_is_not_sent_twice(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    first = enqueue(services)
    emulator.fault("chat.postMessage", drop_after_store=True)
    app.send_due()
    row = delivery(services, first)
    assert row.state == "pending" and row.needs_reconcile
    assert len(emulator.messages("U1")) == 1  # it did reach Slack

    clock.set(row.available_at)
    app.send_due()
    row = delivery(services, first)
    assert row.state == "sent" and row.message_ts == emulator.messages("U1")[0]["ts"]
    assert len(emulator.messages("U1")) == 1
    assert len(posts(emulator)) == 1
    assert emulator.calls_to("conversations.history")


def test_a_connection_dropped_before_slack_stored_it_is_sent_after_checking(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    first = enqueue(services)
    emulator.fault("chat.postMessage", drop_before_store=True)
    app.send_due()
    clock.set(delivery(services, first).available_at)
    app.send_due()
    assert delivery(services, first).state == "sent"
    assert len(emulator.messages("U1")) == 1
    assert len(emulator.calls_to("conversations.history")) == 1


def test_fatal_error_is_an_unknown_outcome_and_is_reconciled(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    first = enqueue(services)
    emulator.fault("chat.postMessage", error="fatal_error")
    app.send_due()
    row = delivery(services, first)
    assert row.needs_reconcile
    clock.set(row.available_at)
    app.send_due()
    assert delivery(services, first).state == "sent"
    assert emulator.calls_to("conversations.history")


def test_a_claimer_that_died_mid_send_is_reconciled_by_the_next(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    first = enqueue(services)
    # A worker claims, posts, and dies before recording the outcome.
    (row,) = repo.claim_deliveries(
        engine=services.engine, now=clock.now(), worker="dead", limit=1, lease=timedelta(minutes=2)
    )
    from bot.sender import delivery_metadata

    client = services.clients.for_token(emulator.bot_token)
    message = compose_notice(row)
    client.chat_postMessage(channel="U1", text=message.text, metadata=delivery_metadata(row))

    clock.advance(timedelta(minutes=3))
    app.send_due()
    assert delivery(services, first).state == "sent"
    assert len(emulator.messages("U1")) == 1


def test_an_expired_delivery_is_marked_expired_and_counted_not_sent(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    first = enqueue(services, expires_at=clock.now() + timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))
    app.send_due()
    assert delivery(services, first).state == "expired"
    assert posts(emulator) == []
    assert sample(app, "expired") == 1


# --------------------------------------------------------------------------- attempts


def sample(app: Heedful, outcome: str, kind: str = "notice") -> float:
    """This process's ``heedful_deliveries_total`` for one kind and outcome."""
    value = app.metrics.registry.get_sample_value(
        "heedful_deliveries_total", {"kind": kind, "outcome": outcome}
    )
    return value or 0.0


def test_429s_and_rate_limit_waits_are_not_failed_attempts(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    first = enqueue(services, "U1", ref="a")
    for _ in range(2 * MAX_TRANSIENT_ATTEMPTS):  # a long storm of 429s
        emulator.fault("chat.postMessage", status=429, retry_after="0.5")
        assert app.send_due() == 1
        row = delivery(services, first)
        assert row.state == "pending" and row.error == "ratelimited" and row.attempts == 0
        # Another DM of the workspace claimed meanwhile waits too, without a post.
        waiting = enqueue(services, "U2", ref=f"b{clock.now().timestamp()}")
        assert app.send_due() == 1
        assert delivery(services, waiting).attempts == 0
        clock.set(row.available_at)
        with services.engine.begin() as conn:  # keep only the DM under test
            conn.execute(sa.delete(Delivery.__table__).where(Delivery.__table__.c.id == waiting))
    assert sample(app, "rate_limited") == 4 * MAX_TRANSIENT_ATTEMPTS

    emulator.fault("chat.postMessage", error="internal_error")  # then one real failure
    app.send_due()
    row = delivery(services, first)
    assert row.state == "pending" and row.error == "internal_error" and row.attempts == 1
    clock.set(row.available_at)
    app.send_due()
    row = delivery(services, first)
    assert row.state == "sent" and row.attempts == 2
    assert len(emulator.messages("U1")) == 1
    assert (sample(app, "retried"), sample(app, "sent"), sample(app, "gave_up")) == (1, 1, 0)


def test_a_dm_that_keeps_failing_gives_up_with_a_warning_and_a_metric(
    app: Heedful,
    services: Services,
    emulator: SlackEmulator,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = enqueue(services)
    emulator.fault("chat.postMessage", error="internal_error", times=MAX_TRANSIENT_ATTEMPTS)
    with caplog.at_level(logging.INFO, logger="bot.sender"):
        for _ in range(MAX_TRANSIENT_ATTEMPTS):
            app.send_due()
            clock.set(max(clock.now(), delivery(services, first).available_at))
    row = delivery(services, first)
    assert row.state == "failed" and row.error == "gave_up:internal_error"
    assert row.attempts == MAX_TRANSIENT_ATTEMPTS
    assert sample(app, "gave_up") == 1 and sample(app, "retried") == MAX_TRANSIENT_ATTEMPTS - 1
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        f"delivery {first} (notice, team T0001) gave up after {MAX_TRANSIENT_ATTEMPTS}"
        " failed attempts, the last: internal_error"
    )
    assert "breath" not in caplog.text.lower()  # ids and the error class, never the text


def test_an_unknown_outcome_gives_up_only_after_the_history_shows_it_never_arrived(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    first = enqueue(services)
    emulator.fault("chat.postMessage", status=503, times=MAX_TRANSIENT_ATTEMPTS)
    for _ in range(MAX_TRANSIENT_ATTEMPTS):
        app.send_due()
        row = delivery(services, first)
        assert row.state == "pending" and row.needs_reconcile
        clock.set(row.available_at)
    app.send_due()  # looks in the DM history, finds nothing, and gives up
    row = delivery(services, first)
    assert row.state == "failed" and row.error == "gave_up:unknown"
    assert len(posts(emulator)) == MAX_TRANSIENT_ATTEMPTS
    assert emulator.calls_to("conversations.history")
    assert sample(app, "gave_up") == 1


# --------------------------------------------------------------------------- leases


class HeldApp:
    """An app whose ``held`` DMs each wait in their composer until the test sets
    ``release`` (slow DMs, deterministically); ``started`` lists the ids being composed."""

    def __init__(self, services: Services) -> None:
        self.release = threading.Event()
        self.started: list[int] = []
        self._lock = threading.Lock()
        composers = {"held": self._compose}
        self.app = Heedful(services, serve_http=False, run_workers=False, composers=composers)

    def _compose(self, row: Any) -> Any:
        with self._lock:
            self.started.append(row.id)
        assert self.release.wait(60)
        return compose_notice(row)

    @contextmanager
    def sending(self) -> Iterator[None]:
        """One round of the sender (``run_once``) in a thread; released and joined at the end."""
        worker = threading.Thread(target=self.app.sender.run_once)
        worker.start()
        try:
            yield
        finally:
            self.release.set()
            worker.join(60)


@pytest.fixture(name="held_app")
def fixture_held_app(services: Services) -> Iterator[HeldApp]:
    held = HeldApp(services)
    yield held
    held.release.set()
    held.app.stop()


def states(services: Services) -> Counter[str]:
    with services.engine.connect() as conn:
        return Counter(conn.execute(sa.select(Delivery.__table__.c.state)).scalars())


def test_a_batch_holds_no_more_rows_than_the_threads_can_post_within_a_quarter_lease(
    services: Services, emulator: SlackEmulator, held_app: HeldApp
) -> None:
    """Before Slack has answered, the sender assumes a slow one (``Pace.FIRST_GUESS``):
    with an 8-second lease a quarter lease is one round, so it claims one row per thread
    and none waits in a queue."""
    held_app.app.sender.lease = timedelta(seconds=8)
    for i in range(20):
        emulator.add_user(f"UH{i:02d}")
        enqueue(services, f"UH{i:02d}", kind="held")
    with held_app.sending():
        wait_until(lambda: len(held_app.started) == 8, what="eight DMs being composed")
        assert states(services) == {"claimed": 8, "pending": 12}  # none waits in a queue
    assert held_app.app.send_due() == 12 and states(services) == {"sent": 20}


def test_quick_answers_grow_the_batch_and_one_slow_answer_shrinks_it_at_once(
    services: Services,
) -> None:
    app = Heedful(services, serve_http=False, run_workers=False)
    sender = app.sender
    try:
        assert sender.lease == timedelta(minutes=2) and sender.threads == 8
        assert sender.batch_size == 8 * 6  # 30 s / a first guess of 5 s
        for _ in range(100):
            sender.pace.took(0.02)
        assert sender.batch_size == 8 * MAX_ROUNDS_PER_BATCH  # capped: 200
        sender.pace.took(6.0)  # a Slack that takes 6 s: 5 rounds fit in 30 s
        assert sender.batch_size == 8 * 5
        sender.pace.took(60.0)  # slower than a quarter lease: one round, never none
        assert sender.batch_size == 8
    finally:
        app.stop()


def test_each_outcome_is_recorded_as_soon_as_its_call_returns(
    services: Services, emulator: SlackEmulator, held_app: HeldApp
) -> None:
    quick = enqueue(services, "U1", ref="a")
    held = enqueue(services, "U2", ref="b", kind="held")
    with held_app.sending():
        wait_until(lambda: delivery(services, quick).state == "sent", what="the quick DM recorded")
        assert delivery(services, held).state == "claimed" and held_app.started == [held]
    assert delivery(services, held).state == "sent"


def test_a_row_taken_over_before_its_post_is_not_posted_by_its_first_claimer(
    services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    lease = timedelta(minutes=2)

    def compose_stalled(row: Any) -> Any:
        # This worker stalls past its lease, and another worker takes the row over.
        clock.advance(lease + timedelta(seconds=1))
        (taken,) = repo.claim_deliveries(
            engine=services.engine, now=clock.now(), worker="other", limit=1, lease=lease
        )
        assert taken.id == row.id and taken.needs_reconcile
        return compose_notice(row)

    app = Heedful(
        services, serve_http=False, run_workers=False, composers={"stalled": compose_stalled}
    )
    first = enqueue(services, kind="stalled")
    try:
        assert app.send_due() == 1
    finally:
        app.stop()
    assert posts(emulator) == []  # the fencing check stopped the post
    row = delivery(services, first)
    assert row.state == "claimed" and row.claimed_by == "other"
    assert sample(app, "lease_lost", kind="stalled") == 1


# --------------------------------------------------------------------------- metrics


def test_metrics_count_outcomes_and_show_the_outbox_depth(
    heedful: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    enqueue(services, "U1", ref="a")
    enqueue(services, "U2", ref="b", due_at=clock.now() + timedelta(hours=1))
    assert heedful.send_due() == 1

    with urllib.request.urlopen(f"{heedful.url}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    assert 'heedful_deliveries_total{kind="notice",outcome="sent"} 1.0' in text
    assert 'heedful_outbox_deliveries{state="pending"} 1.0' in text
    assert 'heedful_outbox_deliveries{state="claimed"} 0.0' in text

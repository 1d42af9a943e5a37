"""The sender against the emulator: every class of Slack answer lands in its state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.sender import METADATA_EVENT_TYPE
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
        repo.enqueue_deliveries(conn, [row], now=services.clock.now())
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
        repo.ensure_user(session, team_id="T0001", user_id="U1", now=services.clock.now())
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
        services.engine, now=clock.now(), worker="dead", limit=1, lease=timedelta(minutes=2)
    )
    from bot.sender import compose_notice, delivery_metadata

    client = services.clients.for_token(emulator.bot_token)
    message = compose_notice(row)
    client.chat_postMessage(channel="U1", text=message.text, metadata=delivery_metadata(row))

    clock.advance(timedelta(minutes=3))
    app.send_due()
    assert delivery(services, first).state == "sent"
    assert len(emulator.messages("U1")) == 1


def test_an_expired_delivery_is_skipped(
    app: Heedful, services: Services, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    first = enqueue(services, expires_at=clock.now() + timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))
    app.send_due()
    assert delivery(services, first).state == "skipped"
    assert delivery(services, first).error == "expired"
    assert posts(emulator) == []

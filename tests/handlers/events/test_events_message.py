"""handlers/events/message.py: a DM to Heedful, an answer to its question."""

from __future__ import annotations

import sqlalchemy as sa
from handling import USER, Slack

from bot.storage.models import Delivery, Reflection

REF = Reflection.__table__


DEL = Delivery.__table__  # type: ignore[attr-defined]


def _answer(slack: Slack, question: dict, text: str, ts: str) -> dict:
    return {
        "type": "message",
        "channel": slack.emulator.dm_channel(USER),
        "channel_type": "im",
        "user": USER,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "thread_ts": question["ts"],
    }


def _kept(slack: Slack) -> int:
    with slack.services.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(REF)).scalar_one()


def _acknowledgements(slack: Slack) -> list[dict]:
    """The reactions Heedful queued on the person's messages (outbox ``ack`` rows)."""
    with slack.services.engine.connect() as conn:
        rows = conn.execute(
            sa.select(DEL.c.ref, DEL.c.payload).where(DEL.c.kind == "ack").order_by(DEL.c.id)
        ).all()
    return [{"ref": ref, **payload} for ref, payload in rows]


def test_an_answer_in_the_thread_is_kept_and_acknowledged_on_it_once(slack: Slack) -> None:
    question = slack.question()
    answer = _answer(slack, question, "Asked Ben what he needed first.", "1772446400.000100")

    slack.event(answer)
    slack.event(answer)  # the same message again, under another event id

    assert _kept(slack) == 1
    (ack,) = _acknowledgements(slack)
    assert ack["ref"] == "ack:1772446400.000100"
    assert ack["react"]["timestamp"] == answer["ts"]
    assert ack["react"]["channel"] == answer["channel"]
    assert ack["thread_ts"] == question["ts"]  # where the line goes if the reaction cannot
    assert slack.queued_replies() == []  # a reaction, not a line


def test_a_message_outside_the_dm_is_not_taken_as_an_answer(slack: Slack) -> None:
    question = slack.question()
    elsewhere = _answer(slack, question, "Hello team.", "1772446400.000200")
    elsewhere.update(channel="C0TEAM", channel_type="channel")

    slack.event(elsewhere)

    assert _kept(slack) == 0
    assert slack.queued_replies() == []


def test_a_deleted_answer_is_forgotten_quietly(slack: Slack) -> None:
    question = slack.question()
    answer = _answer(slack, question, "Talked over Ben twice.", "1772446400.000300")
    slack.event(answer)
    assert _kept(slack) == 1

    slack.event(
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": answer["channel"],  # no channel_type: Slack does not send one here
            "deleted_ts": answer["ts"],
            "previous_message": {"type": "message", "user": USER, "ts": answer["ts"]},
            "ts": "1772446500.000100",
            "event_ts": "1772446500.000100",
        }
    )

    assert _kept(slack) == 0
    assert len(_acknowledgements(slack)) == 1  # the answer's reaction; nothing for the delete
    assert slack.queued_replies() == []

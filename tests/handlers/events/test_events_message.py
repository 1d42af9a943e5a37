"""handlers/events/message.py: a DM to Heedful, an answer to its question."""

from __future__ import annotations

import sqlalchemy as sa
from handling import USER, Slack

from bot.storage.models import Reflection

REF = Reflection.__table__


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


def test_an_answer_in_the_thread_is_kept_and_confirmed_there_once(slack: Slack) -> None:
    question = slack.question()
    answer = _answer(slack, question, "Asked Ben what he needed first.", "1772446400.000100")

    slack.event(answer)
    slack.event(answer)  # the same message again, under another event id

    assert _kept(slack) == 1
    (reply,) = slack.replies()
    assert reply["ref"] == "reply:message:1772446400.000100:"
    assert reply["thread_ts"] == question["ts"]


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
    assert len(slack.queued_replies()) == 1  # the answer's confirmation; none for the delete

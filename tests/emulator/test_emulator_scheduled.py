"""Scheduled messages, as Slack documents them, on the emulator's virtual clock.

chat.scheduleMessage refuses a post_at in the past, more than 120 days ahead, or a 31st
message due within 5 minutes in one channel; Slack posts the message at post_at (here: once
the clock has passed it, at the next request, tick or read), except one scheduled with
metadata, which Slack never posts. chat.deleteScheduledMessage refuses within 60 seconds of
post_at; chat.scheduledMessages.list pages with cursor and limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.clock import VirtualClock
from bot.emulator import SlackEmulator

ANA, BEN = "U123", "U456"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOW = int(START.timestamp())
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Standup* in 5 minutes"}}]


@pytest.fixture(name="clock")
def clock_fixture() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture(name="emulator")
def emulator_fixture(clock: VirtualClock) -> Iterator[SlackEmulator]:
    with SlackEmulator(socket_mode=False, clock=clock.now) as emu:
        emu.add_user(ANA, tz="Europe/Berlin")
        emu.add_user(BEN, tz="America/New_York")
        yield emu


@pytest.fixture(name="client")
def client_fixture(emulator: SlackEmulator) -> WebClient:
    return WebClient(base_url=emulator.api_url, token=emulator.bot_token, retry_handlers=[])


def _error(call: Callable[[], Any]) -> str:
    with pytest.raises(SlackApiError) as excinfo:
        call()
    return str(excinfo.value.response["error"])


def test_a_scheduled_message_is_posted_at_post_at_with_its_blocks(
    client: WebClient, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    scheduled = client.chat_scheduleMessage(
        channel=ANA, text="Standup in 5 minutes", blocks=BLOCKS, post_at=NOW + 600
    )
    clock.advance(timedelta(seconds=599))
    client.auth_test()
    before = emulator.bot_messages(ANA)
    clock.advance(timedelta(seconds=2))

    history = client.conversations_history(channel=emulator.dm_channel(ANA))["messages"]

    assert scheduled["channel"] == emulator.dm_channel(ANA)
    assert before == []
    assert len(history) == 1
    assert history[0]["text"] == "Standup in 5 minutes"
    assert history[0]["blocks"] == BLOCKS
    assert history[0]["user"] == emulator.bot_user_id
    assert history[0]["ts"] == f"{NOW + 600}.000000"  # posted at post_at, seen later
    assert emulator.scheduled == []
    assert [(e["id"], e["outcome"]) for e in emulator.scheduled_log] == [
        (scheduled["scheduled_message_id"], "posted")
    ]


def test_tick_and_advance_post_what_fell_due_without_a_request(
    client: WebClient, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    client.chat_scheduleMessage(channel=ANA, text="first", post_at=NOW + 60)
    client.chat_scheduleMessage(channel=BEN, text="second", post_at=NOW + 120)
    clock.advance(timedelta(seconds=60))

    ticked = emulator.tick()
    advanced = emulator.advance(60)

    assert len(ticked) == 1 and len(advanced) == 1
    assert [m["text"] for m in emulator.bot_messages(ANA)] == ["first"]
    assert [m["text"] for m in emulator.bot_messages(BEN)] == ["second"]


def test_messages_found_due_late_each_keep_their_post_at_as_ts(
    client: WebClient, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    """Slack posts at post_at: when the emulator's clock jumps past several, each message's
    ts is its own post_at (unique: a microsecond later when two share one), not the
    moment the emulator looked."""
    for user in (ANA, BEN, ANA):
        client.chat_scheduleMessage(channel=user, text="Standup soon", post_at=NOW + 600)
    client.chat_scheduleMessage(channel=BEN, text="Retro soon", post_at=NOW + 900)
    clock.advance(timedelta(hours=1))
    emulator.tick()

    ts = sorted(float(m["ts"]) for user in (ANA, BEN) for m in emulator.bot_messages(user))
    assert ts == pytest.approx([NOW + 600, NOW + 600.000001, NOW + 600.000002, NOW + 900])


def test_a_message_deleted_before_post_at_is_never_posted(
    client: WebClient, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    scheduled = client.chat_scheduleMessage(channel=ANA, text="moved", post_at=NOW + 600)

    deleted = client.chat_deleteScheduledMessage(
        channel=scheduled["channel"], scheduled_message_id=scheduled["scheduled_message_id"]
    )
    clock.advance(timedelta(hours=1))
    again = _error(
        lambda: client.chat_deleteScheduledMessage(
            channel=scheduled["channel"], scheduled_message_id=scheduled["scheduled_message_id"]
        )
    )

    assert deleted["ok"] is True
    assert again == "invalid_scheduled_message_id"
    assert emulator.bot_messages(ANA) == []
    assert [e["outcome"] for e in emulator.scheduled_log] == ["deleted"]


def test_a_message_due_within_60_seconds_cannot_be_deleted(
    client: WebClient, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    scheduled = client.chat_scheduleMessage(channel=ANA, text="soon", post_at=NOW + 600)
    clock.advance(timedelta(seconds=540))

    error = _error(
        lambda: client.chat_deleteScheduledMessage(
            channel=scheduled["channel"], scheduled_message_id=scheduled["scheduled_message_id"]
        )
    )
    clock.advance(timedelta(seconds=60))

    assert error == "invalid_scheduled_message_id"
    assert [m["text"] for m in emulator.bot_messages(ANA)] == ["soon"]


def test_deleting_an_unknown_or_posted_message_is_invalid_scheduled_message_id(
    client: WebClient, emulator: SlackEmulator
) -> None:
    scheduled = client.chat_scheduleMessage(channel=ANA, text="now", post_at=NOW)
    emulator.tick()

    posted = _error(
        lambda: client.chat_deleteScheduledMessage(
            channel=ANA, scheduled_message_id=scheduled["scheduled_message_id"]
        )
    )
    unknown = _error(
        lambda: client.chat_deleteScheduledMessage(channel=ANA, scheduled_message_id="Q1")
    )

    assert posted == unknown == "invalid_scheduled_message_id"


def test_the_list_pages_by_post_at_with_cursor_and_limit(
    client: WebClient, emulator: SlackEmulator
) -> None:
    ids = [
        client.chat_scheduleMessage(channel=ANA, text=f"m{i}", post_at=NOW + 3600 * (5 - i))[
            "scheduled_message_id"
        ]
        for i in range(5)
    ]
    client.chat_scheduleMessage(channel=BEN, text="for Ben", post_at=NOW + 60)

    pages, cursor = [], ""
    while True:
        answer = client.chat_scheduledMessages_list(channel=ANA, limit=2, cursor=cursor or None)
        pages.append([item["id"] for item in answer["scheduled_messages"]])
        cursor = answer["response_metadata"]["next_cursor"]
        if not cursor:
            break
    everyone = client.chat_scheduledMessages_list()["scheduled_messages"]

    assert pages == [ids[::-1][0:2], ids[::-1][2:4], ids[::-1][4:]]  # soonest first
    assert everyone[0]["text"] == "for Ben"
    assert len(everyone) == 6
    assert {"id", "channel_id", "post_at", "date_created", "text"} == set(everyone[0])


def test_the_list_filters_by_oldest_and_latest_post_at(
    client: WebClient, emulator: SlackEmulator
) -> None:
    for hours in (1, 2, 3, 4):
        client.chat_scheduleMessage(channel=ANA, text=f"in {hours} h", post_at=NOW + 3600 * hours)

    listed = client.chat_scheduledMessages_list(oldest=NOW + 7200, latest=NOW + 10800)

    assert [item["text"] for item in listed["scheduled_messages"]] == ["in 2 h", "in 3 h"]


def test_the_list_refuses_a_bad_cursor_and_an_unknown_channel(client: WebClient) -> None:
    assert _error(lambda: client.chat_scheduledMessages_list(cursor="bm9wZQ==")) == (
        "invalid_cursor"
    )
    assert _error(lambda: client.chat_scheduledMessages_list(channel="D0NOPE")) == (
        "invalid_channel"
    )


def test_post_at_in_the_past_or_beyond_120_days_is_refused(
    client: WebClient, emulator: SlackEmulator
) -> None:
    limit = NOW + 120 * 24 * 3600

    past = _error(lambda: client.chat_scheduleMessage(channel=ANA, text="x", post_at=NOW - 1))
    too_far = _error(lambda: client.chat_scheduleMessage(channel=ANA, text="x", post_at=limit + 1))
    furthest = client.chat_scheduleMessage(channel=ANA, text="x", post_at=limit)

    assert past == "time_in_past"
    assert too_far == "time_too_far"
    assert furthest["ok"] is True
    assert len(emulator.scheduled) == 1


def test_more_than_30_due_within_5_minutes_in_one_channel_is_restricted_too_many(
    client: WebClient, emulator: SlackEmulator
) -> None:
    post_at = NOW + 3600
    for index in range(30):  # due at post_at, +9 s, … +261 s
        client.chat_scheduleMessage(channel=ANA, text="x", post_at=post_at + 9 * index)

    thirty_first = _error(
        lambda: client.chat_scheduleMessage(channel=ANA, text="x", post_at=post_at + 299)
    )
    other_channel = client.chat_scheduleMessage(channel=BEN, text="x", post_at=post_at + 299)
    five_minutes_on = client.chat_scheduleMessage(channel=ANA, text="x", post_at=post_at + 300)

    assert thirty_first == "restricted_too_many"  # 31 due in [post_at, post_at + 300)
    assert other_channel["ok"] is True
    assert five_minutes_on["ok"] is True  # [post_at + 9, post_at + 309) holds 30 with it


def test_a_message_scheduled_with_metadata_is_dropped_not_posted(
    client: WebClient, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    scheduled = client.chat_scheduleMessage(
        channel=ANA,
        text="with metadata",
        post_at=NOW + 60,
        metadata={"event_type": "heedful_reminder", "event_payload": {"id": "1"}},
    )
    listed = client.chat_scheduledMessages_list()["scheduled_messages"]
    clock.advance(timedelta(minutes=5))

    log = emulator.scheduled_log

    assert scheduled["ok"] is True
    assert [item["id"] for item in listed] == [scheduled["scheduled_message_id"]]
    assert emulator.bot_messages(ANA) == []
    assert emulator.scheduled == []
    assert [(e["outcome"], e["reason"], e["ts"]) for e in log] == [("dropped", "metadata", None)]

"""Slack's rate limits in the emulator, as a real WebClient meets them over HTTP.

Limits are measured on the emulator's clock: here a virtual one the tests move, except for
slack_sdk's own retry handler, which sleeps in real time and so meets a real clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.clock import VirtualClock
from bot.emulator import RateLimits, SlackEmulator
from bot.emulator.__main__ import _parse_args, _rate_limits

ANA, BEN, CAT = "U123", "U456", "U789"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(name="clock")
def clock_fixture() -> VirtualClock:
    return VirtualClock(START)


def _emulator(limits: RateLimits, clock: VirtualClock | None) -> SlackEmulator:
    emu = SlackEmulator(
        socket_mode=False, rate_limits=limits, clock=clock.now if clock is not None else None
    )
    for user_id in (ANA, BEN, CAT):
        emu.add_user(user_id, tz="Europe/Berlin")
    return emu


Start = Callable[..., tuple[SlackEmulator, WebClient]]


@pytest.fixture(name="start")
def start_fixture(clock: VirtualClock) -> Iterator[Start]:
    """Start an emulator on the virtual clock with ``RateLimits(**limits)``; its client."""
    with ExitStack() as stack:

        def start(**limits: Any) -> tuple[SlackEmulator, WebClient]:
            emu = stack.enter_context(_emulator(RateLimits(**limits), clock))
            return emu, WebClient(base_url=emu.api_url, token=emu.bot_token, retry_handlers=[])

        yield start


def _ratelimited(call: Callable[[], Any]) -> SlackApiError:
    with pytest.raises(SlackApiError) as excinfo:
        call()
    return excinfo.value


def test_a_channel_takes_a_short_burst_then_429_with_retry_after(start: Start) -> None:
    limited, client = start(channel_per_second=1, channel_burst=2, messages_per_second=None)
    client.chat_postMessage(channel=ANA, text="one")
    client.chat_postMessage(channel=ANA, text="two")

    refused = _ratelimited(lambda: client.chat_postMessage(channel=ANA, text="three"))
    other_channel = client.chat_postMessage(channel=BEN, text="to Ben")

    assert refused.response.status_code == 429
    assert refused.response.data == {"ok": False, "error": "ratelimited"}
    assert refused.response.headers["Retry-After"] == "1"
    assert [m["text"] for m in limited.bot_messages(ANA)] == ["one", "two"]
    assert other_channel["ok"] is True
    assert limited.rate_limited == {"chat.postMessage": 1}


def test_a_channel_recovers_once_retry_after_has_passed_on_the_clock(
    start: Start, clock: VirtualClock
) -> None:
    limited, client = start(channel_per_second=1, channel_burst=1, messages_per_second=None)
    client.chat_postMessage(channel=ANA, text="one")
    first = _ratelimited(lambda: client.chat_postMessage(channel=ANA, text="two"))
    clock.advance(timedelta(seconds=0.5))
    still = _ratelimited(lambda: client.chat_postMessage(channel=ANA, text="two"))
    clock.advance(timedelta(seconds=0.5))

    answer = client.chat_postMessage(channel=ANA, text="two")

    assert first.response.headers["Retry-After"] == "1"
    assert still.response.headers["Retry-After"] == "1"  # 0.5 s left, rounded up
    assert answer["ok"] is True
    assert [m["text"] for m in limited.bot_messages(ANA)] == ["one", "two"]
    assert limited.rate_limited == {"chat.postMessage": 2}


def test_the_workspace_rate_limits_messages_across_channels(start: Start) -> None:
    limited, client = start(messages_per_second=0.5, messages_burst=2, channel_burst=3)
    client.chat_postMessage(channel=ANA, text="to Ana")
    client.chat_postMessage(channel=BEN, text="to Ben")

    refused = _ratelimited(lambda: client.chat_postMessage(channel=CAT, text="to Cat"))
    limited.advance(2)
    answer = client.chat_postMessage(channel=CAT, text="to Cat")

    assert refused.response.headers["Retry-After"] == "2"  # one message every 2 s
    assert answer["ok"] is True
    assert limited.bot_messages(CAT)[0]["text"] == "to Cat"
    assert limited.rate_limited == {"chat.postMessage": 1}


def test_a_429_on_chat_post_message_limits_no_other_method(start: Start) -> None:
    limited, client = start(channel_per_second=1, channel_burst=1, messages_per_second=None)
    client.chat_postMessage(channel=ANA, text="one")
    _ratelimited(lambda: client.chat_postMessage(channel=ANA, text="two"))

    opened = client.conversations_open(users=ANA)
    user = client.users_info(user=ANA)

    assert opened["channel"]["id"] == limited.dm_channel(ANA)
    assert user["user"]["id"] == ANA
    assert limited.rate_limited == {"chat.postMessage": 1}


def test_a_tier_2_method_takes_20_a_minute(start: Start) -> None:
    limited, client = start()
    for _ in range(20):
        client.users_list()

    refused = _ratelimited(client.users_list)
    limited.advance(3)
    answer = client.users_list()

    assert refused.response.headers["Retry-After"] == "3"  # 20 a minute: one every 3 s
    assert answer["ok"] is True
    assert limited.rate_limited == {"users.list": 1}


def test_chat_schedule_message_has_its_tier_3_limit(start: Start, clock: VirtualClock) -> None:
    limited, client = start()
    post_at = int(clock.now().timestamp()) + 3600
    for index in range(50):  # a minute's worth, into 50 five-minute windows
        client.chat_scheduleMessage(channel=ANA, text="later", post_at=post_at + 300 * index)

    refused = _ratelimited(
        lambda: client.chat_scheduleMessage(channel=BEN, text="later", post_at=post_at)
    )

    assert refused.response.headers["Retry-After"] == "2"  # 50 a minute: one every 1.2 s
    assert len(limited.scheduled) == 50
    assert limited.rate_limited == {"chat.scheduleMessage": 1}


def test_slack_sdks_retry_handler_waits_for_retry_after_and_then_succeeds() -> None:
    """On the real clock: the handler sleeps Retry-After (plus jitter) and tries again."""
    limits = RateLimits(channel_per_second=1, channel_burst=1, messages_per_second=None)
    with _emulator(limits, clock=None) as emu:
        client = WebClient(
            base_url=emu.api_url,
            token=emu.bot_token,
            retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
        )
        client.chat_postMessage(channel=ANA, text="one")

        answer = client.chat_postMessage(channel=ANA, text="two")

        assert answer["ok"] is True
        assert [m["text"] for m in emu.bot_messages(ANA)] == ["one", "two"]
        assert len(emu.calls_to("chat.postMessage")) == 3
        assert emu.rate_limited == {"chat.postMessage": 1}


def test_without_rate_limits_nothing_is_limited() -> None:
    with SlackEmulator(socket_mode=False) as emu:
        emu.add_user(ANA)
        client = WebClient(base_url=emu.api_url, token=emu.bot_token, retry_handlers=[])

        answers = [client.chat_postMessage(channel=ANA, text=str(i)) for i in range(30)]

        assert all(answer["ok"] for answer in answers)
        assert emu.rate_limited == {}


def test_a_scripted_429_is_counted_too(start: Start) -> None:
    limited, client = start()
    limited.fault("conversations.open", status=429, retry_after=7)

    refused = _ratelimited(lambda: client.conversations_open(users=ANA))

    assert refused.response.headers["Retry-After"] == "7"
    assert limited.rate_limited == {"conversations.open": 1}


def test_reset_refills_the_limits_and_forgets_the_counts(start: Start) -> None:
    limited, client = start()
    for _ in range(20):
        client.users_list()
    _ratelimited(client.users_list)

    limited.reset()

    assert limited.rate_limited == {}
    assert client.users_list()["ok"] is True


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], None),
        (["--rate-limits"], RateLimits()),
        (["--messages-per-second", "4"], RateLimits(messages_per_second=4.0)),
    ],
)
def test_the_command_line_turns_rate_limits_on(
    argv: list[str], expected: RateLimits | None
) -> None:
    assert _rate_limits(_parse_args(argv)) == expected


def test_the_command_line_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(SystemExit):
        _parse_args(["--messages-per-second", "0"])

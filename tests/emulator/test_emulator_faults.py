"""Scripted faults, as a real WebClient experiences them.

These tests also pin down slack_sdk behaviour the sender relies on: which exception a dropped
connection and a read timeout raise, and that the default WebClient silently retries a
dropped request once (so a message stored before the drop is posted twice).
"""

from __future__ import annotations

import http.client
import time

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from waiting import wait_until

from bot.emulator import SlackEmulator

ANA = "U123"


def test_429_carries_retry_after_verbatim_in_the_response_headers(
    client: WebClient, emulator: SlackEmulator
) -> None:
    emulator.fault("chat.postMessage", status=429, retry_after="1.5")

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=ANA, text="hi")

    response = excinfo.value.response
    assert response.status_code == 429
    assert response["error"] == "ratelimited"
    assert response.headers["Retry-After"] == "1.5"
    assert emulator.messages(ANA) == []
    assert client.chat_postMessage(channel=ANA, text="hi")["ok"] is True


def test_integer_retry_after_is_emitted_as_given(
    client: WebClient, emulator: SlackEmulator
) -> None:
    emulator.fault("chat.postMessage", status=429, retry_after=2)

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=ANA, text="hi")

    assert excinfo.value.response.headers["Retry-After"] == "2"


def test_slack_sdk_rate_limit_handler_cannot_parse_a_fractional_retry_after(
    emulator: SlackEmulator,
) -> None:
    """slack_sdk's RateLimitErrorRetryHandler does int("1.5"): a ValueError, not a retry."""
    client = WebClient(
        base_url=emulator.api_url,
        token=emulator.bot_token,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    emulator.fault("chat.postMessage", status=429, retry_after="1.5")

    with pytest.raises(ValueError, match=r"1\.5"):
        client.chat_postMessage(channel=ANA, text="hi")


def test_500_is_an_api_error_with_status(client: WebClient, emulator: SlackEmulator) -> None:
    emulator.fault("chat.postMessage", status=500)

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=ANA, text="hi")

    assert excinfo.value.response.status_code == 500
    assert excinfo.value.response["error"] == "internal_error"
    assert emulator.messages(ANA) == []


def test_error_code_with_status_200(client: WebClient, emulator: SlackEmulator) -> None:
    emulator.fault("chat.postMessage", error="account_inactive")

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=ANA, text="hi")

    assert excinfo.value.response.status_code == 200
    assert excinfo.value.response["error"] == "account_inactive"


def test_faults_apply_times_in_order_then_stop(client: WebClient, emulator: SlackEmulator) -> None:
    emulator.fault("chat.postMessage", error="first", times=2)
    emulator.fault("chat.postMessage", error="second")
    errors = []

    for _ in range(3):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=ANA, text="hi")
        errors.append(excinfo.value.response["error"])

    assert errors == ["first", "first", "second"]
    assert client.chat_postMessage(channel=ANA, text="hi")["ok"] is True
    assert [c.fault is not None for c in emulator.calls_to("chat.postMessage")] == [
        True,
        True,
        True,
        False,
    ]


def test_faults_only_hit_their_method(client: WebClient, emulator: SlackEmulator) -> None:
    emulator.fault("users.info", error="ratelimited")

    assert client.chat_postMessage(channel=ANA, text="hi")["ok"] is True
    with pytest.raises(SlackApiError):
        client.users_info(user=ANA)


def test_delay_slows_the_answer_but_succeeds(client: WebClient, emulator: SlackEmulator) -> None:
    emulator.fault("chat.postMessage", delay=0.3)

    started = time.monotonic()
    answer = client.chat_postMessage(channel=ANA, text="slow")

    assert time.monotonic() - started >= 0.3
    assert answer["ok"] is True


def test_read_timeout_raises_timeout_error_and_the_message_still_lands(
    emulator: SlackEmulator,
) -> None:
    """A client-side timeout says nothing about delivery: Slack may still post it."""
    client = WebClient(base_url=emulator.api_url, token=emulator.bot_token, timeout=0.2)
    emulator.fault("chat.postMessage", delay=0.5)

    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel=ANA, text="late")

    assert len(emulator.calls_to("chat.postMessage")) == 1
    wait_until(lambda: len(emulator.messages(ANA)) == 1)


def test_drop_after_store_keeps_the_message_and_the_client_sees_a_disconnect(
    client: WebClient, emulator: SlackEmulator
) -> None:
    emulator.fault("chat.postMessage", drop_after_store=True)

    with pytest.raises(ConnectionError) as excinfo:
        client.chat_postMessage(
            channel=ANA,
            text="did it land?",
            metadata={
                "event_type": "heedful_delivery",
                "event_payload": {"delivery_id": 42},
            },
        )

    assert isinstance(excinfo.value, http.client.RemoteDisconnected)
    [stored] = emulator.messages(ANA)
    assert stored["metadata"]["event_payload"] == {"delivery_id": 42}


def test_drop_before_store_stores_nothing(client: WebClient, emulator: SlackEmulator) -> None:
    emulator.fault("chat.postMessage", drop_before_store=True)

    with pytest.raises(http.client.RemoteDisconnected):
        client.chat_postMessage(channel=ANA, text="lost")

    assert emulator.messages(ANA) == []
    assert len(emulator.calls_to("chat.postMessage")) == 1


def test_default_web_client_retries_a_dropped_call_and_posts_twice(
    emulator: SlackEmulator,
) -> None:
    """slack_sdk's default ConnectionErrorRetryHandler resends after a disconnect."""
    client = WebClient(base_url=emulator.api_url, token=emulator.bot_token)
    emulator.fault("chat.postMessage", drop_after_store=True)

    answer = client.chat_postMessage(channel=ANA, text="twice")

    assert answer["ok"] is True
    assert [m["text"] for m in emulator.messages(ANA)] == ["twice", "twice"]
    assert len(emulator.calls_to("chat.postMessage")) == 2


def test_wildcard_fault_hits_any_method(client: WebClient, emulator: SlackEmulator) -> None:
    emulator.fault("*", status=503, error="service_unavailable")

    with pytest.raises(SlackApiError) as excinfo:
        client.auth_test()

    assert excinfo.value.response.status_code == 503
    assert client.auth_test()["ok"] is True

"""``reactions.add`` as strict as Slack documents it, and recorded for the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.emulator import SlackEmulator
from bot.emulator.state import BOT_SCOPES
from bot.emulator.web_api import KNOWN_EMOJI, MAX_EMOJI_PER_MESSAGE, MAX_REACTIONS_PER_PERSON

ANA = "U123"
MANIFEST = Path(__file__).resolve().parents[2] / "manifest.json"


def _error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(excinfo.value.response["error"])


@pytest.fixture(name="said")
def fixture_said(emulator: SlackEmulator) -> tuple[str, str]:
    """A message Ana wrote in her DM with the bot: (channel, ts)."""
    ts = emulator.user_says(None, ANA, "Listened more than I talked.")
    return emulator.dm_channel(ANA), ts


def test_a_reaction_on_a_persons_message_is_added_and_recorded(
    client: WebClient, emulator: SlackEmulator, said: tuple[str, str]
) -> None:
    channel, ts = said
    assert client.reactions_add(channel=channel, timestamp=ts, name="white_check_mark")["ok"]
    (message,) = emulator.messages(ANA)
    assert message["reactions"] == [{"name": "white_check_mark", "users": ["UHEEDFUL"], "count": 1}]
    assert emulator.reactions == [
        {"channel": channel, "ts": ts, "name": "white_check_mark", "user": "UHEEDFUL"}
    ]
    # Colons around the name and a skin tone are Slack's own spellings of a name.
    client.reactions_add(channel=channel, timestamp=ts, name=":+1::skin-tone-3:")
    assert [r["name"] for r in emulator.reactions] == ["white_check_mark", "+1"]
    with pytest.raises(SlackApiError) as excinfo:
        client.reactions_add(channel=channel, timestamp=ts, name="white_check_mark")
    assert _error(excinfo) == "already_reacted"
    assert len(emulator.reactions) == 2


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"timestamp": None}, "no_item_specified"),
        ({"channel": None}, "no_item_specified"),
        ({"name": ""}, "invalid_name"),
        ({"name": "not_an_emoji_at_all"}, "invalid_name"),
        ({"name": "+1::skin-tone-9"}, "invalid_name"),
        ({"timestamp": "yesterday"}, "bad_timestamp"),
        ({"timestamp": "1767225600.000001"}, "message_not_found"),
        ({"channel": "D0NOSUCH"}, "channel_not_found"),
        ({"channel": ANA}, "channel_not_found"),  # a user id is not a channel
    ],
)
def test_what_slack_refuses_the_emulator_refuses(
    client: WebClient,
    emulator: SlackEmulator,
    said: tuple[str, str],
    arguments: dict,
    error: str,
) -> None:
    channel, ts = said
    call = {"channel": channel, "timestamp": ts, "name": "white_check_mark", **arguments}
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("reactions.add", json={k: v for k, v in call.items() if v is not None})
    assert _error(excinfo) == error
    assert emulator.reactions == []


def test_limits_on_reactions_to_one_message(
    client: WebClient, emulator: SlackEmulator, said: tuple[str, str]
) -> None:
    channel, ts = said
    names = sorted(KNOWN_EMOJI)
    for name in names[:MAX_REACTIONS_PER_PERSON]:
        client.reactions_add(channel=channel, timestamp=ts, name=name)
    with pytest.raises(SlackApiError) as excinfo:
        client.reactions_add(channel=channel, timestamp=ts, name=names[MAX_REACTIONS_PER_PERSON])
    assert _error(excinfo) == "too_many_reactions"
    # A message others reacted to with many distinct emoji takes no new one.
    other = emulator.user_says(None, ANA, "Another line.")
    with emulator.workspace.lock:
        message = emulator.workspace.find_message(channel, other)
        assert message is not None
        message["reactions"] = [
            {"name": f"custom{i}", "users": ["U999"], "count": 1}
            for i in range(MAX_EMOJI_PER_MESSAGE)
        ]
    with pytest.raises(SlackApiError) as excinfo:
        client.reactions_add(channel=channel, timestamp=other, name="white_check_mark")
    assert _error(excinfo) == "too_many_emoji"


def test_without_the_scope_the_answer_is_missing_scope(
    client: WebClient, emulator: SlackEmulator, said: tuple[str, str]
) -> None:
    channel, ts = said
    emulator.revoke_scope("reactions:write")
    with pytest.raises(SlackApiError) as excinfo:
        client.reactions_add(channel=channel, timestamp=ts, name="white_check_mark")
    answer = excinfo.value.response
    assert answer["error"] == "missing_scope" and answer["needed"] == "reactions:write"
    assert "reactions:write" not in answer["provided"].split(",")
    assert client.chat_postMessage(channel=ANA, text="still allowed")["ok"]
    emulator.grant_scope("reactions:write")
    assert client.reactions_add(channel=channel, timestamp=ts, name="white_check_mark")["ok"]


def test_a_scripted_rate_limit_answers_429_with_retry_after(
    client: WebClient, emulator: SlackEmulator, said: tuple[str, str]
) -> None:
    channel, ts = said
    emulator.fault("reactions.add", status=429, retry_after="3")
    with pytest.raises(SlackApiError) as excinfo:
        client.reactions_add(channel=channel, timestamp=ts, name="white_check_mark")
    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] in ("3", ["3"])
    assert emulator.reactions == []
    client.reactions_add(channel=channel, timestamp=ts, name="white_check_mark")
    assert len(emulator.reactions) == 1


def test_the_manifest_asks_for_the_scopes_the_emulator_grants() -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert "reactions:write" in BOT_SCOPES

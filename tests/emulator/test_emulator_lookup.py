"""``users.lookupByEmail`` as strict as Slack (and a little stricter): the scope it needs,
an address no one has, one that is no address, none at all, and a scripted 429. And the
app's manifest asks for the scope (``bot.feedback`` finds meeting attendees with it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.emulator import SlackEmulator
from bot.emulator.state import BOT_SCOPES
from bot.emulator.web_api import METHOD_SCOPES
from bot.slack import lookup_by_email

ROOT = Path(__file__).resolve().parents[2]
BEN = "U456"


def _error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(excinfo.value.response["error"])


def test_the_manifest_asks_for_every_scope_the_methods_heedful_calls_need() -> None:
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    assert "users:read.email" in granted
    assert set(METHOD_SCOPES.values()) <= granted
    assert set(BOT_SCOPES) <= granted  # the emulator grants no more than the manifest


def test_lookup_finds_a_person_case_blind_with_their_zone(client: WebClient) -> None:
    user = client.users_lookupByEmail(email="Ben@Example.com")["user"]
    assert user["id"] == BEN and user["tz"] == "America/New_York"


def test_an_address_no_one_has_is_users_not_found(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.users_lookupByEmail(email="nobody@example.com")
    assert _error(excinfo) == "users_not_found"


@pytest.mark.parametrize("address", ["not-an-address", "a@b", "two@@example.com", "a b@x.org"])
def test_something_that_is_no_address_is_invalid_email(client: WebClient, address: str) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.users_lookupByEmail(email=address)
    assert _error(excinfo) == "invalid_email"


@pytest.mark.emulator_refusals
def test_no_email_at_all_is_invalid_arguments(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("users.lookupByEmail", params={})
    assert _error(excinfo) == "invalid_arguments"


def test_without_the_users_read_email_scope_the_method_answers_missing_scope() -> None:
    with SlackEmulator() as emu:
        emu.revoke_scope("users:read.email")
        emu.add_user(BEN, email="ben@example.com")
        client = WebClient(base_url=emu.api_url, token=emu.bot_token, retry_handlers=[])
        with pytest.raises(SlackApiError) as excinfo:
            client.users_lookupByEmail(email="ben@example.com")
        answer = excinfo.value.response
        assert answer["error"] == "missing_scope" and answer["needed"] == "users:read.email"
        assert "users:read.email" not in answer["provided"].split(",")
        assert lookup_by_email(client, "ben@example.com").error == "missing_scope"


def test_a_scripted_429_reaches_heedful_as_its_retry_after(
    client: WebClient, emulator: SlackEmulator
) -> None:
    emulator.fault("users.lookupByEmail", status=429, retry_after="2.5")
    limited = lookup_by_email(client, "ben@example.com")
    assert limited.retry_after == 2.5 and not limited.found
    found = lookup_by_email(client, "ben@example.com")  # the fault applied once
    assert found.found and found.user is not None and found.user["id"] == BEN
    nobody = lookup_by_email(client, "nobody@example.com")
    assert not nobody.found and nobody.error is None and nobody.retry_after is None

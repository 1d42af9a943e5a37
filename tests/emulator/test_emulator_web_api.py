"""The emulator's Web API, driven through a real slack_sdk WebClient."""

from __future__ import annotations

import http.client
import json
import threading

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.emulator import SlackEmulator
from bot.emulator.state import ts_key

ANA = "U123"
BEN = "U456"
METADATA = {
    "event_type": "heedful_delivery",
    "event_payload": {"delivery_id": 7, "kind": "reminder", "occurrence": "evt-1"},
}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(excinfo.value.response["error"])


def test_api_url_is_a_loopback_url_with_trailing_slash(emulator: SlackEmulator) -> None:
    assert emulator.api_url.startswith("http://127.0.0.1:")
    assert emulator.api_url.endswith("/api/")
    assert emulator.port > 0


def test_auth_test_reports_the_bot(client: WebClient, emulator: SlackEmulator) -> None:
    answer = client.auth_test()

    assert answer["user_id"] == "UHEEDFUL"
    assert answer["bot_id"] == "BHEEDFUL"
    assert answer["team_id"] == "T0001"
    assert answer["is_enterprise_install"] is False
    assert emulator.calls_to("auth.test")[0].token == "xoxb-emulator"


def test_post_message_to_a_user_id_lands_in_their_dm_with_metadata(
    client: WebClient, emulator: SlackEmulator
) -> None:
    answer = client.chat_postMessage(
        channel=ANA,
        text="Breathe before you walk in",
        blocks=[_section("Breathe")],
        metadata=METADATA,
    )

    dm = emulator.dm_channel(ANA)
    assert dm.startswith("D")
    assert answer["channel"] == dm
    assert answer["message"]["metadata"] == METADATA
    [stored] = emulator.messages(ANA)
    assert stored == emulator.messages(dm)[0]
    assert stored["ts"] == answer["ts"]
    assert stored["user"] == "UHEEDFUL"
    assert stored["text"] == "Breathe before you walk in"
    assert stored["blocks"] == [_section("Breathe")]
    assert stored["metadata"] == METADATA
    assert stored["thread_ts"] is None
    assert stored["edited"] is None
    call = emulator.calls_to("chat.postMessage")[0]
    assert call.params["channel"] == ANA
    assert call.token == "xoxb-emulator"


def test_dm_channel_is_stable_and_distinct_per_user(emulator: SlackEmulator) -> None:
    assert emulator.dm_channel(ANA) == emulator.dm_channel(ANA)
    assert emulator.dm_channel(ANA) != emulator.dm_channel(BEN)


def test_post_message_to_the_dm_id_and_conversations_open_agree(
    client: WebClient, emulator: SlackEmulator
) -> None:
    opened = client.conversations_open(users=ANA)
    answer = client.chat_postMessage(channel=opened["channel"]["id"], text="hi")

    assert opened["channel"]["id"] == emulator.dm_channel(ANA)
    assert answer["channel"] == opened["channel"]["id"]
    assert client.conversations_open(users=ANA)["already_open"] is True


def test_form_encoded_calls_with_token_argument_work(emulator: SlackEmulator) -> None:
    anonymous = WebClient(base_url=emulator.api_url)

    answer = anonymous.api_call(
        "chat.postMessage",
        params={"token": emulator.bot_token, "channel": ANA, "text": "form"},
    )

    assert answer["ok"] is True
    call = emulator.calls_to("chat.postMessage")[0]
    assert call.token == emulator.bot_token
    assert "token" not in call.params
    assert emulator.messages(ANA)[0]["text"] == "form"


def test_blocks_and_metadata_as_json_strings_are_accepted(
    client: WebClient, emulator: SlackEmulator
) -> None:
    client.api_call(
        "chat.postMessage",
        params={
            "channel": ANA,
            "text": "fallback",
            "blocks": json.dumps([_section("one")]),
            "metadata": json.dumps(METADATA),
        },
    )

    [stored] = emulator.messages(ANA)
    assert stored["blocks"] == [_section("one")]
    assert stored["metadata"] == METADATA


def test_history_is_newest_first_and_shows_metadata_only_on_request(
    client: WebClient, emulator: SlackEmulator
) -> None:
    first = client.chat_postMessage(channel=ANA, text="first", metadata=METADATA)
    second = client.chat_postMessage(channel=ANA, text="second", metadata=METADATA)
    dm = emulator.dm_channel(ANA)

    plain = client.conversations_history(channel=dm)
    with_metadata = client.conversations_history(channel=dm, include_all_metadata=True)

    assert [m["ts"] for m in plain["messages"]] == [second["ts"], first["ts"]]
    assert all("metadata" not in m for m in plain["messages"])
    assert [m["metadata"] for m in with_metadata["messages"]] == [METADATA, METADATA]
    assert plain["has_more"] is False


def test_history_pages_with_cursor_and_honours_oldest_latest_inclusive(
    client: WebClient, emulator: SlackEmulator
) -> None:
    sent = [client.chat_postMessage(channel=ANA, text=f"m{i}")["ts"] for i in range(5)]
    dm = emulator.dm_channel(ANA)

    # SlackResponse iteration reuses one object per page, so copy what each page holds.
    pages = [
        {
            "messages": list(page["messages"]),
            **{k: page[k] for k in ("has_more", "response_metadata")},
        }
        for page in client.conversations_history(channel=dm, limit=2)
    ]
    seen = [m["ts"] for page in pages for m in page["messages"]]
    window = client.conversations_history(
        channel=dm, oldest=sent[1], latest=sent[3], inclusive=True
    )
    exclusive = client.conversations_history(channel=dm, oldest=sent[1], latest=sent[3])

    assert [len(page["messages"]) for page in pages] == [2, 2, 1]
    assert seen == list(reversed(sent))
    assert pages[0]["has_more"] is True
    assert pages[0]["response_metadata"]["next_cursor"]
    assert [m["ts"] for m in window["messages"]] == [sent[3], sent[2], sent[1]]
    assert [m["ts"] for m in exclusive["messages"]] == [sent[2]]


def test_thread_replies_stay_out_of_history_and_show_in_replies(
    client: WebClient, emulator: SlackEmulator
) -> None:
    parent = client.chat_postMessage(channel=ANA, text="How did it go?")
    reply = client.chat_postMessage(channel=ANA, text="Thanks", thread_ts=parent["ts"])
    dm = emulator.dm_channel(ANA)

    history = client.conversations_history(channel=dm)
    replies = client.conversations_replies(channel=dm, ts=parent["ts"])

    assert [m["ts"] for m in history["messages"]] == [parent["ts"]]
    assert history["messages"][0]["reply_count"] == 1
    assert [m["ts"] for m in replies["messages"]] == [parent["ts"], reply["ts"]]
    assert emulator.messages(ANA)[1]["thread_ts"] == parent["ts"]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        (
            [_section("x" * 3001)],
            "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            [{"text": {"type": "mrkdwn", "text": "no type"}}],
            "missing required field: type [json-pointer:/blocks/0]",
        ),
        ([{"type": "divider"}] * 51, "no more than 50 items allowed [json-pointer:/blocks]"),
    ],
)
@pytest.mark.emulator_refusals
def test_invalid_blocks_are_rejected_like_slack(
    client: WebClient, emulator: SlackEmulator, blocks: list, pointer: str
) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=ANA, text="fallback", blocks=blocks)

    assert _error(excinfo) == "invalid_blocks"
    assert pointer in excinfo.value.response["errors"]
    assert emulator.messages(ANA) == []


def test_blocks_at_the_limits_are_accepted(client: WebClient, emulator: SlackEmulator) -> None:
    blocks = [_section("x" * 3000)] + [{"type": "divider"}] * 49

    client.chat_postMessage(channel=ANA, text="fallback", blocks=blocks)

    assert len(emulator.messages(ANA)[0]["blocks"]) == 50


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": ANA}, "no_text"),
        ({"channel": ANA, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": "", "text": "hi"}, "channel_not_found"),
        ({"channel": "U999", "text": "hi"}, "channel_not_found"),
        ({"channel": "C123", "text": "hi"}, "channel_not_found"),
        ({"channel": "UHEEDFUL", "text": "hi"}, "cannot_dm_bot"),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
@pytest.mark.emulator_refusals
def test_post_message_validation_errors(
    client: WebClient, emulator: SlackEmulator, kwargs: dict, error: str
) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(**kwargs)

    assert _error(excinfo) == error


def test_posting_to_a_deactivated_user_fails_with_user_disabled(
    client: WebClient, emulator: SlackEmulator
) -> None:
    emulator.update_user(BEN, deleted=True)

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=BEN, text="hi")

    assert _error(excinfo) == "user_disabled"


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (None, "not_authed"),
        ("xoxb-wrong", "invalid_auth"),
        ("xapp-emulator", "not_allowed_token_type"),
    ],
)
def test_bad_tokens_are_rejected(emulator: SlackEmulator, token: str | None, error: str) -> None:
    client = WebClient(base_url=emulator.api_url, token=token, retry_handlers=[])

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=ANA, text="hi")

    assert _error(excinfo) == error
    assert emulator.messages(ANA) == []


def test_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.teleport")

    assert _error(excinfo) == "unknown_method"


def test_update_marks_edited_keeps_blocks_and_delete_removes(
    client: WebClient, emulator: SlackEmulator
) -> None:
    posted = client.chat_postMessage(channel=ANA, text="v1", blocks=[_section("v1")])

    updated = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="v2")
    [stored] = emulator.messages(ANA)
    client.chat_delete(channel=ANA, ts=posted["ts"])

    assert updated["ts"] == posted["ts"]
    assert stored["text"] == "v2"
    assert stored["blocks"] == [_section("v1")]
    assert stored["edited"]["user"] == "UHEEDFUL"
    assert emulator.messages(ANA) == []
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel=ANA, ts=posted["ts"], text="v3")
    assert _error(excinfo) == "message_not_found"


def test_bot_cannot_update_a_users_message(client: WebClient, emulator: SlackEmulator) -> None:
    ts = emulator.user_says(None, ANA, "mine")

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel=ANA, ts=ts, text="edited by bot")

    assert _error(excinfo) == "cant_update_message"


def test_ephemeral_and_reaction(client: WebClient, emulator: SlackEmulator) -> None:
    posted = client.chat_postMessage(channel=ANA, text="hello")

    ephemeral = client.chat_postEphemeral(channel=posted["channel"], user=ANA, text="psst")
    client.reactions_add(channel=posted["channel"], timestamp=posted["ts"], name="wave")

    assert ephemeral["message_ts"]
    assert emulator.ephemerals[0]["text"] == "psst"
    assert emulator.messages(ANA)[0]["reactions"] == [
        {"name": "wave", "users": ["UHEEDFUL"], "count": 1}
    ]
    with pytest.raises(SlackApiError) as excinfo:
        client.reactions_add(channel=posted["channel"], timestamp=posted["ts"], name="wave")
    assert _error(excinfo) == "already_reacted"


def test_users_info_reports_time_zone_and_email(client: WebClient, emulator: SlackEmulator) -> None:
    user = client.users_info(user=ANA)["user"]

    assert user["id"] == ANA
    assert user["tz"] == "Europe/Berlin"
    assert user["tz_offset"] in {3600, 7200}
    assert user["tz_label"] in {"Central European Time", "Central European Summer Time"}
    assert user["profile"]["email"] == "ana@example.com"
    assert user["real_name"] == "Ana Lopez"
    assert user["is_bot"] is False
    assert user["deleted"] is False


def test_update_user_changes_what_users_info_returns(
    client: WebClient, emulator: SlackEmulator
) -> None:
    emulator.update_user(ANA, tz="Asia/Tokyo")

    user = client.users_info(user=ANA)["user"]

    assert user["tz"] == "Asia/Tokyo"
    assert user["tz_offset"] == 9 * 3600
    assert user["tz_label"] == "Japan Standard Time"


def test_lookup_by_email_and_unknown_users(client: WebClient) -> None:
    assert client.users_lookupByEmail(email="BEN@example.com")["user"]["id"] == BEN
    with pytest.raises(SlackApiError) as excinfo:
        client.users_lookupByEmail(email="nobody@example.com")
    assert _error(excinfo) == "users_not_found"
    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="U999")
    assert _error(excinfo) == "user_not_found"


@pytest.mark.emulator_refusals
def test_views_publish_stores_the_home_view_and_update_replaces_it(
    client: WebClient, emulator: SlackEmulator
) -> None:
    home = {"type": "home", "blocks": [_section("Your week")]}

    published = client.views_publish(user_id=ANA, view=home)
    again = client.views_publish(user_id=ANA, view={"type": "home", "blocks": [_section("v2")]})

    assert published["view"]["id"].startswith("V")
    assert again["view"]["id"] == published["view"]["id"]
    assert emulator.views[ANA]["blocks"] == [_section("v2")]
    with pytest.raises(SlackApiError) as excinfo:
        client.views_publish(user_id=ANA, view={"type": "modal", "blocks": []})
    assert _error(excinfo) == "invalid_arguments"


def test_views_open_and_update_a_modal(client: WebClient, emulator: SlackEmulator) -> None:
    modal = {
        "type": "modal",
        "callback_id": "reflection",
        "title": {"type": "plain_text", "text": "Reflect"},
        "blocks": [_section("How did you listen?")],
    }

    opened = client.views_open(trigger_id="123.456.abc", view=modal)
    client.views_update(view_id=opened["view"]["id"], view={**modal, "blocks": [_section("2")]})

    assert emulator.opened_views[0]["callback_id"] == "reflection"
    assert emulator.view(opened["view"]["id"])["blocks"] == [_section("2")]
    assert emulator.opened_views[0]["blocks"] == [_section("2")]


def test_file_upload_flow_shares_the_file_into_the_dm(
    client: WebClient, emulator: SlackEmulator
) -> None:
    content = b"week,reflections\n2025-W01,3\n"

    answer = client.files_upload_v2(
        channel=emulator.dm_channel(ANA),
        content=content,
        filename="export.csv",
        title="Your export",
        initial_comment="Here is your data",
    )

    file_id = answer["file"]["id"]
    assert emulator.files[file_id] == content
    [message] = emulator.messages(ANA)
    assert message["text"] == "Here is your data"
    assert message["files"][0]["id"] == file_id
    assert message["files"][0]["title"] == "Your export"
    assert message["files"][0]["size"] == len(content)
    upload_url = client.files_getUploadURLExternal(filename="x.txt", length=1)["upload_url"]
    assert upload_url.startswith(emulator.base_url)


def test_timestamps_are_unique_and_increasing_under_concurrency(
    emulator: SlackEmulator,
) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def post(n: int) -> None:
        client = WebClient(base_url=emulator.api_url, token=emulator.bot_token)
        for i in range(25):
            ts = client.chat_postMessage(channel=ANA, text=f"{n}-{i}")["ts"]
            with lock:
                results.append(ts)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = [m["ts"] for m in emulator.messages(ANA)]
    assert len(set(results)) == 200
    assert sorted(results, key=ts_key) == stored
    assert all(len(ts.split(".")[1]) == 6 for ts in results)


def test_keep_alive_serves_several_requests_on_one_connection(emulator: SlackEmulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    headers = {"Authorization": f"Bearer {emulator.bot_token}", "Content-Type": "application/json"}
    try:
        for i in range(3):
            body = json.dumps({"channel": ANA, "text": f"k{i}"})
            connection.request("POST", "/api/chat.postMessage", body=body, headers=headers)
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Connection") is None
            assert json.loads(response.read())["ok"] is True
        sock = connection.sock
        assert sock is not None
    finally:
        connection.close()
    assert [m["text"] for m in emulator.messages(ANA)] == ["k0", "k1", "k2"]


def test_reset_forgets_calls_and_messages_but_keeps_users(
    client: WebClient, emulator: SlackEmulator
) -> None:
    client.chat_postMessage(channel=ANA, text="hi")
    emulator.fault("chat.postMessage", error="account_inactive")

    emulator.reset()

    assert emulator.calls == []
    assert emulator.messages(ANA) == []
    assert client.chat_postMessage(channel=ANA, text="again")["ok"] is True
    assert client.users_info(user=ANA)["user"]["tz"] == "Europe/Berlin"


def test_scheduled_messages_are_posted_when_released(
    client: WebClient, emulator: SlackEmulator
) -> None:
    post_at = int(emulator.now().timestamp()) + 3600
    scheduled = client.chat_scheduleMessage(channel=ANA, text="later", post_at=post_at)

    listed = client.chat_scheduledMessages_list()
    early = emulator.release_scheduled(until=post_at - 1)
    posted = emulator.release_scheduled(until=post_at)

    assert listed["scheduled_messages"][0]["id"] == scheduled["scheduled_message_id"]
    assert early == []
    assert [m["ts"] for m in emulator.messages(ANA)] == posted


def test_two_emulators_run_side_by_side() -> None:
    with SlackEmulator() as one, SlackEmulator(team_id="T0002") as two:
        assert one.port != two.port
        answer = WebClient(base_url=two.api_url, token=two.bot_token).auth_test()
        assert answer["team_id"] == "T0002"

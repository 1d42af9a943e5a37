"""The emulator refuses what Slack documents as invalid Block Kit, on every surface that
takes blocks, through a real WebClient (and a real WebhookClient for ``response_url``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.emulator import SlackEmulator
from bot.emulator.models import EmulatorError

if TYPE_CHECKING:
    from tests.emulator.conftest import SignedApp

ANA = "U123"

pytestmark = pytest.mark.emulator_refusals


def _section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def _button(action_id: str, text: str = "Go", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": "1",
        **extra,
    }


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def _select(options: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "static_select", "action_id": "s", "options": options, **extra}


def _modal(blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Reflect"},
        "submit": {"type": "plain_text", "text": "Keep"},
        "blocks": blocks,
        **extra,
    }


def _input(element: dict[str, Any], label: str = "A line") -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "b",
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }


# The reflection prompt as it used to be: three buttons with one action_id.
TWO_TAPS = [
    {
        "type": "actions",
        "block_id": "reflect",
        "elements": [_button("reflect_tap", "Fully there"), _button("reflect_tap", "Partly")],
    }
]


def _refused(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as excinfo:
        call()
    return dict(excinfo.value.response.data)


def _surfaces(client: WebClient, emulator: SlackEmulator) -> dict[str, Callable[[list], Any]]:
    posted = client.chat_postMessage(channel=ANA, text="before")
    opened = client.views_open(trigger_id="1.2.x", view=_modal([_section("q")]))
    client.views_publish(user_id=ANA, view={"type": "home", "blocks": [_section("home")]})
    home = emulator.views[ANA]
    return {
        "chat.postMessage": lambda b: client.chat_postMessage(channel=ANA, text="t", blocks=b),
        "chat.update": lambda b: client.chat_update(
            channel=posted["channel"], ts=posted["ts"], text="t", blocks=b
        ),
        "chat.postEphemeral": lambda b: client.chat_postEphemeral(
            channel=ANA, user=ANA, text="t", blocks=b
        ),
        "chat.scheduleMessage": lambda b: client.chat_scheduleMessage(
            channel=ANA, text="t", blocks=b, post_at=int(emulator.now().timestamp()) + 3600
        ),
        "views.publish": lambda b: client.views_publish(
            user_id=ANA, view={"type": "home", "blocks": b}
        ),
        "views.open": lambda b: client.views_open(trigger_id="1.2.x", view=_modal(b)),
        "views.push": lambda b: client.views_push(trigger_id="1.2.x", view=_modal(b)),
        "views.update": lambda b: client.views_update(view_id=opened["view"]["id"], view=_modal(b)),
        "views.update (home)": lambda b: client.views_update(
            view_id=home["id"], view={"type": "home", "blocks": b}
        ),
    }


SURFACES = [
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.scheduleMessage",
    "views.publish",
    "views.open",
    "views.push",
    "views.update",
    "views.update (home)",
]


@pytest.mark.parametrize("surface", SURFACES)
def test_two_equal_action_ids_in_one_block_are_refused_on_every_surface(
    client: WebClient, emulator: SlackEmulator, surface: str
) -> None:
    send = _surfaces(client, emulator)[surface]
    before = emulator.bot_messages(ANA)

    answer = _refused(lambda: send(TWO_TAPS))

    expected = "invalid_arguments" if surface.startswith("views.") else "invalid_blocks"
    assert answer["error"] == expected
    messages = answer.get("errors") or answer["response_metadata"]["messages"]
    assert any("duplicate action_id: reflect_tap" in m for m in messages), messages
    assert emulator.refusals[-1]["error"] == expected
    assert emulator.bot_messages(ANA) == before  # nothing was stored or changed


def test_a_response_url_post_with_two_equal_action_ids_is_refused(
    emulator: SlackEmulator,
) -> None:
    url = emulator.block_actions_payload(ANA, "anything")["response_url"]
    webhook = WebhookClient(url)

    refused = webhook.send(text="t", blocks=TWO_TAPS)
    accepted = webhook.send(text="t", blocks=[_section("fine")])

    assert (refused.status_code, refused.body) == (400, "invalid_blocks")
    assert accepted.status_code == 200
    assert [r["payload"]["blocks"] for r in emulator.responses] == [[_section("fine")]]
    assert emulator.refusals[0]["method"] == "response_url"


INVALID_MESSAGES = [
    pytest.param(
        [_section("a", block_id="x"), _section("b", block_id="x")],
        "duplicate block_id: x [json-pointer:/blocks/1/block_id]",
        id="duplicate-block_id",
    ),
    pytest.param(
        [{"type": "actions", "elements": [_button("a", "b" * 76)]}],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
        id="button-text-76",
    ),
    pytest.param(
        [{"type": "actions", "elements": [_button("a", value="v" * 2001)]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
        id="button-value-2001",
    ),
    pytest.param(
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 2001}]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/text]",
        id="context-2001",
    ),
    pytest.param(
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]",
        id="field-2001",
    ),
    pytest.param(
        [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
        "must be one of: plain_text [json-pointer:/blocks/0/text/type]",
        id="header-mrkdwn",
    ),
    pytest.param(
        [_section("")],
        "must be more than 0 characters [json-pointer:/blocks/0/text/text]",
        id="empty-text",
    ),
    pytest.param(
        [
            _section(
                "pick",
                accessory={
                    "type": "static_select",
                    "action_id": "s",
                    "options": [_option("o" * 76, "1")],
                },
            )
        ],
        "must be less than 76 characters [json-pointer:/blocks/0/accessory/options/0/text/text]",
        id="option-76",
    ),
    pytest.param(
        [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "checkboxes",
                        "action_id": "c",
                        "options": [_option(str(n), str(n)) for n in range(11)],
                    }
                ],
            }
        ],
        "no more than 10 items allowed [json-pointer:/blocks/0/elements/0/options]",
        id="checkboxes-11",
    ),
    pytest.param(
        [
            _section(
                "pick",
                accessory={
                    "type": "static_select",
                    "action_id": "s",
                    "options": [_option("a", "1")],
                    "initial_option": _option("b", "2"),
                },
            )
        ],
        "must match one of the options [json-pointer:/blocks/0/accessory/initial_option]",
        id="initial-option-not-an-option",
    ),
    pytest.param(
        [{"type": "actions", "elements": [_button("a", style="blue")]}],
        "must be one of: danger, primary [json-pointer:/blocks/0/elements/0/style]",
        id="button-style",
    ),
    pytest.param(
        [{"type": "actions", "elements": [{"type": "mrkdwn", "text": "not an element"}]}],
        "unsupported type: mrkdwn [json-pointer:/blocks/0/elements/0/type]",
        id="text-in-actions",
    ),
    pytest.param(
        [
            {
                "type": "section",
                "txt": {"type": "mrkdwn", "text": "typo"},
                "text": _section("a")["text"],
            }
        ],
        "not kept by slack_sdk.models) [json-pointer:/blocks/0/txt]",
        id="unknown-field",
    ),
    pytest.param(
        [_section("Heads up <!channel>")],
        "no broadcast mention in a bot DM (emulator policy) [json-pointer:/blocks/0/text/text]",
        id="channel-mention",
    ),
    pytest.param(
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "<!here|here> now"}]}],
        "no broadcast mention in a bot DM (emulator policy) "
        "[json-pointer:/blocks/0/elements/0/text]",
        id="here-mention",
    ),
    pytest.param(
        [_section("<!subteam^S123|@leads>")],
        "no broadcast mention in a bot DM (emulator policy) [json-pointer:/blocks/0/text/text]",
        id="group-mention",
    ),
]


@pytest.mark.parametrize(("blocks", "error"), INVALID_MESSAGES)
def test_what_slack_documents_as_invalid_is_refused_in_a_message(
    client: WebClient, emulator: SlackEmulator, blocks: list, error: str
) -> None:
    answer = _refused(lambda: client.chat_postMessage(channel=ANA, text="t", blocks=blocks))

    assert answer["error"] == "invalid_blocks"
    assert any(item.endswith(error) for item in answer["errors"]), answer["errors"]
    assert emulator.messages(ANA) == []


def test_a_broadcast_in_the_text_of_a_dm_is_refused(
    client: WebClient, emulator: SlackEmulator
) -> None:
    answer = _refused(lambda: client.chat_postMessage(channel=ANA, text="<!everyone> hi"))

    assert answer["error"] == "invalid_arguments"
    assert "emulator policy" in answer["response_metadata"]["messages"][0]
    client.chat_postMessage(channel=ANA, text="&lt;!everyone&gt; is only text when escaped")
    assert len(emulator.messages(ANA)) == 1


INVALID_VIEWS = [
    pytest.param(
        _modal([_section("q")], title={"type": "plain_text", "text": "t" * 25}),
        "must be less than 25 characters [json-pointer:/view/title/text]",
        id="title-25",
    ),
    pytest.param(
        _modal([_section("q")], submit={"type": "plain_text", "text": "s" * 25}),
        "must be less than 25 characters [json-pointer:/view/submit/text]",
        id="submit-25",
    ),
    pytest.param(
        {"type": "modal", "blocks": [_section("q")]},
        "missing required field [json-pointer:/view/title]",
        id="no-title",
    ),
    pytest.param(
        _modal([_input({"type": "plain_text_input", "action_id": "t"})], submit=None),
        "a modal with an input block needs submit [json-pointer:/view]",
        id="input-without-submit",
    ),
    pytest.param(
        _modal([_input({"type": "plain_text_input", "action_id": "t", "max_length": 3001})]),
        "must be between 1 and 3000 [json-pointer:/view/blocks/0/element/max_length]",
        id="input-max_length-3001",
    ),
    pytest.param(
        _modal([_input({"type": "plain_text_input", "action_id": "t"}, label="l" * 2001)]),
        "must be less than 2001 characters [json-pointer:/view/blocks/0/label/text]",
        id="label-2001",
    ),
    pytest.param(
        _modal([_input({"type": "button", "action_id": "t", "text": _section("a")["text"]})]),
        "unsupported type: button [json-pointer:/view/blocks/0/element/type]",
        id="button-in-input",
    ),
    pytest.param(
        _modal([_section("q")], private_metadata="m" * 3001),
        "must be less than 3001 characters [json-pointer:/view/private_metadata]",
        id="metadata-3001",
    ),
    pytest.param(
        _modal([{"type": "divider"}] * 101),
        "no more than 100 items allowed [json-pointer:/view/blocks]",
        id="101-blocks",
    ),
    pytest.param(
        _modal([_input(_select([_option(str(n), str(n)) for n in range(101)]))]),
        "no more than 100 items allowed [json-pointer:/view/blocks/0/element/options]",
        id="select-101-options",
    ),
    pytest.param(
        _modal([_input(_select([_option("a", "a")], initial_option=_option("b", "b")))]),
        "must match one of the options [json-pointer:/view/blocks/0/element/initial_option]",
        id="select-initial-not-an-option",
    ),
    pytest.param(
        _modal(
            [
                _input(
                    _select(
                        [
                            {
                                **_option("a", "a"),
                                "description": {"type": "plain_text", "text": "d" * 76},
                            }
                        ]
                    )
                )
            ]
        ),
        "must be less than 76 characters "
        "[json-pointer:/view/blocks/0/element/options/0/description/text]",
        id="option-description-76",
    ),
    pytest.param(
        _modal(
            [
                _input(
                    {
                        "type": "plain_text_input",
                        "action_id": "t",
                        "multiline": True,
                        "placeholder": {"type": "plain_text", "text": "p" * 151},
                    }
                )
            ]
        ),
        "must be less than 151 characters [json-pointer:/view/blocks/0/element/placeholder/text]",
        id="input-placeholder-151",
    ),
    pytest.param(
        _modal([_input({"type": "plain_text_input", "action_id": "t", "min_length": 3001})]),
        "must be between 0 and max_length [json-pointer:/view/blocks/0/element/min_length]",
        id="input-min_length-3001",
    ),
    pytest.param(
        _modal(
            [
                _input(
                    {
                        "type": "plain_text_input",
                        "action_id": "t",
                        "max_length": 5,
                        "initial_value": "longer",
                    }
                )
            ]
        ),
        "must be less than 6 characters [json-pointer:/view/blocks/0/element/initial_value]",
        id="input-initial-value-over-max_length",
    ),
    pytest.param(
        _modal(
            [
                _input({"type": "plain_text_input", "action_id": "t"}),
                _input(_select([_option("a", "a")])),
            ]
        ),
        "duplicate block_id: b [json-pointer:/view/blocks/1/block_id]",
        id="two-inputs-one-block_id",
    ),
]


@pytest.mark.parametrize("method", ["views.open", "views.update"])
@pytest.mark.parametrize(("view", "error"), INVALID_VIEWS)
def test_what_slack_documents_as_invalid_is_refused_in_a_modal(
    client: WebClient, emulator: SlackEmulator, view: dict, error: str, method: str
) -> None:
    view = {k: v for k, v in view.items() if v is not None}
    shown = _modal([_section("before")])
    opened = client.views_open(trigger_id="1.2.x", view=shown)["view"]
    if method == "views.open":
        answer = _refused(lambda: client.views_open(trigger_id="1.2.x", view=view))
    else:
        answer = _refused(lambda: client.views_update(view_id=opened["id"], view=view))

    assert answer["error"] == "invalid_arguments"
    messages = answer["response_metadata"]["messages"]
    assert any(item.endswith(error) for item in messages), messages
    assert [v["blocks"] for v in emulator.opened_views] == [shown["blocks"]]  # unchanged


def test_a_home_view_may_not_have_submit_and_holds_at_most_100_blocks(
    client: WebClient, emulator: SlackEmulator
) -> None:
    full = {"type": "home", "blocks": [{"type": "divider"}] * 100}
    client.views_publish(user_id=ANA, view=full)

    too_many = _refused(
        lambda: client.views_publish(
            user_id=ANA, view={"type": "home", "blocks": [{"type": "divider"}] * 101}
        )
    )
    submit = _refused(
        lambda: client.views_publish(
            user_id=ANA,
            view={**full, "submit": {"type": "plain_text", "text": "Go"}},
        )
    )

    assert too_many["error"] == submit["error"] == "invalid_arguments"
    assert len(emulator.views[ANA]["blocks"]) == 100


def test_everything_at_the_documented_limits_is_accepted(
    client: WebClient, emulator: SlackEmulator
) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        _section("s" * 3000),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 2000}]},
        {
            "type": "actions",
            "block_id": "taps",
            "elements": [
                _button("reflect_tap_5", "b" * 75, value="v" * 2000),
                _button("reflect_tap_3"),
                _button("reflect_tap_1"),
            ],
        },
        _section("&lt;!channel&gt; is text, not a mention", block_id="other"),
    ]
    blocks += [{"type": "divider"}] * (50 - len(blocks))
    modal = _modal(
        [
            _input(
                {
                    "type": "plain_text_input",
                    "action_id": "t",
                    "multiline": True,
                    "max_length": 3000,
                },
                label="l" * 2000,
            )
        ],
        title={"type": "plain_text", "text": "t" * 24},
        private_metadata="m" * 3000,
    )

    client.chat_postMessage(channel=ANA, text="t", blocks=blocks)
    client.views_open(trigger_id="1.2.x", view=modal)

    assert len(emulator.messages(ANA)[0]["blocks"]) == 50
    assert emulator.refusals == []


def test_refusals_are_kept_until_reset(client: WebClient, emulator: SlackEmulator) -> None:
    _refused(lambda: client.chat_postMessage(channel=ANA, text="t", blocks=TWO_TAPS))

    assert [r["method"] for r in emulator.refusals] == ["chat.postMessage"]
    emulator.reset()
    assert emulator.refusals == []


# --------------------------------------------------------------------------- submitting a modal

FORM = _modal(
    [
        {
            **_input({"type": "plain_text_input", "action_id": "t", "max_length": 10}),
            "block_id": "words",
        },
        {**_input(_select([_option("A", "a"), _option("B", "b")])), "block_id": "pick"},
    ]
)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        pytest.param({"words": {"t": "x" * 11}}, "longer than max_length", id="too-long"),
        pytest.param(
            {"pick": {"s": {"type": "static_select", "selected_option": _option("C", "c")}}},
            "not one of the element's options",
            id="not-an-option",
        ),
    ],
)
def test_what_slacks_client_never_submits_is_not_sent(
    emulator: SlackEmulator, signed_app: SignedApp, values: dict, error: str
) -> None:
    with pytest.raises(EmulatorError, match=error):
        emulator.submit_view(signed_app.url, ANA, FORM, values)
    assert signed_app.requests == []
    emulator.submit_view(signed_app.url, ANA, FORM, {"words": {"t": "x" * 10}})
    assert len(signed_app.requests) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(
            {"response_action": "errors", "errors": {"nowhere": "Too long."}},
            "not the block_id of an input block: nowhere",
            id="errors-for-no-input",
        ),
        pytest.param(
            {"response_action": "errors", "errors": {"words": ""}},
            "must be a non-empty string",
            id="errors-empty-message",
        ),
        pytest.param(
            {"response_action": "errors", "errors": {}},
            "at least one input block",
            id="errors-empty",
        ),
        pytest.param({"response_action": "close"}, "must be one of", id="unknown-action"),
        pytest.param(
            {"response_action": "update", "view": {"type": "modal", "blocks": []}},
            "missing required field",
            id="update-invalid-view",
        ),
    ],
)
def test_an_answer_to_a_submission_slack_cannot_show_is_refused(
    emulator: SlackEmulator, signed_app: SignedApp, answer: dict, error: str
) -> None:
    signed_app.answer = answer
    emulator.submit_view(signed_app.url, ANA, FORM, {"words": {"t": "calm"}})

    (refusal,) = emulator.refusals
    assert refusal["method"] == "view_submission response"
    assert any(error in item for item in refusal["errors"]), refusal["errors"]


def test_answers_slack_can_show_are_not_refused(
    emulator: SlackEmulator, signed_app: SignedApp
) -> None:
    for answer in (
        None,  # an empty ack closes the modal
        {"response_action": "errors", "errors": {"words": "Keep it to ten characters."}},
        {"response_action": "update", "view": _modal([_section("Thanks.")])},
        {"response_action": "clear"},
    ):
        signed_app.answer = answer
        emulator.submit_view(signed_app.url, ANA, FORM, {"words": {"t": "calm"}})
    assert emulator.refusals == []

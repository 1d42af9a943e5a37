"""Block Kit validation, at least as strict as Slack's.

Slack answers a bad ``blocks`` argument with ``{"ok": false, "error": "invalid_blocks",
"errors": ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"], ...}``;
the messages built here follow that format.

Two checks, both must pass:

1. Our own, written from Slack's Block Kit reference, for what ``slack_sdk.models`` does not
   check: every text's length where it sits (a text object 1–3,000, a section 3,000 and
   its fields 2,000, a header 150, a context element 2,000, a button 75, an option 75, an
   input's label and hint 2,000, a modal's title, submit and close 24 …), an ``action_id``
   unique within its block, a ``block_id`` unique within the message or view, at most 50
   blocks in a message and 100 in a view, the element types each block accepts, and the
   options a checkbox group, radio group or select may hold.
2. ``slack_sdk.models``: each block goes through ``Block.parse(...).to_dict()`` (and a view
   through ``View(**view).to_dict()``), whose validators enforce many limits. A field the
   models do not know is dropped by ``to_dict()``; the result must equal what was sent, so
   an unknown or misspelt field is refused too (Slack refuses those as well).

Where a limit is written two ways, the smaller one is used: a context element's text is a
text object (3,000 in the text object reference) but is held to 2,000, as older guidance
and several validators have it. Being stricter than Slack costs nothing here: the emulator
only ever checks Heedful's own payloads.

Two more checks, for modals: :func:`validate_view_response` reads an app's answer to a
``view_submission`` (a ``response_action`` Slack knows; ``errors`` keyed by the ``block_id``
of an input block of the submitted view, a string each, since Slack shows them under those
inputs and nowhere else; a valid modal for ``update`` and ``push``), and
:func:`validate_submission` refuses what Slack's client never submits: a text longer than the
input's ``max_length`` (3,000 without one) or shorter than its ``min_length``, or a selected
option that is not one of the element's options.

Emulator policy, not Slack's: a bot DM (``chat.postMessage``, ``chat.update``,
``chat.postEphemeral``, ``chat.scheduleMessage``, a ``response_url`` post) may not carry a
broadcast mention (``<!channel>``, ``<!here>``, ``<!everyone>``) or a user-group mention
(``<!subteam^…>``), in its blocks or its ``text``. Slack would deliver one; Heedful never
means to send one, so one that gets through is an injection (a meeting title, a calendar
link) and the emulator refuses it (see :func:`broadcast_mentions`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_OBJECT = 3000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTION_DESCRIPTION = 75
MAX_LABEL = 2000
MAX_HINT = 2000
MAX_PLACEHOLDER = 150
MAX_INPUT_LENGTH = 3000
MAX_ALT_TEXT = 2000
MAX_IMAGE_TITLE = 2000
MAX_MARKDOWN_TEXT = 12000
MAX_BLOCK_ID = 255
MAX_ACTION_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_CHOICES = 10  # checkboxes, radio buttons
MAX_SELECT_OPTIONS = 100
MAX_OVERFLOW_OPTIONS = 5
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_CALLBACK_ID = 255

KNOWN_BLOCK_TYPES = frozenset(
    {
        "actions",
        "call",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
PLAIN = frozenset({"plain_text"})
SELECTS = frozenset(
    {
        "static_select",
        "multi_static_select",
        "external_select",
        "multi_external_select",
        "users_select",
        "multi_users_select",
        "conversations_select",
        "multi_conversations_select",
        "channels_select",
        "multi_channels_select",
    }
)
PICKERS = frozenset({"datepicker", "timepicker", "datetimepicker"})
CHOICES = frozenset({"checkboxes", "radio_buttons"})
TEXT_INPUTS = frozenset(
    {
        "plain_text_input",
        "email_text_input",
        "url_text_input",
        "number_input",
        "rich_text_input",
        "file_input",
    }
)
# What each place accepts (Block Kit reference, "Works with").
ACTIONS_ELEMENTS = frozenset(
    {"button", "overflow", "workflow_button", "rich_text_input"} | SELECTS | PICKERS | CHOICES
)
ACCESSORY_ELEMENTS = frozenset({"button", "overflow", "image", "workflow_button"}) | (
    SELECTS | PICKERS | CHOICES
)
INPUT_ELEMENTS = frozenset(SELECTS | PICKERS | CHOICES | TEXT_INPUTS)
CONTEXT_ELEMENTS = frozenset({"image"} | TEXT_TYPES)

# <!channel>, <!here>, <!everyone> (also with a label: <!here|here>) and <!subteam^ID>.
BROADCAST = re.compile(r"<!(?:channel|here|everyone|subteam\^[^>|]*)(?:\|[^>]*)?>")


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str, pointer: str) -> None:
        self.items.append(f"{message} [json-pointer:{pointer}]")


# --------------------------------------------------------------------------- text objects


def _check_text(
    errors: _Errors,
    obj: Any,
    pointer: str,
    *,
    max_len: int,
    types: frozenset[str] = TEXT_TYPES,
    required: bool = True,
) -> None:
    if obj is None:
        if required:
            errors.add("missing required field", pointer)
        return
    if not isinstance(obj, dict):
        errors.add("must provide an object", pointer)
        return
    kind = obj.get("type")
    if kind not in types:
        errors.add(f"must be one of: {', '.join(sorted(types))}", f"{pointer}/type")
    text = obj.get("text")
    if not isinstance(text, str):
        errors.add("missing required field: text", pointer)
        return
    limit = min(max_len, MAX_TEXT_OBJECT)
    if len(text) < 1:
        errors.add("must be more than 0 characters", f"{pointer}/text")
    elif len(text) > limit:
        errors.add(f"must be less than {limit + 1} characters", f"{pointer}/text")


def _check_string(
    errors: _Errors, value: Any, pointer: str, *, max_len: int, required: bool = False
) -> None:
    if value is None:
        if required:
            errors.add("missing required field", pointer)
        return
    if not isinstance(value, str):
        errors.add("must be a string", pointer)
    elif required and not value:
        errors.add("must be more than 0 characters", pointer)
    elif len(value) > max_len:
        errors.add(f"must be less than {max_len + 1} characters", pointer)


# --------------------------------------------------------------------------- elements


def _check_option(errors: _Errors, option: Any, pointer: str, *, types: frozenset[str]) -> None:
    if not isinstance(option, dict):
        errors.add("must provide an object", pointer)
        return
    _check_text(errors, option.get("text"), f"{pointer}/text", max_len=MAX_OPTION_TEXT, types=types)
    _check_string(
        errors, option.get("value"), f"{pointer}/value", max_len=MAX_OPTION_VALUE, required=True
    )
    _check_text(
        errors,
        option.get("description"),
        f"{pointer}/description",
        max_len=MAX_OPTION_DESCRIPTION,
        types=types,
        required=False,
    )


def _check_options(
    errors: _Errors,
    element: dict[str, Any],
    pointer: str,
    *,
    max_items: int,
    types: frozenset[str] = PLAIN,
    required: bool = True,
) -> None:
    options = element.get("options")
    if options is None and not required:
        return
    if not isinstance(options, list) or not options:
        errors.add("missing required field: options", pointer)
        return
    if len(options) > max_items:
        errors.add(f"no more than {max_items} items allowed", f"{pointer}/options")
    for index, option in enumerate(options):
        _check_option(errors, option, f"{pointer}/options/{index}", types=types)
    # An initial option must be exactly one of the options (Slack compares the objects).
    initial = element.get("initial_option")
    chosen = [initial] if initial is not None else list(element.get("initial_options") or [])
    for index, option in enumerate(chosen):
        if option not in options:
            where = "initial_option" if initial is not None else f"initial_options/{index}"
            errors.add("must match one of the options", f"{pointer}/{where}")


def _check_element(
    errors: _Errors, element: Any, pointer: str, *, allowed: frozenset[str]
) -> str | None:
    """Check one element; returns its ``action_id`` (for the uniqueness check)."""
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        errors.add("missing required field: type", pointer)
        return None
    kind = element["type"]
    if kind not in allowed:
        errors.add(f"unsupported type: {kind}", f"{pointer}/type")
        return None
    action_id = element.get("action_id")
    _check_string(errors, action_id, f"{pointer}/action_id", max_len=MAX_ACTION_ID)
    _check_text(
        errors,
        element.get("placeholder"),
        f"{pointer}/placeholder",
        max_len=MAX_PLACEHOLDER,
        types=PLAIN,
        required=False,
    )
    if kind == "button":
        _check_text(
            errors, element.get("text"), f"{pointer}/text", max_len=MAX_BUTTON_TEXT, types=PLAIN
        )
        _check_string(errors, element.get("value"), f"{pointer}/value", max_len=MAX_BUTTON_VALUE)
        _check_string(errors, element.get("url"), f"{pointer}/url", max_len=MAX_URL)
        if element.get("style") not in (None, "primary", "danger"):
            errors.add("must be one of: danger, primary", f"{pointer}/style")
    elif kind in CHOICES:
        _check_options(errors, element, pointer, max_items=MAX_CHOICES, types=TEXT_TYPES)
    elif kind in ("static_select", "multi_static_select"):
        if element.get("option_groups") is None:
            _check_options(errors, element, pointer, max_items=MAX_SELECT_OPTIONS)
    elif kind == "overflow":
        _check_options(errors, element, pointer, max_items=MAX_OVERFLOW_OPTIONS)
    elif kind == "plain_text_input":
        _check_text_input(errors, element, pointer)
    elif kind == "datepicker":
        initial = element.get("initial_date")
        if initial is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(initial)):
            errors.add("must be in format YYYY-MM-DD", f"{pointer}/initial_date")
    elif kind == "timepicker":
        initial = element.get("initial_time")
        if initial is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(initial)):
            errors.add("must be in format HH:mm", f"{pointer}/initial_time")
    elif kind == "image":
        _check_image(errors, element, pointer)
    return action_id if isinstance(action_id, str) else None


def _check_text_input(errors: _Errors, element: dict[str, Any], pointer: str) -> None:
    most = element.get("max_length", MAX_INPUT_LENGTH)
    least = element.get("min_length", 0)
    if not isinstance(most, int) or not 1 <= most <= MAX_INPUT_LENGTH:
        errors.add(f"must be between 1 and {MAX_INPUT_LENGTH}", f"{pointer}/max_length")
        most = MAX_INPUT_LENGTH
    if not isinstance(least, int) or not 0 <= least <= min(most, MAX_INPUT_LENGTH):
        errors.add("must be between 0 and max_length", f"{pointer}/min_length")
    _check_string(errors, element.get("initial_value"), f"{pointer}/initial_value", max_len=most)


def _check_image(errors: _Errors, element: dict[str, Any], pointer: str) -> None:
    if not element.get("image_url") and not element.get("slack_file"):
        errors.add("missing required field: image_url", pointer)
    _check_string(errors, element.get("image_url"), f"{pointer}/image_url", max_len=MAX_URL)
    _check_string(
        errors, element.get("alt_text"), f"{pointer}/alt_text", max_len=MAX_ALT_TEXT, required=True
    )


def _check_elements(
    errors: _Errors,
    block: dict[str, Any],
    pointer: str,
    *,
    max_items: int,
    allowed: frozenset[str],
) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        errors.add("missing required field: elements", pointer)
        return []
    if len(elements) > max_items:
        errors.add(f"no more than {max_items} items allowed", f"{pointer}/elements")
    action_ids = []
    for index, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{index}"
        if isinstance(element, dict) and element.get("type") in TEXT_TYPES & allowed:
            _check_text(errors, element, element_pointer, max_len=MAX_CONTEXT_TEXT)
            continue
        action_id = _check_element(errors, element, element_pointer, allowed=allowed)
        if action_id is not None:
            action_ids.append((action_id, f"{element_pointer}/action_id"))
    seen: set[str] = set()
    for action_id, where in action_ids:
        if action_id in seen:
            errors.add(f"duplicate action_id: {action_id}", where)
        seen.add(action_id)
    return [action_id for action_id, _ in action_ids]


# --------------------------------------------------------------------------- blocks


def _check_block(errors: _Errors, block: Any, pointer: str) -> None:
    if not isinstance(block, dict):
        errors.add("must provide an object", pointer)
        return
    kind = block.get("type")
    if not isinstance(kind, str) or not kind:
        errors.add("missing required field: type", pointer)
        return
    if kind not in KNOWN_BLOCK_TYPES:
        errors.add(f"unsupported type: {kind}", f"{pointer}/type")
        return
    _check_string(errors, block.get("block_id"), f"{pointer}/block_id", max_len=MAX_BLOCK_ID)
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            errors.add("must provide either text or fields", pointer)
        _check_text(errors, text, f"{pointer}/text", max_len=MAX_SECTION_TEXT, required=False)
        if fields is not None:
            if not isinstance(fields, list):
                errors.add("must provide an array", f"{pointer}/fields")
            else:
                if len(fields) > MAX_SECTION_FIELDS:
                    errors.add(
                        f"no more than {MAX_SECTION_FIELDS} items allowed", f"{pointer}/fields"
                    )
                for index, item in enumerate(fields):
                    _check_text(errors, item, f"{pointer}/fields/{index}", max_len=MAX_FIELD_TEXT)
        if block.get("accessory") is not None:
            _check_element(
                errors, block["accessory"], f"{pointer}/accessory", allowed=ACCESSORY_ELEMENTS
            )
    elif kind == "header":
        _check_text(
            errors, block.get("text"), f"{pointer}/text", max_len=MAX_HEADER_TEXT, types=PLAIN
        )
    elif kind == "context":
        _check_elements(
            errors, block, pointer, max_items=MAX_CONTEXT_ELEMENTS, allowed=CONTEXT_ELEMENTS
        )
    elif kind == "actions":
        _check_elements(
            errors, block, pointer, max_items=MAX_ACTIONS_ELEMENTS, allowed=ACTIONS_ELEMENTS
        )
    elif kind == "input":
        _check_text(errors, block.get("label"), f"{pointer}/label", max_len=MAX_LABEL, types=PLAIN)
        _check_text(
            errors,
            block.get("hint"),
            f"{pointer}/hint",
            max_len=MAX_HINT,
            types=PLAIN,
            required=False,
        )
        if not isinstance(block.get("element"), dict):
            errors.add("missing required field: element", pointer)
        else:
            _check_element(errors, block["element"], f"{pointer}/element", allowed=INPUT_ELEMENTS)
    elif kind == "image":
        _check_image(errors, block, pointer)
        _check_text(
            errors,
            block.get("title"),
            f"{pointer}/title",
            max_len=MAX_IMAGE_TITLE,
            types=PLAIN,
            required=False,
        )
    elif kind == "markdown":
        _check_string(
            errors, block.get("text"), f"{pointer}/text", max_len=MAX_MARKDOWN_TEXT, required=True
        )


def _first_difference(sent: Any, kept: Any, pointer: str) -> str | None:
    """Where ``kept`` (after slack_sdk's ``to_dict()``) stops matching ``sent``."""
    if isinstance(sent, dict) and isinstance(kept, dict):
        for key in sent:
            if key not in kept:
                return f"{pointer}/{key}"
            found = _first_difference(sent[key], kept[key], f"{pointer}/{key}")
            if found:
                return found
        return None
    if isinstance(sent, list) and isinstance(kept, list):
        if len(sent) != len(kept):
            return pointer
        for index, (a, b) in enumerate(zip(sent, kept, strict=True)):
            found = _first_difference(a, b, f"{pointer}/{index}")
            if found:
                return found
        return None
    return None if sent == kept else pointer


def _check_with_slack_sdk(errors: _Errors, block: dict[str, Any], pointer: str) -> None:
    """``slack_sdk.models``: parse, validate with ``to_dict()``, and keep every field."""
    try:
        parsed = Block.parse(copy.deepcopy(block))
        if parsed is None:
            errors.add(f"unsupported type: {block.get('type')}", f"{pointer}/type")
            return
        kept = parsed.to_dict()
    except SlackObjectFormationError as exc:
        errors.add(f"slack_sdk.models: {exc}", pointer)
        return
    except Exception as exc:  # a missing or mistyped field the models cannot even build
        errors.add(f"slack_sdk.models cannot read this block ({type(exc).__name__})", pointer)
        return
    where = _first_difference(block, kept, pointer)
    if where is not None:
        errors.add("unknown, empty or unsupported field (not kept by slack_sdk.models)", where)


def _strings(value: Any, pointer: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield value, pointer
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{pointer}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{pointer}/{index}")


def broadcast_mentions(value: Any, pointer: str = "") -> list[str]:
    """Pointers to every string in ``value`` that holds a broadcast or user-group mention."""
    return [where for text, where in _strings(value, pointer) if BROADCAST.search(text)]


def validate_blocks(
    blocks: Any,
    *,
    max_blocks: int = MAX_MESSAGE_BLOCKS,
    pointer: str = "/blocks",
    forbid_broadcast: bool = False,
) -> list[str]:
    """Return Slack-style error strings for ``blocks`` (an empty list when they are valid).

    ``blocks`` must already be decoded from JSON. The caller answers ``invalid_blocks_format``
    when it is not a list at all and ``invalid_blocks`` otherwise. ``forbid_broadcast``: the
    blocks are a bot DM's (see the module docstring).
    """
    errors = _Errors()
    if not isinstance(blocks, list):
        errors.add("must provide an array", pointer)
        return errors.items
    if len(blocks) > max_blocks:
        errors.add(f"no more than {max_blocks} items allowed", pointer)
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"{pointer}/{index}"
        before = len(errors.items)
        _check_block(errors, block, where)
        if len(errors.items) == before and isinstance(block, dict):
            _check_with_slack_sdk(errors, block, where)
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if isinstance(block_id, str):
            if block_id in block_ids:
                errors.add(f"duplicate block_id: {block_id}", f"{where}/block_id")
            block_ids.add(block_id)
    if forbid_broadcast:
        for where in broadcast_mentions(blocks, pointer):
            errors.add("no broadcast mention in a bot DM (emulator policy)", where)
    return errors.items


def validate_message(text: Any, blocks: Any, *, forbid_broadcast: bool = True) -> list[str]:
    """Errors for a message's ``text`` and ``blocks`` (as ``chat.postMessage`` takes them)."""
    errors = _Errors()
    if blocks is not None:
        errors.items += validate_blocks(blocks, forbid_broadcast=forbid_broadcast)
    if forbid_broadcast and isinstance(text, str) and BROADCAST.search(text):
        errors.add("no broadcast mention in a bot DM (emulator policy)", "/text")
    return errors.items


def validate_view(view: Any, *, kind: str | None = None) -> list[str]:
    """Errors for a view (a modal or the Home tab), pointers under ``/view``."""
    errors = _Errors()
    if not isinstance(view, dict):
        errors.add("must provide an object", "/view")
        return errors.items
    view_type = view.get("type")
    if view_type not in ("modal", "home") or (kind is not None and view_type != kind):
        errors.add(f"must be '{kind or 'modal or home'}'", "/view/type")
        return errors.items
    if view_type == "modal":
        _check_text(errors, view.get("title"), "/view/title", max_len=MAX_VIEW_TITLE, types=PLAIN)
    elif view.get("submit") is not None or view.get("close") is not None:
        errors.add("a home view has no submit or close", "/view")
    for name in ("submit", "close"):
        _check_text(
            errors,
            view.get(name),
            f"/view/{name}",
            max_len=MAX_VIEW_TITLE,
            types=PLAIN,
            required=False,
        )
    blocks = view.get("blocks")
    if (
        view_type == "modal"
        and isinstance(blocks, list)
        and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        and view.get("submit") is None
    ):
        errors.add("a modal with an input block needs submit", "/view")
    _check_string(
        errors,
        view.get("private_metadata"),
        "/view/private_metadata",
        max_len=MAX_PRIVATE_METADATA,
    )
    _check_string(errors, view.get("callback_id"), "/view/callback_id", max_len=MAX_CALLBACK_ID)
    _check_string(errors, view.get("external_id"), "/view/external_id", max_len=MAX_CALLBACK_ID)
    if not isinstance(blocks, list) or not blocks:
        errors.add("missing required field: blocks", "/view")
        return errors.items
    errors.items += validate_blocks(blocks, max_blocks=MAX_VIEW_BLOCKS, pointer="/view/blocks")
    if not errors.items:
        try:
            View(**copy.deepcopy(view)).to_dict()
        except SlackObjectFormationError as exc:
            errors.add(f"slack_sdk.models: {exc}", "/view")
        except Exception as exc:
            errors.add(f"slack_sdk.models cannot read this view ({type(exc).__name__})", "/view")
    return errors.items


# --------------------------------------------------------------------------- modals, submitted

RESPONSE_ACTIONS = frozenset({"errors", "update", "push", "clear"})


def _input_blocks(view: Any) -> dict[str, dict[str, Any]]:
    """The view's input blocks by ``block_id``."""
    blocks = view.get("blocks") if isinstance(view, dict) else None
    return {
        block["block_id"]: block
        for block in blocks or []
        if isinstance(block, dict)
        and block.get("type") == "input"
        and isinstance(block.get("block_id"), str)
    }


def validate_view_response(view: Any, answer: Any) -> list[str]:
    """Errors for an app's answer (the ack body) to a ``view_submission`` of ``view``.

    No answer, or one without ``response_action``, closes the modal. Otherwise the action
    must be one of ``errors``, ``update``, ``push`` or ``clear``; ``errors`` must map the
    ``block_id`` of an input block of the submitted view to a non-empty message (Slack has
    nowhere else to show one); ``update`` and ``push`` need a valid modal ``view``.
    """
    errors = _Errors()
    if answer is None or (isinstance(answer, dict) and "response_action" not in answer):
        return errors.items
    if not isinstance(answer, dict):
        errors.add("must provide an object", "/")
        return errors.items
    action = answer.get("response_action")
    if action not in RESPONSE_ACTIONS:
        errors.add(f"must be one of: {', '.join(sorted(RESPONSE_ACTIONS))}", "/response_action")
    elif action == "errors":
        found = answer.get("errors")
        inputs = _input_blocks(view)
        if not isinstance(found, dict) or not found:
            errors.add("must provide an object naming at least one input block", "/errors")
            return errors.items
        for block_id, message in found.items():
            if block_id not in inputs:
                errors.add(f"not the block_id of an input block: {block_id}", f"/errors/{block_id}")
            if not isinstance(message, str) or not message.strip():
                errors.add("must be a non-empty string", f"/errors/{block_id}")
    elif action in ("update", "push"):
        errors.items += validate_view(answer.get("view"), kind="modal")
    return errors.items


def validate_submission(view: Any, values: Any) -> list[str]:
    """What Slack's client would never submit for ``view``: for each input block of the
    view that ``values`` (``state.values``) fills, a text outside the input's length bounds,
    or a selected option that is not one of the element's options. Values for blocks the
    view does not have are not judged here."""
    errors = _Errors()
    inputs = _input_blocks(view)
    for block_id, actions in (values or {}).items():
        block = inputs.get(block_id)
        if block is None or not isinstance(actions, dict):
            continue
        element = block.get("element") or {}
        state = actions.get(element.get("action_id"))
        if not isinstance(state, dict):
            continue
        pointer = f"/state/values/{block_id}/{element.get('action_id')}"
        if element.get("type") == "plain_text_input" and isinstance(state.get("value"), str):
            length = len(state["value"])
            if length > element.get("max_length", MAX_INPUT_LENGTH):
                errors.add(f"longer than max_length ({length} characters)", f"{pointer}/value")
            if 0 < length < element.get("min_length", 0):
                errors.add(f"shorter than min_length ({length} characters)", f"{pointer}/value")
        options = element.get("options")
        chosen = state.get("selected_option")
        picked = [chosen] if isinstance(chosen, dict) else list(state.get("selected_options") or [])
        if isinstance(options, list):
            offered = {o.get("value") for o in options if isinstance(o, dict)}
            for option in picked:
                if not isinstance(option, dict) or option.get("value") not in offered:
                    errors.add("not one of the element's options", f"{pointer}/selected_option")
    return errors.items

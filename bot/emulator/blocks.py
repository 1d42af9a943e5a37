"""Block Kit validation, close enough to Slack's to catch what Slack would reject.

Slack answers a bad ``blocks`` argument with ``{"ok": false, "error": "invalid_blocks",
"errors": ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"], ...}``;
the messages built here follow that format.
"""

from __future__ import annotations

from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BLOCK_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25

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


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str, pointer: str) -> None:
        self.items.append(f"{message} [json-pointer:{pointer}]")


def _check_text(
    errors: _Errors,
    obj: Any,
    pointer: str,
    *,
    max_len: int,
    plain_only: bool = False,
) -> None:
    if not isinstance(obj, dict):
        errors.add("must provide an object", pointer)
        return
    kind = obj.get("type")
    allowed = {"plain_text"} if plain_only else TEXT_TYPES
    if kind not in allowed:
        errors.add(f"must be one of: {', '.join(sorted(allowed))}", f"{pointer}/type")
    text = obj.get("text")
    if not isinstance(text, str):
        errors.add("missing required field: text", pointer)
        return
    if len(text) < 1:
        errors.add("must be more than 0 characters", f"{pointer}/text")
    elif len(text) > max_len:
        errors.add(f"must be less than {max_len + 1} characters", f"{pointer}/text")


def _check_elements(errors: _Errors, block: dict[str, Any], pointer: str, max_items: int) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        errors.add("missing required field: elements", pointer)
        return
    if len(elements) > max_items:
        errors.add(f"no more than {max_items} items allowed", f"{pointer}/elements")
    for index, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{index}"
        if not isinstance(element, dict) or not element.get("type"):
            errors.add("missing required field: type", element_pointer)
            continue
        if element["type"] == "button":
            _check_text(
                errors,
                element.get("text"),
                f"{element_pointer}/text",
                max_len=MAX_BUTTON_TEXT,
                plain_only=True,
            )


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
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID):
        errors.add(f"must be less than {MAX_BLOCK_ID + 1} characters", f"{pointer}/block_id")
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            errors.add("must provide either text or fields", pointer)
        if text is not None:
            _check_text(errors, text, f"{pointer}/text", max_len=MAX_SECTION_TEXT)
        if fields is not None:
            if not isinstance(fields, list):
                errors.add("must provide an array", f"{pointer}/fields")
            else:
                if len(fields) > MAX_SECTION_FIELDS:
                    errors.add(
                        f"no more than {MAX_SECTION_FIELDS} items allowed", f"{pointer}/fields"
                    )
                for index, field in enumerate(fields):
                    _check_text(errors, field, f"{pointer}/fields/{index}", max_len=MAX_FIELD_TEXT)
    elif kind == "header":
        _check_text(
            errors, block.get("text"), f"{pointer}/text", max_len=MAX_HEADER_TEXT, plain_only=True
        )
    elif kind == "context":
        _check_elements(errors, block, pointer, MAX_CONTEXT_ELEMENTS)
    elif kind == "actions":
        _check_elements(errors, block, pointer, MAX_ACTIONS_ELEMENTS)
    elif kind == "input":
        _check_text(errors, block.get("label"), f"{pointer}/label", max_len=2000, plain_only=True)
        if not isinstance(block.get("element"), dict):
            errors.add("missing required field: element", pointer)
    elif kind == "image":
        if not block.get("image_url") and not block.get("slack_file"):
            errors.add("missing required field: image_url", pointer)
        if not isinstance(block.get("alt_text"), str):
            errors.add("missing required field: alt_text", pointer)


def validate_blocks(blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Return Slack-style error strings for ``blocks`` (an empty list when they are valid).

    ``blocks`` must already be decoded from JSON. The caller answers ``invalid_blocks_format``
    when it is not a list at all and ``invalid_blocks`` otherwise.
    """
    errors = _Errors()
    if not isinstance(blocks, list):
        errors.add("must provide an array", "/blocks")
        return errors.items
    if len(blocks) > max_blocks:
        errors.add(f"no more than {max_blocks} items allowed", "/blocks")
    for index, block in enumerate(blocks):
        _check_block(errors, block, f"/blocks/{index}")
    return errors.items

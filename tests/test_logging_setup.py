"""The log format: one line per message, whatever the values in it; tracebacks whole."""

from __future__ import annotations

import json
import logging
import sys

from bot.logging_setup import JsonFormatter, OneLineFormatter


def _format(record: logging.LogRecord) -> str:
    return OneLineFormatter("%(levelname)s %(name)s: %(message)s").format(record)


def test_line_breaks_and_controls_in_values_are_escaped() -> None:
    record = logging.LogRecord(
        "bot.x", logging.INFO, __file__, 1, "got %s", ("a\nERROR bot.y: b\r\x1b[2J\u2028c",), None
    )
    assert _format(record) == "INFO bot.x: got a\\nERROR bot.y: b\\r\\x1b[2J\\u2028c"


def test_a_traceback_keeps_its_lines() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "bot.x", logging.ERROR, __file__, 1, "failed\n", (), exc_info=sys.exc_info()
        )
    text = _format(record)
    first, *rest = text.splitlines()
    assert first == "ERROR bot.x: failed\\n"
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "ValueError: boom"


def _json(record: logging.LogRecord) -> dict[str, object]:
    line = JsonFormatter().format(record)
    assert "\n" not in line and line.isascii()
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


def test_a_json_line_is_one_object_with_the_fields_and_utc_time() -> None:
    record = logging.LogRecord(
        "bot.x", logging.WARNING, __file__, 1, "got %s", ("a\nb\u2028c",), None
    )
    record.created = 1772442000.25  # 2026-03-02 09:00:00.250 UTC
    assert _json(record) == {
        "ts": "2026-03-02T09:00:00.250Z",
        "level": "WARNING",
        "logger": "bot.x",
        "message": "got a\nb\u2028c",
    }


def test_a_json_line_carries_the_traceback_whole() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "bot.x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    exc = _json(record)["exc"]
    assert isinstance(exc, str)
    assert exc.startswith("Traceback (most recent call last):") and exc.endswith("ValueError: boom")


def test_only_safe_extra_fields_reach_a_json_line() -> None:
    record = logging.getLogger("bot.x").makeRecord(
        "bot.x",
        logging.INFO,
        __file__,
        1,
        "sent",
        (),
        None,
        extra={
            "delivery_id": 42,
            "kind": "reflection",
            "late": 1.5,
            "paused": False,
            "text": "I cut Ben off",  # a person's words, by name
            "note": "I cut Ben off twice",  # free text, whatever its name
            "bot_token": "xoxb-1",
            "feed_url": "https://example.com/cal.ics",
        },
    )
    line = _json(record)
    assert {k: line[k] for k in ("delivery_id", "kind", "late", "paused")} == {
        "delivery_id": 42,
        "kind": "reflection",
        "late": 1.5,
        "paused": False,
    }
    assert not {"text", "note", "bot_token", "feed_url"} & line.keys()

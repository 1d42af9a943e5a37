"""The log format: one line per message, whatever the values in it; tracebacks whole."""

from __future__ import annotations

import logging
import sys

from bot.logging_setup import OneLineFormatter


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

"""Logging, configured once by the CLI.

Never log reflection text, tokens or request bodies: log ids, kinds and counts.

Three things keep bodies out and lines honest, whatever ``HEEDFUL_LOG_LEVEL`` says:

* Slack's signature is checked by ``bot.ingress`` before Bolt sees a request (Bolt's
  own check logs the refused body), and a refusal is one fixed line.
* Bolt is handed :func:`bolt_logger` as its base logger. Bolt configures every logger
  it creates from its base logger (level, handlers, filters), or else from the root
  logger's level, which is how it used to undo a level set here before the App was
  built. Bolt's INFO and DEBUG lines write bodies (a refused request, a skipped event
  of the bot's own, a response), so the base logger is at WARNING.
* :class:`OneLineFormatter` escapes line breaks and other control characters in every
  message, so a value someone else chose (a URL path, an id) cannot forge a log line
  or drive a terminal. A traceback is appended as Python prints it.
* With ``HEEDFUL_LOG_FORMAT=json``, :class:`JsonFormatter` writes one JSON object per
  line instead (ASCII only: every control and line-separating character is escaped), for
  log pipelines that parse fields. It adds nothing the text lines do not hold, except the
  ``extra`` fields that are safe (:func:`safe_extras`).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# C0 controls but tab, DEL, C1 controls, and the characters str.splitlines() breaks on.
_ESCAPES = str.maketrans(
    {
        **{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if c != 0x09},
        0x0A: "\\n",
        0x0D: "\\r",
        0x2028: "\\u2028",
        0x2029: "\\u2029",
    }
)


class OneLineFormatter(logging.Formatter):
    """A formatter whose message part is always one line (see the module docstring)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record).translate(_ESCAPES)


# The attributes every LogRecord has: anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "taskName",
    }
)
# An extra field is written only if its name says nothing private and its value is a
# number, a truth value, None, or a short id-like string (ids, kinds, states, counts):
# free text (a reflection, an event's text, a URL, an address) is dropped, whatever
# its name says.
_PRIVATE_NAME = re.compile(
    r"text|body|token|secret|password|key|auth|cookie|url|email|address|name|title|payload",
    re.IGNORECASE,
)
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:-]{0,64}")


def safe_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra`` fields of ``record`` a JSON line may carry (see ``_PRIVATE_NAME``)."""
    safe: dict[str, Any] = {}
    for name, value in record.__dict__.items():
        if name in _RECORD_FIELDS or name.startswith("_") or _PRIVATE_NAME.search(name):
            continue
        plain = value is None or isinstance(value, bool | int | float)
        if plain or (isinstance(value, str) and _SAFE_VALUE.fullmatch(value)):
            safe[name] = value
    return safe


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (ISO-8601, UTC, milliseconds), ``level``,
    ``logger``, ``message``, ``exc`` (the traceback, when there is one) and the safe
    ``extra`` fields. The message is the same one the text format writes: the rule that
    no person's words are logged is kept where messages are written, not here."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line: dict[str, Any] = {
            **safe_extras(record),
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=True, default=str)


def configure_logging(level: str = "INFO", *, log_format: str = "text") -> None:
    """Configure the root logger once; quiet the chatty libraries. ``log_format`` is
    ``text`` (:class:`OneLineFormatter`) or ``json`` (:class:`JsonFormatter`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else OneLineFormatter(_FORMAT))
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), handlers=[handler], force=True
    )
    for noisy in (
        "apscheduler",
        "waitress.queue",
        "slack_sdk.socket_mode",
        "alembic.runtime",
        "httpx",  # logs whole request URLs, and a feed's URL is a secret
        "httpcore",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "maximum number of running instances reached" is expected: a wake-up while a job
    # drains is folded into that run (bot.scheduler.Drainer).
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    protect_private_logs()


# slack-sdk's loggers that write request or response bodies (which can hold reflection
# text) below these levels: the Web API client logs every request and response body at
# DEBUG, and the Socket Mode client every message it receives, and at INFO the body of
# an unsuccessful answer. Nothing resets these loggers once set.
_BODY_LOGGERS = {
    "slack_sdk.web.base_client": logging.INFO,
    "slack_sdk.web.legacy_base_client": logging.INFO,
    "slack_sdk.socket_mode": logging.WARNING,
}
BOLT_LOGGER = "slack_bolt"


class _DropTokenWarning(logging.Filter):
    """Bolt warns that a token from the environment is unused when we hand it an
    ``authorize`` function (tokens come from our installation table): not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def bolt_logger() -> logging.Logger:
    """The base logger of every Bolt ``App`` Heedful builds (``App(logger=...)``)."""
    log = logging.getLogger(BOLT_LOGGER)
    log.setLevel(logging.WARNING)
    if not any(isinstance(f, _DropTokenWarning) for f in log.filters):
        log.addFilter(_DropTokenWarning())
    return log


def protect_private_logs() -> None:
    """Keep request bodies out of the logs, whatever the configured level. Idempotent;
    called by the service factory, so tests and the demo get it too."""
    for name, floor in _BODY_LOGGERS.items():
        log = logging.getLogger(name)
        if log.getEffectiveLevel() < floor:
            log.setLevel(floor)
    bolt_logger()
